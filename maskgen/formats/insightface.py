"""insightface's record payload layer (MXNet's ``IRHeader``), pure bytes, no file I/O.

A record payload is ``struct.pack("<IfQQ", flag, label, id, id2)`` (24 bytes) followed by the
image bytes. With ``flag > 0`` the header's label field is 0 and the label is instead ``flag``
float32 values placed between the header and the image (that is how MXNet's ``recordio.pack``
stores an array label). We keep the label as a 1-D float32 array either way, and keep ``flag``
so a record re-packs to the very same bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from maskgen.errors import DatasetFormatError

IR_HEADER = struct.Struct("<IfQQ")
"""flag (uint32), label (float32), id (uint64), id2 (uint64): 24 bytes, little-endian."""

IR_HEADER_SIZE = IR_HEADER.size

_FLAG = struct.Struct("<I")
_IDS = struct.Struct("<QQ")
_F32 = np.dtype("<f4")


@dataclass(frozen=True, eq=False)
class RecordHeader:
    """One record's insightface header. ``label`` is a read-only 1-D float32 array: one element
    for ``flag == 0`` (a scalar label), ``flag`` elements otherwise."""

    flag: int
    label: np.ndarray
    id: int = 0
    id2: int = 0

    def __post_init__(self) -> None:
        label = np.array(self.label, dtype=np.float32).reshape(-1)
        label.setflags(write=False)
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "flag", int(self.flag))
        object.__setattr__(self, "id", int(self.id))
        object.__setattr__(self, "id2", int(self.id2))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordHeader):
            return NotImplemented
        same_ids = (self.flag, self.id, self.id2) == (other.flag, other.id, other.id2)
        return same_ids and self.label.tobytes() == other.label.tobytes()

    def __hash__(self) -> int:
        return hash((self.flag, self.label.tobytes(), self.id, self.id2))


def pack_header(flag: int, label: float, id: int, id2: int) -> bytes:
    """The bare 24-byte IRHeader, as MXNet's ``struct.pack('IfQQ', ...)`` writes it."""
    return IR_HEADER.pack(flag, label, id, id2)


def header_flag_for(label: np.ndarray | None, flag_hint: Any = 0) -> int:
    """The flag MXNet's ``pack`` would store for ``label``: 0 for a scalar label (1 if the
    source record stored its single value as an array, ``flag_hint == 1``), else the length."""
    size = 1 if label is None else int(np.asarray(label).size)
    if size == 1:
        return 1 if flag_hint == 1 else 0
    return size


def pack_record(header: RecordHeader, image: bytes) -> bytes:
    """A record payload: header, then (for ``flag > 0``) the float32 label, then ``image``
    (the encoded file: bytes, or a 1-D uint8 array of them).

    Raises ``DatasetFormatError`` when ``flag`` and the label's length disagree, or for an
    ``image`` that is not encoded bytes: a decoded (H, W, 3) array was stored as its raw
    pixels, which no reader (insightface's ``mx.image.imdecode`` included) decodes.
    """
    if isinstance(image, np.ndarray) and image.ndim > 1:
        raise DatasetFormatError(
            f"record image is a decoded {image.shape} array; give its encoded bytes "
            "(e.g. cv2.imencode('.jpg', bgr)[1].tobytes())"
        )
    if not isinstance(image, bytes | bytearray | memoryview | np.ndarray):
        raise DatasetFormatError(
            f"record image is {type(image).__name__}, expected encoded bytes (JPEG/PNG)"
        )
    label = header.label.astype(_F32, copy=False)
    if header.flag == 0:
        if label.size != 1:
            raise DatasetFormatError(
                f"record label: flag 0 needs one value, got {label.size} (use flag={label.size})"
            )
        return _FLAG.pack(0) + label.tobytes() + _IDS.pack(header.id, header.id2) + bytes(image)
    if label.size != header.flag:
        raise DatasetFormatError(
            f"record label: flag {header.flag} needs {header.flag} values, got {label.size}"
        )
    head = _FLAG.pack(header.flag) + b"\0\0\0\0" + _IDS.pack(header.id, header.id2)
    return head + label.tobytes() + bytes(image)


def unpack_record(payload: bytes, where: str = "record") -> tuple[RecordHeader, bytes]:
    """Split a record payload into its header and image bytes (``where`` names the record in
    error messages, e.g. ``"train.rec at byte offset 40"``)."""
    if len(payload) < IR_HEADER_SIZE:
        raise DatasetFormatError(
            f"{where}: payload of {len(payload)} bytes is shorter than the "
            f"{IR_HEADER_SIZE}-byte insightface header"
        )
    (flag,) = _FLAG.unpack_from(payload, 0)
    id_, id2 = _IDS.unpack_from(payload, 8)
    if flag == 0:
        label = np.frombuffer(payload, dtype=_F32, count=1, offset=4)
        image_start = IR_HEADER_SIZE
    else:
        image_start = IR_HEADER_SIZE + 4 * flag
        if image_start > len(payload):
            raise DatasetFormatError(
                f"{where}: header flag {flag} asks for {flag} label values, but the payload "
                f"has only {len(payload)} bytes"
            )
        label = np.frombuffer(payload, dtype=_F32, count=flag, offset=IR_HEADER_SIZE)
    header = RecordHeader(flag=flag, label=label.astype(np.float32), id=id_, id2=id2)
    return header, bytes(payload[image_start:])
