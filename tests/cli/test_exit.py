"""How ``maskgen`` ends as a program: without tearing the interpreter down, yet with what a
normal exit does for the user (exit handlers run, output flushed, the exit code kept)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO

PROGRAM = """
import atexit, sys, threading
sys.argv = ["maskgen"] + sys.argv[1:]
marker = {marker!r}
atexit.register(lambda: open(marker, "w").write("exit handlers ran"))
def late():
    __import__("time").sleep(0.3)
    open(marker + ".thread", "w").write("finished")
if {thread}:
    threading.Thread(target=late).start()
from maskgen.cli.main import cli
cli()
print("not reached")
"""


def _maskgen(tmp_path: Path, *args: str, thread: bool = False) -> subprocess.CompletedProcess:
    marker = tmp_path / "marker.txt"
    code = PROGRAM.format(marker=str(marker), thread=thread)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )


def test_output_is_flushed_and_exit_handlers_run(tmp_path: Path) -> None:
    done = _maskgen(tmp_path, "types")
    assert done.returncode == 0, done.stderr
    assert "mask types:" in done.stdout and "cloth" in done.stdout  # a pipe: block-buffered
    assert "not reached" not in done.stdout
    assert (tmp_path / "marker.txt").read_text() == "exit handlers ran"


def test_errors_keep_their_exit_code_and_message(tmp_path: Path) -> None:
    empty = tmp_path / "photos"
    empty.mkdir()
    done = _maskgen(tmp_path, "augment", str(empty), "-o", str(tmp_path / "o"))
    assert done.returncode == 1
    assert done.stderr.strip().startswith(f"Error: {empty}: no image files")
    assert (tmp_path / "marker.txt").is_file()
    usage = _maskgen(tmp_path, "augment")
    assert usage.returncode == 2 and "Missing argument" in usage.stderr


def test_running_threads_get_a_normal_exit(tmp_path: Path) -> None:
    """A thread still at work is waited for, as by a normal exit, not cut short."""
    done = _maskgen(tmp_path, "types", thread=True)
    assert done.returncode == 0 and "cloth" in done.stdout
    assert (tmp_path / "marker.txt.thread").read_text() == "finished"
    assert (tmp_path / "marker.txt").is_file()


def test_python_dash_m_runs_the_same_program(tmp_path: Path) -> None:
    """``python -m maskgen`` (a scripts folder off the PATH) is the ``maskgen`` command."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for module in ("maskgen", "maskgen.cli.main"):
        done = subprocess.run(
            [sys.executable, "-m", module, "types"], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        assert "mask types:" in done.stdout and "cloth" in done.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "maskgen", "augment"], capture_output=True, text=True, env=env
    )
    assert usage.returncode == 2 and "python -m maskgen augment" in usage.stderr


@pytest.mark.dask
def test_a_malformed_scheduler_address_is_one_line_at_once(tmp_path: Path) -> None:
    """``--scheduler bogus`` (no port): dask's half-made Client used to spend 40 s closing
    itself at exit and print its traceback after the error line."""
    pytest.importorskip("distributed")
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "grey.png"), np.full((64, 64, 3), 128, np.uint8))
    started = time.monotonic()
    done = _maskgen(
        tmp_path, "augment", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--scheduler", "bogus"
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: --scheduler bogus: not a Dask scheduler address (missing port number in "
        "address 'bogus'; expected e.g. tcp://head:8786)"
    ]
    assert time.monotonic() - started < 20
    assert not (tmp_path / "o").exists()
