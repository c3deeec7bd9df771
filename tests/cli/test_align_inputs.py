"""`maskgen align` on the folders users hand it: hidden folders, links, macOS `._` files; its
progress bar on a terminal; an unreadable photo of a pair. Real LFW photos copied into tmp_path."""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.faces.dataset import align_pairs_to_bin
from maskgen.formats.recordio import RecordIOReader
from tests.conftest import REPO, lfw_sample_paths, run_maskgen_limited

pytestmark = pytest.mark.shared

APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)
"""The start of a macOS ``._photo.jpg``: Finder metadata, not an image."""


def copy_photos(lfw_dir: Path, person: str, folder: Path, n: int) -> list[Path]:
    """The first ``n`` photos of ``person`` copied into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((lfw_dir / person).glob("*.jpg"))[:n]
    return [Path(shutil.copy(source, folder / source.name)) for source in sources]


def align(photos: Path, out: Path):
    return CliRunner().invoke(cli, ["align", str(photos), "-o", str(out), "--workers", "1"])


def test_hidden_folders_and_second_names_of_a_folder_are_not_classes(tmp_path, lfw_dir, caplog):
    """A link to an identity folder was a second class of the same photos, and a hidden folder
    (a notebook's checkpoints, another person's photos hidden away) a class too, without a
    word: ArcFace labels contradicting each other. Neither is read; warnings name them."""
    photos = tmp_path / "photos"
    copy_photos(lfw_dir, "Aaron_Peirsol", photos / "personA", 4)
    copy_photos(lfw_dir, "George_W_Bush", photos / ".hiddenperson", 1)
    copy_photos(lfw_dir, "Al_Gore", photos / ".ipynb_checkpoints", 1)
    (photos / "personA_link").symlink_to("personA")
    (photos / "whole_tree").symlink_to(".")
    out = tmp_path / "t.rec"
    result = align(photos, out)
    assert result.exit_code == 0, result.output
    assert result.stderr.endswith("4 photos, 4 aligned on a detected face, 0 left out\n")
    assert RecordIOReader(out).num_classes == 1
    assert "2 hidden folder(s) not read: .hiddenperson, .ipynb_checkpoints" in caplog.text
    assert "2 link(s) to a folder read already" in caplog.text
    assert "personA_link, whole_tree" in caplog.text


def test_identity_folders_linked_from_a_collection_are_classes(tmp_path, lfw_dir, caplog):
    """A split built of links to a photo collection's folders (``train/Al -> lfw/Al_Gore``)
    is read, as before: each linked folder one class, sorted by its link's name; two links to
    one folder give it one class, and a warning names the second."""
    photos = tmp_path / "photos"
    copy_photos(lfw_dir, "Aaron_Peirsol", photos / "Cy", 2)
    source = tmp_path / "collection"
    copy_photos(lfw_dir, "Al_Gore", source / "Al_Gore", 2)
    copy_photos(lfw_dir, "Colin_Powell", source / "Colin_Powell", 3)
    (photos / "Al").symlink_to(source / "Al_Gore")
    (photos / "Bo").symlink_to(source / "Colin_Powell")
    (photos / "Bo_again").symlink_to(source / "Colin_Powell")
    copy_photos(lfw_dir, "George_W_Bush", source / "Al_Gore" / ".ipynb_checkpoints", 1)
    out = tmp_path / "t.rec"
    result = align(photos, out)
    assert result.exit_code == 0, result.output
    assert "7 photos, 7 aligned" in result.stderr
    reader = RecordIOReader(out)
    assert reader.num_classes == 3
    labels = [int(reader.read(k).label[0]) for k in reader.image_keys()]
    assert labels == [0, 0, 1, 1, 1, 2, 2]  # Al, Bo, Cy
    assert "1 link(s) to a folder read already" in caplog.text and "Bo_again" in caplog.text
    assert "1 hidden folder(s) not read: Al/.ipynb_checkpoints" in caplog.text  # inside a link


def test_macos_apple_double_files_are_not_photos(tmp_path, lfw_dir, caplog):
    """Each ``._x.jpg`` was read as a photo, warned "unreadable, left out" and counted so."""
    photos = tmp_path / "photos"
    first, _ = copy_photos(lfw_dir, "Aaron_Peirsol", photos / "personA", 2)
    (first.parent / f"._{first.name}").write_bytes(APPLE_DOUBLE)
    result = align(photos, tmp_path / "t.rec")
    assert result.exit_code == 0, result.output
    assert result.stderr.endswith(
        "2 photos, 2 aligned on a detected face, 0 left out; 1 macOS ._ metadata file ignored "
        "(apple_double)\n"
    )
    assert "unreadable" not in caplog.text


def test_links_inside_identity_folders_are_named_not_counted(tmp_path, lfw_dir, caplog):
    """``p1/up -> ..`` counted the photos it leads back to as "in folders inside the identity
    sub-folders", and a broken link was dropped without a word."""
    photos = tmp_path / "photos"
    copy_photos(lfw_dir, "Al_Gore", photos / "p1", 4)
    copy_photos(lfw_dir, "Alec_Baldwin", photos / "p2", 4)
    (photos / "p1" / "up").symlink_to("..")
    (photos / "p2" / "gone.jpg").symlink_to("missing.jpg")
    result = align(photos, tmp_path / "t.rec")
    assert result.exit_code == 0, result.output
    assert result.stderr.endswith("8 photos, 8 aligned on a detected face, 0 left out\n")
    assert "2 link(s) to folders, or broken, not followed: p1/up, p2/gone.jpg" in caplog.text


