"""Typed errors. The CLI turns any MaskgenError into one line on stderr and exit code 1.

Each subclass also inherits the builtin a caller would expect (ValueError, OSError), so library
users can catch either.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path


class MaskgenError(Exception):
    """Root of every error maskgen raises on purpose (bad input, bad invocation).

    A message names a Python parameter as a caller passes it (``"resume=True and
    overwrite=True contradict each other"``); ``parameters`` maps the words naming one in the
    message to the parameter's name (``{"resume=True": "resume", "another output_dir":
    "output_dir"}``), so the CLI can put its own option there (``--resume``, ``another --output``)
    and its messages stay in its own terms."""

    def __init__(self, *args: object, parameters: Mapping[str, str] | None = None) -> None:
        super().__init__(*args)
        self.parameters: dict[str, str] = dict(parameters or {})


class DatasetFormatError(MaskgenError, ValueError):
    """A dataset file is not in the format it claims, or is damaged (truncated, bad magic).

    The message names the file and, where it applies, the byte offset.
    """


def no_such_file(
    path: Path,
    what: str = "file",
    error: type[MaskgenError] = DatasetFormatError,
    *,
    before: str = "",
    parameters: Mapping[str, str] | None = None,
) -> MaskgenError:
    """The ``error`` for an input ``path`` that is not a regular file: ``"x.rec: no such
    RecordIO file"`` where nothing is there, or what is there instead (a folder, a link to
    nothing, a named pipe, socket or device): "no such file" had sent the user looking for a
    file they could see. ``before`` goes first (``"val: "``); ``parameters`` as
    :class:`MaskgenError` takes them."""
    if path.is_dir():
        text = f"a folder, not a {what}"
    elif path.is_symlink() and not path.exists():
        text = f"{_broken_link(path)}, not a {what}"
    elif path.exists():
        text = f"a named pipe, socket or device, not a {what}"
    else:
        text = f"no such {what}"
    return error(f"{before}{path}: {text}", parameters=parameters)


def _broken_link(path: Path) -> str:
    """``"a link to nothing (to /data/gone.jpg)"``, naming the end of a chain of links, or
    ``"a link loop"`` where the links lead round in a circle."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a link loop"
    return f"a link to nothing (to {os.path.realpath(path)})"


class UndecodableImageError(DatasetFormatError):
    """One image record whose bytes no decoder reads (a damaged JPEG or PNG): a fault of that
    record, not of the whole file, so training can take another in its place."""


class ModelNotFoundError(MaskgenError, FileNotFoundError):
    """A landmark or detector model file could not be found."""


class TemplateError(MaskgenError, ValueError):
    """A mask template (image + fit points) is missing or malformed."""


class ConfigError(MaskgenError, ValueError):
    """A configuration value or combination of options is not allowed."""


class OutputError(MaskgenError, OSError):
    """The output location is unusable (equal to or inside the input, incomplete shards, ...)."""


class CheckpointError(MaskgenError, ValueError):
    """A model checkpoint is missing, unreadable or of another architecture."""


class TrainingError(MaskgenError, RuntimeError):
    """Training cannot go on (NaN loss, too few identities for the batch, mismatched twin)."""


class ModelFormatError(MaskgenError, ValueError):
    """A model file is not in the format its reader expects (truncated, another kind of model).

    The message names the file and the byte offset.
    """
