"""Encode a masked lossy JPEG 2000 lossy again, at its source's compression ratio.

OpenCV writes JPEG 2000 losslessly by default, so the twin of a lossy ``.jp2`` came out free of
the wavelet ringing and blur its original shows: a difference a network can learn the mask
label from (as with JPEG and WebP: :mod:`maskgen.pipeline.jpeg_match`,
:mod:`maskgen.pipeline.webp_match`). A JPEG 2000 codestream says how it was coded in its main
header: the ``COD`` marker segment names the wavelet (9-7 irreversible or 5-3 reversible), the
multiple component transform, the decomposition levels, the progression order and the
code-block size, and ``SIZ`` gives the image's size and bit depth. Its rate is the raw size over
the codestream's: :func:`encode_like_source_jpeg2000` writes the masked pixels with the same
settings at that ratio (OpenJPEG's rate allocation, through Pillow, lands within a few percent
of it). The 9-7 wavelet is always lossy; the 5-3 one is lossless unless the codestream was cut
short (OpenCV's ``IMWRITE_JPEG2000_COMPRESSION_X1000`` below 1000 does so), which
:func:`is_lossy_jpeg2000` tells by coding the source's decoded pixels losslessly: a lossless
source takes about as many bytes again, a lossy one far fewer. A lossless source keeps being
written losslessly.

Marker segments and boxes: ITU-T T.800 | ISO/IEC 15444-1, Annex A (codestream) and Annex I
(JP2 file format).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

_SOC, _SOT, _SIZ, _COD = 0xFF4F, 0xFF90, 0xFF51, 0xFF52
_PROGRESSIONS = ("LRCP", "RLCP", "RPCL", "PCRL", "CPRL")
"""COD's progression order byte, 0-4 (T.800 Table A.16), as Pillow names them."""


@dataclass(frozen=True)
class Jpeg2000Coding:
    """How a JPEG 2000 codestream was coded (T.800 A.5.1 ``SIZ``, A.6.1 ``COD``).

    ``ratio``: raw image bytes (width x height x components x bit depth / 8) over the
    codestream's bytes; ``irreversible``: the 9-7 wavelet (lossy) rather than the 5-3;
    ``container``: ``"jp2"`` (a JP2 file) or ``"j2k"`` (a bare codestream)."""

    ratio: float
    irreversible: bool
    multiple_component_transform: bool
    levels: int
    progression: str
    codeblock_size: tuple[int, int]
    container: str


def _codestream(data: bytes) -> tuple[bytes, str] | None:
    """The codestream of a JP2 file (its first top-level ``jp2c`` box) or of a bare ``.j2k``,
    with the container's name; None for anything else, and for a palette image (a ``pclr``
    box), whose twin is written as before."""
    if data[:2] == b"\xff\x4f":
        return data, "j2k"
    if data[4:8] != b"jP  ":
        return None
    start = data.find(b"jp2c")
    if b"pclr" in data[: start if start > 0 else len(data)]:
        return None  # a palette image: one index component decodes to RGB, ratios unlike
    position = 0
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        header = 8
        if length == 1:  # XLBox: a 64-bit length follows the type
            length = int.from_bytes(data[position + 8 : position + 16], "big")
            header = 16
        elif length == 0:  # the box runs to the end of the file
            length = len(data) - position
        if length < header:
            return None
        if kind == b"jp2c":
            return data[position + header : position + length], "jp2"
        position += length
    return None


def read_jpeg2000_coding(data: bytes) -> Jpeg2000Coding | None:
    """The coding of JPEG 2000 ``data`` (a JP2 file or a bare codestream), or None where it is
    neither or its main header lacks a readable ``SIZ`` or ``COD``."""
    found = _codestream(data)
    if found is None:
        return None
    stream, container = found
    size = cod = None
    position = 2
    while position + 4 <= len(stream):
        marker = int.from_bytes(stream[position : position + 2], "big")
        if marker == _SOT or marker >> 8 != 0xFF:
            break
        length = int.from_bytes(stream[position + 2 : position + 4], "big")
        segment = stream[position + 4 : position + 2 + length]
        if marker == _SIZ:
            size = segment
        elif marker == _COD:
            cod = segment
        position += 2 + length
    if size is None or cod is None or len(cod) < 10 or len(size) < 36:
        return None
    width = int.from_bytes(size[2:6], "big") - int.from_bytes(size[10:14], "big")
    height = int.from_bytes(size[6:10], "big") - int.from_bytes(size[14:18], "big")
    components = int.from_bytes(size[34:36], "big")
    raw_bytes = 0.0
    for c in range(components):  # Ssiz (bit depth - 1), XRsiz, YRsiz: subsampled components
        if 38 + 3 * c >= len(size) or not size[37 + 3 * c] or not size[38 + 3 * c]:
            return None
        depth = (size[36 + 3 * c] & 0x7F) + 1
        raw_bytes += width * height * depth / 8 / (size[37 + 3 * c] * size[38 + 3 * c])
    if raw_bytes <= 0 or not stream or cod[1] >= len(_PROGRESSIONS):
        return None
    return Jpeg2000Coding(
        ratio=raw_bytes / len(stream),
        irreversible=cod[9] == 0,
        multiple_component_transform=cod[4] == 1,
        levels=cod[5],
        progression=_PROGRESSIONS[cod[1]],
        codeblock_size=(2 ** ((cod[6] & 0x0F) + 2), 2 ** ((cod[7] & 0x0F) + 2)),
        container=container,
    )


