"""Encode a masked JPEG the way its source was encoded, so compression does not tell twin from
original.

A twin image is decoded, masked and encoded again while the original keeps its bytes. Encoded
at a fixed quality (95) its quantisation tables differ from a source saved at, say, 75, and a
network trained on both can read the mask label from the compression instead of the face.
:func:`encode_like_source` writes the masked pixels with the source's own quantisation tables
and chroma subsampling (Pillow reads them from the file and libjpeg writes them back), so the
twin's tables are the original's, whatever encoder or quality made it.
:func:`estimate_jpeg_quality` says which IJG quality those tables are, for reports and for
benchmarks/twin_compression.py.

The IJG quality scale is libjpeg's (``jcparam.c``, ``jpeg_quality_scaling``): quality ``q``
scales the standard tables of ITU-T T.81 Annex K (Tables K.1, luminance, and K.2, chrominance)
by ``5000 / q`` percent below 50 and ``200 - 2 q`` percent from 50, each entry
``(base * scale + 50) // 100`` clamped to 1-255. Estimating ``q`` back from a file's tables by
the closest scaled standard table is the method of ImageMagick's and of Neal Krawetz's JPEG
quality estimators.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

# ITU-T T.81 (ISO/IEC 10918-1) Annex K, Table K.1 (luminance), natural (row-major) order.
_LUMINANCE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.int64,
).reshape(-1)

# ITU-T T.81 Annex K, Table K.2 (chrominance), natural order.
_CHROMINANCE = np.array(
    [
        [17, 18, 24, 47, 99, 99, 99, 99],
        [18, 21, 26, 66, 99, 99, 99, 99],
        [24, 26, 56, 99, 99, 99, 99, 99],
        [47, 66, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
    ],
    dtype=np.int64,
).reshape(-1)


def ijg_table(quality: int, chrominance: bool = False) -> np.ndarray:
    """The 64 entries (natural order, int64) libjpeg writes at IJG ``quality`` 1-100 with
    baseline tables (entries clamped to 1-255)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    base = _CHROMINANCE if chrominance else _LUMINANCE
    return np.clip((base * scale + 50) // 100, 1, 255)


@dataclass(frozen=True)
class JpegQuality:
    """An IJG quality estimate: ``quality`` 1-100 and whether the tables are exactly that
    quality's (False: the nearest, for tables of another encoder)."""

    quality: int
    exact: bool


def estimate_jpeg_quality(luminance: list[int] | np.ndarray) -> JpegQuality:
    """The IJG quality whose luminance table is nearest (sum of absolute differences) to
    ``luminance`` (64 entries, natural order, as Pillow's ``Image.quantization[0]``)."""
    table = np.asarray(luminance, dtype=np.int64).reshape(-1)
    if table.size != 64:
        raise ValueError(f"a quantisation table has 64 entries, got {table.size}")
    errors = [int(np.abs(ijg_table(q) - table).sum()) for q in range(1, 101)]
    best = int(np.argmin(errors))
    return JpegQuality(best + 1, errors[best] == 0)


@dataclass(frozen=True)
class SourceJpeg:
    """How a JPEG was encoded: its quantisation tables (Pillow's ``quantization``: table id
    -> 64 entries, natural order) and chroma subsampling (Pillow's ``subsampling``: 0 4:4:4,
    1 4:2:2, 2 4:2:0; None where Pillow cannot say), its mode ("L" or "RGB") and whether it
    is progressive (the twin is then written progressive too: the pixels are the same either
    way, the file's structure is the source's)."""

    tables: dict[int, list[int]]
    subsampling: int | None
    mode: str
    progressive: bool = False

    @property
    def quality(self) -> JpegQuality:
        return estimate_jpeg_quality(self.tables[min(self.tables)])


def read_source_jpeg(data: bytes) -> SourceJpeg | None:
    """The encoding of JPEG ``data``, or None where it is not a baseline/progressive JPEG of
    mode L or RGB with readable tables (then the caller encodes as usual)."""
    from PIL import Image, JpegImagePlugin, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG" or image.mode not in ("L", "RGB"):
                return None
            tables = getattr(image, "quantization", None)
            if not tables:
                return None
            sampling = JpegImagePlugin.get_sampling(image) if image.mode == "RGB" else None
            return SourceJpeg(
                {int(k): list(v) for k, v in tables.items()},
                None if sampling is None or sampling < 0 else sampling,
                image.mode,
                bool(image.info.get("progressive") or image.info.get("progression")),
            )
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None


def encode_like_source(pixels: np.ndarray, source: SourceJpeg) -> bytes | None:
    """``pixels`` ((H, W) or (H, W, 3) uint8, the source's mode) as a JPEG with the source's
    quantisation tables and chroma subsampling; None where the layout does not match the
    source's mode or Pillow cannot write it."""
    from PIL import Image

    grey = pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 1)
    if pixels.dtype != np.uint8 or grey != (source.mode == "L"):
        return None
    if not grey and (pixels.ndim != 3 or pixels.shape[2] != 3):
        return None
    image = Image.fromarray(pixels.reshape(pixels.shape[:2]) if grey else pixels, source.mode)
    options: dict[str, object] = {"qtables": source.tables}
    if source.subsampling is not None:
        options["subsampling"] = source.subsampling
    if source.progressive:
        options["progressive"] = True
    buffer = io.BytesIO()
    try:
        image.save(buffer, "JPEG", **options)
    except (OSError, ValueError):
        return None
    return buffer.getvalue()
