"""numba kernel behind :func:`maskgen.masks.fit.fit_landmarks`: the same points to the bit as
its numpy reference :func:`~maskgen.masks.fit.fit_landmarks_numpy` (the same float64
operations in the same order, nothing fused), without numpy's per-call cost: some thirty
array calls on 68 points, about 20 microseconds a face against one or two here.
"""

from __future__ import annotations

import numpy as np

from maskgen.compiled import jit


@jit
def fit_landmarks(
    points: np.ndarray,
    jaw: np.ndarray,
    sides: np.ndarray,
    features: np.ndarray,
    chin: np.ndarray,
    chin_weights: np.ndarray,
    band: float,
    margin: float,
) -> np.ndarray:
    """``fit.fit_landmarks_numpy`` to the bit: ``points`` (68, 2) float64 (modified in place
    and returned), the jaw points, their outward sides, the feature points, the chin points
    and their weights as in :mod:`maskgen.masks.fit`."""
    ax = points[8, 0] - points[27, 0]
    ay = points[8, 1] - points[27, 1]
    size = np.hypot(ax, ay)
    if size < 1e-6:
        return points
    dx, dy = ax / size, ay / size
    count = points.shape[0]
    level = np.empty(count)
    lateral = np.empty(count)
    for i in range(count):
        rx = points[i, 0] - points[27, 0]
        ry = points[i, 1] - points[27, 1]
        level[i] = (rx * dx + ry * dy) / size
        lateral[i] = (rx * -dy + ry * dx) / size
    for j in range(jaw.size):
        point, side = jaw[j], sides[j]
        reach = -np.inf
        for feature in features:
            if abs(level[feature] - level[point]) <= band:
                reach = max(reach, side * lateral[feature])
        moved = side * max((reach + margin) - side * lateral[point], 0.0)
        points[point, 0] = points[point, 0] + (moved * size) * -dy
        points[point, 1] = points[point, 1] + (moved * size) * dx
    nose_x, nose_y = points[30, 0], points[30, 1]
    for j in range(chin.size):
        point, weight = chin[j], chin_weights[j]
        points[point, 0] = points[point, 0] + weight * (points[point, 0] - nose_x)
        points[point, 1] = points[point, 1] + weight * (points[point, 1] - nose_y)
    return points
