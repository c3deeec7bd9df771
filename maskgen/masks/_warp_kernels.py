"""numba kernel behind :func:`maskgen.masks.warp.dense_map_from_corners`: rasterise a set of
triangles and write each pixel's source coordinate, in one pass.

It repeats the vectorised numpy computation it replaces (kept in :mod:`maskgen.masks.warp` as
the reference) step for step, in the same float64 operations and order, so the map is the
same to the bit: the scanline spans (edge bounds, ``ceil``/``floor`` with the same margins),
a later triangle winning a shared pixel, and each pixel's source ``a x + b y + c`` computed as
numpy multiplies a complex128 by a float64 (``(ar x - ai 0) + i (ar 0 + ai x)``), rounded to
float32 at the end. numpy's per-call cost, not its arithmetic, made the reference slow: a
face's map is a few thousand pixels.

Imported lazily (numba takes a few tenths of a second to start; the landmark fit loads it
anyway). Compiled code is cached on disk where numba finds a writable place, else compiled
once per process.
"""

from __future__ import annotations

import numpy as np

from maskgen.compiled import jit


@jit
def dense_map(
    corners: np.ndarray,
    mesh: np.ndarray,
    height: int,
    width: int,
    edge_eps: float,
    flat_edge: float,
    flat_turn: float,
    outside: float,
) -> np.ndarray:
    """(height, width, 2) float32 remap coordinates: ``warp.dense_map_numpy`` to the bit.
    ``corners`` (2, 4, T) float64 (:func:`~maskgen.masks.warp.closed_corners`), ``mesh``
    (3, T) complex128 (:func:`~maskgen.masks.warp.source_mesh`); flat triangles (twice their
    area at most ``flat_turn``) cover nothing, pixels outside every triangle read
    ``outside``."""
    count = corners.shape[2]
    edges = np.empty((2, 3, count))
    for axis in range(2):
        for k in range(3):
            for t in range(count):
                edges[axis, k, t] = corners[axis, k + 1, t] - corners[axis, k, t]
    kept = np.empty(count, np.intp)
    turns = np.empty(count)
    n_kept = 0
    for t in range(count):
        turn = edges[1, 0, t] * edges[0, 2, t]
        turn -= edges[0, 0, t] * edges[1, 2, t]
        if abs(turn) > flat_turn:
            kept[n_kept] = t
            turns[n_kept] = turn
            n_kept += 1
    table = np.empty((3, n_kept), np.complex128)
    owner = np.full(height * width, n_kept, np.intp)
    for j in range(n_kept):
        t = kept[j]
        _affine_map(corners, edges, mesh, t, turns[j], table, j)
        _rasterise(corners, edges, turns[j], t, j, height, width, edge_eps, flat_edge, owner)
    out = np.empty((height, width, 2), np.float32)
    for row in range(height):
        y = np.float64(row)
        for column in range(width):
            o = owner[row * width + column]
            if o == n_kept:
                out[row, column, 0] = outside
                out[row, column, 1] = outside
                continue
            source = _times(table[0, o], np.float64(column)) + _times(table[1, o], y)
            source += table[2, o]
            out[row, column, 0] = np.float32(source.real)
            out[row, column, 1] = np.float32(source.imag)
    return out


@jit
def _times(z: complex, s: float) -> complex:
    """``z * s`` as numpy multiplies a complex128 by a float64 (``s`` taken as ``s + 0i``)."""
    return complex(z.real * s - z.imag * 0.0, z.real * 0.0 + z.imag * s)


@jit
def _affine_map(
    corners: np.ndarray,
    edges: np.ndarray,
    mesh: np.ndarray,
    t: int,
    turn: float,
    table: np.ndarray,
    j: int,
) -> None:
    """Column ``j`` of ``table``: a, b, c of triangle ``t``'s map, source = a x + b y + c
    (``warp._affine_table``, one triangle)."""
    origin, src1, src2 = mesh[0, t], mesh[1, t], mesh[2, t]
    inv = 1.0 / turn
    a = _times(src1, edges[1, 2, t])
    a += _times(src2, edges[1, 0, t])
    a = _times(a, -inv)
    b = _times(src2, edges[0, 0, t])
    b += _times(src1, edges[0, 2, t])
    b = _times(b, inv)
    c = _times(a, corners[0, 0, t])
    c += _times(b, corners[1, 0, t])
    table[0, j] = a
    table[1, j] = b
    table[2, j] = origin - c


@jit
def _rasterise(
    corners: np.ndarray,
    edges: np.ndarray,
    turn: float,
    t: int,
    j: int,
    height: int,
    width: int,
    edge_eps: float,
    flat_edge: float,
    owner: np.ndarray,
) -> None:
    """Mark triangle ``t``'s pixels as ``j`` in ``owner``, row by row: the span from the rightmost
    left-bounding edge to the leftmost right-bounding edge (``warp._spans``, one triangle)."""
    y0, y1, y2 = corners[1, 0, t], corners[1, 1, t], corners[1, 2, t]
    first_row = max(np.ceil(min(min(y0, y1), y2) - edge_eps), 0.0)
    last_row = min(np.floor(max(max(y0, y1), y2) + edge_eps), height - 1.0)
    slopes_left = np.empty(3)
    slopes_right = np.empty(3)
    cuts_left = np.empty(3)
    cuts_right = np.empty(3)
    for k in range(3):
        ex, ey = edges[0, k, t], edges[1, k, t]
        flat = abs(ey) < flat_edge
        slope = ex / (ey + (1.0 if flat else 0.0))
        intercept = corners[0, k, t] - slope * corners[1, k, t]
        side = 0.0 if flat else ey * turn
        left, right = side < 0, side > 0
        slopes_left[k] = slope * (1.0 if left else 0.0)
        slopes_right[k] = slope * (1.0 if right else 0.0)
        cuts_left[k] = intercept - edge_eps if left else -np.inf
        cuts_right[k] = intercept + edge_eps if right else np.inf
    row = first_row
    while row <= last_row:
        first = -np.inf
        last = np.inf
        for k in range(3):
            first = max(first, slopes_left[k] * row + cuts_left[k])
            last = min(last, slopes_right[k] * row + cuts_right[k])
        first = max(np.ceil(first), 0.0)
        length = np.floor(last)
        length = min(length, width - 1.0) - first + 1.0
        if length > 0:
            start = np.intp(first + row * width)
            for p in range(start, start + np.intp(length)):
                owner[p] = j
        row += 1.0
