"""insightface verification sets (``lfw.bin``, ``cfp_fp.bin``, ...).

A ``.bin`` is a pickle of ``(images, issame)``: a list of 2n encoded images (JPEG/PNG bytes; some
published files hold 1-D uint8 numpy arrays instead) and a list of n booleans; images 2i and
2i+1 form pair i. insightface loads it with ``pickle.load(f, encoding="bytes")``.

Unpickling untrusted data can run arbitrary code, and these files come from the internet, so we
never call ``pickle.load`` on them: :class:`_SafeUnpickler` resolves only the few globals that
numpy arrays, numpy scalars and protocol-2 bytes need, and refuses everything else.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from maskgen.atomic import write_bytes_atomic
from maskgen.errors import DatasetFormatError, OutputError, no_such_file
from maskgen.formats.base import Reader, SingleFileFormat, register_format
from maskgen.types import Key, Sample

__all__ = [
    "VERIFICATION",
    "VerificationFormat",
    "VerificationPartWriter",
    "VerificationReader",
    "is_pickle_head",
    "read_verification_bin",
    "write_verification_bin",
]

logger = logging.getLogger(__name__)

PICKLE_PROTOCOL = 4
"""Readable by every Python 3 that insightface's evaluation code runs on (3.4+)."""

_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # how protocol 2 spells a bytes object
    }
)


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers, bytes, bools, numbers and numpy arrays:
    any other global (the way a malicious pickle runs code) raises ``UnpicklingError``."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return super().find_class(module, name)


_PICKLE_DAMAGE = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    OverflowError,
    MemoryError,  # a damaged length field asks for an absurd allocation
)
"""What unpickling damaged or foreign bytes raises (found by fuzzing lfw-fold1.bin)."""


def _load_pickle(path: Path) -> Any:
    if not path.is_file():  # a named pipe would block the read for good
        raise no_such_file(path)
    try:
        with open(path, "rb") as handle:
            return _SafeUnpickler(handle, encoding="bytes").load()
    except _PICKLE_DAMAGE as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if isinstance(error, EOFError):  # pickle says "Ran out of input"
            message = "an empty file" if path.stat().st_size == 0 else "the file ends early"
        elif not _starts_as_pickle(path):  # a text file: "invalid literal for int() ..."
            message = "not a pickle at all"
        raise DatasetFormatError(
            f"{path}: not an insightface verification .bin (a pickle of images and issame "
            f"flags): {message}"
        ) from None


def is_pickle_head(head: bytes) -> bool:
    """Whether ``head``, a file's first bytes, starts as a verification ``.bin`` does: with
    pickle's PROTO opcode (protocol 2 and later, as every insightface ``.bin`` and maskgen's
    own are written); for telling a ``.bin`` given where another file was meant."""
    return head[:1] == pickle.PROTO


def _starts_as_pickle(path: Path) -> bool:
    with open(path, "rb") as handle:
        return is_pickle_head(handle.read(1))


def _as_image_bytes(item: Any, path: Path, index: int) -> bytes:
    if isinstance(item, bytes | bytearray):
        return bytes(item)
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 1:
        return item.tobytes()
    raise DatasetFormatError(
        f"{path}: image {index} is {type(item).__name__}, expected bytes or a 1-D uint8 array"
    )


def _as_issame(values: Any, path: Path) -> list[bool]:
    if isinstance(values, np.ndarray):
        values = values.reshape(-1).tolist()
    if not isinstance(values, list | tuple):
        raise DatasetFormatError(f"{path}: issame is {type(values).__name__}, expected a list")
    flags = []
    for index, value in enumerate(values):
        if not isinstance(value, bool | np.bool_ | int | np.integer) or value not in (0, 1):
            raise DatasetFormatError(f"{path}: issame[{index}] is {value!r}, expected a boolean")
        flags.append(bool(value))
    return flags


def read_verification_bin(path: str | Path) -> tuple[list[bytes], list[bool]]:
    """The images (encoded bytes) and issame flags of a verification ``.bin``.

    Raises ``DatasetFormatError`` naming the file for anything but a ``(list, list)`` pickle with
    an even image count and one flag per pair.
    """
    images, issame, _ = _read_bin(path)
    return images, issame


def _read_bin(path: str | Path) -> tuple[list[bytes], list[bool], bool]:
    """:func:`read_verification_bin`, and whether the file holds its images as 1-D uint8
    numpy arrays (every one of them) rather than bytes."""
    path = Path(path)
    content = _load_pickle(path)
    if not isinstance(content, tuple | list) or len(content) != 2:
        raise DatasetFormatError(
            f"{path}: not a verification set (expected a pickled (images, issame) pair, "
            f"got {type(content).__name__})"
        )
    raw_images, raw_issame = content
    if not isinstance(raw_images, list | tuple):
        raise DatasetFormatError(f"{path}: images are {type(raw_images).__name__}, expected a list")
    images = [_as_image_bytes(item, path, i) for i, item in enumerate(raw_images)]
    issame = _as_issame(raw_issame, path)
    _check_counts(path, len(images), len(issame))
    arrays = bool(raw_images) and all(isinstance(item, np.ndarray) for item in raw_images)
    return images, issame, arrays


def _check_counts(path: Path, n_images: int, n_pairs: int) -> None:
    if n_images % 2:
        raise DatasetFormatError(f"{path}: {n_images} images, expected an even number (pairs)")
    if n_pairs != n_images // 2:
        raise DatasetFormatError(
            f"{path}: {n_pairs} issame flags for {n_images} images, expected {n_images // 2}"
        )


