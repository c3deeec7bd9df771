"""MXNet RecordIO (``.rec`` + ``.idx``) without mxnet, byte-compatible with MXNet 1.9.1.

Container layout (dmlc-core ``recordio``): every record part is a uint32 magic ``0xced7230a``,
a uint32 ``lrecord`` (upper 3 bits: part flag 0 whole / 1 start / 2 middle / 3 end; lower 29
bits: length), the bytes, and zero padding to a 4-byte boundary. MXNet's writer splits a
payload wherever the magic occurs at a 4-byte-aligned offset inside it, dropping the magic
there; the reader joins the parts and puts the magic back. The ``.idx`` is text lines
``key\\toffset\\n``. On top of that, insightface datasets put an ``IRHeader`` in front of each
payload (see :mod:`maskgen.formats.insightface`) and, in the "insightface layout", a header
record at key 0 whose label is ``[first identity key, end)`` followed by one record per identity
whose label is ``[first image key, end)``.

Memory stays flat whatever the file size: records are read one at a time by offset, the index
costs 8 bytes a record (uint64 offsets; keys a ``range`` where they run contiguously, as in
insightface's files), joining parts streams bytes, and :meth:`RecordIOReader.subset` gives a
worker a reader of just its chunk's records.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import shutil
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO

import numpy as np

from maskgen.atomic import (
    copy_file_atomic,
    discard_temporary,
    make_folder,
    temp_path_beside,
    write_bytes_atomic,
)
from maskgen.errors import DatasetFormatError, MaskgenError, OutputError, no_such_file
from maskgen.formats.base import Reader, SingleFileFormat, register_format
from maskgen.formats.insightface import (
    RecordHeader,
    header_flag_for,
    pack_header,
    pack_record,
    unpack_record,
)
from maskgen.types import Key, Sample

__all__ = [
    "MAGIC",
    "RECORDIO",
    "RecordHeader",
    "RecordIOFormat",
    "RecordIOReader",
    "RecordIOWriter",
    "encode_record",
    "is_recordio_head",
    "pack_header",
    "pack_record",
    "part_index_path",
    "rebuild_index",
    "unpack_record",
    "write_insightface_rec",
]

logger = logging.getLogger(__name__)

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_PART_HEAD = struct.Struct("<II")
_LENGTH_BITS = 29
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1
_WHOLE, _START, _MIDDLE, _END = 0, 1, 2, 3
_COPY_BUFFER = 1 << 20


def is_recordio_head(head: bytes) -> bool:
    """Whether ``head``, a file's first bytes, starts as a RecordIO file does (its first
    record's magic): for telling a ``.rec`` given where another file was meant."""
    return head[:4] == _MAGIC_BYTES


_FLOAT32_EXACT = 1 << 24
"""Keys and identity indices above this do not survive a float32 label."""


def _aligned(length: int) -> int:
    return (length + 3) & ~3


def default_index_path(rec_path: Path) -> Path:
    """``train.rec`` -> ``train.idx``, MXNet's and insightface's convention; the suffix's
    letter case follows the ``.rec``'s (``TRAIN.REC`` -> ``TRAIN.IDX``), except where only a
    lower-case ``.idx`` is there: a ``TRAIN.REC`` beside its ``TRAIN.IDX`` was refused,
    "index TRAIN.idx not found". A twin's index takes its input's suffix as it is (insightface's
    loaders look for ``path[:-4] + ".idx"``)."""
    rec_path = Path(rec_path)
    suffix = "".join(
        i.upper() if r.isupper() else i for r, i in zip(rec_path.suffix, ".idx", strict=False)
    )
    matched = rec_path.with_suffix(suffix if len(rec_path.suffix) == 4 else ".idx")
    lower = rec_path.with_suffix(".idx")
    return lower if matched != lower and lower.exists() and not matched.exists() else matched


def part_index_path(part_path: Path) -> Path:
    """The ``.idx`` written beside a part: ``<part>.idx`` (appended, so part names with dots
    never collide)."""
    return part_path.with_name(part_path.name + ".idx")


# --- container: encoding and decoding record parts ------------------------------------------


def encode_record(payload: bytes) -> list[bytes]:
    """The bytes MXNet's writer emits for one record, as a list of pieces to write in order.

    The payload is split at every 4-byte-aligned occurrence of the magic number (dropped there),
    the first part flagged *start*, then *middle* parts, the last *end*; padding to 4 bytes
    follows the last part only (the earlier parts are aligned by construction).
    """
    view = memoryview(payload)
    size = len(view)
    if size > _LENGTH_MASK:
        raise DatasetFormatError(
            f"record of {size} bytes is too large for RecordIO (at most {_LENGTH_MASK} bytes)"
        )
    pieces: list[bytes] = []
    start = 0
    for cut in _aligned_magic_offsets(payload):
        flag = _START if start == 0 else _MIDDLE
        pieces.append(_PART_HEAD.pack(MAGIC, (flag << _LENGTH_BITS) | (cut - start)))
        pieces.append(bytes(view[start:cut]))
        start = cut + 4
    flag = _END if start else _WHOLE
    pieces.append(_PART_HEAD.pack(MAGIC, (flag << _LENGTH_BITS) | (size - start)))
    pieces.append(bytes(view[start:]) if start else bytes(payload))
    pieces.append(b"\0" * (_aligned(size) - size))
    return pieces


