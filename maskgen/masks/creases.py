"""Creases of soft masks: every surgical mask worn gets folds of its own.

A template's shading (:mod:`maskgen.assets.template_art`) holds the folds every mask of that
design shares: the pleats, seams and hems. A worn surgical mask also creases where it was
folded, pocketed and pulled over the face, a few soft folds different on every mask, and on
real photos those folds are much of what shows of the fabric: ``benchmarks/mask_detail.py``
measures the fine detail over the mouth against the forehead's, median 2.33 on MFR2-dev's 34
real surgical masks against 0.94 for the twin's flat ones (1.78 with these creases). MFR2-dev's
plain cloth masks measure smoother than the twin's already (0.34 against 0.62) and molded
respirators (the ``kn95`` and ``n95`` families) keep their shape, so those get none.

The creases are a brightness relief: the slope of a height field whose ridges are the zero
crossings of smooth noise stretched sideways (folds of a mask run mostly across it), lit from
above, as a factor around 1 (:func:`crease_relief`). The field is made once per process from a
fixed seed (:func:`_crease_field`); each mask cuts a window from it at an offset, and with a
strength, taken from its ``MaskParams.grain_seed``, scaled to the face: a crease is
:data:`CREASE_WIDTH` of the jaw's width wide whatever the photo's size, so the photographic
match then softens it like the rest of the mask. No draw is added to the policy, so every other
choice of a seeded run stays as it was.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

SOFT_FAMILIES: tuple[str, ...] = ("surgical",)
"""Template families whose masks crease (``MaskTemplate.family``)."""

CREASE_FIELD = 256
"""Side (pixels) of the process's fixed relief field that windows are cut from."""
CREASE_FEATURE = 6.0
"""Height of a fold in the field (pixels): the noise's blur across the folds."""
CREASE_STRETCH = 2.5
"""How many times longer than high the noise's features are: folds run across the mask."""
CREASE_WIDTH = 0.06
"""A fold's height on the face, as a fraction of the jaw's width (landmark 0 to 16)."""
CREASE_STRENGTH = 0.22
"""The relief's standard deviation on the most creased mask; each mask draws a strength from
0 (new, flat) to this, uniformly, from its seed. Chosen with ``benchmarks/mask_detail.py``:
0.15 gave the twin's surgical masks a median of 1.46, 0.22 gives 1.78 (real: 2.33), and at
0.3 the most creased masks looked like ridged plastic on a close look."""
_SHARPNESS = 0.35
"""Width of a ridge around the noise's zero crossing (in the noise's standard deviations)."""


def creases_for(family: str) -> bool:
    """Whether masks of this template family crease (:data:`SOFT_FAMILIES`)."""
    return family in SOFT_FAMILIES


def crease_relief(seed: int, height: int, width: int, jaw: float) -> np.ndarray:
    """(height, width) float32 brightness factor around 1 over a mask's region: the creases of
    the mask drawn with ``seed`` (``MaskParams.grain_seed``) on a face whose jaw is ``jaw``
    pixels wide. The same seed and sizes give the same relief in every process. ValueError
    for a non-positive size or jaw."""
    if height <= 0 or width <= 0 or not jaw > 0:
        raise ValueError(f"crease_relief needs a positive size and jaw: {height}x{width}, {jaw}")
    field = _crease_field()
    scale = CREASE_WIDTH * jaw / CREASE_FEATURE  # image pixels per field pixel
    rows = min(max(round(height / scale), 2), CREASE_FIELD)
    columns = min(max(round(width / scale), 2), CREASE_FIELD)
    strength = CREASE_STRENGTH * ((seed >> 20) % 1024) / 1023
    y = seed % (CREASE_FIELD - rows + 1)
    x = (seed >> 10) % (CREASE_FIELD - columns + 1)
    window = field[y : y + rows, x : x + columns]
    relief = cv2.resize(window, (width, height), interpolation=cv2.INTER_LINEAR)
    return relief * np.float32(strength) + np.float32(1.0)


@functools.lru_cache(maxsize=1)
def _crease_field() -> np.ndarray:
    """(CREASE_FIELD, CREASE_FIELD) float32 relief with unit standard deviation, from a fixed
    seed, read-only: the vertical and (less) horizontal slope of a height field of folds at
    two sizes (the second 0.45 times the first, a third as high)."""
    rng = np.random.default_rng(0x6372_6561)
    size = CREASE_FIELD
    height = np.zeros((size, size), np.float32)
    for octave, weight in ((1.0, 1.0), (0.45, 0.35)):
        sigma = CREASE_FEATURE * octave
        noise = rng.standard_normal((size, size), dtype=np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=CREASE_STRETCH * sigma, sigmaY=sigma)
        noise /= noise.std() + 1e-6
        height += weight * sigma * np.exp(-((noise / _SHARPNESS) ** 2))
    slope_y = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3)
    slope_x = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3)
    relief = 0.8 * slope_y + 0.3 * slope_x  # light from above, a little from the side
    relief -= relief.mean()
    relief /= relief.std() + 1e-6
    relief.setflags(write=False)
    return relief