def run_on_a_terminal(args: Sequence[object]) -> tuple[int, str]:
    """``python -m maskgen ARGS`` with stderr on a 100-column pseudo-terminal, where tqdm draws
    its bar as a user sees it; the exit status and all it wrote there."""
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO), "MASKGEN_CACHE_DIR": ""}
    with subprocess.Popen(
        [sys.executable, "-m", "maskgen", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        env=env,
    ) as process:
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the program closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    os.close(main)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_the_progress_bar_counts_every_photo_and_warnings_stay_off_it(tmp_path, lfw_dir):
    """The bar had no total and was updated after each batch of 64, but never after the last
    (the writer stops taking photos at the last one): 120 photos ended on ``64photo``, 20 on
    ``0photo``; a photo's warning was printed on the end of the bar's line."""
    photos = tmp_path / "photos"
    for path in lfw_sample_paths(lfw_dir, 69):
        (photos / path.parent.name).mkdir(parents=True)
        shutil.copyfile(path, photos / path.parent.name / path.name)
    (photos / path.parent.name / "empty.jpg").touch()  # unreadable: warned mid-run
    out = tmp_path / "t.rec"
    code, said = run_on_a_terminal(["align", photos, "-o", out, "--workers", "1"])
    assert code == 0, said
    assert "| 70/70 [" in said, said  # "align: 100%|███| 70/70 [00:09<00:00, 7.39photo/s]"
    assert "empty.jpg: unreadable, left out" in said
    starts = [i for i in range(len(said)) if said.startswith("WARNING", i)]
    assert starts and all(i == 0 or said[i - 1] in "\r\n" for i in starts), said
    assert said.endswith("70 photos, 69 aligned on a detected face, 1 left out (unreadable 1)\r\n")


def test_the_pairs_progress_has_a_total_and_counts_every_photo(tmp_path, lfw_dir, lfw_pairs):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(lfw_pairs.read_text().splitlines()[1:3]) + "\n")
    totals: list[int] = []
    updates: list[int] = []
    align_pairs_to_bin(
        lfw_dir, pairs, tmp_path / "p.bin", progress=updates.append, progress_total=totals.append
    )
    assert totals == [4]
    assert sum(updates) == 4


def test_an_unreadable_photo_of_a_pair_is_one_error(tmp_path, lfw_dir):
    """A zero-byte photo of a pair was first warned "unreadable, left out", then the run
    stopped on it: one error line says it now."""
    photos = tmp_path / "photos"
    copy_photos(lfw_dir, "Al_Gore", photos / "Al_Gore", 1)
    empty = photos / "Al_Gore" / "Al_Gore_0002.jpg"
    empty.touch()
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("Al_Gore\t1\t2\n")
    out = tmp_path / "p.bin"
    args = ["align", photos, "--pairs", pairs, "-o", out, "--workers", "1"]
    done = run_maskgen_limited(args, None)
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: {empty}: unreadable photo in a pair of {pairs} (every photo of a pair is "
        "needed: replace it, or leave its pair out)\n"
    )
    assert not out.exists()


def test_a_jpeg_cut_short_is_left_out_and_named_so(tmp_path, lfw_dir, caplog):
    """A JPEG cut short (its end missing) was "unreadable, left out" by align, while mask and
    augment mask it as it decodes (grey below the damage): such a face is still left out of a
    training set, and said to be cut short; in a pair it is one error naming it so."""
    photos = tmp_path / "photos"
    cut = copy_photos(lfw_dir, "Al_Gore", photos / "Al_Gore", 2)[1]
    cut.write_bytes(cut.read_bytes()[:3000])
    result = align(photos, tmp_path / "train.rec")
    assert result.exit_code == 0, result.output
    assert f"{cut}: a JPEG cut short (its end is missing), left out" in caplog.text
    assert "2 photos, 1 aligned on a detected face, 1 left out (cut_short 1)" in result.stderr
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("Al_Gore\t1\t2\n")
    out = tmp_path / "p.bin"
    args = ["align", str(photos), "--pairs", str(pairs), "-o", str(out), "--workers", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {cut}: a JPEG cut short in a pair of {pairs}")
    assert not out.exists()


def test_a_damaged_jpeg_that_decodes_is_read_and_named_with_libjpegs_words(
    tmp_path, lfw_dir, caplog
):
    """A JPEG damaged in its middle but with its end marker decodes (grey below the damage):
    align read it without a word, where mask and augment name it with libjpeg's words. It is
    still read as it decoded (only a JPEG cut short is left out for its damage), now with a
    warning naming it and libjpeg's words, and counted in the summary: one whose face is still
    found is aligned, one whose face the damage hid is left out for that (no_face)."""
    photos = tmp_path / "photos"
    _, faceless, aligned = copy_photos(lfw_dir, "Al_Gore", photos / "Al_Gore", 3)
    for damaged in (faceless, aligned):
        data = damaged.read_bytes()
        damaged.write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    result = align(photos, tmp_path / "train.rec")
    assert result.exit_code == 0, result.output
    words = "the decoder said: Corrupt JPEG data: premature end of data segment"
    for damaged in (faceless, aligned):
        assert f"{damaged}: {words} (read as it decoded)" in caplog.text, caplog.text
    summary = "3 photos, 2 aligned on a detected face, 1 left out (no_face 1); 2 damaged photos"
    assert f"{summary} read as decoded" in result.stderr
    with RecordIOReader(tmp_path / "train.rec") as reader:
        assert len(reader.image_keys()) == 2
