"""`maskgen preview`: the sheet in the format its suffix names, captions whole and inside."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.errors import OutputError
from maskgen.preview import TILE, Tile, render_sheet, wrap_caption
from tests.conftest import REPO

LONG_NAME = "a_very_long_file_name_of_a_holiday_photo_taken_in_2019_by_grandma.jpg"
SIGNATURES = {".jpg": b"\xff\xd8\xff", ".png": b"\x89PNG", ".bmp": b"BM", ".webp": b"RIFF"}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def photos(tmp_path, lfw_dir):
    folder = tmp_path / "photos"
    (folder / "holidays").mkdir(parents=True)
    shutil.copy(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg", folder / "holidays" / LONG_NAME)
    shutil.copy(lfw_dir / "Al_Gore" / "Al_Gore_0002.jpg", folder / "b.jpg")
    return folder


@pytest.mark.shared
@pytest.mark.parametrize("suffix", [".jpg", ".JPEG", ".png", ".bmp", ".webp"])
def test_the_sheet_is_written_in_the_format_its_suffix_names(photos, tmp_path, suffix):
    out = tmp_path / f"sheet{suffix}"
    result = invoke("preview", photos, "-o", out, "-n", "2")
    assert result.exit_code == 0, result.output
    magic = SIGNATURES[".jpg" if suffix == ".JPEG" else suffix]
    assert out.read_bytes().startswith(magic)
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[1] == 4 * (TILE + 4) + 4


@pytest.mark.shared
def test_progress_is_reported_per_item_and_quiet_says_nothing(photos, tmp_path):
    """``preview -n 400`` worked for many seconds without a word, and had no -q as the other
    long commands have: each item now moves a bar, and -q prints nothing."""
    from maskgen.preview import preview_dataset

    steps: list[int] = []
    total: list[int] = []
    sheet = preview_dataset(
        photos, tmp_path / "a.png", n=5, progress=steps.append, progress_total=total.append
    )
    assert sheet.items == 2 and steps == [1, 1] and total == [2]  # the folder holds two
    quiet = invoke("preview", photos, "-o", tmp_path / "b.png", "-n", "5", "-q")
    assert quiet.exit_code == 0 and quiet.output == "", quiet.output
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()
    said = invoke("preview", photos, "-o", tmp_path / "c.png", "-n", "2")
    assert said.stderr == f"wrote {tmp_path / 'c.png'}\n"


@pytest.mark.shared
def test_an_unknown_suffix_is_refused_before_any_work(photos, tmp_path):
    for name in ("sheet.pdf", "sheet.txt", "sheet"):
        result = invoke("preview", photos, "-o", tmp_path / name)
        assert result.exit_code == 2
        assert (
            "'-o' / '--output'" in result.output
            and "allowed: " in result.output
            and ".jpg" in result.output
        )
        assert not (tmp_path / name).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]


@pytest.mark.shared
def test_a_sheet_larger_than_an_ico_holds_is_one_error_line_and_no_file(photos, tmp_path):
    """ICO holds at most 256x256 pixels; Pillow's writer shrank the 4-tile sheet to fit."""
    out = tmp_path / "sheet.ico"
    result = invoke("preview", photos, "-o", out, "-n", "2")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds at most 256x256 pixels" in lines[0]
    assert lines[0].startswith("Error: sheet.ico: an ICO image")  # the file, not "item"
    assert f"this one is {4 * (TILE + 4) + 4}x" in lines[0] and ".png" in lines[0]
    assert not out.exists() and not list(tmp_path.glob("sheet*"))


def test_captions_wrap_whole_within_the_tile():
    width = TILE - 4
    for text in (LONG_NAME, "holidays/" + LONG_NAME, "n95 plaid_03", "x" * 90, ""):
        lines = wrap_caption(text, width)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing dropped
        assert all(
            cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)[0][0] <= width for line in lines
        )
    lines = wrap_caption("holidays/" + LONG_NAME, width)
    assert all(line[-1] in "/_" for line in lines[:-1])  # breaks between words of the name
    assert wrap_caption("n95 plaid_03", width) == ["n95 plaid_03"]


