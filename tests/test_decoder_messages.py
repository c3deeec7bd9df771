"""maskgen.decoder_messages: libpng's and libjpeg's own lines (written by C straight to file
descriptor 2) kept off stderr around a decode in any thread where asked, logged at debug level
naming the file; left alone elsewhere. Damaged files are made here from a real photo."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.decoder_messages import QUIET_ENV, decoder_messages, warn_decoder_said
from maskgen.images import decode_rgb, read_stored

pytestmark = pytest.mark.shared

LIBPNG_LINE = "libpng error: PNG input buffer is incomplete"


@pytest.fixture(scope="module")
def cut_png(lfw_dir: Path) -> bytes:
    """A PNG of an LFW photo missing its last 30 bytes (its IEND chunk and some pixels):
    OpenCV cannot decode it, and its libpng says so on descriptor 2."""
    photo = cv2.imread(str(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg"))
    return cv2.imencode(".png", photo)[1].tobytes()[:-30]


def test_a_damaged_png_prints_nothing_and_is_logged_with_its_name(
    cut_png: bytes,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(QUIET_ENV, "1")
    with caplog.at_level(logging.DEBUG, logger="maskgen.decoder_messages"):
        read_stored(cut_png, "cut.png")
    assert LIBPNG_LINE not in capfd.readouterr().err
    said = [r.getMessage() for r in caplog.records if LIBPNG_LINE in r.getMessage()]
    assert said and said[0].startswith("cut.png: the decoder said: libpng error"), said


def test_without_the_variable_the_line_prints_as_before(
    cut_png: bytes, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(QUIET_ENV, raising=False)
    assert decode_rgb(cut_png) is None
    assert LIBPNG_LINE in capfd.readouterr().err


def _decoded_quietly(data: bytes) -> list[str]:
    """What the decoders said while OpenCV decoded ``data`` (None as the image: it fails)."""
    with decoder_messages("cut.png") as said:
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is None
    return said


def test_a_decode_in_another_thread_is_quiet_too(
    cut_png: bytes, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Embedder's pool (``maskgen eval``) and a Dask worker's threads decode outside the
    main thread: libpng's line was printed there, mid progress bar."""
    monkeypatch.setenv(QUIET_ENV, "1")
    with ThreadPoolExecutor(1) as pool:
        said = pool.submit(_decoded_quietly, cut_png).result()
    assert said == [LIBPNG_LINE]
    assert LIBPNG_LINE not in capfd.readouterr().err