def _aligned_magic_offsets(payload: bytes) -> Iterator[int]:
    """Offsets ``i % 4 == 0`` with ``payload[i:i+4] == magic`` and ``i + 4 <= len`` rounded
    down to 4, i.e. only whole aligned words, as dmlc-core checks them."""
    last = len(payload) - 4
    found = payload.find(_MAGIC_BYTES)
    while 0 <= found <= last:
        if found % 4 == 0:
            yield found
            found = payload.find(_MAGIC_BYTES, found + 4)
        else:
            found = payload.find(_MAGIC_BYTES, found + 1)


ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, size) -> bytes`` (shorter only at end of file)."""


class _BadMagic(DatasetFormatError):
    """No RecordIO part header where one was expected."""


def _read_record(
    read_at: ReadAt, offset: int, path: Path, index: Path | None = None
) -> tuple[bytes, int]:
    """The whole payload of the record starting at ``offset`` (parts joined, magic restored)
    and the offset just past it. Damage raises ``DatasetFormatError`` naming file and offset;
    where ``offset`` came from the ``index`` file and holds no record, the message says the
    index may be what is damaged (a truncated line, another file's index)."""
    pieces: list[bytes] = []
    pos = offset
    while True:
        try:
            flag, length = _read_part_head(read_at, pos, path)
        except _BadMagic as error:
            if pieces or index is None:
                raise
            raise DatasetFormatError(
                f"{error}; or {index} is damaged or not this file's index (rebuild it with "
                f"`maskgen index {path} --overwrite`)"
            ) from None
        expected = (_WHOLE, _START) if not pieces else (_MIDDLE, _END)
        if flag not in expected:
            raise DatasetFormatError(
                f"{path}: record part at byte offset {pos} has flag {flag}, expected one of "
                f"{expected} (the .idx may point into the middle of a record)"
            )
        padded = _aligned(length)
        body = read_at(pos + 8, padded)
        if len(body) < padded:
            raise DatasetFormatError(
                f"{path}: truncated record at byte offset {offset}: the part at {pos} needs "
                f"{padded} bytes after its header, the file ends {len(body)} bytes later"
            )
        pieces.append(body[:length] if padded != length else body)
        pos += 8 + padded
        if flag in (_WHOLE, _END):
            break
        pieces.append(_MAGIC_BYTES)
    return (pieces[0] if len(pieces) == 1 else b"".join(pieces)), pos


def _read_part_head(read_at: ReadAt, pos: int, path: Path) -> tuple[int, int]:
    head = read_at(pos, _PART_HEAD.size)
    if len(head) < _PART_HEAD.size:
        raise DatasetFormatError(
            f"{path}: truncated record header at byte offset {pos} "
            f"({len(head)} of {_PART_HEAD.size} bytes before the end of the file)"
        )
    magic, lrecord = _PART_HEAD.unpack(head)
    if magic != MAGIC:
        raise _BadMagic(
            f"{path}: bad magic number 0x{magic:08x} at byte offset {pos} "
            f"(expected 0x{MAGIC:08x}; not a RecordIO file, or damaged)"
        )
    return lrecord >> _LENGTH_BITS, lrecord & _LENGTH_MASK


def _sequential_read_at(handle: BinaryIO) -> ReadAt:
    """``read_at`` over a buffered handle: a seek to where the handle already is costs nothing,
    so reading records in file order streams."""

    def read_at(offset: int, size: int) -> bytes:
        if handle.tell() != offset:
            handle.seek(offset)
        return handle.read(size)

    return read_at


def _scan_record_offsets(rec_path: Path) -> Iterator[int]:
    """Start offsets of every record, in file order, reading only part headers."""
    with open(rec_path, "rb", buffering=_COPY_BUFFER) as handle:
        read_at = _sequential_read_at(handle)
        size = os.fstat(handle.fileno()).st_size
        pos = 0
        record_start = pos
        while pos < size:
            flag, length = _read_part_head(read_at, pos, rec_path)
            if flag in (_WHOLE, _START):
                record_start = pos
            end = pos + 8 + _aligned(length)
            if end > size:
                raise DatasetFormatError(
                    f"{rec_path}: truncated record at byte offset {record_start}: the part at "
                    f"{pos} runs to byte {end}, past the end of the file ({size} bytes)"
                )
            if flag in (_WHOLE, _END):
                yield record_start
            pos = end


# --- the index --------------------------------------------------------------------------------


def _missing_index_error(rec_path: Path, idx_path: Path) -> DatasetFormatError:
    """No ``.idx``: rebuild it, where the file starts like RecordIO; else it is not one."""
    try:
        with open(rec_path, "rb") as handle:
            starts_like_recordio = handle.read(4) == _MAGIC_BYTES
    except OSError:
        starts_like_recordio = False
    if not starts_like_recordio:
        return DatasetFormatError(f"{rec_path}: not a RecordIO file (no record at its start)")
    return DatasetFormatError(
        f"{rec_path}: index {idx_path} not found; run `maskgen index {rec_path}` to rebuild it"
    )


def _read_index(
    idx_path: Path, rec_path: Path, rec_size: int
) -> tuple[range | np.ndarray, np.ndarray]:
    """The ``.idx`` as (keys, offsets) in file order, each offset checked to leave room for a
    part header inside the ``.rec``. Keys come back as a ``range`` while they run contiguously
    upward (insightface's and rebuilt files: no key array is ever built), else int64; offsets
    are uint64."""
    if not idx_path.is_file():
        raise _missing_index_error(rec_path, idx_path)
    offsets = array("Q")
    keys: array[int] | None = None  # built only once a key breaks the contiguous run
    first = 0
    with open(idx_path, encoding="latin-1", newline="\n") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            key, offset = _parse_index_line(line, idx_path, number)
            if offset + _PART_HEAD.size > rec_size:
                raise DatasetFormatError(
                    f"{idx_path}: line {number}: key {key} points to byte offset {offset}, "
                    f"past the end of {rec_path} ({rec_size} bytes)"
                )
            if not offsets:
                first = key
            if keys is None and key != first + len(offsets):
                keys = array("q", range(first, first + len(offsets)))
            if keys is not None:
                keys.append(key)
            offsets.append(offset)
    offset_values = np.frombuffer(offsets, dtype=np.uint64)
    if keys is None:
        return range(first, first + len(offsets)), offset_values
    return np.frombuffer(keys, dtype=np.int64), offset_values


def _parse_index_line(line: str, idx_path: Path, number: int) -> tuple[int, int]:
    fields = line.split("\t")
    try:
        key, offset = int(fields[0]), int(fields[1])
    except (ValueError, IndexError):
        raise DatasetFormatError(
            f"{idx_path}: line {number}: expected 'key<TAB>offset', got {line.strip()[:40]!r}"
        ) from None
    if len(fields) != 2 or offset < 0:
        raise DatasetFormatError(
            f"{idx_path}: line {number}: expected 'key<TAB>offset', got {line.strip()[:40]!r}"
        )
    return key, offset


class _KeyArray(Sequence[int]):
    """A read-only sequence of int keys over an int64 array (a list of millions of Python ints
    would cost ~30x the memory)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return _KeyArray(self.values[index])
        return int(self.values[index])

    def __iter__(self) -> Iterator[int]:
        return iter(self.values.tolist()) if len(self.values) < 65536 else self._iter_chunks()

    def _iter_chunks(self) -> Iterator[int]:
        for start in range(0, len(self.values), 65536):
            yield from self.values[start : start + 65536].tolist()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int | np.integer) and bool(np.any(self.values == key))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _KeyArray):
            return bool(np.array_equal(self.values, other.values))
        return NotImplemented

    def __repr__(self) -> str:
        return f"_KeyArray(n={len(self)})"


def _key_values(keys: Sequence[int]) -> np.ndarray:
    """The keys as an int64 array (built for a range, a view for a ``_KeyArray``)."""
    if isinstance(keys, _KeyArray):
        return keys.values
    return np.fromiter(keys, dtype=np.int64, count=len(keys))


def _compact_keys(values: np.ndarray) -> Sequence[int]:
    """``range`` where int64 ``values`` run contiguously upward, else a ``_KeyArray``."""
    if len(values) and np.all(np.diff(values) == 1):
        return range(int(values[0]), int(values[-1]) + 1)
    return _KeyArray(values)


class _RecordIndex:
    """Keys and byte offsets in ``.idx`` order, held compactly: 8 bytes a record (uint64
    offsets) where the keys run contiguously, as in insightface's files (the keys are then a
    ``range``); otherwise 24 (int64 keys and their sorted order, for O(log n) lookups)."""

    def __init__(self, keys: range | np.ndarray, offsets: np.ndarray, idx_path: Path) -> None:
        self.offsets = offsets
        self.idx_path = idx_path
        self.keys: Sequence[int]
        self._order: np.ndarray | None = None
        if isinstance(keys, range):
            self.keys = keys
        else:
            self.keys = _KeyArray(keys)
            self._order = _sorted_order(keys, idx_path)

    def __len__(self) -> int:
        return len(self.keys)

    def position(self, key: Any) -> int | None:
        """Where ``key`` sits in ``.idx`` order, or None where it is not in the index."""
        if not isinstance(key, int | np.integer):
            return None
        key = int(key)  # a range looks up numpy integers by scanning
        if self._order is None:
            assert isinstance(self.keys, range)
            return key - self.keys.start if key in self.keys else None
        assert isinstance(self.keys, _KeyArray)
        values = self.keys.values
        where = int(np.searchsorted(values, key, sorter=self._order))
        if where < len(values) and values[self._order[where]] == key:
            return int(self._order[where])
        return None

    def subset(self, keys: Sequence[Key]) -> _RecordIndex:
        """The index of just ``keys``, in their order; KeyError for a key not in this one."""
        positions = np.fromiter(
            (self._required_position(key) for key in keys), dtype=np.int64, count=len(keys)
        )
        chosen = keys if isinstance(keys, range) and keys.step == 1 else self._keys_at(positions)
        return _RecordIndex(chosen, self.offsets[positions], self.idx_path)

    def _required_position(self, key: Key) -> int:
        position = self.position(key)
        if position is None:
            raise KeyError(key)
        return position

    def _keys_at(self, positions: np.ndarray) -> np.ndarray:
        keys = self.keys
        if isinstance(keys, _KeyArray):
            return keys.values[positions]
        assert isinstance(keys, range)
        return positions + keys.start


def _sorted_order(keys: np.ndarray, idx_path: Path) -> np.ndarray:
    """``argsort(keys)``; DatasetFormatError naming a key that appears twice."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    repeats = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(repeats):
        raise DatasetFormatError(
            f"{idx_path}: key {int(ordered[repeats[0]])} appears more than once"
        )
    return order


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """insightface layout: identity records at keys ``[first, end)``, images before them."""

    first: int
    end: int


