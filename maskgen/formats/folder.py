"""Image folders: every file under a root, recursively, keyed by its relative path.

Every file is an item, images or not, hidden files included (macOS ``._photo.jpg``,
``.DS_Store``): the masking step decides from the bytes what is an image, and copies the rest,
so the twin mirrors the tree and nothing is dropped unnoticed. Hidden folders (``.git``,
``.cache``, maskgen's own ``.maskgen-parts``) hold tools' state, not data: they are not
entered, and a warning names them. The twin keeps file names, folders and formats exactly: a
part writer stores ``sample.data`` as given (re-encoding is the masking step's job).

The Format protocol hands a part writer only its ``part_path``. So by default a part's images
are staged in a folder beside the part (``<part>.files/<key>``) and
:meth:`FolderFormat.join_parts` moves them into ``out_dir`` (a rename on one file system).
Callers that know the output folder pass ``out_dir=`` to :meth:`FolderFormat.open_part_writer`
to write in place instead, each file atomically: the pipeline does, which spares a run the
moves, the staging folders and their removal (joining 400 LFW photos' parts took 0.19-0.22 s
of CPU and 1.0-1.4 s wall staged, 0.01 s in place, on this project's busy 2-core VM).
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, NamedTuple

from maskgen.atomic import write_bytes_atomic
from maskgen.errors import DatasetFormatError, OutputError
from maskgen.formats.base import Reader, register_format
from maskgen.images import (
    IMAGE_SUFFIXES,
    can_write,
    format_of_name,
    is_image_file,
    writable_formats,
)
from maskgen.types import Key, Sample

__all__ = [
    "FOLDER",
    "FolderFormat",
    "FolderPartWriter",
    "FolderReader",
    "image_format_of",
    "staging_dir",
]

logger = logging.getLogger(__name__)


def image_format_of(key_or_path: str | Path) -> str:
    """The format (``"jpeg"``, ``"png"``, ``"tiff"``, ...) a file name's suffix names, any
    case, where maskgen can write it here; DatasetFormatError listing the suffixes otherwise."""
    image_format = format_of_name(key_or_path)
    if image_format is None or not can_write(image_format):
        suffix = PurePosixPath(str(key_or_path)).suffix.lower()
        writable = set(writable_formats())
        allowed = ", ".join(
            sorted(s for s in IMAGE_SUFFIXES if format_of_name("x" + s) in writable)
        )
        raise DatasetFormatError(
            f"{key_or_path}: not an image file name maskgen can write (suffix "
            f"{suffix or 'none'!r}; allowed: {allowed})"
        )
    return image_format


class FolderListing(NamedTuple):
    """What :func:`list_files` found under a folder, each a sorted list of POSIX paths relative
    to it: the files (hidden ones included), and what was not read: hidden folders (not
    entered), links not followed (to folders, broken ones, loops), special files (pipes,
    sockets, devices) and folders that could not be listed."""

    keys: list[str]
    hidden: list[str]
    links: list[str]
    special: list[str]
    unreadable: list[str]

    def not_read(self) -> dict[str, list[str]]:
        """The kinds of entries not read that there are, by name, for a run's record."""
        kinds = {
            "hidden_folders": self.hidden,
            "links": self.links,
            "special_files": self.special,
            "unreadable_folders": self.unreadable,
        }
        return {kind: names for kind, names in kinds.items() if names}


def list_files(root: Path) -> FolderListing:
    """Every entry under ``root``, sorted by kind (:class:`FolderListing`). As ``os.walk``
    (symlinked folders are not entered, unreadable ones skipped) but from ``os.scandir``'s
    entries, which know their type without a ``stat`` per file: 0.06 s for LFW's 13,233
    photos instead of 0.22 s. Nothing is warned about here: see :func:`warn_not_read`."""
    keys: list[str] = []
    hidden: list[str] = []
    links: list[str] = []
    special: list[str] = []
    unreadable: list[str] = []
    pending = [(str(root), "")]
    while pending:
        folder, relative = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            if relative:  # the root's own failure is the caller's "no image files"
                unreadable.append(relative)
            continue
        for entry in entries:
            key = f"{relative}/{entry.name}" if relative else entry.name
            if _is_dir(entry):
                if entry.name.startswith("."):
                    hidden.append(key)
                elif entry.is_symlink():
                    links.append(key)
                else:
                    pending.append((entry.path, key))
            elif _is_file(entry):
                keys.append(key)
            elif entry.is_symlink():
                links.append(key)  # a broken link, or a loop of links
            else:
                special.append(key)  # a named pipe, a socket, a device: nothing to copy
    return FolderListing(*(sorted(names) for names in (keys, hidden, links, special, unreadable)))


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a file or a link to one; False for a link that leads nowhere,
    including a loop of links (``stat`` fails with ELOOP), which a broken link's warning names."""
    try:
        return entry.is_file()
    except OSError:
        return False


