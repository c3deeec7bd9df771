"""Where a mask should sit: the landmarks it is fitted to, and the fit criterion of the tests.

:func:`fit_landmarks` corrects dlib's landmarks where a mask must follow the face rather than
the points: on a turned face the mask wraps round the far cheek. :func:`fit_failures` is the
criterion, judged with the landmarks found on the original photo (the very ones the mask is
warped onto, so it measures the template's self-consistency; ``benchmarks/wear_coverage.py``
judges fits with another model's landmarks).

With the landmarks found on the original photo, a good fit covers the nose bottom (33), the
whole mouth (48-67) and the points halfway from the lower lip to the chin (57->8 and its
neighbours), and leaves every eye landmark (36-47) uncovered. "Covered" means coverage > 0.5 at
the landmark's pixel. Points outside the image (a face cut by the frame) can be neither hidden
nor shown, so they are not judged.
"""

from __future__ import annotations

import numpy as np

from maskgen import compiled

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


WRAP_MARGIN = 0.12
"""On a turned face the far cheek is foreshortened and dlib's far jaw points can fall inside
the nose or the mouth, which stand out beyond it. A mask spans from the nose over the cheek, so
its far edge lies at least this far beyond the nose and the mouth at the same height: half the
nose's width (landmarks 31 to 35) on the mean LFW face, in units of the landmark 27 to 8
distance."""
WRAP_BAND = 0.15
"""A jaw point is held beyond the nose and mouth landmarks within this height (same units) of
it: features far above or below it do not bound that part of the face's outline."""
_FEATURES = np.array([*range(30, 36), *range(48, 60)])
"""Nose tip and nostrils, outer lips: what stands out on a turned face."""
CHIN_WRAP = 0.06
"""dlib's jaw points trace the chin's outline as the camera sees it; a mask rests on the front
of the chin and its fabric runs on under it, so its lower edge lies beyond that outline. The
jaw points about the chin move this fraction further from the nose tip (landmark 30), in full
at the chin (8) and fading over its neighbours (:data:`_CHIN_WEIGHTS`)."""
_CHIN_WEIGHTS = {8: 1.0, 7: 0.75, 9: 0.75, 6: 0.4, 10: 0.4, 5: 0.15, 11: 0.15}
_CHIN = np.array(list(_CHIN_WEIGHTS))
_CHIN_W = np.array(list(_CHIN_WEIGHTS.values()))[:, None] * CHIN_WRAP
_JAW = np.array([*range(0, 8), *range(9, 17)])
"""Jaw points of both sides (the chin, 8, stays on the centre line)."""
_SIDE = np.repeat([1.0, -1.0], 8)
"""Which way is outward for each of :data:`_JAW`, in units of the ``across`` vector."""


def fit_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """The landmarks a mask is fitted to: dlib's, with each side's jaw points (0-7, 9-16)
    moved outward where they lie less than :data:`WRAP_MARGIN` beyond the nose or the lips at
    their height, so on three-quarter views the mask wraps round the far cheek instead of
    ending on the nose (frontal faces keep theirs), and the points about the chin moved down
    and out by :data:`CHIN_WRAP`, so the mask reaches under the chin.

    ``landmarks``: (68, 2) float, dlib order, image pixels. Returns (68, 2) float32 (a new
    array). Heights and widths are measured along and across the line from landmark 27 (top of
    the nose bridge) to 8 (chin). Computed by a compiled kernel
    (:mod:`maskgen.masks._fit_kernels`) where the process uses numba
    (:func:`maskgen.compiled.use_compiled`), else by :func:`fit_landmarks_numpy`: the same
    points to the bit.
    """
    points = np.array(landmarks, dtype=np.float64)  # a copy: both forms work in place
    if not compiled.use_compiled():
        return fit_landmarks_numpy(points)
    from maskgen.masks import _fit_kernels as kernels

    fitted = kernels.fit_landmarks(
        points, _JAW, _SIDE, _FEATURES, _CHIN, _CHIN_W[:, 0], WRAP_BAND, WRAP_MARGIN
    )
    return fitted.astype(np.float32)


def fit_landmarks_numpy(points: np.ndarray) -> np.ndarray:
    """:func:`fit_landmarks` of (68, 2) float64 ``points`` (changed in place) in numpy: the
    reference the kernel repeats, each product and sum written out in its order (no matrix
    products, whose order and fusing belong to the BLAS). Returns (68, 2) float32."""
    ax = points[8, 0] - points[27, 0]
    ay = points[8, 1] - points[27, 1]
    size = np.hypot(ax, ay)
    if size < 1e-6:
        return points.astype(np.float32)
    dx, dy = ax / size, ay / size  # down the face; across it is (-dy, dx)
    rx = points[:, 0] - points[27, 0]
    ry = points[:, 1] - points[27, 1]
    level = (rx * dx + ry * dy) / size
    lateral = (rx * -dy + ry * dx) / size
    near = np.abs(level[_FEATURES][None, :] - level[_JAW][:, None]) <= WRAP_BAND  # (16, 18)
    outward = np.where(near, _SIDE[:, None] * lateral[_FEATURES][None, :], -np.inf)
    reach = outward.max(axis=1) + WRAP_MARGIN  # -inf where no feature is near
    moved = _SIDE * np.maximum(reach - _SIDE * lateral[_JAW], 0.0)
    moved *= size
    points[_JAW, 0] += moved * -dy
    points[_JAW, 1] += moved * dx
    points[_CHIN] += _CHIN_W * (points[_CHIN] - points[30])
    return points.astype(np.float32)
