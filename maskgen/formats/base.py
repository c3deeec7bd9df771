"""One small interface for every dataset format (image folder, RecordIO, verification .bin).

A *format* knows how to recognise a path, read its items, and write a twin of it in parts:
the pipeline masks one chunk of keys into one *part*, then the format joins the parts, in key
order, into the final output. Parts make runs resumable and shardable, and the result
byte-identical whatever the number of workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, runtime_checkable

from maskgen.errors import DatasetFormatError
from maskgen.images import format_of_name
from maskgen.types import Key, Sample


@runtime_checkable
class Reader(Protocol):
    """Random access to a dataset's items. Opens file handles lazily, once per process, so a
    reader pickles cleanly into joblib, Dask and DataLoader workers."""

    path: Path

    def keys(self) -> Sequence[Key]:
        """Every item, image or not, in stored order: the unit of chunks and shards."""
        ...

    def read(self, key: Key) -> Sample: ...

    def __len__(self) -> int: ...


class Writer(Protocol):
    """A context manager that fills a temporary file and renames it into place on a clean exit
    (and deletes it on an exception), so a half-written file never looks finished."""

    def write(self, sample: Sample) -> None: ...

    def __enter__(self) -> Writer: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Format(Protocol):
    """A registry entry: how to read a dataset of this kind and write its twin in parts."""

    name: str
    aligned_by_default: bool
    """True where items are pre-aligned 112x112 crops (RecordIO, .bin): no face detection."""

    def sniff(self, path: Path) -> bool:
        """Whether ``path`` looks like this format (cheap: suffix / is_dir, no full parse)."""
        ...

    def open_reader(self, path: Path) -> Reader: ...

    def output_path(self, reader: Reader, out_dir: Path) -> Path:
        """Where the finished twin lands, e.g. ``out_dir/train.rec`` for ``in/train.rec``."""
        ...

    def open_part_writer(self, reader: Reader, part_path: Path) -> Writer:
        """A writer for one chunk's samples; the part exists at ``part_path`` only once complete."""
        ...

    def join_parts(
        self,
        reader: Reader,
        part_paths: Sequence[Path],
        out_dir: Path,
        progress: Callable[[int], None] | None = None,
    ) -> Path:
        """Join complete parts, in the given order, into the final output (written under a
        temporary name and renamed), copy side files (e.g. ``property``), return the output path.
        ``progress`` is called with 1 after each part (a bar's ``update``).
        """
        ...


class SingleFileFormat:
    """What formats stored as one file (plus side files) share: recognised by suffix, and their
    twin keeps the input's file name. Subclasses set ``suffix`` (e.g. ``".rec"``)."""

    suffix: str

    def sniff(self, path: Path) -> bool:
        return Path(path).suffix.lower() == self.suffix and not Path(path).is_dir()

    def output_path(self, reader: Reader, out_dir: Path) -> Path:
        return Path(out_dir) / reader.path.name


FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    """Add a format to the registry (called once by each format module at import)."""
    FORMATS[fmt.name] = fmt
    return fmt


def _load_builtin_formats() -> None:
    # Imported here, not at module top, so base.py has no import cycle with the formats.
    from maskgen.formats import folder, recordio, verification  # noqa: F401


def find_format(path: str | Path) -> Format:
    """The registered format that recognises ``path``; raises DatasetFormatError listing what
    was tried when none does. Never guesses."""
    _load_builtin_formats()
    path = Path(path)
    if not path.exists():
        raise DatasetFormatError(f"{path}: no such file or folder")
    for fmt in FORMATS.values():
        if fmt.sniff(path):
            return fmt
    tried = ", ".join(FORMATS)
    hint = ""
    if path.is_file() and format_of_name(path.name) is not None:
        hint = "; a single photo is masked by `maskgen mask`"
    elif path.suffix.lower() == ".idx" and path.with_suffix(".rec").is_file():
        hint = f"; give the .rec, {path.with_suffix('.rec')} (its .idx is read beside it)"
    raise DatasetFormatError(f"{path}: not a dataset maskgen can read (tried: {tried}){hint}")


def open_reader(path: str | Path) -> Reader:
    """Open any supported dataset: an image folder, a ``.rec`` (+``.idx``) or a ``.bin``.

    Returns a :class:`Reader` (``FolderReader``, ``RecordIOReader``, ``VerificationReader``):
    ``keys()`` in stored order, ``read(key)`` a :class:`~maskgen.types.Sample` (the encoded
    bytes as stored; a ``.rec`` image's float32 label, identity first). Raises
    DatasetFormatError (a ValueError) naming the path where it is missing, of no format
    maskgen reads, or damaged (a ``.rec`` without its ``.idx``, a truncated record, a ``.bin``
    that is not insightface's pickle)."""
    return find_format(path).open_reader(Path(path))
