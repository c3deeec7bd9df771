"""The face checks on real LFW photos: what is in front of the lower face is never painted
over (the face is left unmasked, reason ``occluded``), a strongly turned face is left unmasked
(``too_turned``), a clean frontal face is masked, and the reasons reach the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.faces.visibility import OCCLUDED, OUT_OF_FRAME, TOO_TURNED, head_pose, outside_share
from maskgen.masks import Masker, MaskSpec

pytestmark = pytest.mark.shared


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def photo(lfw_dir: Path, name: str) -> np.ndarray:
    person = name.rsplit("_", 1)[0]
    return read_rgb(lfw_dir / person / f"{name}.jpg")


@pytest.fixture(scope="module")
def masker() -> Masker:
    return Masker(MaskSpec())


@pytest.mark.parametrize(
    "name",
    [
        "Hugo_Chavez_0010",
        "Cate_Blanchett_0004",
        # crossing edges that barely reach the face's side of the jaw: the crops' rule
        # (JAW_CROSSING_INSIDE_MIN_ALIGNED) would pass these, so photos do not use it
        "Rick_Perry_0001",
        "Leonid_Kuchma_0002",
        "Natalie_Coughlin_0001",
    ],
)
def test_hand_in_front_of_the_lower_face_is_not_painted_over(lfw_dir, masker, name):
    rgb = photo(lfw_dir, name)
    outcome = masker.mask_image(rgb, np.random.default_rng(0))
    assert outcome.reason == OCCLUDED and not outcome.applied
    assert [face.reason for face in outcome.skipped] == [OCCLUDED]
    np.testing.assert_array_equal(outcome.image, rgb)  # the hand's pixels are untouched
    unchecked = Masker(MaskSpec(face_checks=False)).mask_image(rgb, np.random.default_rng(0))
    assert unchecked.masked  # without the checks the same face is masked, hand and all


@pytest.mark.parametrize("name", ["Aaron_Eckhart_0001", "George_W_Bush_0001"])
def test_clean_frontal_face_is_masked(lfw_dir, masker, name):
    outcome = masker.mask_image(photo(lfw_dir, name), np.random.default_rng(0))
    assert outcome.masked and outcome.reason is None and not outcome.skipped


@pytest.mark.parametrize("name", ["Aaron_Eckhart_0001", "Abdullah_Gul_0001"])
def test_pasted_hand_over_the_chin_is_found(lfw_dir, masker, name):
    """Fingers cut from another photo and pasted over the chin of a clean face."""
    rgb = photo(lfw_dir, name)
    assert masker.mask_image(rgb, np.random.default_rng(0)).masked
    hand = photo(lfw_dir, "Cate_Blanchett_0004")[175:250, 20:120]
    chin_x, chin_y = np.round(masker.finder.find_faces(rgb)[0].landmarks[8]).astype(int)
    covered = rgb.copy()
    covered[chin_y - 20 : chin_y + 55, chin_x - 50 : chin_x + 50] = hand
    outcome = masker.mask_image(covered, np.random.default_rng(0))
    assert outcome.reason == OCCLUDED
    np.testing.assert_array_equal(outcome.image, covered)


def test_strongly_turned_face_is_too_turned(lfw_dir, masker):
    rgb = photo(lfw_dir, "George_W_Bush_0122")
    face = masker.finder.find_faces(rgb)[0]
    frontal = masker.finder.find_faces(photo(lfw_dir, "Aaron_Eckhart_0001"))[0]
    assert abs(head_pose(face.landmarks)[0]) > 55
    assert abs(head_pose(frontal.landmarks)[0]) < 30
    outcome = masker.mask_image(rgb, np.random.default_rng(0))
    assert outcome.reason == TOO_TURNED and not outcome.applied
    np.testing.assert_array_equal(outcome.image, rgb)


def test_a_face_cut_off_by_the_border_is_left_out_of_frame(lfw_dir, masker):
    """Tom_Hanks_0001 upside down (a photo whose orientation tag a user got wrong): the
    detector finds only a sideways face cut by the right border, whose fit lands on its eye;
    it is left unmasked as out_of_frame. The same face cut at the chin is still masked."""
    rgb = np.ascontiguousarray(photo(lfw_dir, "Tom_Hanks_0001")[::-1, ::-1])
    outcome = masker.mask_image(rgb, np.random.default_rng(0))
    assert outcome.reason == OUT_OF_FRAME and not outcome.applied
    (skipped,) = outcome.skipped
    assert outside_share(skipped.face.landmarks, *rgb.shape[:2]) > 0.25
    assert skipped.face.box[2] > rgb.shape[1]  # the box runs past the right border
    np.testing.assert_array_equal(outcome.image, rgb)
    frontal = photo(lfw_dir, "Aaron_Eckhart_0001")
    chin_y = int(masker.finder.find_faces(frontal)[0].landmarks[8, 1])
    cut = np.ascontiguousarray(frontal[: chin_y - 4])  # the chin's lowest points cut off
    assert masker.mask_image(cut, np.random.default_rng(0)).masked


def test_one_face_skipped_the_other_masked_and_both_in_the_manifest(lfw_dir, tmp_path):
    """A photo holding an occluded face and a clean one: the clean one is masked, the other
    left as it is; the manifest row lists it under faces_not_masked with its reason."""
    from maskgen.pipeline import augment_dataset

    occluded = photo(lfw_dir, "Hugo_Chavez_0010")
    clean = photo(lfw_dir, "Aaron_Eckhart_0001")
    canvas = np.hstack([occluded, clean])
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "two.png"), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    report = augment_dataset(folder, out, spec=MaskSpec(), workers=1, progress=False)
    (row,) = map(json.loads, (out / "manifest.jsonl").read_text().splitlines())
    assert row["masked"] is True and row["faces"] == 1
    assert [face["reason"] for face in row["faces_not_masked"]] == [OCCLUDED]
    assert row["faces_not_masked"][0]["box"][2] <= 250  # the left face: Hugo Chavez's
    written = read_rgb(out / "two.png")
    np.testing.assert_array_equal(written[:, :250], occluded)  # his hand untouched
    assert report.counts.masked == 1 and report.counts.faces_not_masked == {OCCLUDED: 1}
    assert "1 face left unmasked (occluded 1)" in report.summary()
    counts = json.loads((out / "maskgen.json").read_text())["counts"]
    assert counts["faces_not_masked"] == {OCCLUDED: 1}


def test_image_whose_only_face_is_occluded_is_copied_with_the_reason(lfw_dir, tmp_path):
    """A folder of photos: the occluded one is copied byte for byte, its row says why."""
    from maskgen.pipeline import augment_dataset

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("Cate_Blanchett_0004", "Aaron_Eckhart_0001"):
        person = name.rsplit("_", 1)[0]
        (folder / f"{name}.jpg").write_bytes((lfw_dir / person / f"{name}.jpg").read_bytes())
    out = tmp_path / "out"
    report = augment_dataset(folder, out, spec=MaskSpec(), workers=1, progress=False)
    rows = {r["key"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    row = rows["Cate_Blanchett_0004.jpg"]
    assert row["masked"] is False and row["reason"] == OCCLUDED and row["face_masks"] == []
    assert [face["reason"] for face in row["faces_not_masked"]] == [OCCLUDED]
    assert (out / "Cate_Blanchett_0004.jpg").read_bytes() == (
        folder / "Cate_Blanchett_0004.jpg"
    ).read_bytes()
    assert rows["Aaron_Eckhart_0001.jpg"]["masked"] is True
    assert report.counts.reasons == {OCCLUDED: 1}
    unchecked = augment_dataset(
        folder, tmp_path / "all", spec=MaskSpec(face_checks=False), workers=1, progress=False
    )
    assert unchecked.counts.masked == 2 and not unchecked.counts.faces_not_masked
    info = json.loads((tmp_path / "all" / "maskgen.json").read_text())
    assert info["parameters"]["mask_spec"]["face_checks"] is False


def test_aligned_crop_with_a_hand_over_the_chin_is_left_unmasked(lfw_dir):
    """MaskAugment on an ArcFace-aligned crop (aligned mode) with fingers pasted over the
    chin: the crop comes back unchanged, not masked, with the reason; the clean crop is
    masked. Without the checks the hand would be painted over."""
    from maskgen.faces import align_face, five_points
    from maskgen.masks import MaskAugment

    masker = Masker(MaskSpec(), face_mode="aligned")
    rgb = photo(lfw_dir, "Aaron_Eckhart_0001")
    crop = align_face(rgb, five_points(masker.finder.find_faces(rgb)[0].landmarks))
    hand = cv2.resize(photo(lfw_dir, "Cate_Blanchett_0004")[175:250, 20:120], (60, 45))
    covered = crop.copy()
    covered[67:112, 26:86] = hand
    aug = MaskAugment(p=1.0, seed=0)
    assert aug(image=crop, key=1)["masked"] is True
    out = aug(image=covered, key=1)
    assert out["masked"] is False and out["image"] is covered
    assert out["params"]["reason"] == OCCLUDED
    assert [face["reason"] for face in out["params"]["faces_not_masked"]] == [OCCLUDED]
    assert MaskAugment(p=1.0, seed=0, face_checks=False)(image=covered, key=1)["masked"] is True


@pytest.mark.parametrize(("yaw", "pitch"), [(0.0, 0.0), (30.0, -10.0), (-60.0, 20.0), (10.0, 50.0)])
def test_rough_pose_recovers_an_orthographic_projection(yaw, pitch):
    """The weak-perspective pose that gates solvePnP gives back the yaw and pitch of the model
    face turned and drawn without perspective (scaled, moved, y down as in an image)."""
    from maskgen.faces.visibility import _MODEL_LANDMARKS, _MODEL_POINTS, rough_pose

    a, b = np.radians(yaw), np.radians(pitch)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    tip = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    drawn = (_MODEL_POINTS @ (turn @ tip).T)[:, :2] * np.array([0.1, -0.1]) + (120, 130)
    landmarks = np.zeros((1, 68, 2))
    landmarks[0, list(_MODEL_LANDMARKS)] = drawn
    got_yaw, got_pitch = rough_pose(landmarks)
    assert abs(abs(got_yaw[0]) - abs(yaw)) < 1e-6 and abs(abs(got_pitch[0]) - abs(pitch)) < 1e-6


def test_pose_gate_keeps_the_solver_decision_on_real_faces(lfw_dir, masker):
    """too_turned (solvePnP only past the rough gate) decides as is_too_turned (solvePnP on
    every face) on turned and frontal LFW faces."""
    from maskgen.faces.visibility import is_too_turned, too_turned

    names = ["George_W_Bush_0122", "Aaron_Eckhart_0001", "George_W_Bush_0001", "Hugo_Chavez_0010"]
    faces = [masker.finder.find_faces(photo(lfw_dir, name))[0].landmarks for name in names]
    assert too_turned(faces) == [is_too_turned(points) for points in faces]
    assert too_turned(faces)[0] and not any(too_turned(faces)[1:])


def test_numpy_and_numba_forms_of_the_jaw_measures_are_equal_to_the_bit(lfw_dir, masker):
    """A small run measures the jaw in numpy (no numba loaded), a large one with the numba
    kernels: the same faces get the same measures, so the decisions never depend on run size."""
    from maskgen.faces import _visibility_kernels
    from maskgen.faces.visibility import _NUMPY_KERNELS, jaw_crossing, kernels

    names = ["Hugo_Chavez_0010", "Cate_Blanchett_0004", "Aaron_Eckhart_0001", "Abdullah_Gul_0001"]
    for name in names:
        rgb = photo(lfw_dir, name)
        landmarks = masker.finder.find_faces(rgb)[0].landmarks
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MASKGEN_KERNELS", "numpy")
            assert kernels() is _NUMPY_KERNELS
            in_numpy = jaw_crossing(rgb, landmarks)
            patch.setenv("MASKGEN_KERNELS", "numba")
            assert kernels() is _visibility_kernels
            in_numba = jaw_crossing(rgb, landmarks)
        assert in_numpy == in_numba, name
        assert in_numpy.edges > 0  # every face's band has some strong pixels to compare


def _drawn_face() -> tuple[np.ndarray, np.ndarray]:
    """A plain oval face on a dark ground, (220, 220, 3) uint8, and 68 landmarks placed on it:
    the jaw (0-16) on the oval's lower half, brows, nose, eyes and mouth inside."""
    rgb = np.full((220, 220, 3), 60, np.uint8)
    cv2.ellipse(rgb, (110, 90), (62, 85), 0, 0, 360, (190, 160, 140), -1)
    points = np.zeros((68, 2))
    angles = np.radians(np.linspace(180, 0, 17))
    points[:17] = np.c_[110 + 62 * np.cos(angles), 90 + 85 * np.sin(angles)]
    points[17:27] = np.c_[np.linspace(70, 150, 10), np.full(10, 55)]
    points[27:36] = np.c_[np.full(9, 110), np.linspace(65, 110, 9)]
    eye = np.c_[8 * np.cos(np.linspace(0, 2 * np.pi, 6, endpoint=False)), np.zeros(6)]
    points[36:42], points[42:48] = eye + np.array([85, 70]), eye + np.array([135, 70])
    points[48:68] = np.c_[np.linspace(90, 130, 20), np.full(20, 135)]
    return rgb, points


