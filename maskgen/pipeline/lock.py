"""One run at a time in an output folder: an advisory lock held while a run writes there.

Two ``maskgen augment`` runs started on one OUTDIR (a job requeued while the first still runs,
a command launched twice) each took the other's parts for an interrupted run's: the second
was told to add ``--resume``, and then one of them failed on a part the other had already
joined and removed, leaving a stale ``.maskgen-parts`` in the finished twin. :func:`output_lock`
takes an exclusive ``flock`` on ``OUTDIR/.maskgen-lock`` (a shard on its own file,
``.maskgen-lock-shard-I-of-N``, as shards of one run write to one OUTDIR together) and refuses
a second run with one line naming the process that holds it. The kernel drops the lock when
that process ends however it ends (``kill -9`` included), so a lock file left behind by a
killed run stops nobody; a run that ends normally removes its lock file. Where the file system
has no ``flock`` (some network file systems), or no ``fcntl`` module exists (Windows), runs go
unlocked, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from maskgen.errors import OutputError
from maskgen.pipeline.plan import Shard

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

LOCK_NAME = ".maskgen-lock"
WAIT_OR_ELSEWHERE = "wait for it to end, or choose another output folder"
"""What a run refused by another's lock can do (``output_lock``'s default advice)."""


def lock_path(out_dir: Path, shard: Shard | None) -> Path:
    """The lock file of a run (``shard`` None) or of one shard writing into ``out_dir``."""
    if shard is None:
        return out_dir / LOCK_NAME
    return out_dir / f"{LOCK_NAME}-shard-{shard[0]}-of-{shard[1]}"


def is_lock_file(path: Path) -> bool:
    """Whether ``path`` names a lock file of :func:`lock_path` (nothing a user wrote)."""
    return path.name == LOCK_NAME or path.name.startswith(LOCK_NAME + "-shard-")


@contextlib.contextmanager
def output_lock(
    out_dir: Path, shard: Shard | None = None, *, advice: str = WAIT_OR_ELSEWHERE
) -> Iterator[None]:
    """Hold the lock of ``out_dir`` (of ``shard`` in it) for the block; OutputError where
    another process holds it, ending with ``advice`` (what the caller can do instead).
    ``out_dir`` is made if absent; where that or the lock file cannot be made (a read-only
    file system), the block runs unlocked and the caller's own writes report the failure,
    naming what they could not write."""
    path = lock_path(out_dir, shard)
    fd = _acquire(path, shard, advice)
    try:
        yield
    finally:
        if fd is not None:
            if _same_file(fd, path):  # a file put in its place meanwhile is not ours to remove
                with contextlib.suppress(OSError):
                    path.unlink()  # while still held: a run that opened it retries
            os.close(fd)


def _acquire(path: Path, shard: Shard | None, advice: str) -> int | None:
    """An open, locked descriptor of the file at ``path`` (the same file still being there
    once locked, as one that ended may have removed it meanwhile), or None where locks are
    not available here."""
    if fcntl is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise OutputError(_held_message(path, shard, holder, advice)) from None
        except OSError as error:  # ENOLCK, EOPNOTSUPP: no locks on this file system
            logger.debug("%s: no lock taken (%s)", path, error)
            os.close(fd)
            return None
        if _same_file(fd, path):
            _write_holder(fd)
            return fd
        os.close(fd)  # locked a file its holder removed as it finished: lock the one there now


def lock_holder(out_dir: Path, shard: Shard | None = None) -> str | None:
    """Who holds the lock of ``out_dir`` (of ``shard`` in it) now, in words ("process 123"),
    or None where nobody does or locks are not available here. It asks by taking a shared
    lock for an instant: a run starting in that instant is refused as if one were running."""
    if fcntl is None:
        return None
    try:
        fd = os.open(lock_path(out_dir, shard), os.O_RDONLY)
    except OSError:  # no lock file: no run has it
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(fd)
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _write_holder(fd: int) -> None:
    """Name this process in the lock file, for the message another run gets."""
    text = f"{socket.gethostname()} {os.getpid()}\n".encode()
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        host, _, pid = os.pread(fd, 300, 0).decode().strip().partition(" ")
        if pid.isdigit():
            return f"process {pid}" + ("" if host == socket.gethostname() else f" on {host}")
    return "another process"


def _held_message(path: Path, shard: Shard | None, holder: str, advice: str) -> str:
    what = "" if shard is None else f" shard {shard[0]}/{shard[1]} of"
    return f"{path.parent}: another maskgen run ({holder}) is writing{what} this output; {advice}"
