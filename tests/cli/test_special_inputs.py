"""An input that exists but is no regular file: `mask /dev/null` and `index fifo.rec` said "no
such file", and a named pipe called `x.bin` hung `augment` and `preview` for good, reading it.
Now each is one line naming what it is, exit code 1, nothing written."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli

COMMANDS: dict[str, tuple[str, ...]] = {
    # name: the command line, with PIPE where the named pipe goes
    "mask": ("mask", "PIPE.jpg", "-o", "OUT/x.jpg"),
    "index": ("index", "PIPE.rec"),
    "preview .bin": ("preview", "PIPE.bin", "-o", "OUT/sheet.png"),
    "augment .bin": ("augment", "PIPE.bin", "-o", "OUT"),
    "augment .rec": ("augment", "PIPE.rec", "-o", "OUT"),
    "embed --model": ("embed", "--model", "PIPE.pt", "PHOTO", "-o", "OUT/e.npz"),
    "train --config": ("train", "--config", "PIPE.toml", "-o", "OUT"),
}
WHAT = {".rec": "RecordIO file", ".pt": "model file", ".toml": "config file"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("name", COMMANDS)
def test_a_named_pipe_is_one_line_naming_it(name: str, tmp_path: Path) -> None:
    words = {"PIPE": tmp_path / "pipe", "OUT": tmp_path / "out", "PHOTO": tmp_path / "x.jpg"}
    args = [a for a in COMMANDS[name]]
    for word, path in words.items():
        args = [a.replace(word, str(path)) for a in args]
    pipe = next(Path(a) for a in args if Path(a).stem == "pipe")
    (tmp_path / "x.jpg").write_bytes(b"not read")
    os.mkfifo(pipe)
    # a reader that blocks on the pipe is let go (end of file) after a while: a failure, not a hang
    release = threading.Timer(30, lambda: os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)))
    release.daemon = True
    release.start()
    try:
        result = CliRunner().invoke(cli, args)
    finally:
        release.cancel()
    assert result.exit_code == 1, result.output
    what = WHAT.get(pipe.suffix, "file")
    assert result.stderr.strip().endswith(
        f"Error: {pipe}: a named pipe, socket or device, not a {what}"
    ), result.stderr
    assert not (tmp_path / "out").exists()


def test_a_folder_or_a_broken_link_is_named_as_such(tmp_path: Path) -> None:
    """From Python (the command line refuses a path that does not resolve as click does)."""
    from maskgen.errors import DatasetFormatError, no_such_file
    from maskgen.formats.recordio import RecordIOReader

    folder = tmp_path / "photo.jpg"
    folder.mkdir()
    assert str(no_such_file(folder)) == f"{folder}: a folder, not a file"
    link = tmp_path / "gone.rec"
    link.symlink_to(tmp_path / "moved.rec")
    with pytest.raises(DatasetFormatError) as info:
        RecordIOReader(link)
    assert str(info.value) == (
        f"{link}: a link to nothing (to {tmp_path / 'moved.rec'}), not a RecordIO file"
    )
    chain = tmp_path / "chain.rec"
    chain.symlink_to(link)  # chain -> gone.rec -> moved.rec: the end of the chain is named
    assert str(no_such_file(chain)) == (
        f"{chain}: a link to nothing (to {tmp_path / 'moved.rec'}), not a file"
    )
    loop = tmp_path / "loop.rec"
    loop.symlink_to(loop)
    assert str(no_such_file(loop)) == f"{loop}: a link loop, not a file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_as_a_runs_config_is_named_not_read(tmp_path: Path) -> None:
    """`train --resume` read RUN/config.json: a named pipe there blocked it for good."""
    run = tmp_path / "run"
    run.mkdir()
    pipe = run / "config.json"
    os.mkfifo(pipe)
    release = threading.Timer(30, lambda: os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)))
    release.daemon = True
    release.start()
    try:
        result = CliRunner().invoke(cli, ["train", "--resume", "-o", str(run)])
    finally:
        release.cancel()
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().endswith(
        f"{pipe}: a named pipe, socket or device, not a run config"
    ), result.stderr
