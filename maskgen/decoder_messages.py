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

Only the main thread swaps descriptor 2. The descriptor table belongs to the whole process: a
swap made from one thread while others write would take their lines too (the Embedder's
decoding threads run beside the main thread's progress bar), and swaps from several threads
at once would need a lock that serialises their decoding. So a decode in another thread (the
Embedder's pool in ``maskgen eval`` and in training's validation, a task in a Dask worker's
threads) prints as before. Where the decode call raises (a signal's KeyboardInterrupt
included), what was caught goes to stderr as it came: nothing that explains a failure is
hidden. Descriptor 2 is restored however the window ends, an interrupt that lands as the swap
returns included. A process killed inside the window (a crash in the decoder itself) loses
what it wrote there; ``maskgen -vv`` swaps nothing, so a rerun with it shows every line.
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
    """Whether :func:`decoder_messages` takes the native decoders' lines in this thread."""
    main = threading.current_thread() is threading.main_thread()
    return main and os.environ.get(QUIET_ENV) == "1"


@contextlib.contextmanager
def decoder_messages(name: str | None = None) -> Iterator[list[str]]:
    """Around one native decode call: the decoders' lines it writes to descriptor 2
    (:data:`DECODER_LINE`) are logged at debug level (``name``: the file it decodes, for that
    line) instead of printed, and added, as one text, to the list it yields (empty until the
    block ends; the caller records it, e.g. in the manifest), and any other line written there
    meanwhile is printed after it, where :func:`quiet_decoders`; else nothing changes and the
    list stays empty. Raises nothing of its own beyond OSError from the descriptor calls."""
    said_texts: list[str] = []
    if not quiet_decoders():
        yield said_texts
        return
    capture = _capture_file_of(os.getpid())
    saved = os.dup(2)
    failed = True
    try:
        os.dup2(capture.fileno(), 2)  # in the try: a Ctrl-C raised as it returns restores it too
        yield said_texts
        failed = False
    finally:
        try:
            os.dup2(saved, 2)
        finally:
            os.close(saved)
        said, others = _sorted_lines(_take(capture.fileno()), failed)
        _write_all(2, others)
        if said:
            text = " ".join(said.decode(errors="replace").split())
            said_texts.append(text)
            logger.debug("%s: the decoder said: %s", name or "image", text)


def _sorted_lines(text: bytes, failed: bool) -> tuple[bytes, bytes]:
    """``text`` split into the decoders' lines (:data:`DECODER_LINE`) and the others, each
    kept in order; all of it is "others" where the decode ``failed``."""
    if failed:
        return b"", text
    said, others = [], []
    for line in text.splitlines(keepends=True):
        (said if DECODER_LINE.match(line) else others).append(line)
    return b"".join(said), b"".join(others)


def _write_all(fd: int, data: bytes) -> None:
    """``data`` written whole to ``fd`` (``os.write`` may take part of it)."""
    while data:
        data = data[os.write(fd, data) :]


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
