"""Encode a masked lossy WebP lossy again, at about its source's quality.

OpenCV writes WebP losslessly unless given a quality, so a twin of a lossy WebP (a ``VP8``
bitstream) came out lossless (``VP8L``) and several times larger: every twin free of the
compression its original shows, which a network can learn the mask label from (as with JPEG,
see :mod:`maskgen.pipeline.jpeg_match`). A lossy WebP does not record the quality it was
saved at, so :func:`matched_webp_quality` finds the libwebp quality at which the original's
own decoded pixels encode to about the original's image size (its metadata left out), and
:func:`encode_like_source_webp` writes the masked pixels at that quality. A lossless source
keeps being written losslessly.

WebP's container (RIFF, ``WEBP``, then chunks ``VP8 ``, ``VP8L`` or ``VP8X`` with its
extensions) is Google's "WebP Container Specification".
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

_QUALITIES = (1, 100)
"""The range of OpenCV's ``IMWRITE_WEBP_QUALITY`` that encodes lossy (above 100: lossless)."""


def _chunks(data: bytes) -> Iterator[tuple[bytes, int]]:
    """(fourcc, size) of each chunk of a WebP's RIFF container; nothing for other bytes."""
    if len(data) < 16 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return
    position = 12
    while position + 8 <= len(data):
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        yield data[position : position + 4], size
        position += 8 + size + (size & 1)  # chunks are padded to an even size


def is_lossy_webp(data: bytes) -> bool:
    """Whether ``data`` is a WebP whose image is a lossy ``VP8 `` bitstream (simple format, or
    extended with one), as opposed to a lossless ``VP8L`` one or not a WebP."""
    for fourcc, _ in _chunks(data):
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc == b"VP8 "
    return False


def image_bytes(data: bytes) -> int:
    """The bytes of a WebP's image: its ``VP8 ``/``VP8L`` and ``ALPH`` (alpha) chunks, without
    the metadata (EXIF, XMP, ICC profile) a camera's or a phone's file carries beside them."""
    return sum(8 + size for fourcc, size in _chunks(data) if fourcc in _IMAGE_CHUNKS)


_IMAGE_CHUNKS = (b"VP8 ", b"VP8L", b"ALPH")


def matched_webp_quality(original: np.ndarray, source_size: int) -> int:
    """The quality (1-100) at which ``original`` ((H, W, 3) or (H, W, 4) uint8, RGB(A): the
    source's decoded pixels) encodes to the image size (:func:`image_bytes`) closest to
    ``source_size``, the source's own image size; sizes grow with the quality, so a bisection
    of about seven encodes finds it."""
    sizes: dict[int, int] = {}

    def size_at(quality: int) -> int:
        if quality not in sizes:
            sizes[quality] = image_bytes(_encode(original, quality))
        return sizes[quality]

    low, high = _QUALITIES
    while high - low > 1:
        middle = (low + high) // 2
        if size_at(middle) <= source_size:
            low = middle
        else:
            high = middle
    return low if source_size - size_at(low) <= size_at(high) - source_size else high


def encode_like_source_webp(
    pixels: np.ndarray, original: np.ndarray, source: bytes
) -> bytes | None:
    """``pixels`` (the masked image, (H, W, 3) or (H, W, 4) uint8 RGB(A)) as a lossy WebP at
    the quality :func:`matched_webp_quality` finds for ``original`` (the source's decoded
    pixels, same layout) and ``source`` (its bytes); None where ``source`` is not a lossy WebP,
    the layout is another (grey, 16 bits) or OpenCV cannot write it: the caller writes those
    as before."""
    if not is_lossy_webp(source) or not _lossy_layout(pixels) or not _lossy_layout(original):
        return None
    try:
        return _encode(pixels, matched_webp_quality(original, image_bytes(source)))
    except ValueError:  # OpenCV's WebP writer failed: the caller's own encoder then
        return None


def _lossy_layout(pixels: np.ndarray) -> bool:
    return pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] in (3, 4)


def _encode(pixels: np.ndarray, quality: int) -> bytes:
    code = cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    bgr = cv2.cvtColor(np.ascontiguousarray(pixels), code)
    ok, buffer = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode a WebP")
    return buffer.tobytes()