def test_caption_ink_stays_under_its_own_tile():
    """Two tiles side by side, a long caption under the first: its ink lies in the first
    column, on several lines, with the descenders inside the sheet."""
    gray = np.full((TILE, TILE, 3), 128, np.uint8)
    sheet = render_sheet([Tile(gray, "holidays/" + LONG_NAME), Tile(gray, "")], columns=2)
    band = sheet[4 + TILE :]
    ink = np.argwhere(band.min(axis=2) < 160)
    assert len(ink) > 0
    columns = ink[:, 1]
    assert columns.min() >= 4 and columns.max() < 4 + TILE  # not into the second tile
    lines_used = len(np.unique(ink[:, 0] // 15))
    assert lines_used >= 4
    assert ink[:, 0].max() < band.shape[0] - 1  # the last line's descenders are not cut


@pytest.mark.shared
def test_captions_name_the_placement_where_it_is_not_correct(rec_dir):
    from maskgen.formats.recordio import RecordIOReader
    from maskgen.images import decode_rgb
    from maskgen.masks import Masker, MaskSpec
    from maskgen.preview import caption_for

    rgb = decode_rgb(RecordIOReader(rec_dir / "lfw-mini" / "train.rec").read(1).data)
    captions = {}
    for wear in ("correct", "mouth_uncovered"):
        masker = Masker(MaskSpec(wear={wear: 1.0}), face_mode="aligned")
        captions[wear] = caption_for(masker.mask_image(rgb, np.random.default_rng(4)))
    assert captions["mouth_uncovered"] == captions["correct"] + " mouth_uncovered"
    assert "correct" not in captions["correct"]


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system taking any bytes")
def test_a_file_name_that_is_not_utf8_is_captioned_with_its_bytes(tmp_path):
    """OpenCV's text functions crash the process (SIGSEGV) on Python's surrogate escapes, which
    is how a Latin-1 file name reaches a caption: the caption shows the byte instead."""
    folder = tmp_path / "photos"
    folder.mkdir()
    grey = np.full((64, 64, 3), 128, np.uint8)
    (folder / os.fsdecode(b"caf\xe9.png")).write_bytes(cv2.imencode(".png", grey)[1].tobytes())
    out = tmp_path / "sheet.png"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "maskgen", "preview", str(folder), "-o", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert cv2.imread(str(out)) is not None
    assert wrap_caption(os.fsdecode(b"caf\xe9.png"), TILE) == ["caf\\xe9.png"]


@pytest.mark.shared
def test_n_items_from_a_rec_with_identity_records(rec_dir):
    """-n 32 gave 28 pairs on lfw-mini: the picks were spread over every record, its 41
    identity records at the end included, and those found no image."""
    from maskgen.formats.recordio import RecordIOReader
    from maskgen.preview import _spread_images

    with RecordIOReader(rec_dir / "lfw-mini" / "train.rec") as reader:
        counts = [len(list(_spread_images(reader, n))) for n in (8, 32, 294, 400)]
        picked = [sample.key for sample, _ in _spread_images(reader, 32)]
    assert counts == [8, 32, 294, 294]
    assert len(set(picked)) == 32 and picked[0] == 1 and picked[-1] == 294


@pytest.mark.shared
def test_preview_leaves_unmasked_what_augment_copies_unchanged(tmp_path, lfw_dir, monkeypatch):
    """An animated GIF was shown masked, though `augment` copies it unchanged
    (``multi_frame``): the sheet now shows it unmasked, captioned with augment's reason."""
    from PIL import Image

    import maskgen.preview as preview
    from maskgen.pipeline import augment_dataset

    folder = tmp_path / "photos"
    folder.mkdir()
    frames = [Image.open(lfw_dir / "Al_Gore" / f"Al_Gore_000{i}.jpg") for i in (1, 2)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=200)
    shutil.copy(lfw_dir / "Al_Gore" / "Al_Gore_0003.jpg", folder / "still.jpg")
    shown: list[Tile] = []

    def recording_sheet(tiles, columns):
        shown.extend(tiles)
        return render_sheet(tiles, columns)

    monkeypatch.setattr(preview, "render_sheet", recording_sheet)
    preview.preview_dataset(folder, tmp_path / "sheet.png")
    pairs = {shown[i].caption: (shown[i], shown[i + 1]) for i in range(0, len(shown), 2)}
    original, twin = pairs["anim.gif"]
    assert twin.caption == "multi_frame"
    np.testing.assert_array_equal(twin.image, original.image)
    original, twin = pairs["still.jpg"]
    assert twin.caption and not np.array_equal(twin.image, original.image)  # masked
    augment_dataset(folder, tmp_path / "twin", workers=1, progress=False)
    rows = (tmp_path / "twin" / "manifest.jsonl").read_text().splitlines()
    assert '"key":"anim.gif","masked":false' in rows[0] and '"reason":"multi_frame"' in rows[0]


@pytest.mark.shared
def test_a_damaged_image_gets_a_pair_and_a_shortfall_is_said(tmp_path, lfw_dir, monkeypatch):
    """`preview -n 7` of a folder of one photo, one damaged .jpg and five text files showed
    one pair and said nothing: a damaged image is now a blank pair captioned ``unreadable``
    (augment's reason), text files pass their pick on, and the sheet says it holds all there
    is. A folder of one readable image augment copies unchanged still makes a sheet."""
    import maskgen.preview as preview

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg", folder / "a.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not the rest")
    for i in range(5):
        (folder / f"notes{i}.txt").write_text("not an image")
    shown: list[Tile] = []

    def recording_sheet(tiles, columns):
        shown.extend(tiles)
        return render_sheet(tiles, columns)

    monkeypatch.setattr(preview, "render_sheet", recording_sheet)
    sheet = preview.preview_dataset(folder, tmp_path / "sheet.png", n=7)
    assert [tile.caption for tile in shown[::2]] == ["a.jpg", "broken.jpg"]
    assert shown[3].caption == "unreadable" and shown[1].caption != "unreadable"
    assert sheet.items == 2 and sheet.path == tmp_path / "sheet.png"
    result = invoke("preview", folder, "-o", tmp_path / "cli.png", "-n", 7)
    assert result.exit_code == 0
    assert result.stderr.strip().endswith("cli.png (2 items, all it holds; -n 7)")
    single = tmp_path / "single"
    single.mkdir()
    shutil.copy(folder / "a.jpg", single / "a.jpg")
    result = invoke("preview", single, "-o", tmp_path / "one.png", "-n", 3)
    assert result.stderr.strip().endswith("one.png (1 item, all it holds; -n 3)")  # not 1 items
    shown.clear()
    assert preview.preview_dataset(folder, tmp_path / "sheet2.png", n=2).items == 2
    assert len(shown) == 4  # the second pick (a text file, last) passed on to broken.jpg
    (folder / "a.jpg").unlink()
    with pytest.raises(OutputError, match="no readable images"):
        preview.preview_dataset(folder, tmp_path / "sheet3.png", n=2)
    import maskgen.pipeline.step as step

    # a readable image augment copies unchanged (a PSD: maskgen reads it, cannot write it)
    shutil.copy(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg", folder / "kept.jpg")
    monkeypatch.setattr(step, "left_unmasked", lambda stored: "unsupported_format")
    assert preview.preview_dataset(folder, tmp_path / "sheet4.png", n=2).items == 2


@pytest.mark.shared
def test_aligned_mode_on_whole_photos_is_warned_about_as_augment_warns(photos, tmp_path, caplog):
    """`preview --aligned` of 250x250 photos drew each mask over the chin and neck without a
    word, where augment warns; it warns alike now, and not for the default face mode."""
    result = invoke("preview", photos, "-o", tmp_path / "a.png", "-n", 2, "--aligned")
    assert result.exit_code == 0, result.output
    assert "not aligned crops" in caplog.text
    caplog.clear()
    assert invoke("preview", photos, "-o", tmp_path / "b.png", "-n", 2).exit_code == 0
    assert "not aligned crops" not in caplog.text