def _detect_layout(payload: bytes) -> _Layout | None:
    """Whether record 0 is an insightface header: an array label ``[first, end)`` with
    ``0 < first < end`` and no image bytes (a flat file's record 0 is an image)."""
    try:
        header, image = unpack_record(payload)
    except DatasetFormatError:
        return None
    if header.flag < 2 or image:
        return None
    first, end = float(header.label[0]), float(header.label[1])
    if not (first.is_integer() and end.is_integer() and 0 < first < end):
        return None
    return _Layout(int(first), int(end))


class RecordIOReader:
    """Random access to a ``.rec`` by key through its ``.idx``.

    ``idx_path`` None reads the ``.idx`` beside the ``.rec``. The file is opened lazily, once
    per process (reopened after a fork), and reads use positional I/O, so one reader serves
    threads and pickles into worker processes. ``read(key)`` gives a :class:`Sample` (image
    bytes as stored, float32 label), KeyError for a key the index lacks.

    Raises DatasetFormatError (a ValueError) naming the file for a missing ``.rec``, a
    missing ``.idx`` (saying how to rebuild it: ``maskgen index``), a malformed one, or one
    pointing past the end of the ``.rec`` (a truncated copy).
    """

    def __init__(self, rec_path: str | Path, idx_path: str | Path | None = None) -> None:
        self.path = Path(rec_path)
        self.idx_path = Path(idx_path) if idx_path is not None else default_index_path(self.path)
        if not self.path.is_file():
            raise no_such_file(self.path, "RecordIO file")
        if self.path.suffix.lower() == ".idx" and self.idx_path == self.path:
            # `eval --rec train.idx` read the index as its own records: "byte offset past the end"
            raise DatasetFormatError(
                f"{self.path}: is a RecordIO index; give the .rec, "
                f"{self.path.with_suffix('.rec')} (its .idx is read beside it)"
            )
        self._size = self.path.stat().st_size
        keys, offsets = _read_index(self.idx_path, self.path, self._size)
        self._index = _RecordIndex(keys, offsets, self.idx_path)
        self._handle: IO[bytes] | None = None
        self._pid: int | None = None
        self._check_index_reaches_the_end()
        self._layout = self._read_layout()

    # pickling: the handle stays behind; the next read in the new process reopens the file
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"] = None
        state["_pid"] = None
        return state

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"RecordIOReader({str(self.path)!r}, records={len(self)})"

    def __enter__(self) -> RecordIOReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close this process's handle (a later read reopens it)."""
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle = None
        self._pid = None

    def keys(self) -> Sequence[int]:
        """Every record key in ``.idx`` order (header and identity records included): a
        ``range`` where the keys run contiguously, else a read-only view; the same object on
        every call, nothing rebuilt."""
        return self._index.keys

    def image_keys(self) -> Sequence[int]:
        """Keys of image records only (all keys for a flat file)."""
        keys = self.keys()
        if self._layout is None:
            return keys
        first, end = self._layout.first, self._layout.end
        if isinstance(keys, range) and keys.start >= 0:  # insightface: images, then identities
            before = range(max(keys.start, 1), min(keys.stop, first))
            after = range(max(keys.start, end), keys.stop)
            if not (before and after):
                return before or after
        values = _key_values(keys)
        identity = (values >= first) & (values < end)
        return _compact_keys(values[(values != 0) & ~identity])

    @property
    def has_identity_records(self) -> bool:
        """Whether the file has insightface's header and identity records."""
        return self._layout is not None

    def is_image_key(self, key: int) -> bool:
        """False for insightface's header record (key 0) and identity records."""
        if self._layout is None:
            return True
        return key != 0 and not self._layout.first <= key < self._layout.end

    def offset(self, key: Key) -> int:
        """Byte offset of ``key``'s record in the ``.rec``."""
        position = self._index.position(key)
        if position is None:
            raise KeyError(key)
        return int(self._index.offsets[position])

    def subset(self, keys: Sequence[Key]) -> RecordIOReader:
        """A reader of the same file that knows only ``keys`` (in that order): its index holds
        just their offsets, so it pickles small and a worker given one holds memory in
        proportion to ``keys``, not to the file. ``is_image_key`` still follows the whole
        file's insightface header; whole-file questions (``identity``, and ``num_classes`` of
        a flat file without ``property``) belong to the full reader. KeyError for a key this
        reader does not have."""
        part = copy.copy(self)  # through __getstate__: the handle stays behind
        part._index = self._index.subset(keys)
        return part

    def read_raw(self, key: Key) -> bytes:
        """The record's whole payload, split parts joined (header included)."""
        payload, _ = _read_record(self._read_at, self.offset(key), self.path, self.idx_path)
        return payload

    def read(self, key: Key) -> Sample:
        """The record as a Sample: image bytes and float32 label for image records; for header
        and identity records ``is_image=False`` and ``data`` is the whole raw payload."""
        offset = self.offset(key)
        payload, _ = _read_record(self._read_at, offset, self.path, self.idx_path)
        return self._to_sample(int(key), payload, offset)

    def identity(self, index: int) -> range:
        """Image keys of identity ``index`` (0-based class), from its identity record."""
        if self._layout is None:
            raise DatasetFormatError(
                f"{self.path}: no identity records (not an insightface header layout)"
            )
        count = self._layout.end - self._layout.first
        if not 0 <= index < count:
            raise IndexError(f"identity {index} out of range [0, {count})")
        header, _ = unpack_record(self.read_raw(self._layout.first + index), str(self.path))
        return range(int(header.label[0]), int(header.label[1]))

    @cached_property
    def num_classes(self) -> int:
        """Identities: from the header record, else the ``property`` file beside the ``.rec``,
        else max(label[0]) + 1 over every image record (one sequential pass)."""
        if self._layout is not None:
            return self._layout.end - self._layout.first
        from_property = read_property(self.path.parent / "property")
        if from_property is not None:
            return from_property[0]
        labels = (
            s.label[0]
            for s in self.iter_samples()
            if s.is_image and s.label is not None and s.label.size
        )
        return int(max(labels, default=-1.0)) + 1

    def iter_samples(self) -> Iterator[Sample]:
        """Every record in ``.idx`` order through a buffered handle of its own: streams the file
        when the index is in file order (as MXNet writes it)."""
        for key, offset, payload in self._iter_payloads():
            yield self._to_sample(key, payload, offset)

    def iter_raw(self) -> Iterator[tuple[int, bytes]]:
        """``(key, whole payload)`` for every record, streamed like :meth:`iter_samples`."""
        for key, _, payload in self._iter_payloads():
            yield key, payload

    def _iter_payloads(self) -> Iterator[tuple[int, int, bytes]]:
        with open(self.path, "rb", buffering=_COPY_BUFFER) as handle:
            read_at = _sequential_read_at(handle)
            index = self._index
            for start in range(0, len(index), 65536):
                keys = list(index.keys[start : start + 65536])
                offsets = index.offsets[start : start + 65536].tolist()
                for key, offset in zip(keys, offsets, strict=True):
                    payload, _ = _read_record(read_at, offset, self.path, self.idx_path)
                    yield key, offset, payload

    def _to_sample(self, key: int, payload: bytes, offset: int) -> Sample:
        header, image = unpack_record(payload, f"{self.path} at byte offset {offset}")
        extra = {"flag": header.flag, "id": header.id, "id2": header.id2}
        if not self.is_image_key(key):
            return Sample(key=key, data=payload, label=header.label, is_image=False, extra=extra)
        return Sample(key=key, data=image, label=header.label, is_image=True, extra=extra)

    def _read_at(self, offset: int, size: int) -> bytes:
        if self._handle is None or self._pid != os.getpid():
            self._handle = open(self.path, "rb", buffering=0)  # noqa: SIM115 (held open)
            self._pid = os.getpid()
        if hasattr(os, "pread"):
            return os.pread(self._handle.fileno(), size, offset)
        self._handle.seek(offset)
        return self._handle.read(size)

    def _check_index_reaches_the_end(self) -> None:
        """DatasetFormatError where the ``.rec`` goes on past the last record the ``.idx``
        reaches: a truncated or stale index (an interrupted copy) made ``augment`` write a
        twin of the indexed records alone, exit 0, and ``train`` fail with a KeyError. One
        record's header is read (a record's parts are padded to 4 bytes, so a whole file
        ends where its last record does)."""
        if len(self._index) == 0:
            return
        try:
            with open(self.path, "rb") as handle:
                _, end = _read_record(
                    _sequential_read_at(handle),
                    int(self._index.offsets.max()),
                    self.path,
                    self.idx_path,
                )
        except DatasetFormatError:
            return  # a damaged last record is reported where it is read, the others stay readable
        if end < self._size:
            filtered = self._unlisted_identity_records()
            raise DatasetFormatError(
                f"{self.idx_path}: its {len(self._index)} records end at byte {end} of "
                f"{self.path}, which goes on to byte {self._size}: the index misses the records "
                f"after (truncated, or another file's); rebuild it with "
                f"`maskgen index {self.path} --overwrite`"
                + (
                    f" (an .idx filtered by hand keeps the lines of the identity records, keys "
                    f"{filtered}, at the end of the .rec: put those back instead)"
                    if filtered
                    else ""
                )
            )

    def _unlisted_identity_records(self) -> str | None:
        """``"first..end-1"`` where the ``.idx`` lists the insightface header but not its last
        identity record (a hand filter that dropped the identity records' lines, which lie at
        the end of the ``.rec``), else None."""
        position = self._index.position(0)
        if position is None:
            return None
        try:
            layout = _detect_layout(self._payload_at(int(self._index.offsets[position])))
        except DatasetFormatError:
            return None
        if layout is None or self._index.position(layout.end - 1) is not None:
            return None
        return f"{layout.first}..{layout.end - 1}"

    def _read_layout(self) -> _Layout | None:
        position = self._index.position(0)
        if position is None:
            self._refuse_unlisted_header()
            return None
        return _detect_layout(self._payload_at(int(self._index.offsets[position])))

    def _payload_at(self, offset: int) -> bytes:
        with open(self.path, "rb") as handle:
            payload, _ = _read_record(_sequential_read_at(handle), offset, self.path, self.idx_path)
        return payload

    def _refuse_unlisted_header(self) -> None:
        """DatasetFormatError where the ``.idx`` leaves out the insightface header record the
        ``.rec`` starts with (a line dropped by hand): its identity records were then read as
        images, with their ``[first, end)`` ranges taken for identity labels, and a twin
        rewrote those labels."""
        if not len(self._index) or self._size < _PART_HEAD.size:
            return
        if bool(np.any(self._index.offsets == 0)):  # the first record is listed, as another key
            return
        try:
            layout = _detect_layout(self._payload_at(0))
        except DatasetFormatError:
            return  # not a record there: reported where the listed records are read
        if layout is not None:
            raise DatasetFormatError(
                f"{self.idx_path}: leaves out key 0, the insightface header record at the start "
                f"of {self.path}, so its identity records would be read as images; put its line "
                "'0<TAB>0' back, or rebuild the index with "
                f"`maskgen index {self.path} --overwrite`"
            )

    def unlisted_keys(self) -> np.ndarray:
        """Keys the insightface header names (images ``1..first-1``, identity records
        ``first..end-1``) that the ``.idx`` does not list, sorted int64; empty for a flat file,
        whose ``.idx`` is the only list of its records.

        The ``.idx`` is the list of records (MXNet's ``MXIndexedRecordIO.keys``), so maskgen
        reads only those it lists, and a twin's ``.idx`` lists the same keys; but insightface's
        trainer takes the image keys from the header (``range(1, first)``) and stops at the
        first one missing. Free for an index whose keys run contiguously (insightface's)."""
        if self._layout is None:
            return np.empty(0, dtype=np.int64)
        keys, end = self.keys(), self._layout.end
        if isinstance(keys, range) and keys.start <= 0 and keys.stop >= end:
            return np.empty(0, dtype=np.int64)
        return np.setdiff1d(np.arange(end, dtype=np.int64), _key_values(keys))

    def describe_unlisted(self) -> str | None:
        """One line on the records :meth:`unlisted_keys` finds (None where there are none):
        how many of the images and identity records the header names the ``.idx`` leaves
        out, the first few keys, and what follows from it."""
        missing = self.unlisted_keys()
        if not len(missing) or self._layout is None:
            return None
        first, end = self._layout.first, self._layout.end
        identities = int(np.count_nonzero(missing >= first))
        images = len(missing) - identities
        return (
            f"{self.idx_path}: leaves out {images} of the {first - 1} image records and "
            f"{identities} of the {end - first} identity records the header of {self.path} "
            f"names (keys {_key_runs(missing)}): only the records it lists are read, and a "
            "twin's .idx lists the same; insightface's own trainer, which reads the image keys "
            f"1..{first - 1} the header names, stops at the first one missing"
        )


