"""Creases of soft masks: every surgical mask worn gets folds of its own.

A template's shading (:mod:`maskgen.assets.template_art`) holds the folds every mask of that
design shares: the pleats, seams and hems. A worn surgical mask also creases where it was
folded, pocketed and pulled over the face, a few soft folds different on every mask, and on
real photos those folds are much of what shows of the fabric: ``benchmarks/mask_detail.py``
measures the fine detail over the mouth against the forehead's, median 2.33 on MFR2-dev's 34
real surgical masks against 0.94 for the twin's flat ones (see the README's "How masks look"
for the figure with these creases). MFR2-dev's plain cloth masks measure smoother than the
twin's already (0.34 against 0.62) and respirators (the ``kn95`` and ``n95`` families) keep
their shape, so those get none: KN95s creased in broader, softer folds were tried (see
:data:`FOLD_STYLES`) and not kept. (RMFD's crops, the other real set, were not used.)

The creases are a brightness relief: the slope of a height field whose ridges are the zero
crossings of smooth noise stretched sideways (folds of a mask run mostly across it), lit from
above, as a factor around 1 whose bright side is compressed (a fold's shadow is deeper than
its lit side is bright, and a white mask's lit folds do not clip). The field is made once per
process from a fixed seed, with a pyramid of blurred half-size copies (:func:`_crease_levels`)
so that a small face reads folds from a level whose pixels are about its own (no aliasing).
Each mask cuts a window from it at an offset and with a strength taken from its
``MaskParams.grain_seed`` (:data:`STRENGTH_BITS`), turned with the eye line and scaled to the
face, so a fold is its style's width (:class:`FoldStyle`) of the face's width high at any
photo size and any roll, and the photographic match then softens it like the rest of the mask.
No draw is added to the policy, so every other choice of a seeded run stays as it was.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

CREASE_FIELD = 512
"""Side (pixels) of the process's fixed relief field (level 0) that windows are cut from."""
CREASE_FEATURE = 6.0
"""Height of a fold in the field (level-0 pixels): the noise's blur across the folds."""
CREASE_STRETCH = 2.5
"""How many times longer than high the noise's features are: folds run across the mask."""
CREASE_WIDTH = 0.06
"""A surgical mask's fold height on the face, as a fraction of the face's width (see
:func:`crease_relief`)."""
CREASE_STRENGTH = 0.22
"""The relief's standard deviation on the most creased surgical mask; each mask draws a
strength from 0 (new, flat) to its style's, uniformly, from its seed. Chosen with
``benchmarks/mask_detail.py`` on a first version of the relief: 0.15 gave the twin's surgical
masks a median of 1.46 and 0.22 gave 1.78 (real: 2.33), and at 0.3 the most creased masks
looked like ridged plastic on a close look; the final relief measures 2.02 at 0.22."""


@dataclass(frozen=True)
class FoldStyle:
    """How a family's masks crease: ``width``, a fold's height on the face as a fraction of
    the face's width; ``strength``, the relief's standard deviation on the most creased mask."""

    width: float
    strength: float


FOLD_STYLES: dict[str, FoldStyle] = {"surgical": FoldStyle(CREASE_WIDTH, CREASE_STRENGTH)}
"""The template families whose masks crease (``MaskTemplate.family``), and how. KN95s with
folds twice as broad and at most 0.15 strong (chosen by eye beside MFR2-dev's three real ones)
were tried on 2026-11-30 (docs/experiments.md, session 26) and not kept: their fine detail rose
from 0.34 to 0.63 (real 2.57, n=3), (a) did not move (0.963 over five seeds either way) and (b)
fell from 0.969 to 0.963, the real masked photos more often missed."""
STRENGTH_BITS = 1023 << 20
"""The bits of ``grain_seed`` that set the crease strength (0 to 1023, over 1023): a seed
with these bits clear gives a flat mask and the same grain (:func:`flat_seed`)."""
BRIGHT_SIDE = 0.5
"""The relief's bright side (lit slopes) is this fraction of its dark side (shadows)."""
_DEEPEST = 3.0
"""The relief's shadows are limited softly to this many standard deviations (``tanh``), so the
most creased mask never darkens below about a quarter of its brightness."""
_SHARPNESS = 0.35
"""Width of a ridge around the noise's zero crossing (in the noise's standard deviations)."""
_UPRIGHT = math.radians(1.0)
"""An eye line turned less than this is read as level (aligned crops): the window is cut
straight and resized, not warped; the folds then lean by less than a degree."""
_MIN_SCALE = 0.7
"""Image pixels per field pixel below which a coarser pyramid level is read."""


