"""Whether a face can take a believable mask: something in front of the lower face, or a head
turned too far.

A mask drawn over a hand, a microphone or a profile is an impossible image that a recogniser
can learn from. These checks decide, per face, before anything is drawn; a face that fails is
left unmasked with a reason (:data:`OCCLUDED`, :data:`TOO_TURNED`).

**Occlusion** (the region the mask would cover: cheeks, mouth, jaw and under the chin). Two
measures, each cheap and from what maskgen already has (the image and dlib's 68-point fit):

- *Edges crossing the jaw line* (:func:`jaw_crossing`): a bare jaw is crossed by no strong edge
  (its own outline runs along it); fingers, a hand, a microphone or its cable reaching into the
  face cross it. The fraction of a band along the jaw (points 2-14) holding strong gradients
  (over half the face's own 90th-percentile gradient) that run across the jaw (the gradient
  within ~37 degrees of the jaw's tangent).
- *Landmark-fit spread* (:func:`fit_spread`): the fit is repeated from slightly shifted and
  scaled boxes and on the mirrored image; where the jaw and mouth are hidden, the cascade has
  nothing to lock on to and its answers scatter, while the eyes and nose stay put. Using the
  spread of restarts to tell a failed or occluded fit follows Burgos-Artizzu, Perona & Dollar,
  "Robust face landmark estimation under occlusion" (ICCV 2013, "smart restarts").

**Pose** (:func:`head_pose`): yaw and pitch from six landmarks and a generic 3D face (the model
points of S. Mallick, "Head Pose Estimation using OpenCV and Dlib", LearnOpenCV 2016), solved
with ``cv2.solvePnP`` for a camera whose focal length is the image width.

The thresholds were set by looking at LFW (``benchmarks/occlusion.py``; the README gives the
rates and the judged precision).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

OCCLUDED = "occluded"
"""Reason for a face with something in front of its lower face."""
TOO_TURNED = "too_turned"
"""Reason for a face turned (or tipped) too far for a mask to be fitted believably."""

JAW_CROSSING_MAX = 0.085
"""Above this fraction of the jaw band crossed by strong edges, the face is occluded. On LFW
about 2.3 % of faces exceed it, most of them behind a hand, a microphone, a racket or another
person (judged by eye, ``benchmarks/occlusion.py``)."""
JAW_CROSSING_MAX_ALIGNED = 0.10
"""The same for a face on an aligned crop's known box (``Face.detected`` False): resampled to
112x112 and re-encoded, the same LFW faces score higher (the 97.7th percentile is 0.093 on
``lfw-fold1.bin``'s 1,200 crops against 0.085 on the photos), so about 1.5 % of them exceed
this."""
LOWER_SPREAD_MAX = 0.05
"""Above this spread of the jaw and mouth points over restarts (root-mean-square distance
from their mean, in inter-ocular distances), together with :data:`LOWER_TO_UPPER_SPREAD_MAX`,
the face is occluded."""
LOWER_TO_UPPER_SPREAD_MAX = 3.0
"""... and where the jaw and mouth spread this many times more than the eyes and nose: a blurred
or turned face spreads everywhere, an occluded lower face mostly there ..."""
JAW_CROSSING_WITH_SPREAD = 0.035
"""... and where at least this fraction of the jaw band is crossed (a third of the LFW faces
reach it): a wide-open mouth or a grin scatters the mouth points too, but crosses no jaw line.
On a 2,000-photo LFW sample this keeps 12 of the 33 scattered fits, 9 of them behind a hand
or a microphone, against 14 of the 33 without it."""
YAW_MAX_DEGREES = 55.0
"""Beyond this yaw (from :func:`head_pose`) the mask leaves the face outline: judged on LFW
renders sorted by yaw. The generic model reads real yaws high (LFW's median is ~18 degrees for
near-frontal faces), so this is about 40-45 degrees of true turn."""
PITCH_MAX_DEGREES = 45.0
FOCAL_PER_EYE_DISTANCE = 6.25
"""The camera's focal length in inter-ocular distances: an LFW photo's width (250 px) over its
median eye distance (40 px), as Mallick's recipe (focal length = image width) has it for LFW."""
"""Beyond this pitch (up or down, from :func:`head_pose`) the fit is not believable."""

_MODEL_POINTS = np.array(
    [
        (0.0, 0.0, 0.0),  # nose tip (30)
        (0.0, -330.0, -65.0),  # chin (8)
        (-225.0, 170.0, -135.0),  # outer corner of the eye on the image's left (36)
        (225.0, 170.0, -135.0),  # outer corner of the other eye (45)
        (-150.0, -150.0, -125.0),  # mouth corner (48)
        (150.0, -150.0, -125.0),  # mouth corner (54)
    ]
)
"""Mallick (2016)'s generic face, in arbitrary units, y up."""
_MODEL_LANDMARKS = (30, 8, 36, 45, 48, 54)

_MIRROR = np.array(
    [
        *range(16, -1, -1),
        *range(26, 16, -1),
        *(27, 28, 29, 30, 35, 34, 33, 32, 31),
        *(45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40),
        *(54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65),
    ]
)
"""The 68-point index of each point's mirror image (left and right swapped)."""
_RESTARTS = ((0.06, 0.0, 0.0), (-0.06, 0.0, 0.0), (0.0, 0.06, 0.0), (0.0, -0.06, 0.0))
_RESTARTS += ((0.0, 0.0, 0.08), (0.0, 0.0, -0.08))
"""Box restarts: (x shift, y shift, scale change) as fractions of the box side."""
_JAW = slice(2, 15)
_LOWER = np.r_[2:15, 48:68]
_UPPER = np.r_[27:48]

Box = tuple[float, float, float, float]


class LandmarkFitter(Protocol):
    """What the spread check needs: :meth:`maskgen.faces.FaceFinder.fit_landmarks_batch`."""

    def fit_landmarks_batch(
        self, images: Sequence[np.ndarray], boxes: Sequence[Box]
    ) -> np.ndarray: ...


def head_pose(landmarks: np.ndarray, height: int, width: int) -> tuple[float, float]:
    """(yaw, pitch) in degrees of a face from its (68, 2) landmarks in an image of
    ``height`` x ``width`` px; 0 faces the camera. Signs follow the model's axes; callers use
    the magnitudes. See the module docstring for the method; the camera's centre is put on the
    face (its landmarks' mean), so a face's pose does not depend on where it sits in the
    photo (the warp that draws the mask sees only the face), and its focal length is
    :data:`FOCAL_PER_EYE_DISTANCE` inter-ocular distances, so the pose does not depend on the
    photo's size either. ``height`` and ``width`` are kept for callers; unused."""
    points = np.asarray(landmarks, dtype=np.float64)
    focal = FOCAL_PER_EYE_DISTANCE * inter_ocular(points)
    cx, cy = points.mean(0)
    camera = np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]])
    image_points = points[list(_MODEL_LANDMARKS)]
    ok, rotation_vector, _ = cv2.solvePnP(
        _MODEL_POINTS, image_points, camera, None, flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return 90.0, 90.0
    rotation, _ = cv2.Rodrigues(rotation_vector)
    yaw = np.degrees(np.arctan2(-rotation[2, 0], np.hypot(rotation[0, 0], rotation[1, 0])))
    pitch = np.degrees(np.arctan2(rotation[2, 1], rotation[2, 2]))
    pitch = (pitch + 360.0) % 360.0 - 180.0  # the model's y is up, the image's down
    return float(yaw), float(pitch)


def is_too_turned(landmarks: np.ndarray, height: int, width: int) -> bool:
    """Whether :func:`head_pose` puts the face beyond :data:`YAW_MAX_DEGREES` or
    :data:`PITCH_MAX_DEGREES`."""
    yaw, pitch = head_pose(landmarks, height, width)
    return abs(yaw) > YAW_MAX_DEGREES or abs(pitch) > PITCH_MAX_DEGREES


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the eye centres in px (at least 1)."""
    points = np.asarray(landmarks, dtype=np.float64)
    return max(1.0, float(np.linalg.norm(points[42:48].mean(0) - points[36:42].mean(0))))


def jaw_crossing(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """The fraction, in [0, 1], of a band along the jaw line (landmarks 2-14, a quarter of the
    inter-ocular distance wide) whose gradient is strong and runs across the jaw (see the
    module docstring). ``rgb``: (H, W, 3) uint8; ``landmarks``: (68, 2) px."""
    points = np.asarray(landmarks, dtype=np.float64)
    iod = inter_ocular(points)
    x0, y0, x1, y1 = _crop_box(points, rgb.shape[0], rgb.shape[1], margin=0.6 * iod)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return 0.0
    grey = cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), max(0.8, 0.02 * iod))
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude = np.hypot(gx, gy)
    jaw = points[_JAW] - (x0, y0)
    segments = np.zeros(grey.shape, np.int32)
    width = max(3, round(0.25 * iod))
    for i in range(len(jaw) - 1):
        start, end = np.round(jaw[i]).astype(int), np.round(jaw[i + 1]).astype(int)
        cv2.line(segments, tuple(map(int, start)), tuple(map(int, end)), i + 1, width)
    ys, xs = np.nonzero(segments)
    if len(ys) == 0:
        return 0.0
    index = segments[ys, xs] - 1
    tangent = jaw[index + 1] - jaw[index]
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-9
    strength = magnitude[ys, xs]
    along = np.abs(gx[ys, xs] * tangent[:, 0] + gy[ys, xs] * tangent[:, 1]) / (strength + 1e-6)
    upper = points[17:48] - (x0, y0)
    ux0, uy0 = np.maximum(upper.min(0).astype(int), 0)
    ux1, uy1 = upper.max(0).astype(int)
    inner = magnitude[uy0 : uy1 + 1, ux0 : ux1 + 1]
    reference = (float(np.percentile(inner, 90)) if inner.size else 0.0) + 1.0
    return float(np.mean((strength > 0.5 * reference) & (along > 0.8)))


def fit_spread(
    fitter: LandmarkFitter, images: Sequence[np.ndarray], faces: Sequence[tuple[Box, np.ndarray]]
) -> np.ndarray:
    """For each (image, (box, landmarks)) pair: (lower, upper), the root-mean-square spread of
    the jaw-and-mouth and of the eyes-and-nose points over the fit, six box restarts and the
    mirrored image's fit, in inter-ocular distances. (N, 2) float64; all faces are refitted in
    one batch."""
    if not faces:
        return np.zeros((0, 2))
    fit_images: list[np.ndarray] = []
    boxes: list[Box] = []
    for rgb, (box, _) in zip(images, faces, strict=True):
        width = rgb.shape[1]
        fit_images += [rgb] * len(_RESTARTS) + [np.ascontiguousarray(rgb[:, ::-1])]
        boxes += [_restart_box(box, *restart) for restart in _RESTARTS]
        x0, y0, x1, y1 = box
        boxes.append((width - 1 - x1, y0, width - 1 - x0, y1))
    fitted = fitter.fit_landmarks_batch(fit_images, boxes).astype(np.float64)
    per_face = len(_RESTARTS) + 1
    spreads = np.zeros((len(faces), 2))
    for i, (rgb, (_, landmarks)) in enumerate(zip(images, faces, strict=True)):
        runs = fitted[i * per_face : (i + 1) * per_face].copy()
        mirrored = runs[-1][_MIRROR]
        mirrored[:, 0] = rgb.shape[1] - 1 - mirrored[:, 0]
        runs[-1] = mirrored
        runs = np.concatenate([runs, np.asarray(landmarks, np.float64)[None]])
        spread = np.sqrt(((runs - runs.mean(0)) ** 2).sum(-1).mean(0)) / inter_ocular(landmarks)
        spreads[i] = spread[_LOWER].mean(), spread[_UPPER].mean()
    return spreads


def is_occluded(
    crossing: float, lower_spread: float, upper_spread: float, *, aligned: bool = False
) -> bool:
    """The occlusion decision from :func:`jaw_crossing` and :func:`fit_spread`: a jaw line
    crossed by strong edges (:data:`JAW_CROSSING_MAX`, or :data:`JAW_CROSSING_MAX_ALIGNED` for
    a face on an aligned crop's box), or a scattered jaw-and-mouth fit
    (:data:`LOWER_SPREAD_MAX`, :data:`LOWER_TO_UPPER_SPREAD_MAX`) on a jaw line crossed a
    little (:data:`JAW_CROSSING_WITH_SPREAD`)."""
    scattered = lower_spread > LOWER_SPREAD_MAX and lower_spread > (
        LOWER_TO_UPPER_SPREAD_MAX * max(upper_spread, 0.005)
    )
    limit = JAW_CROSSING_MAX_ALIGNED if aligned else JAW_CROSSING_MAX
    return crossing > limit or (scattered and crossing > JAW_CROSSING_WITH_SPREAD)


def face_problems(
    fitter: LandmarkFitter,
    images: Sequence[np.ndarray],
    faces: Sequence[tuple[Box, np.ndarray]],
    aligned: Sequence[bool] | None = None,
) -> list[str | None]:
    """For each (image, (box, landmarks)) pair, why the face should not be masked
    (:data:`TOO_TURNED`, then :data:`OCCLUDED`), or None. ``aligned``: per face, whether its
    box is an aligned crop's known box (None: none is). The restarts of all the faces are
    fitted in one batch; too-turned faces skip the occlusion measures."""
    on_crop = list(aligned) if aligned is not None else [False] * len(faces)
    reasons: list[str | None] = [
        TOO_TURNED if is_too_turned(landmarks, *rgb.shape[:2]) else None
        for rgb, (_, landmarks) in zip(images, faces, strict=True)
    ]
    todo = [i for i, reason in enumerate(reasons) if reason is None]
    spreads = fit_spread(fitter, [images[i] for i in todo], [faces[i] for i in todo])
    for i, (lower, upper) in zip(todo, spreads, strict=True):
        crossing = jaw_crossing(images[i], faces[i][1])
        if is_occluded(crossing, float(lower), float(upper), aligned=on_crop[i]):
            reasons[i] = OCCLUDED
    return reasons


def _restart_box(box: Box, dx: float, dy: float, ds: float) -> Box:
    x0, y0, x1, y1 = box
    side = x1 - x0
    cx, cy = (x0 + x1) / 2 + dx * side, (y0 + y1) / 2 + dy * side
    half = side * (1 + ds) / 2
    return (cx - half, cy - half, cx + half, cy + half)


def _crop_box(
    points: np.ndarray, height: int, width: int, margin: float
) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(points.min(0) - margin).astype(int)
    x1, y1 = np.ceil(points.max(0) + margin).astype(int)
    return max(0, int(x0)), max(0, int(y0)), min(width, int(x1)), min(height, int(y1))
