"""The user's cache of things maskgen makes ready to use once and reads back in later runs:
dlib's face detector and the 68-point model's parsed arrays (:mod:`maskgen.faces.model_cache`),
the mask templates' prepared levels and the built-in textures' decoded images
(:mod:`maskgen.masks.render`, :mod:`maskgen.masks.textures`).

The cache lives in ``$MASKGEN_CACHE_DIR`` if set (empty: no cache), else
``$XDG_CACHE_HOME/maskgen``, else ``~/.cache/maskgen``. Entries are keyed on what they were
made from (files' paths, sizes and modification times, plus what the caller adds), written
under a temporary name and renamed into place, so a reader sees a whole entry or none. Each
kind of entry (its name without the keys: ``shape_predictor``, ``level-cloth-2``) keeps its
:data:`KEEP_PER_KIND` most recently used entries: storing a new one removes the others (a
read marks an entry used), so a cache shared by many installs (a new virtual environment
puts its model file at a new path: 64 MB more) stays bounded. Where
the folder cannot be written, or an entry cannot be read, the caller builds what it needs as
without a cache, silently: the cache only ever saves time. An entry that cannot be read, or
that its reader's check rejects, is removed, so the one built in its place is stored. Arrays
are stored as ``.npy`` and read memory-mapped (the OS's page cache then holds one copy for
every process reading them).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "MASKGEN_CACHE_DIR"
KEEP_PER_KIND = 4
"""Entries kept of each kind: more than one process or install uses at once (a run's
built-in and user textures of one name, two environments taking turns), few enough that the
cache stays small."""
_KEYS = re.compile(r"(?:-[0-9a-f]{20})+$")
"""The keys at the end of an entry's name (:func:`file_key` gives 20 hex digits)."""
CACHE_FORMAT = 1
"""Bumped whenever what an entry holds changes, so older entries are never read."""


def cache_dir() -> Path | None:
    """Where cached models live (see the module doc); None where caching is switched off."""
    chosen = os.environ.get(CACHE_DIR_ENV)
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "maskgen"


def file_key(*paths: str | Path, extra: str = "") -> str:
    """A short hex key for files as they are now: each one's resolved path, size and
    modification time (ns), plus ``extra`` and :data:`CACHE_FORMAT`."""
    parts = [f"format {CACHE_FORMAT}", extra]
    for path in paths:
        stat = os.stat(path)
        parts.append(f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:20]


def read_arrays(
    name: str,
    names: tuple[str, ...],
    check: Callable[[dict[str, np.ndarray]], bool] | None = None,
) -> dict[str, np.ndarray] | None:
    """The arrays of entry ``name`` (a folder of ``<array>.npy``), memory-mapped copy-on-write
    (writable, so compiled code sees the same array types as freshly built ones; nothing
    writes them); None if the entry is missing, unreadable, or fails the caller's ``check``
    (dtypes, shapes, ranges). An entry that is there but not used (a file emptied or cut
    short, as a crash can leave one; arrays another maskgen or a hand wrote) is removed, so
    the caller's next :func:`write_arrays` stores a whole one and later runs read it."""
    root = cache_dir()
    if root is None:
        return None
    folder = root / name
    try:
        arrays = {
            key: np.asarray(np.load(folder / f"{key}.npy", mmap_mode="c", allow_pickle=False))
            for key in names
        }
    except (OSError, ValueError, EOFError) as exc:  # missing, or emptied / cut / tampered with
        if folder.exists():  # an entry that cannot be read: gone, so a whole one can replace it
            _remove(folder, f"unreadable ({exc})")
        return None
    if check is not None and not check(arrays):
        _remove(folder, "not what its reader expects")
        return None
    mark_used(folder)
    return arrays


def entry_kind(name: str) -> str:
    """What an entry named ``name`` holds, without the keys that say from what:
    ``level-cloth-2-<key>-<key>`` -> ``level-cloth-2``."""
    return _KEYS.sub("", name.removesuffix(".svm"))


def mark_used(entry: Path) -> None:
    """Note that ``entry`` (a folder or file in the cache) was just used: its modification
    time, which :func:`keep_recent` sorts by. Nothing where the cache is read-only."""
    with contextlib.suppress(OSError):
        os.utime(entry)


def keep_recent(entry: Path, keep: int = KEEP_PER_KIND) -> None:
    """Remove the entries of ``entry``'s kind (:func:`entry_kind`) beyond the ``keep`` most
    recently used, ``entry`` (just stored) always kept. Does nothing where it cannot."""
    kind = entry_kind(entry.name)
    try:
        siblings = [
            (path.stat().st_mtime_ns, path)
            for path in entry.parent.iterdir()
            if path != entry and not path.name.startswith(".") and entry_kind(path.name) == kind
        ]
    except OSError:
        return
    siblings.sort(reverse=True)
    for _, path in siblings[max(keep - 1, 0) :]:
        if path.is_dir():
            _remove(path, "not used lately")
        else:
            with contextlib.suppress(OSError):
                path.unlink()


def _remove(folder: Path, why: str) -> None:
    """Take entry ``folder`` away: renamed aside first (one step), so a reader sees the whole
    entry or none, then deleted. Does nothing where it cannot (a read-only cache)."""
    logger.debug("cache: %s %s; removed", folder, why)
    aside = _temp_beside(folder)
    try:
        os.rename(folder, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def write_arrays(name: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Store ``arrays`` as entry ``name``: written into a temporary folder that is then renamed
    into place (another process that got there first wins). Does nothing where it cannot."""
    root = cache_dir()
    if root is None:
        return
    target = root / name
    tmp = _temp_beside(target)
    try:
        tmp.mkdir(parents=True)
        for key, array in arrays.items():
            np.save(tmp / f"{key}.npy", np.ascontiguousarray(array), allow_pickle=False)
        os.rename(tmp, target)
    except OSError as exc:
        if not target.is_dir():
            logger.debug("model cache: cannot store %s (%s)", target, exc)
        return
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    keep_recent(target)


def _temp_beside(path: Path) -> Path:
    """An unused hidden name next to ``path`` (as :func:`maskgen.atomic.temp_path_beside`,
    which this layer may not import)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")
