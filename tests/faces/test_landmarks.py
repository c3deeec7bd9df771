"""Face detection and landmarks on real LFW photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.errors import ModelNotFoundError
from maskgen.faces import align_face, find_model_file, five_points, load_face_finder
from maskgen.faces.align import ARCFACE_TEMPLATE_112, estimate_similarity
from maskgen.faces.landmarks import LANDMARK_MODEL, MODELS_DIR_ENV
from tests.conftest import lfw_sample_paths

pytestmark = pytest.mark.shared


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def finder():
    return load_face_finder()


@pytest.fixture(scope="module")
def photo(lfw_dir: Path) -> np.ndarray:
    return read_rgb(lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")


def carried_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """A face's 68 landmarks carried into its aligned 112x112 crop."""
    matrix = estimate_similarity(five_points(landmarks), ARCFACE_TEMPLATE_112)
    return landmarks @ matrix[:, :2].T + matrix[:, 2]


def test_detects_face_with_plausible_landmarks(finder, photo):
    faces = finder.find_faces(photo, "detect")
    assert len(faces) >= 1
    face = faces[0]
    assert face.detected and face.landmarks.shape == (68, 2)
    x0, _, x1, _ = face.box
    inside = (face.landmarks[:, 0] > x0 - 15) & (face.landmarks[:, 0] < x1 + 15)
    assert inside.all()
    eyes_y = face.landmarks[36:48, 1].mean()
    assert eyes_y < face.landmarks[33, 1] < face.landmarks[48:68, 1].mean() < face.landmarks[8, 1]
    assert 60 < x1 - x0 < 200  # LFW faces are ~100 px in 250 px photos


def test_large_photo_landmarks_match_small(finder, photo):
    """A several-megapixel photo is searched on a reduced copy but fitted at full size."""
    small = finder.find_faces(photo, "detect")[0].landmarks
    big_photo = cv2.resize(photo, (2000, 2000), interpolation=cv2.INTER_CUBIC)
    big = finder.find_faces(big_photo, "detect")[0].landmarks
    error = np.linalg.norm(big / 8.0 - small, axis=1).mean()
    assert error < 2.0, error


def test_aligned_mode_fits_landmarks_without_detection(finder, lfw_dir):
    errors = []
    for person in ("Aaron_Peirsol", "Abdullah_Gul", "Adam_Sandler", "Al_Gore", "Alec_Baldwin"):
        rgb = read_rgb(lfw_dir / person / f"{person}_0001.jpg")
        landmarks = finder.find_faces(rgb, "detect")[0].landmarks
        expected = carried_landmarks(landmarks)
        crop = align_face(rgb, five_points(landmarks))
        (face,) = finder.find_faces(crop, "aligned")
        assert not face.detected
        errors.append(np.linalg.norm(face.landmarks - expected, axis=1).mean())
    assert np.mean(errors) < 3.0, errors


