"""libpng's and libjpeg's own lines about a damaged file, kept off stderr where maskgen's CLI asks.

OpenCV's libpng and libjpeg write their complaints (``libpng error: PNG input buffer is
incomplete``, ``Corrupt JPEG data: premature end of data segment``) with C's ``fprintf(stderr,
...)``, straight to file descriptor 2: no log level and no Python warning filter reaches them.
Where :data:`QUIET_ENV` is ``"1"`` (``maskgen`` sets it unless ``-vv``; forked and spawned
workers inherit it), :func:`decoder_messages` points descriptor 2 at a temporary file for the
length of one decode call and logs the decoders' own lines that landed there at debug level,
naming the file (:data:`DECODER_LINE`). Any other line that landed there meanwhile goes on to
stderr after the call: a signal handler runs in the main thread inside the window (the first
Ctrl-C of ``maskgen train`` logs "stopping after this step" and does not raise), and another
thread may write while it is open (tqdm's monitor thread redraws a progress bar).

Any thread may decode so. The descriptor table belongs to the whole process, so the windows
of one process take turns under one lock (:data:`_WINDOW`; an ``os.fork`` waits for the open
window to close, so that no child starts with its descriptor 2 on the capture file, where
the platform forks; a child
started by ``subprocess`` or multiprocessing's spawn meanwhile is not held back, and keeps the
capture file as its stderr for life: start such children where no other thread decodes): decodes in
several threads (the Embedder's pool in ``maskgen eval`` and in training's validation, the
threads of a Dask worker) run one at a time, while the rest of their work runs on. A line
another thread writes while a window is open lands in it and is printed as the window
closes, as a signal handler's is; one that lands inside a decoder's line (libpng writes its
words and their newline apart) is taken for part of it (logged with it at debug level, and in
the warning or reason that quotes it). A warning that quotes a decoder's words is written
between windows (:func:`warn_decoder_said`): written inside another thread's window, it was
taken for that window's decoder's line. While a window is open, descriptor 2 is
a file, not the terminal, for every thread: ask whether stderr is a terminal (a progress
bar's ``disable=None``) before decoding starts, as ``maskgen eval`` does.

Where the decode call raises (a signal's KeyboardInterrupt included), what was caught goes to
stderr as it came: nothing that explains a failure is hidden. Where descriptor 2 is closed
(``2>&-``) nothing is swapped: the capture file would take the free descriptor 2 itself. The
capture file is a temporary file: where the temporary folder is full, another thread's write to
stderr inside a window fails as it would on a full disk. Descriptor 2 is restored however
the window ends, an interrupt that lands as the swap returns included. A process killed while a
window is open (a crash in the decoder, or in any thread: faulthandler's traceback goes to
descriptor 2 too) loses what was written there; ``maskgen -vv`` swaps nothing, so a rerun with
it shows every line.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import BinaryIO

logger = logging.getLogger(__name__)

QUIET_ENV = "MASKGEN_QUIET_DECODERS"
"""Environment variable: ``"1"`` keeps the native decoders' lines off stderr."""

DECODER_LINE = re.compile(
    rb"libpng (?:error|warning): "
    rb"|Corrupt JPEG data: "
    rb"|Premature end of JPEG file"
    rb"|Invalid SOS parameters for sequential JPEG"
    rb"|Inconsistent progression sequence for component "
    rb"|Unknown Adobe color transform code "
    rb"|Warning: unknown JFIF revision number "
    rb"|Application transferred too many scanlines"
)
"""The start of a line libpng or libjpeg writes: libpng's default error and warning handlers
(``pngerror.c``) prefix theirs with ``libpng error:`` / ``libpng warning:``; libjpeg prints
only its warnings (OpenCV's error handler jumps back without printing), the ``JWRN_`` messages
of libjpeg's and libjpeg-turbo's ``jerror.h``. A line of theirs not listed prints as before."""


def quiet_decoders() -> bool:
    """Whether :func:`decoder_messages` takes the native decoders' lines (any thread)."""
    return os.environ.get(QUIET_ENV) == "1"