_LOSSY_SHARE = 0.9
"""A 5-3 codestream under this share of its decoded pixels' lossless size was cut short.
Measured on ten LFW photos coded by Pillow's OpenJPEG: a lossless codestream re-coded with the
same settings measures 1.00 of its size; one cut to a ratio of 8 measures 0.79-0.93 and one cut
to a ratio of 20 (OpenCV's ``IMWRITE_JPEG2000_COMPRESSION_X1000`` 50) about 0.5. A source cut so
little that it passes for lossless is written losslessly, as close to it as a twin gets."""


def is_lossy_jpeg2000(coding: Jpeg2000Coding, original: np.ndarray) -> bool:
    """Whether the codestream ``coding`` describes dropped information: the 9-7 wavelet, or
    the 5-3 one at under :data:`_LOSSY_SHARE` of the lossless size of ``original``, its
    decoded pixels ((H, W) grey or (H, W, 3) / (H, W, 4) RGB(A), uint8). The 5-3 case costs
    one lossless encode of ``original``."""
    if coding.irreversible:
        return True
    lossless = _encode(original, coding, ratio=None)
    recoded = read_jpeg2000_coding(lossless) if lossless is not None else None
    return recoded is not None and coding.ratio * _LOSSY_SHARE > recoded.ratio


def encode_like_source_jpeg2000(
    pixels: np.ndarray, original: np.ndarray, source: bytes
) -> bytes | None:
    """``pixels`` (the masked image: (H, W) grey or (H, W, 3) / (H, W, 4) RGB(A), uint8) as a
    lossy JPEG 2000 coded as ``source`` was (:func:`read_jpeg2000_coding`), at its ratio;
    ``original``: the source's decoded pixels, same layout. None where ``source`` is not a
    lossy JPEG 2000 (:func:`is_lossy_jpeg2000`), the layout is another (16 bits, grey +
    alpha) or the encoder refuses the settings: the caller writes those as before,
    losslessly."""
    coding = read_jpeg2000_coding(source)
    if coding is None or _pillow_mode(pixels) is None or _pillow_mode(original) is None:
        return None
    if coding.ratio <= 1.0 or not is_lossy_jpeg2000(coding, original):
        return None
    return _encode(pixels, coding, ratio=coding.ratio)


def _encode(pixels: np.ndarray, coding: Jpeg2000Coding, ratio: float | None) -> bytes | None:
    """``pixels`` coded with ``coding``'s settings, at ``ratio`` (None: losslessly, on the 5-3
    wavelet); None where OpenJPEG refuses them for this image."""
    grey = _pillow_mode(pixels) == "L"
    options: dict[str, object] = {
        "no_jp2": coding.container == "j2k",
        "irreversible": ratio is not None and coding.irreversible,
        "num_resolutions": coding.levels + 1,
        "progression": coding.progression,
        "codeblock_size": coding.codeblock_size,
        "mct": int(coding.multiple_component_transform and not grey),
    }
    if ratio is not None:
        options.update(quality_mode="rates", quality_layers=[ratio])
    buffer = io.BytesIO()
    try:
        Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "JPEG2000", **options)
    except (OSError, ValueError):  # OpenJPEG refused the settings for this image
        return None
    return buffer.getvalue()


def _pillow_mode(pixels: np.ndarray) -> str | None:
    if pixels.dtype != np.uint8:
        return None
    if pixels.ndim == 2:
        return "L"
    return {3: "RGB", 4: "RGBA"}.get(pixels.shape[2]) if pixels.ndim == 3 else None