def _key_runs(keys: np.ndarray, shown: int = 3) -> str:
    """``"10-19, 25, 40-41, ..."``: the first ``shown`` runs of sorted int64 ``keys``."""
    breaks = np.flatnonzero(np.diff(keys) != 1) + 1
    runs = np.split(keys, breaks)
    text = ", ".join(
        str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs[:shown]
    )
    return text + (", ..." if len(runs) > shown else "")


def read_property(path: Path) -> tuple[int, int, int] | None:
    """insightface's ``property`` file ``classes,height,width``, or None where absent."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    try:
        classes, height, width = (int(field) for field in text.split(","))
    except ValueError:
        raise DatasetFormatError(
            f"{path}: expected 'classes,height,width', got {text[:40]!r}"
        ) from None
    return classes, height, width


# --- writing ----------------------------------------------------------------------------------


class RecordIOWriter:
    """Writes records as MXNet's ``MXIndexedRecordIO`` does, into temporary files renamed into
    place (``.idx`` first, then ``.rec``) only on a clean exit; deleted on an exception."""

    def __init__(self, rec_path: str | Path, idx_path: str | Path | None = None) -> None:
        self.path = Path(rec_path)
        self.idx_path = Path(idx_path) if idx_path is not None else default_index_path(self.path)
        self._rec: BinaryIO | None = None
        self._idx: BinaryIO | None = None
        self._rec_tmp: Path | None = None
        self._idx_tmp: Path | None = None
        self._position = 0

    def __enter__(self) -> RecordIOWriter:
        make_folder(self.path.parent)
        make_folder(self.idx_path.parent)
        self._rec_tmp, self._idx_tmp = temp_path_beside(self.path), temp_path_beside(self.idx_path)
        try:
            self._rec = open(self._rec_tmp, "xb")
            self._idx = open(self._idx_tmp, "xb")
        except OSError as error:
            self._discard()
            raise _cannot_write(self.path, error) from error
        self._position = 0
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            self._commit()
        except BaseException:
            self._discard()
            raise

    def write_raw(self, key: Key, payload: bytes) -> None:
        """Append one record (any bytes) under integer ``key``."""
        rec, idx = self._files()
        if not isinstance(key, int | np.integer) or isinstance(key, bool):
            raise DatasetFormatError(f"{self.path}: RecordIO keys are integers, got {key!r}")
        try:
            pieces = encode_record(payload)
        except DatasetFormatError as error:
            raise DatasetFormatError(f"{self.path}: key {key}: {error}") from None
        try:
            rec.writelines(pieces)
            idx.write(b"%d\t%d\n" % (int(key), self._position))
        except OSError as error:
            raise _cannot_write(self.path, error) from error
        self._position += sum(len(piece) for piece in pieces)

    def write(self, sample: Sample) -> None:
        """Append ``sample``: image samples get their IRHeader re-packed from ``label`` and
        ``extra`` (flag/id/id2; a label of n > 1 values is stored with flag=n); non-image
        samples are written as their raw ``data``."""
        if not sample.is_image:
            self.write_raw(sample.key, sample.data)
            return
        try:
            payload = pack_record(_header_for(sample), sample.data)
        except DatasetFormatError as error:
            raise DatasetFormatError(f"{self.path}: key {sample.key}: {error}") from None
        self.write_raw(sample.key, payload)

    def _files(self) -> tuple[BinaryIO, BinaryIO]:
        if self._rec is None or self._idx is None:
            raise RuntimeError("RecordIOWriter is used outside its `with` block")
        return self._rec, self._idx

    def _rewrite_at(self, offset: int, old_payload: bytes, payload: bytes) -> None:
        """Overwrite the record at ``offset`` (written from ``old_payload``) with one of the same
        encoded length: fills in insightface's header record once the counts are known."""
        rec, _ = self._files()
        new = b"".join(encode_record(payload))
        if len(new) != sum(len(piece) for piece in encode_record(old_payload)):
            raise ValueError("a rewritten record must keep its encoded length")
        rec.seek(offset)
        rec.write(new)
        rec.seek(0, os.SEEK_END)

    def _commit(self) -> None:
        rec, idx = self._files()
        try:
            for handle in (rec, idx):
                handle.flush()
                os.fsync(handle.fileno())  # one per file: a renamed part is really on disk
                handle.close()
            assert self._rec_tmp is not None and self._idx_tmp is not None
            os.replace(self._idx_tmp, self.idx_path)
            os.replace(self._rec_tmp, self.path)  # last: the .rec's presence marks completion
        except OSError as error:
            raise _cannot_write(self.path, error) from error
        self._rec = self._idx = None

    def _discard(self) -> None:
        for handle in (self._rec, self._idx):
            if handle is not None and not handle.closed:
                with contextlib.suppress(OSError):  # flushing the rest fails on a full disk
                    handle.close()
        for tmp in (self._rec_tmp, self._idx_tmp):
            if tmp is not None:
                discard_temporary(tmp)
        self._rec = self._idx = None