def creases_for(family: str) -> FoldStyle | None:
    """How masks of this template family crease (:data:`FOLD_STYLES`); None: they do not."""
    return FOLD_STYLES.get(family)


def flat_seed(seed: int) -> int:
    """``seed`` with its crease strength cleared: the same mask and grain, without creases."""
    return seed & ~STRENGTH_BITS


def crease_relief(
    seed: int,
    height: int,
    width: int,
    face_width: float,
    angle: float = 0.0,
    style: FoldStyle = FOLD_STYLES["surgical"],
) -> np.ndarray:
    """(height, width) float32 brightness factor around 1 over a mask's region (from about
    0.25 to 1.6 on the most creased mask): the creases of the mask drawn with ``seed``
    (``MaskParams.grain_seed``) on a face ``face_width`` pixels wide whose eye line is turned
    ``angle`` radians (image coordinates, y down), in the family's ``style``; folds turn
    with it. The same arguments give the same relief in every process. ValueError for a
    non-positive size or face width."""
    if height <= 0 or width <= 0 or not face_width > 0:
        raise ValueError(
            f"crease_relief needs a positive size and face width: {height}x{width}, {face_width}"
        )
    strength = style.strength * ((seed & STRENGTH_BITS) >> 20) / 1023
    if strength == 0:
        return np.ones((height, width), np.float32)
    levels = _crease_levels()
    scale = style.width * face_width / CREASE_FEATURE  # image pixels per level-0 pixel
    level = min(max(math.floor(math.log2(_MIN_SCALE / scale)) + 1, 0), len(levels) - 1)
    field = levels[level]
    scale *= 2**level
    side = field.shape[0]
    span = math.hypot(height, width) / scale  # the turned window's reach, in field pixels
    room = max(int(side - span), 0) + 1  # whole-pixel offsets that keep the window inside
    centre_x = span / 2 + seed % room
    centre_y = span / 2 + (seed >> 10) % room
    # image pixel (x, y) reads field pixel centre + R(angle)^-1 (x - w/2, y - h/2) / scale
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    x_off = centre_x - cos * width / 2 - sin * height / 2
    y_off = centre_y + sin * width / 2 - cos * height / 2
    matrix = np.array([[cos, sin, x_off], [-sin, cos, y_off]], np.float64)
    if abs(angle) < _UPRIGHT and scale < 2:  # an upright face: a plain resize, twice as fast
        x, y = round(x_off), round(y_off)
        rows, columns = round(height / scale), round(width / scale)
        if 0 <= x <= side - columns and 0 <= y <= side - rows and rows > 0 and columns > 0:
            window = field[y : y + rows, x : x + columns]
            relief = cv2.resize(window, (width, height), interpolation=cv2.INTER_LINEAR)
            return cv2.addWeighted(relief, strength, relief, 0.0, 1.0)
    # where a field pixel covers several image pixels, sample a grid `step` times coarser
    # (the field holds no finer detail) and enlarge it: the warp's cost falls by step**2
    step = max(1, min(int(scale), height, width))
    if step > 1:
        centre = (step - 1) / 2  # coarse pixel (i, j) sits over image pixel step (i, j) + centre
        matrix = matrix @ np.array([[step, 0, centre], [0, step, centre], [0, 0, 1]], np.float64)
    coarse = cv2.warpAffine(
        field,
        matrix,
        (-(-width // step), -(-height // step)),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    relief = (
        coarse if step == 1 else cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    )
    return cv2.addWeighted(relief, strength, relief, 0.0, 1.0)


@functools.lru_cache(maxsize=1)
def _crease_levels() -> tuple[np.ndarray, ...]:
    """The relief field and its pyramid: level 0 (CREASE_FIELD, CREASE_FIELD) float32 with
    zero mean and unit standard deviation, each next level ``cv2.pyrDown`` of the last (down
    to 32 px); read-only, from a fixed seed. Level 0 is the vertical and (less) horizontal
    slope of a height field of folds at two sizes (the second 0.45 times the first, with a
    third of its slope), its bright side scaled by :data:`BRIGHT_SIDE` and its dark side
    limited by :data:`_DEEPEST`."""
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
    relief = np.where(relief > 0, BRIGHT_SIDE * relief, relief)
    relief = (relief - relief.mean()) / (relief.std() + 1e-6)
    relief = np.where(relief < 0, -_DEEPEST * np.tanh(relief / -_DEEPEST), relief)
    relief = ((relief - relief.mean()) / (relief.std() + 1e-6)).astype(np.float32)
    levels = [relief]
    while levels[-1].shape[0] > 32:
        levels.append(cv2.pyrDown(levels[-1]))
    for level in levels:
        level.setflags(write=False)
    return tuple(levels)