@contextlib.contextmanager
def decoder_messages(name: str | None = None) -> Iterator[list[str]]:
    """Around one native decode call: the decoders' lines it writes to descriptor 2
    (:data:`DECODER_LINE`) are logged at debug level (``name``: the file it decodes, for that
    line) instead of printed, and added, as one text, to the list it yields (empty until the
    block ends; the caller records it, e.g. in the manifest), and any other line written there
    meanwhile is printed after it, where :func:`quiet_decoders`; else nothing changes and the
    list stays empty. Raises nothing of its own beyond OSError from the descriptor calls."""
    said_texts: list[str] = []
    if not quiet_decoders() or not _stderr_open():
        yield said_texts
        return
    with _WINDOW:
        capture = _capture_file_of(os.getpid())  # under the lock: made once
        saved = os.dup(2)
        failed = True
        try:
            os.dup2(capture.fileno(), 2)  # in the try: a Ctrl-C raised as it returns restores it
            yield said_texts
            failed = False
        finally:
            try:
                os.dup2(saved, 2)
            finally:
                os.close(saved)
            said, others = _sorted_lines(_take(capture.fileno()), failed)
            _write_all(2, others)
        if said:  # logged under the lock: written in another thread's window, it was taken
            text = " ".join(said.decode(errors="replace").split())  # for that window's line
            said_texts.append(text)
            logger.debug("%s: the decoder said: %s", name or "image", text)


def warn_decoder_said(log: logging.Logger, where: str, said: str) -> None:
    """Warn on ``log`` that ``where`` (a file, or an image of one) decoded though its decoder
    called it damaged: ``"<where>: the decoder said: <said> (read as it decoded)"``. Written
    while no window is open (under :data:`_WINDOW`): a warning written inside another thread's
    window landed in its capture file, where the decoder's words it quotes were taken for that
    window's decoder's, naming the wrong image and cutting the warning short."""
    with _WINDOW:
        log.warning("%s: the decoder said: %s (read as it decoded)", where, said)


def _stderr_open() -> bool:
    """Whether descriptor 2 is open (not under ``2>&-``)."""
    try:
        os.fstat(2)
    except OSError:
        return False
    return True


def _sorted_lines(text: bytes, failed: bool) -> tuple[bytes, bytes]:
    """``text`` split into the decoders' lines (:data:`DECODER_LINE`) and the others, each
    kept in order; all of it is "others" where the decode ``failed``. libpng writes its words
    and their newline apart: another thread's line that lands between them stays inside the
    decoder's line, and the next newline left alone (after any other lines that landed too) is
    libpng's (another thread's blank line in the same window is taken for it: nothing shows)."""
    if failed:
        return b"", text
    said, others = [], []
    libpng_newline_due = False
    for line in _lines(text):
        found = DECODER_LINE.search(line)
        if found:  # what another thread wrote before it on the line (a bar's "\r...") is theirs
            others.append(line[: found.start()])
            said.append(line[found.start() :])
            # libpng writes its newline apart (libjpeg with its words): one may follow alone
            libpng_newline_due = found.group().startswith(b"libpng")
        elif libpng_newline_due and line == b"\n":
            said.append(line)
            libpng_newline_due = False
        else:
            others.append(line)
    return b"".join(said), b"".join(others)


def _lines(text: bytes) -> list[bytes]:
    """``text`` cut after each newline (not at a carriage return: a bar's ``\r`` redraw and
    a decoder's words written after it are one line), the ends kept."""
    parts = text.split(b"\n")
    return [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _write_all(fd: int, data: bytes) -> None:
    """``data`` written whole to ``fd`` (``os.write`` may take part of it)."""
    while data:
        data = data[os.write(fd, data) :]


_WINDOW = threading.RLock()
"""The process's lock over descriptor 2's swap (the one thing all its threads share here).
Reentrant, so that a thread writing a warning between windows (:func:`warn_decoder_said`) may
already hold it; no code opens a window inside another (the inner one would report the outer
one's captured lines as its own). An ``os.fork`` takes it first and both sides release it
after, so a child never starts inside a window (its descriptor 2 would be the capture file)
nor with the lock held (``os.register_at_fork``: POSIX only; Windows does not fork)."""
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_WINDOW.acquire, after_in_parent=_WINDOW.release, after_in_child=_WINDOW.release
    )


@functools.cache
def _capture_file_of(pid: int) -> BinaryIO:
    """Process ``pid``'s capture file, made once and kept for its life: each process its own,
    as a forked child would otherwise share its parent's (keyed by the process id). Closed at
    exit (left to the collector, it was a ResourceWarning at every exit)."""
    import tempfile  # here: the CLI's start-up (``maskgen --help``) does without it

    capture = tempfile.TemporaryFile()  # noqa: SIM115 (kept for the process's life)
    atexit.register(capture.close)
    return capture


def _take(fd: int) -> bytes:
    """What was written to the capture file ``fd`` since the last take; the file emptied."""
    size = os.lseek(fd, 0, os.SEEK_CUR)
    if size == 0:
        return b""
    text = os.pread(fd, size, 0)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    return text