def _offsets_read(rec_path: Path) -> Iterator[int]:
    """:func:`_scan_record_offsets`, a failed read (a disk's I/O error) as a DatasetFormatError
    naming the ``.rec``, so that a caller writing as it reads tells the two apart."""
    try:
        yield from _scan_record_offsets(rec_path)
    except OSError as error:
        if isinstance(error, MaskgenError):
            raise
        raise DatasetFormatError(f"{rec_path}: cannot read ({error.strerror or error})") from error


def _cannot_write(path: Path, error: OSError) -> OutputError:
    """A failed write (a full disk, a read-only or lost file system) as one line naming the
    file: the raw OSError reached the command line as a traceback."""
    return OutputError(f"{path}: cannot write here ({error.strerror or error})")


def _header_for(sample: Sample) -> RecordHeader:
    extra = sample.extra
    label = np.zeros(1, np.float32) if sample.label is None else sample.label
    default_id = int(sample.key) if isinstance(sample.key, int) else 0
    return RecordHeader(
        flag=header_flag_for(label, extra.get("flag", 0)),
        label=label,
        id=extra.get("id", default_id),
        id2=extra.get("id2", 0),
    )


_PROGRESS_BYTES = 1 << 24
"""``rebuild_index`` reports its progress every 16 MiB of the ``.rec`` scanned (a bar's update
per record would cost seconds on MS1MV2's 5.8 million)."""


