"""Files that appear complete or not at all: write under a temporary name, then rename.

Temporary names sit beside the target (same file system, so ``os.replace`` is atomic) and start
with "." so folder listings skip them. Files are created with ``open(..., "xb")``, which honours
the umask (``tempfile.mkstemp`` would leave every output readable by its owner only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from maskgen.errors import OutputError


def os_error_in(error: BaseException) -> OSError | None:
    """The OSError ``error`` is or was raised from (its ``__cause__``/``__context__`` chain),
    if any: libraries that write through a Python file object (torch.save, torch.onnx.export)
    report a full disk as their own RuntimeError raised while handling the OS's error."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    return cause


def discard_temporary(path: Path) -> None:
    """Remove a temporary file, if it is there, and say nothing if that fails: on a read-only
    file system even a missing file's ``unlink(missing_ok=True)`` raises (EROFS), and in a
    clean-up path that error would hide the one that explains the failure."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def make_folder(path: Path) -> None:
    """``path`` made, with its parents, unless it is there; OutputError (one line naming it)
    where the file system refuses: read-only, a regular file in the way, no permission."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot make this folder ({exc.strerror or exc})") from exc


def temp_path_beside(path: Path) -> Path:
    """An unused name for a temporary file next to ``path`` (not created)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    Raises OutputError (an OSError) naming the file where it cannot be written."""
    path = Path(path)
    tmp = temp_path_beside(path)
    try:
        with _create(tmp) as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException as exc:  # an interrupt too: no temporary file is left behind
        discard_temporary(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"{path}: cannot write here ({exc.strerror or exc})") from exc
        raise
    return path


def _create(tmp: Path) -> BinaryIO:
    """``tmp`` opened for writing, new (``"xb"``), its folders made where they are missing:
    only then, since a mkdir per file costs as much as writing a small image."""
    try:
        return open(tmp, "xb")
    except FileNotFoundError:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        return open(tmp, "xb")


def write_text_atomic(path: Path, text: str) -> Path:
    """:func:`write_bytes_atomic` for UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def copy_file_atomic(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a temporary name (streamed, flat memory)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(target)
    try:
        with open(source, "rb") as src, open(tmp, "xb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, target)
    finally:
        discard_temporary(tmp)