def write_verification_bin(
    path: str | Path, images: Sequence[bytes], issame: Sequence[bool], *, arrays: bool = False
) -> Path:
    """Write a ``.bin`` that insightface (and plain ``pickle.load(f, encoding="bytes")``)
    reads, under a temporary name renamed into place; ``arrays`` stores each image as a 1-D
    uint8 numpy array, as some published files do (a twin keeps its source's layout).

    ``images`` are encoded files (JPEG/PNG bytes, or 1-D uint8 arrays of them), ``issame``
    booleans (or 0/1), one per pair. DatasetFormatError for anything else, before writing: a
    decoded (H, W, 3) array was stored as its raw pixels, which no reader decodes, and a
    flag of 1.5 as True."""
    path = Path(path)
    encoded = [_encoded_image(image, path, index) for index, image in enumerate(images)]
    flags = _as_issame(list(issame), path)
    _check_counts(path, len(encoded), len(flags))
    stored: list[Any] = (
        [np.frombuffer(image, dtype=np.uint8) for image in encoded] if arrays else encoded
    )
    _dump_atomic(path, (stored, flags))
    return path


def _encoded_image(image: Any, path: Path, index: int) -> bytes:
    if isinstance(image, np.ndarray) and image.ndim > 1:
        raise DatasetFormatError(
            f"{path}: image {index} is a decoded {image.shape} array; give its encoded bytes "
            "(e.g. cv2.imencode('.jpg', bgr)[1].tobytes())"
        )
    if isinstance(image, memoryview):
        image = image.tobytes()
    return _as_image_bytes(image, path, index)


def _dump_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, pickle.dumps(obj, protocol=PICKLE_PROTOCOL))


class VerificationReader:
    """A ``.bin``'s images by index (keys ``0..2n-1``) and its ``issame`` flags.

    The file is parsed at open (to fail fast); the images are dropped when pickled and reloaded
    lazily in the receiving process, so workers do not get a copy through the pickle.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # arrays: the file holds its images as numpy arrays, not bytes (its twin will too)
        images, self.issame, self.arrays = _read_bin(self.path)
        self._count = len(images)
        self._images: list[bytes] | None = images

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_images"] = None
        return state

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"VerificationReader({str(self.path)!r}, images={self._count})"

    def keys(self) -> Sequence[int]:
        return range(self._count)

    def read(self, key: Key) -> Sample:
        if not isinstance(key, int | np.integer) or not 0 <= key < self._count:
            raise KeyError(key)
        return Sample(key=int(key), data=self._loaded()[key])

    def _loaded(self) -> list[bytes]:
        if self._images is None:
            images, _ = read_verification_bin(self.path)
            if len(images) != self._count:
                raise DatasetFormatError(f"{self.path}: changed while being read")
            self._images = images
        return self._images


class VerificationPartWriter:
    """One chunk's ``(key, bytes)`` list, pickled to ``part_path`` on a clean exit only."""

    def __init__(self, part_path: Path) -> None:
        self.path = Path(part_path)
        self._items: list[tuple[int, bytes]] = []

    def __enter__(self) -> VerificationPartWriter:
        self._items = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            _dump_atomic(self.path, self._items)
        self._items = []

    def write(self, sample: Sample) -> None:
        self._items.append((int(sample.key), bytes(sample.data)))


def _read_part(part: Path) -> list[tuple[int, bytes]]:
    if not part.is_file():
        raise OutputError(f"{part}: part missing (its chunk never completed)")
    items = _load_pickle(part)
    if not isinstance(items, list) or not all(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes) for item in items
    ):
        raise DatasetFormatError(f"{part}: not a verification part (a list of (key, bytes))")
    return items


@dataclass(frozen=True)
class VerificationFormat(SingleFileFormat):
    """Registry entry for insightface verification ``.bin`` files (aligned 112x112 crops)."""

    name: str = "verification"
    aligned_by_default: bool = True
    suffix: str = ".bin"

    def open_reader(self, path: Path) -> VerificationReader:
        return VerificationReader(path)

    def open_part_writer(self, reader: Reader, part_path: Path) -> VerificationPartWriter:
        return VerificationPartWriter(part_path)

    def join_parts(
        self,
        reader: Reader,
        part_paths: Sequence[Path],
        out_dir: Path,
        progress: Callable[[int], None] | None = None,
    ) -> Path:
        """Every image, in key order, with the source's ``issame``: all keys 0..n-1 must be
        present exactly once, or the pairs would not line up. ``progress``: 1 after each part
        read."""
        images: list[bytes] = []
        for part in part_paths:
            for key, data in _read_part(Path(part)):
                if key != len(images):
                    raise OutputError(
                        f"{part}: key {key} where key {len(images)} was expected "
                        "(parts missing, repeated or out of order)"
                    )
                images.append(data)
            if progress is not None:
                progress(1)
        if len(images) != len(reader):
            raise OutputError(
                f"{out_dir}: parts hold {len(images)} of {len(reader)} images of {reader.path}"
            )
        issame = getattr(reader, "issame", None)
        if issame is None:
            raise OutputError(f"{reader.path}: reader has no issame flags to join with")
        out = write_verification_bin(
            self.output_path(reader, out_dir),
            images,
            issame,
            arrays=bool(getattr(reader, "arrays", False)),  # the source's layout
        )
        logger.info("joined %d parts into %s", len(part_paths), out)
        return out


VERIFICATION = register_format(VerificationFormat())
