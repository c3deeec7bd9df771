"""`maskgen mask`, `preview`, `demo` and `types` on real photos."""

from __future__ import annotations

import os
import re
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.masks import available_mask_types
from tests.conftest import REPO, run_maskgen_limited

PHOTO = ("Al_Gore", "Al_Gore_0001.jpg")


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def photo(tmp_path, lfw_dir):
    path = tmp_path / PHOTO[1]
    shutil.copy(lfw_dir / PHOTO[0] / PHOTO[1], path)
    return path


@pytest.mark.shared
def test_mask_one_photo_in_the_format_its_suffix_names(photo, tmp_path):
    out = tmp_path / "masked.png"
    result = invoke("mask", photo, "-o", out, "--mask-type", "surgical_blue", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "1 face masked (surgical_blue" in result.output
    original = cv2.imread(str(photo))
    masked = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    changed = np.abs(masked.astype(int) - original.astype(int)).max(axis=2) > 30
    rows = np.nonzero(changed.any(axis=1))[0]
    assert 0.04 < changed.mean() < 0.4  # a mask over the lower face, not the whole photo
    assert rows.min() > 90  # below the eyes of a 250x250 LFW face
    again = tmp_path / "again.png"
    invoke("mask", photo, "-o", again, "--mask-type", "surgical_blue", "--seed", "3")
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.shared
def test_mask_reports_an_output_name_that_is_not_utf8_readably(photo, tmp_path):
    out = tmp_path / os.fsdecode(b"masked_\xff.jpg")  # a Latin-1 name on a UTF-8 system
    result = invoke("mask", photo, "-o", out, "--seed", "3")
    assert result.exit_code == 0, result.output
    assert os.path.exists(os.fsencode(out))
    assert "masked_\ufffd.jpg: 1 face masked" in result.stderr
    assert "\\udcff" not in result.stderr and "\udcff" not in result.stderr


@pytest.mark.shared
def test_mask_replaces_an_existing_output_only_with_overwrite(photo, tmp_path):
    out = tmp_path / "masked.png"
    out.write_bytes(b"an earlier result")
    refused = invoke("mask", photo, "-o", out, "--seed", "3")
    assert refused.exit_code == 1
    assert refused.stderr == f"Error: {out} exists; pass --overwrite to replace it\n"
    assert out.read_bytes() == b"an earlier result"
    replaced = invoke("mask", photo, "-o", out, "--seed", "3", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert cv2.imread(str(out)).shape == cv2.imread(str(photo)).shape


@pytest.mark.shared
def test_mask_without_a_face_writes_the_photo_unchanged(tmp_path):
    blank = tmp_path / "wall.jpg"
    cv2.imwrite(str(blank), np.full((300, 400, 3), 200, np.uint8))
    out = tmp_path / "out.jpg"
    result = invoke("mask", blank, "-o", out)
    assert result.exit_code == 0
    assert "not masked (no_face)" in result.output
    assert out.read_bytes() == blank.read_bytes()


@pytest.mark.shared
def test_mask_bad_invocations(photo, tmp_path):
    result = invoke("mask", photo, "-o", tmp_path / "x.jpg", "--mask-type", "bandana")
    assert result.exit_code == 2 and "unknown mask type 'bandana'" in result.output
    for overwrite in ((), ("--overwrite",)):  # the input is never replaced
        result = invoke("mask", photo, "-o", photo, *overwrite)
        assert result.exit_code == 1 and "overwrite the input" in result.output
    for name in ("x.txt", "x"):  # a bad option value: a usage error, as preview's -o
        result = invoke("mask", photo, "-o", tmp_path / name)
        assert result.exit_code == 2 and not (tmp_path / name).exists()
        error = result.output.splitlines()[-1]
        assert error.startswith("Error: Invalid value for '-o' / '--output': ")
        assert "not an image file name maskgen can write" in error and ".jpg" in error
    result = invoke("mask", photo, "-o", tmp_path / "x.jpg", "--color-prob", "1.5")
    assert result.exit_code == 2
    assert not (tmp_path / "x.jpg").exists()


@pytest.mark.shared
def test_preview_sheet(rec_dir, tmp_path):
    out = tmp_path / "sheet.png"
    result = invoke("preview", rec_dir / "lfw-mini" / "train.rec", "-o", out, "-n", "6")
    assert result.exit_code == 0, result.output
    sheet = cv2.imread(str(out))
    assert sheet.shape[0] > 160 and sheet.shape[1] > 6 * 160  # 12 tiles: 6 originals, 6 masked


def test_demo_masks_the_bundled_portrait_with_every_type(tmp_path):
    result = invoke("demo", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    types = available_mask_types()
    for mask_type in types:
        for variant in ("plain", "color", "texture"):
            assert (tmp_path / f"{mask_type}_{variant}.png").is_file()
    assert cv2.imread(str(tmp_path / "demo_sheet.png")) is not None
    plain = cv2.imread(str(tmp_path / f"{types[0]}_plain.png"))
    textured = cv2.imread(str(tmp_path / f"{types[0]}_texture.png"))
    assert not np.array_equal(plain, textured)


def test_demo_masks_the_astronauts_face_alone(tmp_path):
    """Every demo image differs from the portrait only around her face, (179, 83)-(266, 170)
    as dlib finds it: dlib's detector also scores the mission patch on her suit, lower down,
    as a face, and the demo drew a mask there too and cropped its sheet on the patch."""
    from maskgen.preview import demo_portrait

    quiet = invoke("demo", "-o", tmp_path, "-q")  # -q as every long command takes it
    assert quiet.exit_code == 0 and quiet.output == "", quiet.output
    portrait = cv2.cvtColor(demo_portrait(), cv2.COLOR_RGB2BGR)
    for mask_type in available_mask_types():
        for variant in ("plain", "color", "texture"):
            masked = cv2.imread(str(tmp_path / f"{mask_type}_{variant}.png"))
            assert masked.shape == portrait.shape
            rows, cols = np.nonzero((masked != portrait).any(axis=2))
            assert rows.size, f"{mask_type}_{variant}: nothing masked"
            # the face box grown by half its size on every side holds mask, loops and all
            assert rows.min() >= 40 and rows.max() < 215, f"{mask_type}_{variant}"
            assert cols.min() >= 135 and cols.max() < 310, f"{mask_type}_{variant}"


def test_demo_keeps_earlier_images_without_overwrite(tmp_path):
    """Like every other command, `demo` replaces no file without --overwrite."""
    mine = tmp_path / "demo_sheet.png"
    mine.write_bytes(b"my own sheet")
    result = invoke("demo", "-o", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {mine} exists; pass --overwrite to replace it"
    assert mine.read_bytes() == b"my own sheet" and sorted(tmp_path.iterdir()) == [mine]
    again = invoke("demo", "-o", tmp_path, "--overwrite")
    assert again.exit_code == 0, again.output
    assert cv2.imread(str(mine)) is not None


def test_types_lists_masks_and_textures():
    result = invoke("types")
    assert result.exit_code == 0
    for mask_type in ("surgical", "surgical_green", "surgical_blue", "n95", "kn95", "cloth"):
        assert f"  {mask_type}\n" in result.output
    assert "plaid:" in result.output


def test_types_with_a_bad_texture_folder_prints_one_error_and_no_listing(tmp_path):
    """A texture that cannot be read stops `types` before it prints: one error line, not the
    mask types followed by the error."""
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    result = invoke("types", "--textures", tmp_path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and "bad.jpg" in result.stderr


@pytest.mark.shared
def test_mask_types_match_in_any_case_and_errors_name_the_flag_typed(photo, tmp_path):
    lower, upper = tmp_path / "lower.png", tmp_path / "upper.png"
    assert invoke("mask", photo, "-o", lower, "--mask-type", "n95").exit_code == 0
    result = invoke("mask", photo, "-o", upper, "--mask-type", "N95")
    assert result.exit_code == 0 and "masked (n95" in result.output, result.output
    assert upper.read_bytes() == lower.read_bytes()
    result = invoke("mask", photo, "-o", tmp_path / "x.jpg", "--mask-type", "fancy")
    assert result.exit_code == 2
    assert "Invalid value for '--mask-type': unknown mask type 'fancy'" in result.output
    assert "--mask-types" not in result.output
    for command in ("augment", "preview"):
        result = invoke(command, photo.parent, "-o", tmp_path / "o.png", "--mask-types", "N95,x")
        assert result.exit_code == 2
        assert "Invalid value for '--mask-types': unknown mask type 'x'" in result.output
    out = tmp_path / "sheet.png"
    result = invoke("preview", photo.parent, "-o", out, "--mask-types", "Surgical_Blue, KN95")
    assert result.exit_code == 0 and out.is_file(), result.output


@pytest.mark.shared
def test_mask_and_preview_take_wear(photo, tmp_path, rec_dir):
    plain, default = tmp_path / "plain.jpg", tmp_path / "default.jpg"
    invoke("mask", photo, "-o", plain, "--seed", "3")
    result = invoke("mask", photo, "-o", default, "--seed", "3", "--wear", "correct=1")
    assert result.exit_code == 0 and default.read_bytes() == plain.read_bytes()
    assert "nose_uncovered" not in result.output
    worn = tmp_path / "worn.jpg"
    result = invoke("mask", photo, "-o", worn, "--seed", "3", "--wear", "nose_uncovered=1")
    assert result.exit_code == 0 and ", nose_uncovered)" in result.output
    assert worn.read_bytes() != plain.read_bytes()
    bad = invoke("mask", photo, "-o", tmp_path / "x.jpg", "--wear", "under_eyes=1")
    assert bad.exit_code == 2 and "'--wear': unknown placement 'under_eyes'" in bad.output
    sheet = tmp_path / "sheet.png"
    rec = rec_dir / "lfw-mini" / "train.rec"
    bad = invoke("preview", rec, "-o", sheet, "-n", "2", "--wear", "correct=2")
    assert bad.exit_code == 2 and "'--wear'" in bad.output and not sheet.exists()


def test_occluded_face_is_written_unchanged_unless_checks_are_off(tmp_path, lfw_dir):
    """Hugo_Chavez_0010 holds his hand against his jaw: `mask` leaves it, and says why;
    --no-face-checks masks it (hand and all)."""
    source = lfw_dir / "Hugo_Chavez" / "Hugo_Chavez_0010.jpg"
    kept, forced = tmp_path / "kept.png", tmp_path / "forced.png"
    result = invoke("mask", source, "-o", kept)
    assert result.exit_code == 0 and "not masked (occluded)" in result.output
    original = cv2.imread(str(source))
    assert np.array_equal(cv2.imread(str(kept)), original)
    result = invoke("mask", source, "-o", forced, "--no-face-checks")
    assert result.exit_code == 0 and "1 face masked" in result.output
    assert not np.array_equal(cv2.imread(str(forced)), original)


def test_mask_help_gives_its_own_face_mode_default():
    """`mask` takes one photo, which it masks in auto mode: its help must not promise the
    dataset formats' defaults (aligned for .rec/.bin)."""
    text = " ".join(invoke("mask", "--help").output.split())
    assert "[default: auto]" in text and ".rec/.bin" not in text
    augment = " ".join(invoke("augment", "--help").output.split())
    assert "[default: aligned for .rec/.bin, auto for folders]" in augment


@pytest.mark.shared
def test_aligned_and_another_face_mode_are_refused_together(photo, tmp_path):
    """--aligned shared --face-mode's destination, so the later of the two won without a word:
    `--aligned --face-mode detect` detected, `--face-mode detect --aligned` did not."""
    for order in (("--aligned", "--face-mode", "detect"), ("--face-mode", "detect", "--aligned")):
        result = invoke("mask", photo, "-o", tmp_path / "out.png", *order)
        assert result.exit_code == 2
        assert "--aligned and --face-mode detect contradict each other" in result.stderr
        assert not (tmp_path / "out.png").exists()
    alone = invoke("mask", photo, "-o", tmp_path / "alone.png", "--aligned")
    both = invoke("mask", photo, "-o", tmp_path / "both.png", "--aligned", "--face-mode", "aligned")
    detected = invoke("mask", photo, "-o", tmp_path / "detected.png")
    assert alone.exit_code == both.exit_code == detected.exit_code == 0
    aligned = cv2.imread(str(tmp_path / "alone.png"))
    assert np.array_equal(aligned, cv2.imread(str(tmp_path / "both.png")))
    assert not np.array_equal(aligned, cv2.imread(str(tmp_path / "detected.png")))


@pytest.mark.shared
def test_an_animation_written_as_one_frame_is_not_called_unchanged(photo, tmp_path):
    """An animated GIF is never masked (multi_frame). Written as a GIF it is copied; written as
    a PNG it becomes its first frame in RGB, which the command called "written unchanged"
    and, on the next line, "written as multi-frame -> first frame only; ..."."""
    from PIL import Image

    first = Image.open(photo).convert("RGB")
    anim = tmp_path / "anim.gif"
    first.save(anim, save_all=True, append_images=[first.rotate(10)])
    copied = invoke("mask", anim, "-o", tmp_path / "copy.gif")
    assert copied.exit_code == 0
    assert copied.stderr.splitlines() == [
        f"{tmp_path / 'copy.gif'}: not masked (multi_frame), written unchanged"
    ]
    assert (tmp_path / "copy.gif").read_bytes() == anim.read_bytes()
    converted = invoke("mask", anim, "-o", tmp_path / "frame.png")
    assert converted.exit_code == 0
    lines = converted.stderr.splitlines()
    assert lines[0] == f"{tmp_path / 'frame.png'}: not masked (multi_frame)"
    assert lines[1].startswith(f"{tmp_path / 'frame.png'}: written as multi-frame -> first frame")
    assert len(lines) == 2


@pytest.mark.shared
def test_a_damaged_jpeg_is_named_with_libjpegs_words_by_mask_and_kept_quiet_by_preview(
    photo, tmp_path
):
    """`maskgen mask` has one photo and no manifest: it printed libjpeg's bare "Corrupt JPEG
    data" line, naming no file, even with -q. It now warns naming the photo, with libjpeg's
    words, -q or not, and the bare line is gone. A preview sheet of a folder holding it
    printed the same line among its own output; no more. The real program, in its own
    process (libjpeg writes to descriptor 2)."""
    data = photo.read_bytes()
    source = tmp_path / "in"
    source.mkdir()
    damaged = source / "damaged.jpg"
    damaged.write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    shutil.copy(photo, source / photo.name)
    line = "Corrupt JPEG data: premature end of data segment"
    for quiet in ([], ["-q"]):
        done = run_maskgen_limited(["mask", damaged, "-o", tmp_path / "masked.jpg", *quiet], None)
        assert done.returncode == 0, done.stderr
        lines = done.stderr.splitlines()
        named = [text for text in lines if "damaged.jpg: the decoder said: " in text]
        assert len(named) == 1 and line in named[0], done.stderr
        assert not any(text.startswith("Corrupt JPEG") for text in lines), done.stderr
        (tmp_path / "masked.jpg").unlink()
    done = run_maskgen_limited(["preview", source, "-o", tmp_path / "sheet.png", "-n", 2], None)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sheet.png").is_file() and line not in done.stderr, done.stderr


def test_mask_aligned_on_a_whole_photo_warns_where_the_mask_lands(photo, tmp_path, caplog):
    """`mask --aligned` on a 250x250 LFW photo put the mask over the chin and neck and said
    only "1 face masked"; augment and MaskAugment warn there, and so does mask now. An
    aligned crop gets no such warning."""
    result = invoke("mask", photo, "-o", tmp_path / "out.jpg", "--aligned")
    assert result.exit_code == 0, result.output
    assert "250x250 is not an aligned crop" in caplog.text, caplog.text
    caplog.clear()
    crop = tmp_path / "crop.jpg"
    cv2.imwrite(str(crop), cv2.resize(cv2.imread(str(photo))[60:190, 60:190], (112, 112)))
    result = invoke("mask", crop, "-o", tmp_path / "crop_out.jpg", "--aligned")
    assert result.exit_code == 0, result.output
    assert "not an aligned crop" not in caplog.text, caplog.text


def test_help_and_readme_count_the_built_in_textures_as_types_lists_them():
    """`augment --help` said "added to the 61 built-in ones" after eight fabrics were added
    (69, as `maskgen types` and the README say)."""
    listed = re.search(r"textures \((\d+)\)", invoke("types").output)
    assert listed is not None
    words = f"added to the {listed.group(1)} built-in ones"
    assert words in " ".join(invoke("augment", "--help").output.split())
    assert words in " ".join((REPO / "README.md").read_text().split())


@pytest.mark.shared
def test_vv_prints_libjpegs_line_after_a_quiet_command_in_this_process(
    photo, tmp_path, capfd, monkeypatch
):
    """`maskgen augment` run in this process (CliRunner, a script calling the CLI) leaves
    MASKGEN_QUIET_DECODERS=1 in its environment, as a parent maskgen leaves it to its
    children: a later command with -vv then hid libjpeg's "Corrupt JPEG data" line that -vv
    promises to print. Here the variable is set as that run left it; the damaged photo
    decodes in this process's main thread, so the line reaches descriptor 2."""
    from maskgen.decoder_messages import QUIET_ENV

    data = photo.read_bytes()
    folder = tmp_path / "in"
    folder.mkdir()
    damaged = folder / "damaged.jpg"
    damaged.write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    line = "Corrupt JPEG data: premature end of data segment"
    for args in (
        ["-vv", "mask", damaged, "-o", tmp_path / "masked.jpg"],
        ["-vv", "preview", folder, "-o", tmp_path / "sheet.png", "-n", 1],
    ):
        monkeypatch.setenv(QUIET_ENV, "1")
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert line in capfd.readouterr().err, args


def test_no_creases_draws_the_same_surgical_mask_flat(tmp_path, lfw_dir):
    """--no-creases changes a surgical mask's folds and nothing else; --creases is the
    default and says so."""
    source = lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    paths = {flag: tmp_path / f"{flag or 'default'}.png" for flag in ("", "--no-creases")}
    for flag, out in paths.items():
        args = ["mask", source, "-o", out, "--mask-type", "surgical", "--seed", "3"]
        result = invoke(*args, *([flag] if flag else []))
        assert result.exit_code == 0 and "1 face masked" in result.output
    creased, flat = (cv2.imread(str(p)).astype(int) for p in paths.values())
    original = cv2.imread(str(source)).astype(int)
    changed = np.abs(creased - flat).sum(axis=2) > 0
    assert changed.any()
    mask = (np.abs(flat - original).sum(axis=2) > 0).astype(np.uint8)
    near_mask = cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0  # its faint anti-aliased rim
    assert not changed[~near_mask].any()  # the folds are on the mask only
    text = " ".join(invoke("mask", "--help").output.split())
    assert "--creases / --no-creases" in text and "[default: --creases]" in text


@pytest.mark.shared
def test_a_group_photo_says_whose_mask_the_line_names(lfw_dir, tmp_path):
    """ "2 faces masked (surgical_blue, denim_01)" read as the two faces' types; each face
    draws its own, and the line names the main face's."""
    out = tmp_path / "group.jpg"
    result = invoke("mask", lfw_dir / "Jean_Charest" / "Jean_Charest_0005.jpg", "-o", out)
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert re.fullmatch(r".*group\.jpg: [2-9] faces masked \(the main face: [^,]+, [^)]+\)", first)
