"""Outputs the file system refuses (a regular file where a folder must go, a read-only or
full file system): one line naming the path and the OS's reason, exit 1, no traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.errors import OutputError


def _run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    """A regular file where the commands below are told to make folders."""
    path = tmp_path / "afile"
    path.write_text("hi")
    return path


def _refused_under_a_regular_file(blocker: Path, *args: object) -> None:
    code, output = _run(*args)
    assert code == 1, output
    assert "Traceback" not in output
    error = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "cannot make this folder (Not a directory)" in error[0]
    assert blocker.read_text() == "hi"


@pytest.mark.shared
def test_augment_under_a_regular_file(blocker: Path, rec_dir: Path) -> None:
    rec = rec_dir / "lfw-mini" / "train.rec"
    _refused_under_a_regular_file(
        blocker, "augment", rec, "-o", blocker / "twin", "--workers", 1, "-q"
    )


@pytest.mark.shared
@pytest.mark.torch
def test_train_under_a_regular_file(blocker: Path, rec_dir: Path) -> None:
    """Refused before the line saying what was chosen (it came first, then the error)."""
    rec = rec_dir / "lfw-mini" / "train.rec"
    code, output = _run(
        "train", "--data", rec, "--network", "tiny", "--device", "cpu", "--steps", 2,
        "-o", blocker / "run", "--workers", 0,
    )  # fmt: skip
    assert code == 1, output
    assert (
        output.strip()
        == f"Error: {blocker / 'run' / 'config.json'}: {blocker} is a file, not a folder"
    )
    assert blocker.read_text() == "hi"


@pytest.mark.shared
def test_index_under_a_regular_file(blocker: Path, rec_dir: Path) -> None:
    code, output = _run("index", rec_dir / "lfw-mini" / "train.rec", "-o", blocker / "t.idx")
    assert code == 1
    assert output.strip() == f"Error: {blocker / 't.idx'}: cannot write here (Not a directory)"


def test_an_os_error_no_check_caught_is_still_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line's last net: an OSError that reaches it (a path the library did not
    turn into its own error) prints the path and the reason, not a traceback."""
    rec = tmp_path / "train.rec"
    rec.write_bytes(b"\0" * 16)

    def refused(rec_path: Path, idx_path: Path | None = None, progress: object = None) -> Path:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "ro" / "t.idx"))

    monkeypatch.setattr("maskgen.cli.index.rebuild_index", refused)
    code, output = _run("index", rec, "-o", tmp_path / "ro" / "t.idx")
    assert code == 1
    assert output.strip() == f"Error: {tmp_path / 'ro' / 't.idx'}: Read-only file system"


def test_only_the_systems_refusals_lose_their_traceback() -> None:
    """The net catches the OS's own errors about a path; an OSError a library raises with a
    message alone (it may be our fault) keeps its traceback, and a closed pipe (``maskgen
    types | head``) is left to click, which ends quietly."""
    from maskgen.cli.main import _refused_by_the_system

    assert _refused_by_the_system(OSError(errno.EROFS, "Read-only file system", "out/x"))
    assert _refused_by_the_system(NotADirectoryError(errno.ENOTDIR, "Not a directory", "f/x"))
    assert not _refused_by_the_system(OSError("encoder error -2 when writing image file"))
    assert not _refused_by_the_system(OSError(errno.EIO, "Input/output error"))  # no path
    assert not _refused_by_the_system(BrokenPipeError(errno.EPIPE, "Broken pipe", "<stdout>"))


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_no_file_can_be_made_in_is_refused_before_any_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``eval --json /sys/kernel/x.json`` ran the whole evaluation and only then failed: the
    permission bits allowed it (a root user, a special file system). A file is now tried
    there first."""
    from maskgen.cli import options

    with pytest.raises(OutputError) as refused:
        options.refuse_unwritable(Path("/proc/maskgen-test.json"))
    message = str(refused.value)
    assert message.startswith("/proc/maskgen-test.json: cannot write in /proc (")
    assert "permission denied" not in message  # the file system's own reason, from the probe


def test_a_read_only_file_system_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``export``, ``embed`` and ``eval`` said "(permission denied)" for a folder on a
    read-only mount (``access()`` refuses it too), where ``mask``, ``augment`` and ``train``
    gave the system's reason. The file system is stood in for: no mount here."""
    import tempfile

    from maskgen.cli import options

    def read_only(dir: Path) -> object:
        raise OSError(errno.EROFS, "Read-only file system", str(dir))

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(OutputError) as refused:
        options.refuse_unwritable(tmp_path / "m.onnx")
    assert (
        str(refused.value)
        == f"{tmp_path / 'm.onnx'}: cannot write in {tmp_path} (Read-only file system)"
    )


@pytest.mark.shared
def test_a_full_disk_says_how_to_go_on(
    tmp_path: Path, lfw_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """augment stopped on a full disk with "cannot write here (No space left on device)" and
    nothing more, though its finished chunks were kept for --resume, which Ctrl-C's line
    says: the same advice follows the error now."""
    from maskgen.formats import folder

    photos = tmp_path / "photos"
    photos.mkdir()
    for photo in sorted((lfw_dir / "Al_Gore").glob("*.jpg"))[:4]:
        (photos / photo.name).write_bytes(photo.read_bytes())
    written = []

    def fills_the_disk(path: Path, data: bytes) -> Path:
        if len(written) == 2:
            raise OutputError(f"{path}: cannot write here ({os.strerror(errno.ENOSPC)})")
        written.append(path)
        return Path(path)

    monkeypatch.setattr(folder, "write_bytes_atomic", fills_the_disk)
    args = ["augment", str(photos), "-o", str(tmp_path / "out"), "--workers", "1", "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("Error: ") and "cannot write here (No space left on device)" in line
    assert line.endswith(
        ". Once there is room, run the same command again with --resume to keep the finished "
        "chunks and do only the rest."
    ), line


def test_the_room_hint_only_where_there_is_something_to_resume() -> None:
    """train stopped on a full disk before its first checkpoint said "Once there is room, no
    checkpoint was saved yet, so there is nothing to resume."; an OSError the system raised
    (no maskgen check caught it) on a full disk got no hint at all."""
    import click

    from maskgen.cli.main import RESUME_HINT, _room_hint

    full = OutputError(f"run/last.pt: cannot write here ({os.strerror(errno.ENOSPC)})")
    context = click.Context(click.Command("train"))
    context.meta[RESUME_HINT] = lambda: (
        "No checkpoint was saved yet, so there is nothing to resume."
    )
    assert _room_hint(full, context) == ""
    context.meta[RESUME_HINT] = lambda: "`maskgen train -o run --resume` continues from it."
    assert _room_hint(full, context) == (
        ". Once there is room, `maskgen train -o run --resume` continues from it."
    )
    raw = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "run/tb/events")
    assert _room_hint(raw, context).startswith(". Once there is room, ")
    assert _room_hint(OutputError("run: a file, not a folder"), context) == ""