def test_threads_decoding_at_once_lose_no_line_of_anyone(
    cut_png: bytes, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Descriptor 2 is the process's: windows opened by several threads at once would restore
    each other's descriptors (leaving it on the capture file) or take each other's lines.
    They take turns, each decode gets its own line, and every line another thread writes
    meanwhile (a progress bar) reaches stderr once, or, where it landed between libpng's
    words and its newline (two writes), is logged inside that line: none is lost."""
    monkeypatch.setenv(QUIET_ENV, "1")
    stop = threading.Event()

    def progress_bar() -> int:
        lines = 0
        while not stop.is_set() or lines < 200:
            os.write(2, f"bar {lines}\n".encode())
            lines += 1
        return lines

    with ThreadPoolExecutor(5) as pool:
        bar = pool.submit(progress_bar)
        decodes = [pool.submit(_decoded_quietly, cut_png) for _ in range(100)]
        said = [d.result() for d in decodes]
        stop.set()
        written = bar.result()
    os.write(2, b"after\n")
    assert all(len(s) == 1 and s[0].startswith(LIBPNG_LINE) for s in said), said
    inside = [line for s in said for line in s[0][len(LIBPNG_LINE) :].split() if line != "bar"]
    err = capfd.readouterr().err.splitlines()
    assert LIBPNG_LINE not in err and err[-1] == "after"
    printed = [int(line.split()[1]) for line in err[:-1]]
    assert sorted(printed + [int(n) for n in inside]) == list(range(written))


def test_a_child_forked_while_another_thread_decodes_has_its_own_stderr(
    cut_png: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork waits for an open window to close: a child forked inside one started with its
    descriptor 2 on its parent's capture file, and what it wrote there once that window had
    closed was lost."""
    monkeypatch.setenv(QUIET_ENV, "1")
    err = tmp_path / "err.txt"
    code = f"""
import os, threading, time
import cv2, numpy as np
from maskgen.decoder_messages import decoder_messages
data = open({str(tmp_path / "cut.png")!r}, "rb").read()
started, closed = threading.Event(), os.pipe()
def decode():
    with decoder_messages("cut.png"):
        started.set()
        time.sleep(0.2)  # the fork is asked for inside this window
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    os.write(closed[1], b"x")
thread = threading.Thread(target=decode)
thread.start()
started.wait()
pid = os.fork()
if pid == 0:
    os.read(closed[0], 1)  # the parent's window has closed: the child writes after it
    os.write(2, b"child says hello\\n")
    os._exit(0)
os.waitpid(pid, 0)
thread.join()
"""
    (tmp_path / "cut.png").write_bytes(cut_png)
    with err.open("wb") as stderr:
        # Python 3.12+ warns of a fork in a process with threads: not what is tested here
        command = [sys.executable, "-W", "ignore::DeprecationWarning", "-c", code]
        done = subprocess.run(command, stderr=stderr, timeout=120)
    assert done.returncode == 0, err.read_text()
    assert err.read_text().splitlines() == ["child says hello"], err.read_text()


def test_what_was_caught_before_a_failure_is_printed_after_it(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt (or any exception) in the window: the caught lines explain it, so they go
    to stderr as they came; the descriptor is restored either way."""
    monkeypatch.setenv(QUIET_ENV, "1")
    with pytest.raises(KeyboardInterrupt), decoder_messages("x.png"):
        os.write(2, b"decoder: about to fail\n")
        raise KeyboardInterrupt
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "decoder: about to fail\nafter\n"


@pytest.mark.torch
def test_a_warning_a_signal_handler_logs_during_a_decode_still_prints(
    cut_png: bytes, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`maskgen train`'s first Ctrl-C only logs "stopping after this step ..." (its handler
    does not raise). Landing while the main thread decodes (``--workers 0``), the handler ran
    inside the window: its line went to the debug log with libpng's and was never shown, and
    the user, told nothing, pressed Ctrl-C again (which stops at once). A line another thread
    writes meanwhile (tqdm's monitor redrawing a bar) is printed too; libpng's line is not."""
    from maskgen.train import loop

    monkeypatch.setenv(QUIET_ENV, "1")
    stderr = open(2, "w", closefd=False)  # noqa: SIM115 - sys.stderr as the CLI has it
    handler = logging.StreamHandler(stderr)
    monkeypatch.setattr(loop.logger, "handlers", [handler])
    monkeypatch.setattr(loop.logger, "propagate", False)
    decode, calls = cv2.imdecode, []

    def decode_then_interrupted(*args: object) -> object:
        image = decode(*args)
        calls.append(args)
        if len(calls) == 1:  # the first of decode_rgb's two tries (OpenCV's colour, stored)
            bar = threading.Thread(target=lambda: (stderr.write("\r 50%|###"), stderr.flush()))
            bar.start()
            bar.join()
            signal.raise_signal(signal.SIGINT)  # Python runs the handler as the call returns
        return image

    monkeypatch.setattr(cv2, "imdecode", decode_then_interrupted)
    with loop._stops_between_steps(True) as stop:
        assert decode_rgb(cut_png) is None
    assert stop.signum == signal.SIGINT
    err = capfd.readouterr().err
    assert "\r 50%|###" in err and "stopping after this step" in err, err
    assert LIBPNG_LINE not in err


class _InterruptedSwap:
    """``os`` for decoder_messages, but a Ctrl-C lands as the swap of descriptor 2 returns (the
    SIGINT handler raises KeyboardInterrupt at the first check after the call)."""

    def __init__(self) -> None:
        self.swaps = 0

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def dup2(self, fd: int, fd2: int) -> int:
        result = os.dup2(fd, fd2)
        self.swaps += 1
        if self.swaps == 1:
            raise KeyboardInterrupt
        return result


def test_an_interrupt_as_descriptor_2_is_swapped_still_restores_it(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The swap was made before the ``try``: an interrupt raised as it returned left descriptor
    2 on the capture file for the rest of the process, so "Interrupted." and every later line
    were lost."""
    from maskgen import decoder_messages as module

    monkeypatch.setenv(QUIET_ENV, "1")
    before = os.dup(2)
    try:
        monkeypatch.setattr(module, "os", _InterruptedSwap())
        with pytest.raises(KeyboardInterrupt), decoder_messages("x.png"):
            pass
        restored = os.fstat(2)
        assert (restored.st_dev, restored.st_ino) == (
            os.fstat(before).st_dev,
            os.fstat(before).st_ino,
        )
    finally:
        os.dup2(before, 2)
        os.close(before)
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_the_capture_file_is_closed_at_exit(tmp_path: Path, cut_png: bytes) -> None:
    """The capture file lives as long as its process: left to the collector at exit, it was
    "ResourceWarning: unclosed file <_io.BufferedRandom name=3>" after every quiet decode,
    under ``python -X dev`` (and pytest's own run)."""
    damaged = tmp_path / "cut.png"
    damaged.write_bytes(cut_png)
    code = f"from maskgen.images import read_rgb; assert read_rgb({str(damaged)!r}) is None"
    env = {**os.environ, QUIET_ENV: "1"}
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", code], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "ResourceWarning" not in done.stderr and LIBPNG_LINE not in done.stderr, done.stderr


def test_a_line_written_inside_libpng_s_own_stays_with_it_and_its_newline_is_not_printed() -> None:
    """libpng writes its words and their newline apart; another thread's line between them
    ends up inside libpng's, and the newline left alone after it printed as a blank line."""
    from maskgen.decoder_messages import _sorted_lines

    caught = b"libpng error: PNG input buffer is incompletebar 1\nbar 2\n\nbar 3\n"
    said, others = _sorted_lines(caught, failed=False)
    assert said == b"libpng error: PNG input buffer is incompletebar 1\n\n"
    assert others == b"bar 2\nbar 3\n"
    assert _sorted_lines(b"Corrupt JPEG data: 3 extraneous bytes\n\n", failed=False) == (
        b"Corrupt JPEG data: 3 extraneous bytes\n",
        b"\n",
    )
    # a bar's redraw ("\r", no newline) just before the decoder's words: they were not found
    # (a line cut at "\r" did not start with them), printed mid-bar and not recorded
    caught = b"\r 50%|##| 5/10Corrupt JPEG data: premature end of data segment\n\r 60%"
    said, others = _sorted_lines(caught, failed=False)
    assert said == b"Corrupt JPEG data: premature end of data segment\n"
    assert others == b"\r 50%|##| 5/10\r 60%"


class _Descriptor2:
    """A stream that writes to descriptor 2 as it is at each write (a swap included), as a
    logging handler's ``sys.stderr`` does in the CLI."""

    def write(self, text: str) -> None:
        os.write(2, text.encode())

    def flush(self) -> None:
        pass


def test_a_warning_quoting_a_decoder_waits_for_another_thread_s_window(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``maskgen eval``'s decoding threads warn of a damaged face, quoting libjpeg's words,
    while another thread's window may be open: the warning landed in that window, whose face was
    then reported damaged, and the warning itself was cut short."""
    monkeypatch.setenv(QUIET_ENV, "1")
    log = logging.getLogger("test_decoder_messages.warn")
    log.propagate = False
    handler = logging.StreamHandler(_Descriptor2())  # type: ignore[arg-type]
    log.addHandler(handler)
    opened = threading.Event()

    def clean_decode() -> list[str]:
        with decoder_messages("clean.jpg") as said:
            opened.set()
            threading.Event().wait(0.3)  # the warning is asked for inside this window
        return said

    try:
        with ThreadPoolExecutor(1) as pool:
            window = pool.submit(clean_decode)
            opened.wait()
            warn_decoder_said(log, "set.bin: image 5", "Corrupt JPEG data: bad Huffman code")
            assert window.result() == []
    finally:
        log.removeHandler(handler)
    err = capfd.readouterr().err
    assert err == (
        "set.bin: image 5: the decoder said: Corrupt JPEG data: bad Huffman code "
        "(read as it decoded)\n"
    ), err


def test_with_descriptor_2_closed_nothing_is_swapped(cut_png: bytes, tmp_path: Path) -> None:
    """Under ``2>&-`` the capture file took the free descriptor 2 itself, and every line it
    then held was written back into it, window after window."""
    damaged = tmp_path / "cut.png"
    damaged.write_bytes(cut_png)
    code = f"""
import os
from maskgen.images import read_rgb
os.close(2)
assert read_rgb({str(damaged)!r}) is None
try:
    os.fstat(2)
    print("descriptor 2 open")
except OSError:
    print("descriptor 2 closed")
"""
    env = {**os.environ, QUIET_ENV: "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "descriptor 2 closed\n", done