def _draw_fingers(rgb: np.ndarray, reach: int) -> None:
    """Four fingers from the bottom-left corner toward the jaw, ``reach`` px past its line."""
    for i in range(4):
        tip = (70 + 12 * i + reach // 2, 150 + 10 * i - reach)
        cv2.line(rgb, (5, 215), tip, (225, 190, 170), 9)
        cv2.line(rgb, (5, 215), tip, (120, 90, 80), 1)


def test_fingers_beside_the_jaw_of_a_crop_are_not_an_occluder_fingers_across_it_are():
    """What lies behind or beside a face stops at its outline (its edges fill only the outer
    half of the band along the jaw); what is in front of it runs on into the face. The same
    fingers, drawn behind the face and in front of it, on a drawn face and its landmarks,
    judged as an aligned crop's face. On a photo's face the edges alone still decide."""
    from maskgen.faces.visibility import (
        JAW_CROSSING_INSIDE_MIN_ALIGNED,
        JAW_CROSSING_MAX,
        JAW_CROSSING_MAX_ALIGNED,
        is_occluded,
        jaw_crossing,
    )

    face, points = _drawn_face()
    assert not is_occluded(jaw_crossing(face, points), 0.0, 0.0, aligned=True)
    beside = np.full_like(face, 60)
    _draw_fingers(beside, reach=0)
    beside = np.where(face != 60, face, beside)  # the face in front of the hand
    crossing = jaw_crossing(beside, points)
    assert crossing.edges > JAW_CROSSING_MAX_ALIGNED  # strong crossing edges: flagged before
    assert crossing.inside < JAW_CROSSING_INSIDE_MIN_ALIGNED
    assert not is_occluded(crossing, 0.0, 0.0, aligned=True)
    assert crossing.edges > JAW_CROSSING_MAX and is_occluded(crossing, 0.0, 0.0, aligned=False)
    front = face.copy()
    _draw_fingers(front, reach=22)
    crossing = jaw_crossing(front, points)
    assert crossing.edges > JAW_CROSSING_MAX_ALIGNED
    assert crossing.inside > JAW_CROSSING_INSIDE_MIN_ALIGNED
    assert is_occluded(crossing, 0.0, 0.0, aligned=True)


def test_lfw_mini_hand_held_out_below_the_chin_is_masked(rec_dir):
    """lfw-mini record 226 (Robert Zoellick, a hand held out at the crop's lower-left corner,
    nothing in front of the face) is masked in aligned mode; the hands over the mouth of
    records 227 (the same man), 87 and 49 and the microphone of 71 still leave theirs
    unmasked."""
    from maskgen.formats import open_reader
    from maskgen.images import decode_rgb

    reader = open_reader(rec_dir / "lfw-mini" / "train.rec")
    keys = [226, 227, 87, 49, 71]
    crops = [decode_rgb(reader.read(key).data) for key in keys]
    masker = Masker(MaskSpec(), face_mode="aligned")
    outcomes = masker.mask_images(crops, [np.random.default_rng(key) for key in keys])
    assert [outcome.reason for outcome in outcomes] == [None] + [OCCLUDED] * 4
    assert outcomes[0].masked