def test_two_faces_each_found(finder, lfw_dir):
    a = read_rgb(lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")
    b = read_rgb(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg")
    faces = finder.find_faces(np.hstack([a, b]), "detect")
    centres = sorted((f.box[0] + f.box[2]) / 2 for f in faces)
    assert len(faces) >= 2
    assert centres[0] < 250 < centres[-1]


def test_model_lookup(tmp_path, monkeypatch):
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    packaged = find_model_file()
    assert packaged.name == LANDMARK_MODEL and packaged.is_file()
    with pytest.raises(ModelNotFoundError, match=r"\(from models_dir\)$"):
        find_model_file(models_dir=tmp_path)
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(ModelNotFoundError, match=MODELS_DIR_ENV):
        find_model_file()
    (tmp_path / LANDMARK_MODEL).symlink_to(packaged)
    assert find_model_file() == tmp_path / LANDMARK_MODEL


@pytest.mark.parametrize(
    "name", ["Elisabeth_Schumacher_0001", "Hernan_Diaz_0001", "Kaye_Young_0001"]
)
def test_second_search_finds_faces_the_first_pass_misses(finder, lfw_dir, name):
    """Low-contrast and tilted faces the upright HOG pass misses are found in an equalised or
    turned view, with landmarks carried back into the photo."""
    rgb = read_rgb(lfw_dir / name.rsplit("_", 1)[0] / f"{name}.jpg")
    assert finder.detect(rgb) == []
    (face,) = finder.find_faces(rgb, "detect")
    lm = face.landmarks
    assert ((lm > 0) & (lm < 250)).all()
    eyes = (lm[36:42].mean(0), lm[42:48].mean(0))
    mouth, chin = lm[48:68].mean(0), lm[8]
    between_eyes = (eyes[0] + eyes[1]) / 2
    # eyes above the mouth above the chin, measured along the face's own vertical axis
    axis = (chin - between_eyes) / np.linalg.norm(chin - between_eyes)
    assert 0 < (mouth - between_eyes) @ axis < (chin - between_eyes) @ axis
    assert 10 < np.linalg.norm(eyes[1] - eyes[0]) < 90  # Hernan Diaz is nearly in profile


def test_landmarks_are_dlibs_and_batches_equal_single_fits(finder, lfw_dir):
    """FaceFinder's landmarks are dlib's shape predictor's, one face or many per call, and
    aligned mode's batch finds what find_faces finds image by image."""
    import dlib

    predictor = dlib.shape_predictor(str(finder.landmark_model))
    photos = [read_rgb(path) for path in lfw_sample_paths(lfw_dir, 6)]
    faces = [(rgb, face.box) for rgb in photos for face in finder.find_faces(rgb, "detect")]
    for rgb, box in faces:
        parts = predictor(rgb, dlib.rectangle(*(round(v) for v in box))).parts()
        expected = np.array([(p.x, p.y) for p in parts], dtype=np.float32)
        np.testing.assert_array_equal(finder.fit_landmarks(rgb, box), expected)
    batch = finder.fit_landmarks_batch([rgb for rgb, _ in faces], [box for _, box in faces])
    singles = [finder.fit_landmarks(rgb, box) for rgb, box in faces]
    assert batch.dtype == np.float32
    np.testing.assert_array_equal(batch, np.stack(singles))
    crops = [align_face(rgb, five_points(lm)) for rgb, lm in zip(photos, batch, strict=False)]
    for (got,), crop in zip(finder.find_faces_batch(crops, "aligned"), crops, strict=True):
        (expected_face,) = finder.find_faces(crop, "aligned")
        assert got.box == expected_face.box and not got.detected
        np.testing.assert_array_equal(got.landmarks, expected_face.landmarks)
    assert finder.find_faces_batch([], "aligned") == []


def test_a_batch_of_photos_finds_what_dlib_finds_photo_by_photo(finder, lfw_dir):
    """Photos come to the finder in batches whose detected faces are fitted together: every
    face's box is dlib's detector's and its landmarks dlib's predictor's, a photo the first
    pass misses still gets its second search, and an empty or tiny image no face."""
    import dlib

    detector, predictor = (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(finder.landmark_model)),
    )
    photos = [read_rgb(path) for path in lfw_sample_paths(lfw_dir, 4)]
    two = np.hstack([photos[0], photos[1]])
    missed = read_rgb(lfw_dir / "Kaye_Young" / "Kaye_Young_0001.jpg")
    crop = align_face(photos[2], five_points(finder.find_faces(photos[2], "detect")[0].landmarks))
    images = [*photos, two, missed, crop, np.full((200, 200, 3), 90, np.uint8), photos[0][:20]]
    found = finder.find_faces_batch(images, "auto")
    for rgb, faces in zip(images[:5], found[:5], strict=True):
        rects = sorted(detector(rgb, 0), key=lambda r: r.area(), reverse=True)
        assert [face.box for face in faces] == [
            (r.left(), r.top(), r.right(), r.bottom()) for r in rects
        ]
        for face, rect in zip(faces, rects, strict=True):
            parts = predictor(rgb, rect).parts()
            expected = np.array([(p.x, p.y) for p in parts], dtype=np.float32)
            np.testing.assert_array_equal(face.landmarks, expected)
    assert len(found[4]) >= 2
    assert len(detector(missed, 0)) == 0
    assert len(found[5]) == 1 and found[5][0].detected  # found by the second search
    assert len(found[6]) == 1  # a 112x112 crop: found on the upsampled second pass
    assert found[7] == [] and found[8] == []


def test_views_of_a_photo_are_searched_as_their_copies(finder, lfw_dir):
    """A crop view and a channel-flipped view (``bgr[..., ::-1]``, the usual BGR-to-RGB step)
    give the faces of their contiguous copies: dlib's detector ignores strides, and on the
    views it found no face at first (then another box in a later search step)."""
    bgr = cv2.imread(str(lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"))
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    for view in (bgr[..., ::-1], rgb[20:240, 10:245]):
        assert not view.flags.c_contiguous
        copy = np.ascontiguousarray(view)
        assert finder.detect(view) == finder.detect(copy) != []
        found, expected = finder.find_faces(view), finder.find_faces(copy)
        assert [f.box for f in found] == [f.box for f in expected]
        assert np.array_equal(found[0].landmarks, expected[0].landmarks)


def test_grey_image_is_dlibs_own_grey_level(photo):
    """``grey_image`` is what dlib converts a colour image to (``dlib.as_grayscale``), on a
    real photo and on a view of it."""
    import dlib

    from maskgen.faces.landmarks import grey_image

    assert np.array_equal(grey_image(photo), dlib.as_grayscale(photo))
    view = photo[10:200, 5:240]
    assert np.array_equal(grey_image(view), dlib.as_grayscale(np.ascontiguousarray(view)))


def test_detection_searches_the_grey_image_first(finder, lfw_dir):
    """A photo's boxes are the detector's on its grey image where that holds a face: dlib's
    own boxes, though the finest pyramid level is searched only where the others hold no
    face (every face here is above its 72 px)."""
    from maskgen.faces.landmarks import FINEST_BOX_HEIGHT, grey_image
    from maskgen.faces.model_cache import load_frontal_face_detector

    detector = load_frontal_face_detector()
    compared = 0
    for path in lfw_sample_paths(lfw_dir, 40):
        rgb = read_rgb(path)
        on_grey = [(r.left(), r.top(), r.right(), r.bottom()) for r in detector(grey_image(rgb), 0)]
        if on_grey and min(b[3] - b[1] for b in on_grey) > FINEST_BOX_HEIGHT + 2:
            assert finder.detect(rgb) == [tuple(float(v) for v in box) for box in on_grey]
            compared += 1
    assert compared >= 35


def test_a_face_seen_only_on_the_finest_pyramid_level_is_found(finder, lfw_dir):
    """A face dlib finds only on its pyramid's finest level (a 72 px box), which the first
    search leaves out, is found by the search at the photo's own size, with dlib's box."""
    from maskgen.faces.landmarks import FINEST_BOX_HEIGHT, grey_image
    from maskgen.faces.model_cache import load_frontal_face_detector

    detector = load_frontal_face_detector()
    photo = read_rgb(lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg")
    small = cv2.resize(photo, (150, 150), interpolation=cv2.INTER_AREA)
    on_grey = [(r.left(), r.top(), r.right(), r.bottom()) for r in detector(grey_image(small), 0)]
    assert len(on_grey) == 1 and on_grey[0][3] - on_grey[0][1] == FINEST_BOX_HEIGHT
    assert finder.detect(small) == [tuple(float(v) for v in box) for box in on_grey]


def dlib_boxes(detector, image: np.ndarray) -> list[tuple[float, float, float, float]]:
    return [
        (float(r.left()), float(r.top()), float(r.right()), float(r.bottom()))
        for r in detector(image, 0)
    ]


@pytest.mark.parametrize(
    ("name", "side", "raised"),
    [
        ("Aaron_Peirsol", 320, 0),  # a corner at 106.5 three levels up: 107, not 106
        ("George_W_Bush", 326, 0),
        ("John_Velazquez", 250, 0),  # a face over the left edge: a corner at -22.5 is -23
        ("John_Velazquez", 368, 0),
        ("Aaron_Peirsol", 300, 110),  # faces over the top edge: their boxes start above it
        ("Aaron_Peirsol", 360, 140),
        ("Aaron_Peirsol", 420, 150),
    ],
)
def test_coarse_first_search_gives_dlibs_boxes(finder, lfw_dir, name, side, raised):
    """Every face dlib's full search finds on a level below its finest (boxes over 86 px)
    gets dlib's own box from the search without the finest level, in photos of other sizes
    than LFW's and with faces over the photo's edges: its corners mapped up and rounded as
    dlib does it, and its pyramid level told right where the box starts above the photo."""
    from maskgen.faces.landmarks import grey_image
    from maskgen.faces.model_cache import load_frontal_face_detector

    detector = load_frontal_face_detector()
    photo = read_rgb(lfw_dir / name / f"{name}_0001.jpg")
    photo = cv2.resize(photo, (side, side), interpolation=cv2.INTER_CUBIC)
    shifted = np.zeros_like(photo)
    shifted[: side - raised] = photo[raised:]
    for image in (grey_image(shifted), shifted):
        full = [box for box in dlib_boxes(detector, image) if box[3] - box[1] > 86]
        assert full
        assert set(full) <= {box for box, _ in finder._scan_coarse(image)}


def test_a_face_seen_only_in_colour_is_still_found(finder, lfw_dir):
    """Where the grey image holds no face, the colour image is searched: a face drawn in
    colour alone (every pixel's grey level the same) is found, and fitted."""
    from maskgen.faces.landmarks import grey_image

    photo = read_rgb(lfw_dir / "Gina_Torres" / "Gina_Torres_0001.jpg")

    grey = grey_image(photo).astype(np.int32)
    colour_only = np.stack([grey // 2 + 64, np.full_like(grey, 128), 192 - grey // 2], axis=-1)
    colour_only = colour_only.astype(np.uint8)
    assert np.ptp(grey_image(colour_only)) == 0
    boxes = finder.detect(colour_only)
    assert len(boxes) == 1
    (x0, y0, x1, y1), (px0, py0, px1, py1) = boxes[0], finder.detect(photo)[0]
    assert abs((x0 + x1) - (px0 + px1)) < 40 and abs((y0 + y1) - (py0 + py1)) < 40
    assert len(finder.find_faces(colour_only, "detect")) == 1


def test_a_grey_image_is_searched_as_it_is(finder, photo):
    """``detect`` of an (H, W) grey image gives the boxes of the colour photo's grey search."""
    from maskgen.faces.landmarks import grey_image

    assert finder.detect(grey_image(photo)) == finder.detect(photo) != []


def test_retry_views_are_searched_at_their_own_size(finder, monkeypatch):
    """A photo with no face is searched at twice its size once per image kind (grey, then
    colour), and its contrast-equalised and turned views at their own size only."""
    from maskgen.faces.landmarks import RETRY_ANGLES

    calls: list[int] = []
    detector = finder._detector

    class Spy:
        def __call__(self, image, upsample):
            calls.append(upsample)
            return detector(image, upsample)

        def run(self, image, upsample, threshold):
            calls.append(upsample)
            return detector.run(image, upsample, threshold)

    monkeypatch.setattr(finder._per_thread, "detector", Spy())
    noise = np.random.default_rng(0).integers(0, 256, (250, 250, 3), dtype=np.uint8)
    assert finder.find_faces(noise, "detect") == []
    views = 1 + len(RETRY_ANGLES)
    assert calls.count(1) == 2  # the photo's grey and colour images, at twice their size
    assert calls.count(0) == 2 * 2 * (1 + views)  # coarse and own size, grey and colour


@pytest.mark.parametrize("name", ["Adrien_Brody_0006", "Bill_Simon_0012"])
def test_a_small_photos_views_are_searched_at_twice_their_size(finder, lfw_dir, name):
    """A face too small for the HOG window and too tilted for the first search (an LFW photo
    shrunk to 112 px and turned by 40 degrees) is found in a turned view at twice its size:
    a photo under twice the window's side keeps the views' upsampling."""
    photo = read_rgb(lfw_dir / name.rsplit("_", 1)[0] / f"{name}.jpg")
    small = cv2.resize(photo, (112, 112), interpolation=cv2.INTER_AREA)
    turn = cv2.getRotationMatrix2D((56, 56), 40, 1.0)
    tilted = cv2.warpAffine(small, turn, (112, 112), borderMode=cv2.BORDER_REPLICATE)
    assert finder.detect(tilted) == []
    (face,) = finder.find_faces(tilted, "detect")
    x0, y0, x1, y1 = face.box
    assert 40 < x1 - x0 < 90 and abs((x0 + x1) / 2 - 56) < 20 and abs((y0 + y1) / 2 - 56) < 25


def test_threads_sharing_one_finder_find_what_one_thread_finds(finder, lfw_dir):
    """One finder serves every thread of a process (Dask's worker threads, a thread pool around
    mask_image). dlib's detector keeps its search state in the object and runs without the
    GIL: shared by threads, it gave one photo's boxes to another (about a third of the
    searches on LFW photos)."""
    from concurrent.futures import ThreadPoolExecutor

    photos = [read_rgb(path) for path in lfw_sample_paths(lfw_dir, 24)]
    alone = [finder.find_faces(rgb, "detect") for rgb in photos]
    for _ in range(2):
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda rgb: finder.find_faces(rgb, "detect"), photos))
        for one, other in zip(alone, together, strict=True):
            assert [face.box for face in one] == [face.box for face in other]
            for a, b in zip(one, other, strict=True):
                np.testing.assert_array_equal(a.landmarks, b.landmarks)


def test_a_finder_pickles_and_its_copy_searches_alike(finder, photo):
    """A thread's storage does not pickle: the per-thread detectors stay behind, and a copy
    (a Masker sent to joblib or Dask workers) loads its own."""
    import pickle

    copy = pickle.loads(pickle.dumps(finder))
    assert [f.box for f in copy.find_faces(photo, "detect")] == [
        f.box for f in finder.find_faces(photo, "detect")
    ]
