"""numba kernels behind :func:`maskgen.faces.visibility.jaw_crossing`: the per-pixel tests of
its two measures, in one pass each.

They repeat the vectorised numpy steps they replace in the same types and order, so the
measures are the same to the bit: gradients read as float32, products with the float64 jaw
tangents in float64, ``strength + 1e-6`` and ``strength > 0.5 * reference`` in float32 (numpy
keeps a float32 array's type against a Python float). numpy's per-call cost, not its
arithmetic, made them slow: a face's band is a few thousand pixels.

Imported lazily (numba takes a few tenths of a second to start; the landmark fit loads it
anyway). Compiled code is cached on disk where numba finds a writable place, else compiled
once per process.
"""

from __future__ import annotations

import numpy as np

from maskgen.compiled import jit


@jit
def band_edges(
    segments: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    magnitude: np.ndarray,
    tangents: np.ndarray,
    top: int,
    left: int,
    reference: float,
) -> float:
    """The share of the band's pixels (``segments`` > 0, (h, w) uint8 numbering each pixel's
    jaw segment from 1, placed at ``top``, ``left`` in the (H, W) float32 gradients) whose
    gradient is strong and runs along its segment's float64 unit ``tangents`` (S, 2)."""
    threshold = np.float32(0.5 * reference)
    pixels = 0
    crossing = 0
    for y in range(segments.shape[0]):
        for x in range(segments.shape[1]):
            segment = segments[y, x]
            if segment == 0:
                continue
            pixels += 1
            strength = magnitude[top + y, left + x]
            if not strength > threshold:
                continue
            tx, ty = tangents[segment - 1, 0], tangents[segment - 1, 1]
            projected = (
                np.float64(gx[top + y, left + x]) * tx + np.float64(gy[top + y, left + x]) * ty
            )
            if abs(projected) / np.float64(strength + np.float32(1e-6)) > 0.8:
                crossing += 1
    return crossing / pixels if pixels else 0.0


@jit
def lines_crossed(
    sample_x: np.ndarray,
    sample_y: np.ndarray,
    map_x: np.ndarray,
    map_y: np.ndarray,
    tangent: np.ndarray,
    height: int,
    width: int,
    reference: float,
) -> float:
    """The share of the (L, K) samples' rows (one per pixel of jaw, K across the band) where
    one edge runs across: the float32 gradients ``sample_x``, ``sample_y`` read at ``map_x``,
    ``map_y`` (float32, in an (height, width) image), ``tangent`` (L, 2) float64."""
    crossed = 0
    for i in range(sample_x.shape[0]):
        tx, ty = tangent[i, 0], tangent[i, 1]
        nx, ny = -ty, tx
        seen = rising = falling = 0
        for k in range(sample_x.shape[1]):
            mx, my = map_x[i, k], map_y[i, k]
            if not (mx >= 0 and mx <= width - 1 and my >= 0 and my <= height - 1):
                continue
            seen += 1
            sx, sy = np.float64(sample_x[i, k]), np.float64(sample_y[i, k])
            across = sx * tx + sy * ty
            lengthwise = sx * nx + sy * ny
            if abs(across) > 0.25 * reference and abs(across) > abs(lengthwise):
                if across > 0:
                    rising += 1
                elif across < 0:
                    falling += 1
        if max(rising, falling) >= 0.6 * seen and seen >= 5:
            crossed += 1
    return crossed / sample_x.shape[0]


@jit
def jaw_samples(
    jaw: np.ndarray, half_width: float, across: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where :func:`lines_crossed` reads: one row per pixel of the jaw polyline ``jaw`` (P, 2)
    float64 (segments shorter than 1e-6 px skipped), at ``half_width * across`` (K,) px along
    each row's normal. (map_x, map_y) (L, K) float32 and the rows' unit tangents (L, 2)."""
    starts = np.empty((jaw.shape[0] - 1, 2))
    steps = np.empty((jaw.shape[0] - 1, 2))
    lengths = np.empty(jaw.shape[0] - 1)
    kept = 0
    for i in range(jaw.shape[0] - 1):
        dx, dy = jaw[i + 1, 0] - jaw[i, 0], jaw[i + 1, 1] - jaw[i, 1]
        length = np.sqrt(dx * dx + dy * dy)
        if length > 1e-6:
            starts[kept, 0], starts[kept, 1] = jaw[i, 0], jaw[i, 1]
            steps[kept, 0], steps[kept, 1] = dx, dy
            lengths[kept] = length
            kept += 1
    ends = np.zeros(kept + 1)
    for i in range(kept):
        ends[i + 1] = ends[i] + lengths[i]
    rows = int(np.ceil(ends[kept])) if kept else 0
    map_x = np.empty((rows, across.shape[0]), np.float32)
    map_y = np.empty((rows, across.shape[0]), np.float32)
    tangent = np.empty((rows, 2))
    segment = 0
    for i in range(rows):
        along = float(i)
        while segment + 1 < kept and ends[segment + 1] <= along:
            segment += 1
        tx, ty = steps[segment, 0] / lengths[segment], steps[segment, 1] / lengths[segment]
        cx = starts[segment, 0] + tx * (along - ends[segment])
        cy = starts[segment, 1] + ty * (along - ends[segment])
        tangent[i, 0], tangent[i, 1] = tx, ty
        for k in range(across.shape[0]):
            offset = half_width * across[k]
            map_x[i, k] = np.float32(cx + offset * -ty)
            map_y[i, k] = np.float32(cy + offset * tx)
    return map_x, map_y, tangent
