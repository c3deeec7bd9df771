"""numba kernel behind the renderer's light measures (:func:`maskgen.masks.render.light_summary`):
the same numbers to the bit as its numpy reference
(:func:`~maskgen.masks.render.light_summary_numpy`), without numpy's per-call cost (a face's
light is read from a 12x12 grid and a few hundred coarse samples of the photo, where numpy's
calls cost more than their arithmetic).

Equal to the bit because its arithmetic is exact or the reference's own: luma and the
surround's sums in integers, the 95th percentiles as the k-th smallest value (a selection,
exact whatever the algorithm), the grid cells with the same float64 products, truncated as
Python's ``int`` truncates.
"""

from __future__ import annotations

import numpy as np

from maskgen.compiled import jit


@jit
def light_summary(
    small: np.ndarray,
    coarse: np.ndarray,
    points: np.ndarray,
    box: tuple[int, int, int, int],
    stride: int,
    surround_min: int,
    weights: np.ndarray,
) -> tuple[np.ndarray, int, int, bool, float, float, float]:
    """``render.light_summary_numpy`` to the bit (its lumas in thousandths, integers):
    ``small`` (g, g, 3) uint8, ``coarse`` (rows, columns, 3) uint8 (a strided view is fine),
    ``points`` (K, 2) float64, ``box`` the face's (x0, y0, x1, y1) in image pixels,
    ``weights`` (3,) int luma weights in thousandths."""
    grid = small.shape[0]
    x0, y0, x1, y1 = box
    step_x, step_y = grid / (x1 - x0), grid / (y1 - y0)
    top = grid - 1
    cells = np.empty(points.shape[0], np.int64)
    for i in range(points.shape[0]):
        row = min(max(int((points[i, 1] - y0) * step_y), 0), top)
        column = min(max(int((points[i, 0] - x0) * step_x), 0), top)
        cells[i] = row * grid + column
    red, green, blue = np.int64(weights[0]), np.int64(weights[1]), np.int64(weights[2])
    face = np.empty(grid * grid, np.int64)
    for r in range(grid):
        for c in range(grid):
            cell = small[r, c]
            face[r * grid + c] = cell[0] * red + cell[1] * green + cell[2] * blue
    rows, columns = coarse.shape[0], coarse.shape[1]
    photo = np.empty(rows * columns, np.int64)
    totals = np.zeros(3, np.int64)
    for r in range(rows):
        for c in range(columns):
            pixel = coarse[r, c]
            photo[r * columns + c] = pixel[0] * red + pixel[1] * green + pixel[2] * blue
            for k in range(3):
                totals[k] += pixel[k]
    face_high = np.partition(face, int(0.95 * (face.size - 1)))[int(0.95 * (face.size - 1))]
    photo_high = np.partition(photo, int(0.95 * (photo.size - 1)))[int(0.95 * (photo.size - 1))]
    # the samples at or after each edge of the face box (ceiling division), clipped
    first_x, first_y = min(-(-x0 // stride), columns), min(-(-y0 // stride), rows)
    last_x, last_y = min(-(-x1 // stride), columns), min(-(-y1 // stride), rows)
    inside_w, inside_h = max(last_x - first_x, 0), max(last_y - first_y, 0)
    outside = rows * columns - inside_w * inside_h
    if outside < surround_min:
        return cells, face_high, photo_high, False, 0.0, 0.0, 0.0
    within = np.zeros(3, np.int64)
    for r in range(first_y, first_y + inside_h):
        for c in range(first_x, first_x + inside_w):
            for k in range(3):
                within[k] += coarse[r, c, k]
    return (
        cells,
        face_high,
        photo_high,
        True,
        (totals[0] - within[0]) / outside,
        (totals[1] - within[1]) / outside,
        (totals[2] - within[2]) / outside,
    )
