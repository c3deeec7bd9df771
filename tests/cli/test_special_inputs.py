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
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("name", COMMANDS)
def test_a_named_pipe_is_one_line_naming_it(name: str, tmp_path: Path) -> None:
    args = [a.replace("PIPE", str(tmp_path / "pipe")).replace("OUT", str(tmp_path / "out"))
            for a in COMMANDS[name]]  # fmt: skip
    pipe = Path(args[1])
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
    assert result.stderr.strip() == f"Error: {pipe}: a named pipe, socket or device, not a " + (
        "RecordIO file" if pipe.suffix == ".rec" else "file"
    ), result.stderr
    assert not (tmp_path / "out").exists()


def test_a_device_given_to_mask_is_named_as_one(tmp_path: Path) -> None:
    if not Path("/dev/null").exists():
        pytest.skip("no /dev/null here")
    result = CliRunner().invoke(cli, ["mask", "/dev/null", "-o", str(tmp_path / "x.jpg")])
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: /dev/null: a named pipe, socket or device, not a file"
