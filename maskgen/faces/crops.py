"""ArcFace-aligned crops: where their face box is, and cheap checks that a face is there.

An aligned crop's face box is known (``ALIGNED_BOX_112``), so the landmark fit can skip the
detector; but then anything at all - a 1x1 PNG, a flat colour, a colour ramp - would get a
mask. Three checks, from cheapest to strongest:

- :func:`is_too_small`: below ``MIN_IMAGE_SIDE`` pixels there is no face to mask (every mode);
- :func:`is_featureless`: the face box is a flat colour or a linear ramp (every mode that takes
  a crop as aligned, ``aligned`` included; costs ~0.03 ms);
- :func:`aligned_face_score` / :func:`holds_aligned_face`: dlib's HOG face detector, with a
  threshold lowered to ``ALIGNED_FACE_THRESHOLD``, must score a window on the aligned face box
  (``auto`` mode's fallback only; ~1.4 ms on one core, paid only where detection found nothing).

Measured on real aligned crops and generated non-faces by ``benchmarks/aligned_crop_checks.py``.
"""

from __future__ import annotations

import functools

import cv2
import dlib
import numpy as np

MIN_IMAGE_SIDE = 32
"""An image with a side shorter than this (pixels) holds no face to mask: at 32 px an aligned
face box is 23 px, about the smallest on which the 68-point fit still means anything."""

FEATURELESS_RESIDUAL = 4.0
"""Grey levels (0-255). Where the face box's grey values, reduced to 20x20, differ by less than
this (standard deviation) from the best-fitting plane, the box holds a flat colour or a linear
ramp, not a face. Real aligned crops measure 12.7 or more (lfw-fold1.bin's lowest of 1,200)."""

ALIGNED_FACE_THRESHOLD = -0.6
"""dlib HOG detector score (its SVM margin; dlib reports faces at 0 and above) a window on the
aligned face box must reach for ``auto`` mode to take a small square without a detection for
an aligned crop. Chosen on ``benchmarks/aligned_crop_checks.py``: 99 % of real unmasked crops
score -0.13 or more, the lowest real face at the template position -0.56 (a head turned 3/4);
those below hold no face there (failed alignments). The highest of 3,600 crops of non-face
photos scored -0.63 (a retina), of generated patterns and noise -1.06."""

EVIDENCE_SIDE = 112
"""Crops are scored at the ArcFace template's size, where the face box (80 px) matches the
HOG detector's 80 px window, so one pass over a small image suffices."""

EVIDENCE_PAD = 16
"""Pixels of replicated border around the scored crop: the aligned box ends 2 px above the
crop's lower edge, and the detector scores windows only where its HOG cells fit."""

MIN_BOX_OVERLAP = 0.4
"""Intersection over union a detector window must share with the aligned face box."""

ALIGNED_BOX_112 = (16.0, 30.0, 96.0, 110.0)
"""Face box of an ArcFace-aligned crop in 112x112 pixels (x0, y0, x1, y1): an 80 px square about
(56, 70), about the box dlib's detector draws there. Landmarks fitted inside it sit 1.3 px (mean)
from those fitted on the original LFW photo; see ``benchmarks/measure_aligned_box.py``."""

Box = tuple[float, float, float, float]


def aligned_face_box(height: int, width: int) -> Box:
    """The face box of an ArcFace-aligned crop of any size (the 112x112 box, scaled)."""
    sx, sy = width / 112.0, height / 112.0
    x0, y0, x1, y1 = ALIGNED_BOX_112
    return (x0 * sx, y0 * sy, x1 * sx, y1 * sy)


def is_too_small(height: int, width: int) -> bool:
    """Whether an image is too small to hold a face (a side under ``MIN_IMAGE_SIDE`` px)."""
    return min(height, width) < MIN_IMAGE_SIDE


def face_box_residual(rgb: np.ndarray, box: Box) -> float:
    """How far, in grey levels (standard deviation), the (H, W, 3) uint8 RGB image's grey values
    inside ``box`` (x0, y0, x1, y1 pixels), reduced to 20x20, are from their least-squares
    plane: 0 for a flat colour or a linear ramp in any direction, 12 or more for a face."""
    height, width = rgb.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, max(x0 + 1, round(box[2]))), min(height, max(y0 + 1, round(box[3])))
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (20, 20), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    design, solve = _plane_fit()
    return float((grey - design @ (solve @ grey)).std())


def is_featureless(rgb: np.ndarray, box: Box) -> bool:
    """Whether ``box`` of an (H, W, 3) uint8 RGB image is a flat colour or a linear ramp."""
    return face_box_residual(rgb, box) < FEATURELESS_RESIDUAL


def aligned_face_score(detector: dlib.fhog_object_detector, rgb: np.ndarray) -> float:
    """dlib's HOG detector score for the aligned face box of an (H, W, 3) uint8 RGB crop: the
    best score of a window overlapping the box (IoU >= ``MIN_BOX_OVERLAP``) after the crop is
    resized to 112x112 and padded; ``-inf`` where no window scores above -3 there."""
    side, pad = EVIDENCE_SIDE, EVIDENCE_PAD
    height, width = rgb.shape[:2]
    shrink = height > side or width > side
    crop = cv2.resize(
        rgb, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    padded = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    rects, scores, _ = detector.run(padded, 0, -3.0)
    box = aligned_face_box(side, side)
    best = float("-inf")
    for rect, score in zip(rects, scores, strict=True):
        window = (rect.left() - pad, rect.top() - pad, rect.right() - pad, rect.bottom() - pad)
        if _overlap(window, box) >= MIN_BOX_OVERLAP:
            best = max(best, float(score))
    return best


def holds_aligned_face(detector: dlib.fhog_object_detector, rgb: np.ndarray) -> bool:
    """Whether an (H, W, 3) uint8 RGB image taken for an aligned crop has a face at the aligned
    face box: not too small, not featureless, and a HOG score of at least
    ``ALIGNED_FACE_THRESHOLD`` there."""
    height, width = rgb.shape[:2]
    if is_too_small(height, width) or is_featureless(rgb, aligned_face_box(height, width)):
        return False
    return aligned_face_score(detector, rgb) >= ALIGNED_FACE_THRESHOLD


@functools.cache
def _plane_fit() -> tuple[np.ndarray, np.ndarray]:
    """The 20x20 grid's plane design matrix (400, 3): 1, row, column; and its pseudo-inverse
    (3, 400), which gives the least-squares plane's coefficients."""
    design = np.column_stack([np.ones(400), *np.divmod(np.arange(400.0), 20)])
    return design, np.linalg.pinv(design)


def _overlap(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
