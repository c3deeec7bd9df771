"""`maskgen align`: aligned RecordIO and .bin sets built from real LFW photos."""

from __future__ import annotations

import pickle
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.faces.align import ARCFACE_TEMPLATE_112
from maskgen.faces.landmarks import load_face_finder
from maskgen.formats.recordio import RecordIOReader
from tests.conftest import lfw_sample_paths, run_maskgen_limited

pytestmark = pytest.mark.shared

PEOPLE = ("Aaron_Eckhart", "Al_Gore", "Alec_Baldwin")


def decode(data: bytes) -> np.ndarray:
    return cv2.cvtColor(
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    )


def eyes_on_template(rgb: np.ndarray) -> bool:
    """Whether a re-detected face in the crop has its eyes where the ArcFace template puts them."""
    big = cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_CUBIC)
    faces = load_face_finder().find_faces(big, "detect")
    if not faces:
        return False
    lm = faces[0].landmarks / 2
    eyes = np.stack([lm[36:42].mean(0), lm[42:48].mean(0)])
    return bool(np.linalg.norm(eyes - ARCFACE_TEMPLATE_112[:2], axis=1).max() < 5)


def test_align_folder_to_insightface_rec(tmp_path, lfw_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PEOPLE:
        (photos / name).symlink_to(lfw_dir / name)
    out = tmp_path / "aligned" / "train.rec"
    result = CliRunner().invoke(cli, ["align", str(photos), "-o", str(out), "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert (out.parent / "property").read_text().strip() == "3,112,112"
    reader = RecordIOReader(out)
    counts = [len(list((lfw_dir / name).glob("*.jpg"))) for name in PEOPLE]
    assert reader.num_classes == 3
    assert len(reader.image_keys()) == sum(counts)
    for identity, count in enumerate(counts):
        assert len(reader.identity(identity)) == count
    first = reader.read(reader.image_keys()[0])
    assert first.label[0] == 0
    crop = decode(first.data)
    assert crop.shape == (112, 112, 3)
    assert eyes_on_template(crop)
    before = out.read_bytes()
    again = CliRunner().invoke(cli, ["align", str(photos), "-o", str(out), "-q"])
    assert again.exit_code == 1
    assert again.stderr == f"Error: {out} exists; pass --overwrite to replace it\n"
    assert out.read_bytes() == before


def test_photos_outside_identity_folders_are_counted_as_ignored(tmp_path, lfw_dir):
    photos = tmp_path / "photos"
    (photos / "Aaron_Peirsol").mkdir(parents=True)
    first, second = sorted((lfw_dir / "Aaron_Peirsol").glob("*.jpg"))[:2]
    (photos / "Aaron_Peirsol" / first.name).symlink_to(first)
    (photos / second.name).symlink_to(second)  # no identity folder: cannot be labelled
    result = CliRunner().invoke(cli, ["align", str(photos), "-o", str(tmp_path / "t.rec")])
    assert result.exit_code == 0, result.output
    assert ": 1 photo, " in result.output
    assert "1 photo outside the identity sub-folders ignored" in result.output


def test_identities_whose_photos_are_tiff_or_have_no_suffix_are_kept(tmp_path, lfw_dir):
    """Photos are what the rest of maskgen reads as images: a TIFF or a suffix-less JPEG in an
    identity folder used to be skipped without a word, its identity missing from the .rec."""
    photos = tmp_path / "photos"
    first, second = sorted((lfw_dir / "Aaron_Peirsol").glob("*.jpg"))[:2]
    (photos / "A").mkdir(parents=True)
    cv2.imwrite(str(photos / "A" / "one.tif"), cv2.imread(str(first)))
    (photos / "A" / "two").write_bytes(second.read_bytes())
    (photos / "A" / "notes.txt").write_text("not a photo\n")
    (photos / "B").mkdir()
    (photos / "B" / "three.jpg").symlink_to(sorted((lfw_dir / "Al_Gore").glob("*.jpg"))[0])
    out = tmp_path / "t.rec"
    result = CliRunner().invoke(cli, ["align", str(photos), "-o", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "3 photos, 3 aligned on a detected face" in result.output
    reader = RecordIOReader(out)
    assert reader.num_classes == 2
    assert [len(reader.identity(i)) for i in range(2)] == [2, 1]


def test_align_pairs_to_bin(tmp_path, lfw_dir, lfw_pairs):
    lines = lfw_pairs.read_text().splitlines()
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join([lines[0], *lines[1:3], *lines[301:303]]) + "\n")
    out = tmp_path / "mini.bin"
    result = CliRunner().invoke(
        cli, ["align", str(lfw_dir), "--pairs", str(pairs), "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    with out.open("rb") as f:
        images, issame = pickle.load(f, encoding="bytes")
    assert issame == [True, True, False, False]
    assert len(images) == 8
    assert all(decode(bytes(image)).shape == (112, 112, 3) for image in images)


def test_align_refuses_wrong_output_suffix(tmp_path, lfw_dir):
    result = CliRunner().invoke(cli, ["align", str(lfw_dir), "-o", str(tmp_path / "x.txt")])
    assert result.exit_code == 2
    assert "must be a .rec" in result.output
    assert not (tmp_path / "x.txt").exists()


def test_align_refuses_the_property_and_idx_of_another_set(tmp_path, lfw_dir):
    """`align ids2/ -o other.rec` beside an earlier `train.rec` replaced that folder's
    `property` (insightface's class count, read by every trainer) with its own, without a
    word: train.rec then claimed 1 identity instead of 2. Both companions are outputs too."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PEOPLE[:2]:
        (photos / name).symlink_to(lfw_dir / name)
    out = tmp_path / "sets"
    first = CliRunner().invoke(cli, ["align", str(photos), "-o", str(out / "train.rec"), "-q"])
    assert first.exit_code == 0, first.output
    (photos / PEOPLE[1]).unlink()
    second = CliRunner().invoke(cli, ["align", str(photos), "-o", str(out / "other.rec"), "-q"])
    assert second.exit_code == 1
    assert second.stderr.startswith(f"Error: {out / 'property'} exists")
    assert second.stderr.count("\n") == 1
    assert (out / "property").read_text().strip() == "2,112,112"
    assert not (out / "other.rec").exists()
    (out / "lone.idx").write_text("0\t0\n")
    lone = CliRunner().invoke(cli, ["align", str(photos), "-o", str(out / "lone.rec"), "-q"])
    assert lone.exit_code == 1
    assert lone.stderr == f"Error: {out / 'lone.idx'} exists; pass --overwrite to replace it\n"
    forced = CliRunner().invoke(
        cli, ["align", str(photos), "-o", str(out / "other.rec"), "-q", "--overwrite"]
    )
    assert forced.exit_code == 0, forced.output
    assert (out / "property").read_text().strip() == "1,112,112"


def _background(photo, path) -> None:
    """A real photo's left and right margins side by side: background, no face."""
    bgr = cv2.imread(str(photo))
    assert cv2.imwrite(str(path), np.concatenate([bgr[:, :60], bgr[:, -60:]], axis=1))


@pytest.fixture
def photos_without_faces(tmp_path, lfw_dir):
    """A/ two faces and a background, B/ only a background, C/ one face."""
    photos = tmp_path / "photos"
    gore = sorted((lfw_dir / "Al_Gore").glob("*.jpg"))
    for name in "ABC":
        (photos / name).mkdir(parents=True)
    (photos / "A" / "1.jpg").symlink_to(gore[0])
    (photos / "A" / "2.jpg").symlink_to(gore[1])
    _background(gore[2], photos / "A" / "3.jpg")
    _background(gore[3], photos / "B" / "1.jpg")
    (photos / "C" / "1.jpg").symlink_to(sorted((lfw_dir / "Alec_Baldwin").glob("*.jpg"))[0])
    return photos


def test_a_photo_with_no_face_is_left_out_of_a_rec(tmp_path, photos_without_faces):
    """A background crop labelled as that person went into the training .rec (the centre
    fallback); it is left out with the reason no_face, and a folder left with no photo is
    no class."""
    out = tmp_path / "t.rec"
    result = CliRunner().invoke(cli, ["align", str(photos_without_faces), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        f"{out}: 5 photos, 3 aligned on a detected face, 2 left out (no_face 2); "
        "1 identity folder with no photo aligned, not in the .rec (B)"
    ) in result.stderr
    reader = RecordIOReader(out)
    assert reader.num_classes == 2
    assert [len(reader.identity(i)) for i in range(2)] == [2, 1]
    assert (out.parent / "property").read_text().strip() == "2,112,112"


def test_no_face_centre_keeps_the_centre_fallback(tmp_path, photos_without_faces):
    out = tmp_path / "t.rec"
    result = CliRunner().invoke(
        cli, ["align", str(photos_without_faces), "-o", str(out), "--no-face", "centre"]
    )
    assert result.exit_code == 0, result.output
    assert "5 photos, 3 aligned on a detected face, 2 on the centre fallback, 0 left out" in (
        result.stderr
    )
    reader = RecordIOReader(out)
    assert [len(reader.identity(i)) for i in range(3)] == [3, 1, 1]


def test_a_folder_with_no_face_at_all_writes_nothing(tmp_path, lfw_dir):
    photos = tmp_path / "photos"
    (photos / "A").mkdir(parents=True)
    _background(sorted((lfw_dir / "Al_Gore").glob("*.jpg"))[0], photos / "A" / "1.jpg")
    out = tmp_path / "out" / "t.rec"
    result = CliRunner().invoke(cli, ["align", str(photos), "-o", str(out), "-q"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {photos}: no photo of its 1 aligned (no_face 1), nothing to write; "
        "--no-face centre aligns a photo with no face found on the centre fallback\n"
    )
    assert not out.exists() and not out.with_suffix(".idx").exists()
    assert not (out.parent / "property").exists()


def test_a_bin_cannot_skip_a_photo_of_a_pair(tmp_path, lfw_dir, lfw_pairs):
    out = tmp_path / "x.bin"
    result = CliRunner().invoke(
        cli,
        ["align", str(lfw_dir), "--pairs", str(lfw_pairs), "-o", str(out), "--no-face", "skip"],
    )
    assert result.exit_code == 2
    assert "a .bin keeps every photo of its pairs" in result.output
    assert not out.exists()


def test_the_library_refuses_an_unknown_no_face(tmp_path, photos_without_faces):
    from maskgen.errors import ConfigError
    from maskgen.faces.dataset import align_folder_to_rec

    with pytest.raises(ConfigError, match="no_face: 'crop', expected one of skip, centre"):
        align_folder_to_rec(photos_without_faces, tmp_path / "t.rec", no_face="crop")


def test_photos_in_folders_inside_an_identity_folder_are_counted_as_ignored(tmp_path, lfw_dir):
    """person/session1/x.jpg was left out without a word (only photos directly in an identity
    folder are read: a folder inside may as well be another person's)."""
    photos = tmp_path / "photos"
    (photos / "A" / "session1" / "deeper").mkdir(parents=True)
    (photos / "B" / "only_nested").mkdir(parents=True)
    gore = sorted((lfw_dir / "Al_Gore").glob("*.jpg"))
    (photos / "A" / "1.jpg").symlink_to(gore[0])
    (photos / "A" / "session1" / "2.jpg").symlink_to(gore[1])
    (photos / "A" / "session1" / "deeper" / "3.jpg").symlink_to(gore[2])
    (photos / "B" / "only_nested" / "4.jpg").symlink_to(gore[3])
    out = tmp_path / "t.rec"
    result = CliRunner().invoke(cli, ["align", str(photos), "-o", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert result.stderr.endswith(
        "1 photo, 1 aligned on a detected face, 0 left out; 3 photos in folders inside the "
        "identity sub-folders ignored\n"
    )
    assert RecordIOReader(out).num_classes == 1


def test_a_photo_too_small_for_a_face_is_left_out_as_too_small(tmp_path, lfw_dir):
    """A 24 px photo was left out as ``no_face``; it is ``too_small``, as augment says of it
    (a side under 32 px), and with ``--no-face centre`` it is still aligned."""
    photos = tmp_path / "photos" / "A"
    photos.mkdir(parents=True)
    gore = sorted((lfw_dir / "Al_Gore").glob("*.jpg"))
    (photos / "1.jpg").symlink_to(gore[0])
    tiny = cv2.resize(cv2.imread(str(gore[1])), (24, 24), interpolation=cv2.INTER_AREA)
    assert cv2.imwrite(str(photos / "2.jpg"), tiny)
    out = tmp_path / "t.rec"
    result = CliRunner().invoke(cli, ["align", str(photos.parent), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 photos, 1 aligned on a detected face, 1 left out (too_small 1)" in result.stderr
    centre = tmp_path / "centre" / "c.rec"
    centre.parent.mkdir()
    result = CliRunner().invoke(
        cli, ["align", str(photos.parent), "-o", str(centre), "--no-face", "centre"]
    )
    assert result.exit_code == 0, result.output
    assert "1 on the centre fallback, 0 left out" in result.stderr


def test_align_stopped_by_a_failed_write_prints_one_line(tmp_path, lfw_dir):
    """The .rec cannot be written past 40 KB (as a full disk or a quota stops it) while the
    workers still align: the error line was followed by joblib's two-line "UserWarning: 4
    tasks which were still being processed by the workers have been cancelled. You could
    benefit from adjusting the input task iterator ...". The real program, two workers."""
    photos = tmp_path / "photos"
    for path in lfw_sample_paths(lfw_dir, 400):
        (photos / path.parent.name).mkdir(parents=True)
        shutil.copyfile(path, photos / path.parent.name / path.name)
    out = tmp_path / "out" / "train.rec"

    done = run_maskgen_limited(["align", photos, "-o", out, "--workers", "2"], 40_000)
    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: {out}: cannot write here (File too large)", done.stderr
    assert not out.exists()
