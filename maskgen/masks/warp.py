"""Piecewise-affine maps: where each pixel inside a set of image triangles reads its source.

Each destination triangle carries an affine map back to its source triangle; the map is built
for the triangles' bounding rectangle only and handed to ``cv2.remap``. Triangles are rasterised
by vectorised scanlines (no per-triangle Python loop): for every (triangle, row) pair the span
of pixel centres inside it is computed at once, each span's pixels get the triangle's index (a
later triangle wins a pixel on a shared edge, where both maps agree), and one gather of every
pixel's affine coefficients gives the map. Pixels outside every triangle map far outside the
source, so remap leaves them transparent.

The arrays are small (tens of triangles, a few thousand pixels), so what costs is the number of
numpy calls, not the arithmetic. The code therefore works on coordinate-major corner arrays,
writes into preallocated tables, avoids fancy indexing and short-axis reductions, and carries
2-D points as complex numbers ``x + iy`` (one array op moves both coordinates; complex times
real multiplies each part exactly as two real products would).
"""

from __future__ import annotations

import functools

import numpy as np

from maskgen import compiled

OUTSIDE = -1.0e4
"""Source coordinate given to pixels outside every triangle."""
_EDGE_EPS = 1e-4
"""Spans widen by this much so pixel centres on a shared edge are never lost to rounding."""
_FLAT = 1e-12
"""An edge rising less than this (pixels) is horizontal: the triangle's row range bounds it."""
_FLAT_TURN = 1e-9
"""A triangle whose corners' cross product is below this is flat: it covers no pixel."""
_CLOSED = np.array([0, 1, 2, 0])
"""Corner order of :func:`closed_corners`: edge k runs from corner k to corner k + 1."""


def kernels_compiled_here() -> bool:
    """Whether the warp's numba kernel, which every masking run past
    :data:`maskgen.compiled.COMPILE_AFTER` faces compiles, is in numba's cache on this
    machine: False on the first such run after an install, which spends about 20 s of CPU
    compiling maskgen's kernels before its first face. Imports numba."""
    from maskgen.masks._warp_kernels import dense_map

    return compiled.is_cached(dense_map)


def closed_corners(dst: np.ndarray) -> np.ndarray:
    """(2, 4, T) float64 contiguous: x and y of corners 0, 1, 2 and 0 again of each triangle
    in ``dst`` (T, 3, 2), the layout :func:`dense_map_from_corners` takes."""
    corners = np.asarray(dst, dtype=np.float64).transpose(2, 1, 0)
    return np.ascontiguousarray(corners[:, _CLOSED])


def source_mesh(src: np.ndarray) -> np.ndarray:
    """(3, T) complex128 read-only: corner 0, edge 0->1 and edge 0->2 (as ``x + iy``) of each
    source triangle in ``src`` (T, 3, 2). Callers that warp onto one mesh many times keep it
    (see :func:`dense_map_from_corners`)."""
    corners = np.asarray(src, dtype=np.float64)
    points = corners[:, :, 0] + 1j * corners[:, :, 1]  # (T, 3)
    mesh = np.stack([points[:, 0], points[:, 1] - points[:, 0], points[:, 2] - points[:, 0]])
    mesh.setflags(write=False)
    return mesh


