"""The Masker and mask_image on real LFW photos: faces found, draws, outcomes, re-rendering."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.errors import ConfigError
from maskgen.faces import align_face, five_points
from maskgen.masks import AppliedMask, Masker, MaskOutcome, MaskSpec, mask_image
from maskgen.masks.fit import fit_failures

pytestmark = pytest.mark.shared


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def masker() -> Masker:
    return Masker()


@pytest.fixture(scope="module")
def photo(lfw_dir: Path) -> np.ndarray:
    return read_rgb(lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")


def test_masks_the_face_in_a_photo(masker: Masker, photo: np.ndarray):
    outcome = masker.mask_image(photo, np.random.default_rng(0))
    assert isinstance(outcome, MaskOutcome) and outcome.masked and outcome.reason is None
    assert len(outcome.applied) == 1 and isinstance(outcome.applied[0], AppliedMask)
    applied = outcome.applied[0]
    assert applied.params.mask_type in masker.mask_types and applied.face.detected
    assert outcome.image.shape == photo.shape and outcome.image.dtype == np.uint8
    changed = np.abs(outcome.image.astype(int) - photo).max(axis=2) > 8
    assert 0.05 < changed.mean() < 0.4


def test_recorded_params_re_render_exactly(masker: Masker, photo: np.ndarray):
    outcome = masker.mask_image(photo, np.random.default_rng(5))
    applied = outcome.applied[0]
    image, coverage = masker.render(photo, applied.face.landmarks, applied.params)
    assert image.tobytes() == outcome.image.tobytes()
    assert fit_failures(applied.face.landmarks, coverage) == []


def test_no_face_is_a_value_not_an_error(masker: Masker):
    blank = np.full((250, 250, 3), 128, np.uint8)
    outcome = masker.mask_image(blank, np.random.default_rng(0))
    assert not outcome.masked and outcome.reason == "no_face" and outcome.applied == ()
    assert np.array_equal(outcome.image, blank) and outcome.image is not blank


def test_every_face_gets_its_own_mask_largest_first(lfw_dir: Path, masker: Masker):
    big = read_rgb(lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")
    small = cv2.resize(read_rgb(lfw_dir / "Abdullah_Gul" / "Abdullah_Gul_0001.jpg"), (180, 180))
    canvas = np.zeros((250, 430, 3), np.uint8)
    canvas[:, :250] = big
    canvas[35:215, 250:] = small
    outcome = masker.mask_image(canvas, np.random.default_rng(2))
    assert len(outcome.applied) == 2
    first, second = (a.face for a in outcome.applied)
    assert first.area > second.area and first.box[0] < 250 <= second.box[0]
    for applied in outcome.applied:
        lm = applied.face.landmarks
        _, coverage = masker.render(canvas, lm, applied.params)
        assert fit_failures(lm, coverage) == []
        region = outcome.image[int(lm[33, 1]) : int(lm[8, 1]), int(lm[48, 0]) : int(lm[54, 0])]
        assert not np.array_equal(
            region, canvas[int(lm[33, 1]) : int(lm[8, 1]), int(lm[48, 0]) : int(lm[54, 0])]
        )


def test_aligned_crop_in_aligned_mode(masker: Masker, photo: np.ndarray):
    face = masker.finder.find_faces(photo, "detect")[0]
    crop = align_face(photo, five_points(face.landmarks))
    aligned = Masker(face_mode="aligned")
    outcome = aligned.mask_image(crop, np.random.default_rng(1))
    assert outcome.masked and not outcome.applied[0].face.detected
    found = outcome.applied[0].face
    _, coverage = aligned.render(crop, found.landmarks, outcome.applied[0].params)
    assert fit_failures(found.landmarks, coverage) == []


def test_mask_image_seeds_and_types(photo: np.ndarray):
    first = mask_image(photo, seed=11)
    again = mask_image(photo, seed=11)
    other = mask_image(photo, seed=12)
    assert first.image.tobytes() == again.image.tobytes()
    assert first.image.tobytes() != other.image.tobytes()
    rng_outcome = mask_image(photo, rng=np.random.default_rng(11))
    assert rng_outcome.image.tobytes() == first.image.tobytes()
    assert mask_image(photo, seed=3, mask_type="KN95").applied[0].params.mask_type == "kn95"
    for mask_type in ("n95", "cloth"):
        assert mask_image(photo, seed=3, mask_type=mask_type).applied[0].params.mask_type == (
            mask_type
        )
    plain = mask_image(photo, seed=4, spec=MaskSpec(color_prob=0, texture_prob=0))
    params = plain.applied[0].params
    assert params.color is None and params.texture is None


def test_bad_configuration(photo: np.ndarray):
    with pytest.raises(ConfigError, match="face_mode"):
        Masker(face_mode="sideways")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="available"):
        Masker(MaskSpec(mask_types=("gas_mask",)))
    with pytest.raises(ConfigError, match="available"):
        mask_image(photo, mask_type="gas_mask")
    assert Masker(MaskSpec(texture_prob=0)).textures == {}


def test_non_faces_are_copied_unmasked_with_a_reason(masker: Masker):
    """The issue's examples: a 1x1 PNG, a 16x16 flat colour and a 160x160 colour ramp were
    taken for aligned crops and masked; now none is, in auto or aligned mode."""
    ramp = np.linspace(0, 255, 160).astype(np.uint8)[None, :].repeat(160, axis=0)
    images = {
        "1x1": (np.zeros((1, 1, 3), np.uint8), "too_small"),
        "16x16 flat": (np.full((16, 16, 3), (40, 90, 200), np.uint8), "too_small"),
        "160x160 ramp": (np.dstack([ramp, 255 - ramp, ramp // 2]), "no_face"),
        "112x112 flat": (np.full((112, 112, 3), 128, np.uint8), "no_face"),
    }
    aligned = Masker(face_mode="aligned")
    for name, (image, reason) in images.items():
        for each in (masker, aligned):
            outcome = each.mask_image(image, np.random.default_rng(0))
            assert not outcome.masked and outcome.reason == reason, (name, each.face_mode)
            assert np.array_equal(outcome.image, image) and outcome.image is not image


def test_a_batch_gives_what_each_image_gives_alone(photo: np.ndarray):
    """The pipeline masks aligned crops in batches: real crops, featureless and tiny images
    mixed in one batch come out as each does through ``mask_image``."""
    aligned = Masker(face_mode="aligned")
    face = aligned.finder.find_faces(photo, "detect")[0]
    crop = align_face(photo, five_points(face.landmarks))
    images = [
        crop,
        np.full((112, 112, 3), 128, np.uint8),
        crop[::-1].copy(),
        np.zeros((1, 1, 3), np.uint8),
        crop,
    ]
    batch = aligned.mask_images(images, [np.random.default_rng(i) for i in range(len(images))])
    for i, (image, outcome) in enumerate(zip(images, batch, strict=True)):
        alone = aligned.mask_image(image, np.random.default_rng(i))
        assert (outcome.masked, outcome.reason) == (alone.masked, alone.reason), i
        assert outcome.image.tobytes() == alone.image.tobytes(), i
    assert [o.reason for o in batch] == [None, "no_face", None, "too_small", None]


def test_a_batch_of_photos_gives_what_each_photo_gives_alone(lfw_dir: Path, masker: Masker):
    """Photos are masked in batches too (their faces fitted and checked together): photos,
    two faces side by side, a photo the detector misses at first, and an image with no face
    come out of one batch as each does alone, to the byte."""
    names = ["Aaron_Eckhart_0001", "Al_Gore_0001", "Hugo_Chavez_0010", "Kaye_Young_0001"]
    photos = [read_rgb(lfw_dir / n.rsplit("_", 1)[0] / f"{n}.jpg") for n in names]
    images = [*photos, np.hstack(photos[:2]), np.full((250, 250, 3), 90, np.uint8)]
    batch = masker.mask_images(images, [np.random.default_rng(i) for i in range(len(images))])
    for i, (image, outcome) in enumerate(zip(images, batch, strict=True)):
        alone = masker.mask_image(image, np.random.default_rng(i))
        assert outcome.reason == alone.reason, i
        assert [s.reason for s in outcome.skipped] == [s.reason for s in alone.skipped], i
        assert [a.params for a in outcome.applied] == [a.params for a in alone.applied], i
        assert outcome.image.tobytes() == alone.image.tobytes(), i
    assert batch[0].masked and len(batch[4].applied) + len(batch[4].skipped) == 2
    assert batch[5].reason == "no_face"
    assert batch[2].reason == "occluded"  # the hand in front of the chin


def test_faces_in_a_large_photo_are_each_masked(lfw_dir: Path, masker: Masker):
    """Faces 100, 180 and 310 px wide in a 4000x3000 photo (too small for the reduced copy)
    are found at full resolution and masked; nothing outside them changes."""
    from tests.faces.helpers import background, inside, paste_faces

    canvas = background(3000, 4000, seed=3)
    people = ("Al_Gore", "Aaron_Eckhart", "Adam_Sandler")
    photos = [lfw_dir / name / f"{name}_0001.jpg" for name in people]
    corners = [(300, 300), (2000, 1800), (3100, 1500)]
    pasted = paste_faces(canvas, masker.finder, photos, [100, 180, 310], corners)
    outcome = masker.mask_image(canvas, np.random.default_rng(4))
    assert outcome.masked and len(outcome.applied) == 3
    untouched = np.ones(canvas.shape[:2], bool)
    for paste in pasted:
        (applied,) = [a for a in outcome.applied if inside(a.face.landmarks, paste.region)]
        x0, y0, x1, y1 = paste.region
        untouched[y0:y1, x0:x1] = False
        lm = applied.face.landmarks.astype(int)
        mouth = (slice(lm[33, 1], lm[8, 1]), slice(lm[48, 0], lm[54, 0]))
        assert not np.array_equal(outcome.image[mouth], canvas[mouth])
    assert np.array_equal(outcome.image[untouched], canvas[untouched])


def test_a_view_is_masked_as_its_copy(lfw_dir: Path):
    """``mask_image`` on a crop or channel-flipped view gives what its copy gives, byte for
    byte, and leaves the view's pixels alone."""
    bgr = cv2.imread(str(lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"))
    for view in (bgr[..., ::-1], bgr[..., ::-1][20:240, 10:245]):
        before = view.copy()
        outcome = mask_image(view, seed=2)
        expected = mask_image(np.ascontiguousarray(view), seed=2)
        assert outcome.masked and outcome.image.tobytes() == expected.image.tobytes()
        assert np.array_equal(view, before)


@pytest.mark.parametrize(
    ("image", "says"),
    [
        (np.zeros((64, 64), np.uint8), "shape (64, 64)"),
        (np.zeros((64, 64, 4), np.uint8), "shape (64, 64, 4)"),
        (np.zeros((64, 64, 3), np.float32), "dtype float32"),
        (np.zeros((0, 64, 3), np.uint8), "shape (0, 64, 3)"),
        ("photo.jpg", "got str"),
    ],
)
def test_not_an_rgb_array_is_a_value_error_saying_what_it_got(image, says, masker: Masker):
    """Grey, RGBA, float or a path: one ValueError naming the problem (they failed inside
    OpenCV or dlib with those libraries' messages, or an AttributeError)."""
    with pytest.raises(ValueError, match="image must be") as error:
        mask_image(image)
    assert says in str(error.value)
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        masker.mask_image(image, np.random.default_rng(0))