def safe_key(key: Key, where: Path) -> str:
    """A relative POSIX path that stays inside its root (no absolute paths, no ``..``)."""
    text = str(key)
    parts = PurePosixPath(text).parts
    separator = "\\" in (os.sep, os.altsep)  # on POSIX a backslash is a name's character
    if not parts or text.startswith("/") or ".." in parts or (separator and "\\" in text):
        raise DatasetFormatError(f"{where}: key {text!r} is not a relative path inside the folder")
    return text


def _holds_an_image(root: Path, keys: Sequence[str]) -> bool:
    """Whether any file has an image suffix or, where none has, image bytes: the masking step
    goes by the bytes, so photos without a suffix (hashed names, ``.dat``) are images too."""
    if any(format_of_name(key) for key in keys):
        return True
    return any(is_image_file(root / key) for key in keys)


class FolderReader:
    """Every file under ``root`` (see the module docstring); keys are relative POSIX paths,
    sorted. DatasetFormatError where no file has an image suffix or image bytes (a wrong
    folder)."""

    def __init__(self, root: str | Path) -> None:
        self.path = Path(root)
        if not self.path.is_dir():
            raise DatasetFormatError(f"{self.path}: not a folder")
        listing = list_files(self.path)
        if not _holds_an_image(self.path, listing.keys):
            hint = unread_hint(self.path, listing.links)
            raise DatasetFormatError(f"{self.path}: no image files ({hint})")
        warn_not_read(self.path, listing)
        self._keys = tuple(listing.keys)
        self.not_read = listing.not_read()
        """What under the folder was not read, by kind (:meth:`FolderListing.not_read`):
        recorded in the twin's ``maskgen.json``, so that its record accounts for every entry."""

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"FolderReader({str(self.path)!r}, files={len(self)})"

    def keys(self) -> Sequence[str]:
        return self._keys

    def subset(self, keys: Sequence[Key]) -> FolderReader:
        """A reader of the same folder that knows only ``keys`` (in that order), made without
        listing the folder again: a pipeline job carries one, so a worker never walks the
        whole tree (about 0.1 s for LFW's 13,233 photos). KeyError for a key this reader does
        not have."""
        missing = next((key for key in keys if key not in self._key_set), None)
        if missing is not None:
            raise KeyError(missing)
        part = copy.copy(self)
        part.__dict__.pop("_key_set", None)  # the whole folder's: not for a job to carry
        part._keys = tuple(str(key) for key in keys)
        return part

    @functools.cached_property
    def _key_set(self) -> frozenset[str]:
        return frozenset(self._keys)

    def close(self) -> None:
        """Nothing to release: each read opens and closes its file."""

    def read(self, key: Key) -> Sample:
        relative = safe_key(key, self.path)
        try:
            data = (self.path / relative).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None
        return Sample(key=relative, data=data, name=relative)


def warn_not_read(root: Path, listing: FolderListing) -> None:
    """Warn, once per process and folder, of what :func:`list_files` did not read: hidden
    folders, links, special files, folders it could not list (none: no warning)."""
    where = str(root.resolve())
    for names, warn in (
        (listing.hidden, _warn_hidden),
        (listing.links, _warn_links),
        (listing.special, _warn_special),
        (listing.unreadable, _warn_unreadable),
    ):
        if names:
            warn(where, tuple(names))


@functools.lru_cache(maxsize=8)
def _warn_hidden(root: str, hidden: tuple[str, ...]) -> None:
    """Say once per process (forked workers inherit the parent's "once") which hidden folders
    were not read."""
    names = ", ".join(hidden[:5]) + (", ..." if len(hidden) > 5 else "")
    logger.warning("%s: %d hidden folder(s) not read: %s", root, len(hidden), names)


@functools.lru_cache(maxsize=8)
def _warn_links(root: str, links: tuple[str, ...]) -> None:
    """Say once per process which links were not followed (to folders: no loops, nothing read
    twice; broken ones), so that a folder of linked identity folders is not skipped silently."""
    names = ", ".join(links[:5]) + (", ..." if len(links) > 5 else "")
    logger.warning(
        "%s: %d link(s) to folders, or broken, not followed: %s (give the folder itself, or "
        "copy it in)",
        root,
        len(links),
        names,
    )


@functools.lru_cache(maxsize=8)
def _warn_unreadable(root: str, names: tuple[str, ...]) -> None:
    """Say once per process which folders could not be listed (no permission): their files
    are neither in the twin nor in its manifest, and align loses those identities."""
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    logger.warning("%s: %d folder(s) that cannot be read skipped: %s", root, len(names), shown)


@functools.lru_cache(maxsize=8)
def _warn_special(root: str, names: tuple[str, ...]) -> None:
    """Say once per process which entries are neither files, folders nor links (named pipes,
    sockets, devices): not read, so neither in the twin nor in its manifest."""
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    logger.warning(
        "%s: %d special file(s) (pipes, sockets, devices) not read: %s", root, len(names), shown
    )


