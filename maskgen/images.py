"""Encoded images in and out: the one place maskgen turns bytes into RGB arrays and back.

Images are RGB inside maskgen; BGR appears only at OpenCV's codec calls here.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from maskgen.errors import OutputError
from maskgen.types import Key

_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("jpeg", b"\xff\xd8\xff", 0),
    ("png", b"\x89PNG\r\n\x1a\n", 0),
    ("bmp", b"BM", 0),
    ("webp", b"WEBP", 8),
)
_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "bmp": ".bmp", "webp": ".webp"}


def sniff_image_format(data: bytes) -> str | None:
    """``"jpeg"``, ``"png"``, ``"bmp"`` or ``"webp"`` from the leading bytes, else None.

    The bytes, not a file name, decide: RecordIO and .bin items have no name, and a masked
    image must be written back in the format it came in."""
    for name, magic, offset in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            if name == "webp" and data[:4] != b"RIFF":
                continue
            return name
    return None


def decode_rgb(data: bytes) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB, or None where OpenCV cannot decode the bytes."""
    if not data:
        return None
    try:
        bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_image(rgb: np.ndarray, image_format: str, jpeg_quality: int, key: Key) -> bytes:
    """``rgb`` (H, W, 3) uint8 encoded as ``image_format``; JPEG at ``jpeg_quality``."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if image_format == "jpeg" else []
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(_EXTENSIONS[image_format], bgr, params)
    if not ok:
        raise OutputError(
            f"item {key!r}: OpenCV could not encode the masked image as {image_format}"
        )
    return buffer.tobytes()


def read_rgb(path: str | Path) -> np.ndarray | None:
    """An image file as (H, W, 3) uint8 RGB, or None where it is missing or undecodable."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return decode_rgb(data)
