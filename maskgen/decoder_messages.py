"""libpng's and libjpeg's own lines about a damaged file, kept off stderr where maskgen's CLI asks.

OpenCV's libpng and libjpeg write their complaints (``libpng error: PNG input buffer is
incomplete``, ``Corrupt JPEG data: premature end of data segment``) with C's ``fprintf(stderr,
...)``, straight to file descriptor 2: no log level and no Python warning filter reaches them.
Where :data:`QUIET_ENV` is ``"1"`` (``maskgen`` sets it unless ``-vv``; forked and spawned
workers inherit it), :func:`decoder_messages` points descriptor 2 at a temporary file for the
length of one decode call and logs what landed there at debug level, naming the file.

Only the main thread swaps descriptor 2. The descriptor table belongs to the whole process: a
swap made from one thread while others write would take their lines too (the Embedder's
decoding threads run beside the main thread's progress bar), and swaps from several threads
at once would need a lock that serialises their decoding. So a decode in another thread (the
Embedder's pool in ``maskgen eval`` and in training's validation, a task in a Dask worker's
threads) prints as before. Where the decode call raises (a signal's KeyboardInterrupt
included), what was caught goes to stderr as it came: nothing that explains a failure is
hidden. A process killed inside the window (a crash in the decoder itself) loses what it wrote
there; ``maskgen -vv`` swaps nothing, so a rerun with it shows every line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import BinaryIO

logger = logging.getLogger(__name__)

QUIET_ENV = "MASKGEN_QUIET_DECODERS"
"""Environment variable: ``"1"`` keeps the native decoders' lines off stderr."""

_capture: tuple[int, BinaryIO] | None = None
"""(process id, file): each process its own file, as a forked child shares its parent's."""


def quiet_decoders() -> bool:
    """Whether :func:`decoder_messages` takes the native decoders' lines in this thread."""
    main = threading.current_thread() is threading.main_thread()
    return main and os.environ.get(QUIET_ENV) == "1"


@contextlib.contextmanager
def decoder_messages(name: str | None = None) -> Iterator[None]:
    """Around one native decode call: what it writes to descriptor 2 is logged at debug level
    (``name``: the file it decodes, for that line) instead of printed, where
    :func:`quiet_decoders`; else nothing changes. Raises nothing of its own beyond OSError
    from the descriptor calls."""
    if not quiet_decoders():
        yield
        return
    capture = _capture_file()
    saved = os.dup(2)
    os.dup2(capture.fileno(), 2)
    failed = True
    try:
        yield
        failed = False
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        text = _take(capture.fileno())
        if text and failed:
            os.write(2, text)
        elif text:
            said = text.decode(errors="replace").strip()
            logger.debug("%s: the decoder said: %s", name or "image", said)


def _capture_file() -> BinaryIO:
    import tempfile  # here: the CLI's start-up (``maskgen --help``) does without it

    global _capture
    if _capture is None or _capture[0] != os.getpid():
        _capture = (os.getpid(), tempfile.TemporaryFile())  # noqa: SIM115 - for life
    return _capture[1]


def _take(fd: int) -> bytes:
    """What was written to the capture file ``fd`` since the last take; the file emptied."""
    size = os.lseek(fd, 0, os.SEEK_CUR)
    if size == 0:
        return b""
    text = os.pread(fd, size, 0)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    return text