def unread_hint(root: Path, links: Sequence[str] = ()) -> str:
    """What a folder without images was searched for; first the links not followed, where
    there are any: a folder of linked identity folders is the likely mistake, and the long
    list of suffixes alone hid it (the warning naming them came only after a good read)."""
    if links:
        names = ", ".join(links[:5]) + (", ..." if len(links) > 5 else "")
        return (
            f"{len(links)} link(s) to folders, or broken, are not followed: {names}; give a "
            "linked folder itself, or copy it in"
        )
    suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
    others = sorted(p.name for p in root.iterdir() if p.suffix.lower() in (".rec", ".bin"))
    if others:
        return f"looked for {suffixes}; pass one of {', '.join(others[:3])} directly"
    return (
        f"looked for {suffixes}, any letter case, in every subfolder, and for image bytes "
        "in the other files"
    )


def staging_dir(part_path: Path) -> Path:
    """Where a part's images wait until :meth:`FolderFormat.join_parts` moves them."""
    return part_path.with_name(part_path.name + ".files")


class FolderPartWriter:
    """Writes each sample to ``root/key`` (temporary name + rename) and, on a clean exit, the
    part file: JSON ``{"root": ..., "keys": [...]}``, which marks the chunk complete."""

    def __init__(self, part_path: Path, root: Path) -> None:
        self.path = Path(part_path)
        self.root = Path(root)
        self._keys: list[str] = []

    def __enter__(self) -> FolderPartWriter:
        self._keys = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            staged = self.root == staging_dir(self.path)
            record = {"root": None if staged else str(self.root), "keys": self._keys}
            write_bytes_atomic(self.path, json.dumps(record).encode("utf-8"))

    def write(self, sample: Sample) -> None:
        key = safe_key(sample.key, self.root)
        write_bytes_atomic(self.root / key, sample.data)
        self._keys.append(key)


def _read_part(part: Path) -> dict[str, Any]:
    if not part.is_file():
        raise OutputError(f"{part}: part missing (its chunk never completed)")
    try:
        record = json.loads(part.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetFormatError(f"{part}: not a folder part file ({error})") from None
    if not isinstance(record, dict) or not isinstance(record.get("keys"), list):
        raise DatasetFormatError(f"{part}: not a folder part file (no 'keys' list)")
    return record


def _place(source_root: Path, out_dir: Path, key: str, part: Path) -> None:
    """Move one staged file into ``out_dir``; a file already moved (an interrupted join being
    rerun) is accepted."""
    source, target = source_root / key, out_dir / key
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
    elif not target.is_file():
        raise OutputError(f"{source}: listed in {part} but missing")


def _check_in_place(out_dir: Path, key: str, part: Path) -> None:
    if not (out_dir / key).is_file():
        raise OutputError(f"{out_dir / key}: listed in {part} but missing")


@dataclass(frozen=True)
class FolderFormat:
    """Registry entry for a folder of photos (not aligned: faces are detected)."""

    name: str = "folder"
    aligned_by_default: bool = False

    def sniff(self, path: Path) -> bool:
        return Path(path).is_dir()

    def open_reader(self, path: Path) -> FolderReader:
        return FolderReader(path)

    def output_path(self, reader: Reader, out_dir: Path) -> Path:
        return Path(out_dir)

    def open_part_writer(
        self, reader: Reader, part_path: Path, out_dir: Path | None = None
    ) -> FolderPartWriter:
        """Images go to ``out_dir`` when given, else to :func:`staging_dir` beside the part."""
        root = Path(out_dir) if out_dir is not None else staging_dir(Path(part_path))
        return FolderPartWriter(part_path, root)

    def join_parts(
        self,
        reader: Reader,
        part_paths: Sequence[Path],
        out_dir: Path,
        progress: Callable[[int], None] | None = None,
    ) -> Path:
        """Check every part is complete and every listed image sits in ``out_dir`` (moving
        staged images there); returns ``out_dir``. ``progress``: 1 after each part."""
        out_dir = Path(out_dir)
        for part in map(Path, part_paths):
            record = _read_part(part)
            root = Path(record["root"]) if record.get("root") else staging_dir(part)
            in_place = root.resolve() == out_dir.resolve()
            for key in record["keys"]:
                key = safe_key(key, part)
                if in_place:
                    _check_in_place(out_dir, key, part)
                else:
                    _place(root, out_dir, key, part)
            if not in_place and root.is_dir():
                _remove_empty_dirs(root)
            if progress is not None:
                progress(1)
        logger.info("joined %d parts into %s", len(part_paths), out_dir)
        return out_dir


def _remove_empty_dirs(root: Path) -> None:
    """Remove a staging folder once emptied (leaves anything unexpected in place)."""
    for folder, _, _ in sorted(os.walk(root), key=lambda entry: -len(entry[0])):
        try:
            os.rmdir(folder)
        except OSError:
            logger.debug("staging folder %s not empty; left in place", folder)


FOLDER = register_format(FolderFormat())
