"""Does a mask sit where it should? The fit criterion of the benchmarks and tests.

With the landmarks found on the original photo, a good fit covers the nose bottom (33), the
whole mouth (48-67) and the points halfway from the lower lip to the chin (57->8 and its
neighbours), and leaves every eye landmark (36-47) uncovered. "Covered" means coverage > 0.5 at
the landmark's pixel. Points outside the image (a face cut by the frame) can be neither hidden
nor shown, so they are not judged.
"""

from __future__ import annotations

import numpy as np

NOSE_BOTTOM = (33,)
MOUTH = tuple(range(48, 68))
EYES = tuple(range(36, 48))
LIP_TO_CHIN = ((57, 8), (58, 7), (56, 9), (58, 9), (56, 7))
"""Lower-lip to jaw pairs whose midpoints must be covered: the centre, each side's neighbour,
and the crossed pairs some descriptions use."""


def fit_failures(landmarks: np.ndarray, coverage: np.ndarray) -> list[str]:
    """The criteria one face fails, from "nose", "mouth", "chin", "eyes" ([] = good fit).

    ``landmarks``: (68, 2) float image pixels; ``coverage``: (H, W) float in [0, 1].
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    chin = np.array([(landmarks[a] + landmarks[b]) / 2 for a, b in LIP_TO_CHIN])
    failures = [
        name
        for name, points in (
            ("nose", landmarks[list(NOSE_BOTTOM)]),
            ("mouth", landmarks[list(MOUTH)]),
            ("chin", chin),
        )
        if np.any(coverage_at(coverage, points) <= 0.5)  # NaN (outside) compares False
    ]
    if np.any(coverage_at(coverage, landmarks[list(EYES)]) > 0.5):
        failures.append("eyes")
    return failures


def coverage_at(coverage: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Coverage (H, W) float at the nearest pixel of each (K, 2) point (x, y): (K,) float32,
    NaN for a point outside the image."""
    height, width = coverage.shape
    xy = np.round(points).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
    values = np.full(len(xy), np.nan, dtype=np.float32)
    values[inside] = coverage[xy[inside, 1], xy[inside, 0]]
    return values
