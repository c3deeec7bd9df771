"""Piecewise-affine maps: where each pixel inside a set of image triangles reads its source.

Each destination triangle carries an affine map back to its source triangle; the map is built
for the triangles' bounding rectangle only and handed to ``cv2.remap``. Triangles are rasterised
by vectorised scanlines (no per-triangle Python loop): for every (triangle, row) pair the span
of pixel centres inside it is computed at once, then all spans are expanded to pixels together.
Pixels outside every triangle map far outside the source, so remap leaves them transparent.
"""

from __future__ import annotations

import numpy as np

OUTSIDE = -1.0e4
"""Source coordinate given to pixels outside every triangle."""
_EDGE_EPS = 1e-4
"""Spans widen by this much so pixel centres on a shared edge are never lost to rounding."""


def affine_coefficients(dst: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-triangle maps from destination to source pixels.

    ``dst``, ``src``: (T, 3, 2) float64 triangle corners. Returns ``coeffs`` (T, 6) float64
    ``[a, b, c, d, e, f]`` with ``src = (a x + b y + c, d x + e y + f)`` and ``ok`` (T,) bool,
    False for flat destination triangles (they cover no pixel).
    """
    dx1, dy1 = dst[:, 1, 0] - dst[:, 0, 0], dst[:, 1, 1] - dst[:, 0, 1]
    dx2, dy2 = dst[:, 2, 0] - dst[:, 0, 0], dst[:, 2, 1] - dst[:, 0, 1]
    det = dx1 * dy2 - dy1 * dx2
    ok = np.abs(det) > 1e-9
    inv = 1.0 / np.where(ok, det, 1.0)
    sx1, sy1 = src[:, 1, 0] - src[:, 0, 0], src[:, 1, 1] - src[:, 0, 1]
    sx2, sy2 = src[:, 2, 0] - src[:, 0, 0], src[:, 2, 1] - src[:, 0, 1]
    a = (sx1 * dy2 - sx2 * dy1) * inv
    b = (sx2 * dx1 - sx1 * dx2) * inv
    d = (sy1 * dy2 - sy2 * dy1) * inv
    e = (sy2 * dx1 - sy1 * dx2) * inv
    c = src[:, 0, 0] - a * dst[:, 0, 0] - b * dst[:, 0, 1]
    f = src[:, 0, 1] - d * dst[:, 0, 0] - e * dst[:, 0, 1]
    return np.stack([a, b, c, d, e, f], axis=1), ok


def triangle_spans(
    dst: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scanline spans of pixel centres inside each triangle, clipped to (height, width).

    ``dst``: (T, 3, 2) float64 corners, pixel centres at integer coordinates. Returns
    (triangle, row, first column, length) int arrays, one entry per non-empty span.
    """
    count = len(dst)
    order = np.argsort(dst[:, :, 1], axis=1, kind="stable")
    tri = dst[np.arange(count)[:, None], order]  # corners sorted top to bottom
    x0, y0, x1, y1, x2, y2 = tri.reshape(count, 6).T
    first_row = np.maximum(np.ceil(y0 - _EDGE_EPS), 0).astype(np.int64)
    last_row = np.minimum(np.floor(y2 + _EDGE_EPS), height - 1).astype(np.int64)
    rows_per = np.maximum(last_row - first_row + 1, 0)
    # per triangle: top corner, middle corner and the slopes dx/dy of its three edges
    table = np.stack(
        [x0, y0, x1, y1, _slope(x0, y0, x2, y2), _slope(x0, y0, x1, y1), _slope(x1, y1, x2, y2)],
        axis=1,
    )
    index = np.repeat(np.arange(count), rows_per)
    row = np.repeat(first_row - (np.cumsum(rows_per) - rows_per), rows_per) + np.arange(index.size)
    tx0, ty0, tx1, ty1, long_slope, upper_slope, lower_slope = table[index].T
    y = row.astype(np.float64)
    x_long = tx0 + (y - ty0) * long_slope
    x_short = np.where(y < ty1, tx0 + (y - ty0) * upper_slope, tx1 + (y - ty1) * lower_slope)
    left = np.maximum(np.ceil(np.minimum(x_long, x_short) - _EDGE_EPS), 0)
    right = np.minimum(np.floor(np.maximum(x_long, x_short) + _EDGE_EPS), width - 1)
    keep = right >= left
    first = left[keep].astype(np.int64)
    return index[keep], row[keep], first, right[keep].astype(np.int64) - first + 1


def _slope(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """dx/dy of each edge (xa, ya)-(xb, yb); 0 for a flat edge (it is never interpolated)."""
    dy = yb - ya
    flat = np.abs(dy) < 1e-12
    return np.where(flat, 0.0, (xb - xa) / np.where(flat, 1.0, dy))


def dense_map(dst: np.ndarray, src: np.ndarray, height: int, width: int) -> np.ndarray:
    """(height, width, 2) float32 map for ``cv2.remap`` (x, y per pixel): inside triangle i,
    pixel (x, y) reads ``src`` through the affine map taking ``dst[i]`` to ``src[i]``;
    elsewhere it reads :data:`OUTSIDE`. ``dst`` is in the output's pixels."""
    coeffs, ok = affine_coefficients(dst, src)
    index, row, first, length = triangle_spans(dst[ok], height, width)
    coeffs = coeffs[ok]
    result = np.full((height * width, 2), OUTSIDE, dtype=np.float32)
    if index.size:
        span = coeffs[index]
        starts = np.cumsum(length) - length
        step = (np.arange(int(length.sum())) - np.repeat(starts, length))[:, None]
        # value at each span's first pixel, then one step of (a, d) per pixel to the right
        x, y = first.astype(np.float64), row.astype(np.float64)
        base = np.stack(
            [
                span[:, 0] * x + span[:, 1] * y + span[:, 2],
                span[:, 3] * x + span[:, 4] * y + span[:, 5],
            ],
            axis=1,
        )
        flat = np.repeat(row * width + first, length) + step[:, 0]
        result[flat] = (
            np.repeat(base, length, axis=0) + np.repeat(span[:, [0, 3]], length, axis=0) * step
        )
    return result.reshape(height, width, 2)