def rebuild_index(
    rec_path: str | Path,
    idx_path: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Scan a ``.rec`` and write its ``.idx`` with keys = record ordinal (as insightface's
    files have), under a temporary name renamed into place. Backs ``maskgen index``.
    ``progress`` is called with the bytes of the ``.rec`` scanned since its last call (a
    bar's ``update``; they add up to the file's size once it is all read). DatasetFormatError
    for a missing, empty or damaged ``.rec``: nothing is written, and a folder made for the
    index is removed again."""
    rec_path = Path(rec_path)
    idx_path = Path(idx_path) if idx_path is not None else default_index_path(rec_path)
    if not rec_path.is_file():
        raise no_such_file(rec_path, "RecordIO file")
    if idx_path == rec_path or (idx_path.exists() and idx_path.samefile(rec_path)):
        # ``maskgen index train.idx`` was told "train.idx exists; pass --overwrite"
        hint = (
            f"; give the .rec, {rec_path.with_suffix('.rec')}" if rec_path.suffix == ".idx" else ""
        )
        raise DatasetFormatError(
            f"{rec_path}: the index would be written over the file it indexes{hint}"
        )
    if rec_path.stat().st_size == 0:  # an empty index, exit 0, said all was well
        raise DatasetFormatError(f"{rec_path}: no records in it (an empty file), nothing to index")
    tmp = temp_path_beside(idx_path)
    made = [folder for folder in idx_path.parents if not folder.exists()]  # deepest first
    try:
        if not idx_path.parent.exists():  # as mask -o and align -o do (a file there: below)
            idx_path.parent.mkdir(parents=True)
        reported = 0
        with open(tmp, "xb", buffering=_COPY_BUFFER) as out:
            for key, offset in enumerate(_offsets_read(rec_path)):
                out.write(b"%d\t%d\n" % (key, offset))
                if progress is not None and offset - reported >= _PROGRESS_BYTES:
                    progress(offset - reported)
                    reported = offset
        if progress is not None:
            progress(rec_path.stat().st_size - reported)
        os.replace(tmp, idx_path)
        made = []
    except OSError as error:  # the index's folder read-only, the disk full: name the index
        if isinstance(error, MaskgenError):
            raise
        raise _cannot_write(idx_path, error) from error
    finally:
        discard_temporary(tmp)
        for folder in made:  # a failed run leaves no folder of its own behind
            with contextlib.suppress(OSError):
                folder.rmdir()
    return idx_path


def write_insightface_rec(
    rec_path: str | Path,
    identities: Iterable[Iterable[bytes]],
    image_size: tuple[int, int] = (112, 112),
) -> Path:
    """Write a complete insightface-layout dataset from encoded images grouped by identity
    (streamed: ``identities`` may be a generator): header record 0, image records 1.. with
    scalar labels = identity index, one identity record per identity with ``[first, end)``,
    the ``.idx`` and ``property`` (``classes,height,width``). Returns the ``.rec`` path."""
    rec_path = Path(rec_path)
    ranges: list[tuple[int, int]] = []
    with RecordIOWriter(rec_path) as writer:
        placeholder = _range_record(0, 0, 0)  # same length as the real header, fixed below
        writer.write_raw(0, placeholder)
        key = 1
        for index, images in enumerate(identities):
            first = key
            for image in images:
                _check_float32_exact(rec_path, key)
                header = RecordHeader(flag=0, label=[float(index)], id=key, id2=0)
                try:
                    payload = pack_record(header, image)
                except DatasetFormatError as error:
                    raise DatasetFormatError(f"{rec_path}: key {key}: {error}") from None
                writer.write_raw(key, payload)
                key += 1
            if key == first:
                raise DatasetFormatError(f"{rec_path}: identity {index} has no images")
            ranges.append((first, key))
        first_identity = key
        for first, end in ranges:
            _check_float32_exact(rec_path, key)
            writer.write_raw(key, _range_record(first, end, key))
            key += 1
        writer._rewrite_at(0, placeholder, _range_record(first_identity, key, 0))
    prop = f"{len(ranges)},{image_size[0]},{image_size[1]}"
    write_bytes_atomic(rec_path.parent / "property", prop.encode("ascii"))
    return rec_path


def _range_record(first: int, end: int, record_id: int) -> bytes:
    return pack_record(RecordHeader(flag=2, label=[first, end], id=record_id, id2=0), b"")


def _check_float32_exact(rec_path: Path, key: int) -> None:
    if key >= _FLOAT32_EXACT:
        raise DatasetFormatError(
            f"{rec_path}: key {key} is beyond 2^24, where float32 labels lose integers"
        )


# --- parts and the registry entry -------------------------------------------------------------


def join_record_files(
    part_paths: Sequence[Path],
    rec_path: Path,
    idx_path: Path,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Concatenate complete parts' ``.rec`` bytes and rewrite their ``.idx`` with shifted
    offsets, streaming, under temporary names renamed into place. Byte-identical to writing
    every record with one ``RecordIOWriter``: records are self-contained and 4-byte aligned.
    ``progress`` is called with 1 after each part."""
    rec_path.parent.mkdir(parents=True, exist_ok=True)
    rec_tmp, idx_tmp = temp_path_beside(rec_path), temp_path_beside(idx_path)
    try:
        with open(rec_tmp, "xb") as rec_out, open(idx_tmp, "xb", buffering=_COPY_BUFFER) as idx:
            base = 0
            for part in part_paths:
                base += _append_part(part, rec_out, idx, base)
                if progress is not None:
                    progress(1)
        os.replace(idx_tmp, idx_path)
        os.replace(rec_tmp, rec_path)
    except OSError as error:
        if isinstance(error, OutputError):
            raise
        raise _cannot_write(rec_path, error) from error
    finally:
        discard_temporary(rec_tmp)
        discard_temporary(idx_tmp)


def _append_part(part: Path, rec_out: BinaryIO, idx_out: BinaryIO, base: int) -> int:
    """Append one part at offset ``base``; returns its size in bytes."""
    part_idx = part_index_path(part)
    for needed in (part, part_idx):
        if not needed.is_file():
            raise OutputError(f"{needed}: part missing (its chunk never completed)")
    size = part.stat().st_size
    with open(part, "rb") as source:
        shutil.copyfileobj(source, rec_out, _COPY_BUFFER)
    with open(part_idx, encoding="latin-1", newline="\n") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            key, offset = _parse_index_line(line, part_idx, number)
            if offset + _PART_HEAD.size > size:
                raise DatasetFormatError(
                    f"{part_idx}: line {number}: byte offset {offset} is past the end of {part}"
                )
            idx_out.write(b"%d\t%d\n" % (key, offset + base))
    return size


@dataclass(frozen=True)
class RecordIOFormat(SingleFileFormat):
    """Registry entry for ``.rec`` + ``.idx`` (insightface's aligned 112x112 crops)."""

    name: str = "recordio"
    aligned_by_default: bool = True
    suffix: str = ".rec"

    def open_reader(self, path: Path) -> RecordIOReader:
        return RecordIOReader(path)

    def open_part_writer(self, reader: Reader, part_path: Path) -> RecordIOWriter:
        """One chunk as a ``.rec`` at ``part_path`` with its ``.idx`` at
        :func:`part_index_path` (the ``.rec`` appears last, so it marks completion)."""
        return RecordIOWriter(part_path, part_index_path(Path(part_path)))

    def join_parts(
        self,
        reader: Reader,
        part_paths: Sequence[Path],
        out_dir: Path,
        progress: Callable[[int], None] | None = None,
    ) -> Path:
        rec_path = self.output_path(reader, out_dir)
        source_idx = getattr(reader, "idx_path", None)  # the twin's index named as the input's
        idx_path = (
            rec_path.with_suffix(Path(source_idx).suffix)
            if source_idx is not None and Path(source_idx).suffix.lower() == ".idx"
            else default_index_path(rec_path)
        )
        join_record_files([Path(part) for part in part_paths], rec_path, idx_path, progress)
        prop = reader.path.parent / "property"
        if prop.is_file() and prop.resolve() != (rec_path.parent / "property").resolve():
            copy_file_atomic(prop, rec_path.parent / "property")
        logger.info("joined %d parts into %s", len(part_paths), rec_path)
        return rec_path


RECORDIO = register_format(RecordIOFormat())