def affine_coefficients(dst: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-triangle maps from destination to source pixels.

    ``dst``, ``src``: (T, 3, 2) float64 triangle corners. Returns ``coeffs`` (T, 6) float64
    ``[a, b, c, d, e, f]`` with ``src = (a x + b y + c, d x + e y + f)`` and ``ok`` (T,) bool,
    False for flat destination triangles (they cover no pixel).
    """
    corners = closed_corners(dst)
    edges = corners[:, 1:] - corners[:, :3]
    turn = _turn(edges)
    ok = np.abs(turn) > _FLAT_TURN
    table = _affine_table(corners, edges, np.where(ok, turn, 1.0), source_mesh(src))[:, :-1]
    return np.ascontiguousarray(np.concatenate([table.real, table.imag]).T), ok


def triangle_spans(
    dst: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scanline spans of pixel centres inside each triangle, clipped to (height, width).

    ``dst``: (T, 3, 2) float64 corners of non-flat triangles, pixel centres at integer
    coordinates. Returns (triangle, row, first column, length) int arrays, one entry per
    non-empty span, triangle by triangle and top to bottom.
    """
    corners = closed_corners(dst)
    edges = corners[:, 1:] - corners[:, :3]
    start, length = _spans(corners, edges, _turn(edges), height, width)
    keep = length > 0
    index = np.repeat(np.arange(len(dst)), length.size // max(len(dst), 1))[keep]
    row, first = np.divmod(start[keep], width)
    return index, row, first, length[keep]


def dense_map(dst: np.ndarray, src: np.ndarray, height: int, width: int) -> np.ndarray:
    """(height, width, 2) float32 map for ``cv2.remap`` (x, y per pixel): inside triangle i,
    pixel (x, y) reads ``src`` through the affine map taking ``dst[i]`` to ``src[i]``;
    elsewhere it reads :data:`OUTSIDE`. ``dst`` is in the output's pixels."""
    return dense_map_from_corners(closed_corners(dst), source_mesh(src), height, width)


def dense_map_from_corners(
    corners: np.ndarray, mesh: np.ndarray, height: int, width: int
) -> np.ndarray:
    """:func:`dense_map` with the destination triangles as :func:`closed_corners` and the
    source ones as :func:`source_mesh`: the layouts the computation uses, for callers that
    build them more cheaply (or reuse a source mesh). Computed by a compiled kernel
    (:mod:`maskgen.masks._warp_kernels`), the same map to the bit as the numpy reference
    :func:`dense_map_numpy`, several times faster; by that reference itself in a process that
    does not use numba yet (:func:`maskgen.compiled.use_compiled`: a small run)."""
    if not compiled.use_compiled():
        return dense_map_numpy(corners, mesh, height, width)
    from maskgen.masks import _warp_kernels as kernels

    return kernels.dense_map(
        np.ascontiguousarray(corners, dtype=np.float64),
        np.ascontiguousarray(mesh, dtype=np.complex128),
        height, width, _EDGE_EPS, _FLAT, _FLAT_TURN, OUTSIDE,
    )  # fmt: skip


def dense_map_numpy(corners: np.ndarray, mesh: np.ndarray, height: int, width: int) -> np.ndarray:
    """:func:`dense_map_from_corners` in vectorised numpy: the reference the compiled kernel
    reproduces (tests compare the two)."""
    corners, edges, turn, mesh = _drop_flat(corners, mesh)
    count = turn.size
    owner = np.full(height * width, count, dtype=np.intp)  # the table's OUTSIDE column
    if count:
        first, length = _spans(corners, edges, turn, height, width)
        starts = np.cumsum(length)
        total = int(starts[-1]) if starts.size else 0
        if total:
            starts -= length
            pixel = np.repeat(first - starts, length)
            pixel += np.arange(total)
            owner[pixel] = np.repeat(_span_owners(count, length.size // count), length)
    a, b, c = np.take(_affine_table(corners, edges, turn, mesh), owner, axis=1)
    x, y = _grid(height, width)
    a *= x
    b *= y
    a += b
    a += c
    return a.view(np.float64).astype(np.float32).reshape(height, width, 2)


def _drop_flat(
    corners: np.ndarray, mesh: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Corners, edges (2, 3, T), turns (T,) and mesh of the triangles that are not flat (flat
    ones cover no pixel)."""
    edges = corners[:, 1:] - corners[:, :3]  # (2, 3, T): edge k runs from corner k to k + 1
    turn = _turn(edges)
    if np.abs(turn).min(initial=np.inf) <= _FLAT_TURN:
        ok = np.abs(turn) > _FLAT_TURN
        corners, edges, turn, mesh = corners[:, :, ok], edges[:, :, ok], turn[ok], mesh[:, ok]
    return corners, edges, turn, mesh


def _turn(edges: np.ndarray) -> np.ndarray:
    """(T,) cross product of each triangle's edges 0->1 and 0->2 (twice its signed area)."""
    ex, ey = edges
    turn = ey[0] * ex[2]
    turn -= ex[0] * ey[2]
    return turn


def _affine_table(
    corners: np.ndarray, edges: np.ndarray, turn: np.ndarray, mesh: np.ndarray
) -> np.ndarray:
    """(3, T + 1) complex128 rows ``a, b, c``: the maps from the destination triangles onto
    ``mesh``, source = a x + b y + c (complex), plus a last column that sends every pixel to
    :data:`OUTSIDE`. Edge 0->1 is ``edges[:, 0]`` and edge 0->2 is ``-edges[:, 2]``; ``a``
    and ``b`` come from inverting the 2x2 matrix of both."""
    (x, y), (ex, ey) = corners[:, 0], edges
    origin, src1, src2 = mesh
    inv = 1.0 / turn
    count = turn.size
    table = np.empty((3, count + 1), dtype=np.complex128)
    a, b, c = table[:, :count]
    np.multiply(src1, ey[2], out=a)
    a += src2 * ey[0]
    a *= -inv
    np.multiply(src2, ex[0], out=b)
    b += src1 * ex[2]
    b *= inv
    np.multiply(a, x, out=c)
    c += b * y
    np.subtract(origin, c, out=c)
    table[:, count] = (0.0, 0.0, OUTSIDE + 1j * OUTSIDE)
    return table


def _spans(
    corners: np.ndarray, edges: np.ndarray, turn: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every (triangle, row) span of pixel centres: (T * R,) int first pixel (flat index) and
    length (0 for rows a triangle does not reach), triangle by triangle, top to bottom, for
    the R rows of the tallest triangle.

    Each non-flat edge bounds the rows it crosses on the left or on the right (which, follows
    from its direction and the triangle's orientation); a row's span runs from the rightmost
    left bound to the leftmost right bound. Flat edges are bounded by the row range.
    """
    (x, y), (ex, ey) = corners[:, :3], edges
    first_row = np.minimum(np.minimum(y[0], y[1]), y[2])
    first_row -= _EDGE_EPS
    np.ceil(first_row, out=first_row)
    np.maximum(first_row, 0.0, out=first_row)
    last_row = np.maximum(np.maximum(y[0], y[1]), y[2])
    last_row += _EDGE_EPS
    np.floor(last_row, out=last_row)
    np.minimum(last_row, height - 1.0, out=last_row)
    tallest = max(int((last_row - first_row).max(initial=-1.0)) + 1, 0)
    # rows run down the first axis: numpy broadcasts fastest along a long last axis
    rows = np.arange(tallest, dtype=np.float64)[:, None] + first_row  # (R, T)
    flat = np.abs(ey) < _FLAT
    slope = ex / (ey + flat)
    intercept = x - slope * y  # the edge's x at y = 0
    side = ey * turn  # the inside of edge k is where side * (x_edge(y) - x) >= 0
    side[flat] = 0.0
    left, right = side < 0, side > 0
    lines = np.empty((2, 2, 3, 1, turn.size), dtype=np.float64)  # (slope/intercept, side, ...)
    np.multiply(slope, left, out=lines[0, 0, :, 0])
    np.multiply(slope, right, out=lines[0, 1, :, 0])
    lines[1, 0, :, 0] = np.where(left, intercept - _EDGE_EPS, -np.inf)
    lines[1, 1, :, 0] = np.where(right, intercept + _EDGE_EPS, np.inf)
    bound = lines[0] * rows  # (side, edge, R, T)
    bound += lines[1]
    first = np.maximum(np.maximum(bound[0, 0], bound[0, 1]), bound[0, 2])
    np.ceil(first, out=first)
    np.maximum(first, 0.0, out=first)
    length = np.minimum(np.minimum(bound[1, 0], bound[1, 1]), bound[1, 2])
    np.floor(length, out=length)
    np.minimum(length, width - 1.0, out=length)
    length -= first
    length += 1.0
    np.maximum(length, 0.0, out=length)
    length *= rows <= last_row
    first += rows * width
    # triangle by triangle, so that a later triangle wins a shared pixel
    return first.T.astype(np.intp).ravel(), length.T.astype(np.intp).ravel()


@functools.lru_cache(maxsize=256)
def _span_owners(count: int, rows: int) -> np.ndarray:
    """Read-only (count * rows,) int: the triangle of each span of :func:`_spans`."""
    owners = np.repeat(np.arange(count), rows)
    owners.setflags(write=False)
    return owners


@functools.lru_cache(maxsize=16)  # a few sizes recur (aligned crops); photos vary, so few
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only (height * width,) float64 x and y of every pixel centre, row by row."""
    y, x = np.divmod(np.arange(height * width, dtype=np.float64), width)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y
