"""Whether a face can take a believable mask: something in front of the lower face, a head
turned too far, a face largely cut off by the border, or a detection that may be no face.

A mask drawn over a hand, a microphone or a profile is an impossible image that a recogniser
can learn from. These checks decide, per face, before anything is drawn; a face that fails is
left unmasked with a reason (:data:`OCCLUDED`, :data:`TOO_TURNED`, :data:`DOUBTFUL_FACE`).
Where an occluder cannot be told reliably, a face is left unmasked rather than masked over it:
a face wrongly left unmasked costs the twin one masked sample, a mask painted over a hand
teaches an impossible image.

**Occlusion** (the region the mask would cover: cheeks, mouth, jaw and under the chin), from
what maskgen already has, the image and dlib's 68-point fit:

- *What crosses the jaw line* (:func:`jaw_crossing`): a bare jaw is crossed by no strong edge
  (its own outline runs along it); fingers, a hand, a microphone, a racket or another person's
  head reaching into the face cross it. Two measures over a band along landmarks 2-14: the
  share of the band holding strong gradients that run across the jaw, and the share of the
  jaw where one edge runs right across the band (beard and stubble cross in short strokes).
- *Landmark-fit spread* (:func:`fit_spread`): the fit is repeated from a slightly shifted
  and a slightly enlarged box; where the jaw and mouth are hidden, the cascade has
  nothing to lock on to and its answers scatter, while the eyes and nose stay put. Using the
  spread of restarts to tell a failed or occluded fit follows Burgos-Artizzu, Perona & Dollar,
  "Robust face landmark estimation under occlusion" (ICCV 2013, "smart restarts").

**Pose** (:func:`head_pose`): yaw and pitch from six landmarks and a generic 3D face (the model
points of S. Mallick, "Head Pose Estimation using OpenCV and Dlib", LearnOpenCV 2016), solved
with ``cv2.solvePnP``, on the faces a weak-perspective pose of the same points
(:func:`rough_pose`, all faces at once) does not already put well within the limits.

The thresholds were set on LFW: 367 faces of a 2,000-photo random sample labelled by eye (the
faces each measure ranks highest, and 200 others at random; 62 with something in front of the
lower face), renders viewed at increasing yaw, and the rates of ``benchmarks/occlusion.py``
(the README gives them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import ModuleType, SimpleNamespace
from typing import Protocol

import cv2
import numpy as np

from maskgen import compiled

OCCLUDED = "occluded"
"""Reason for a face with something in front of its lower face."""
TOO_TURNED = "too_turned"
"""Reason for a face turned (or tipped) too far for a mask to be fitted believably."""
OUT_OF_FRAME = "out_of_frame"
"""Reason for a detected face largely cut off by the image's border: dlib's fit extrapolates
the parts it cannot see, and a mask drawn from them lands anywhere (an eye, on a sideways face
at a photo's edge, was seen)."""

DOUBTFUL_FACE = "doubtful_face"
"""Reason for a detection that may not be a face at all: the detector barely took it and the
landmark fit of its eyes and nose does not hold still (:data:`DOUBTFUL_SCORE_MAX`,
:data:`DOUBTFUL_UPPER_SPREAD_MIN`). A round badge on a sleeve (the mission patch of
scikit-image's astronaut portrait) is one; a mask drawn on it is an impossible image."""

DOUBTFUL_SCORE_MAX = 0.1
"""A face is doubtful where dlib's detection score (:attr:`maskgen.faces.Face.score`; 0 is
its threshold, the median LFW face scores 1.6) is under this ...
"""
DOUBTFUL_UPPER_SPREAD_MIN = 0.1
"""... and its eyes-and-nose points spread over the box restarts (:func:`fit_spread`, in
inter-ocular distances) by more than this: on a face the eyes and nose stay put even where the
jaw scatters. Over all of LFW (13,591 faces with a score; 114 of them under 0.1) the two
together flag 3, each a half-hidden background face (``Keanu_Reeves_0005``,
``Maryn_McKenna_0001``, ``Trent_Lott_0006``, all second faces); the astronaut's mission patch
scores 0.059 with a spread of 0.133. The spread is measured only on faces under the score
bound (under 1 % of LFW's), so the check costs next to nothing."""

OUT_OF_FRAME_SHARE = 0.25
"""A detected face is out of frame where more than this share of its 68 landmarks lie outside
the image: a chin cut by the bottom edge (7 of 68 points, 10 %) still passes, a face cut at the
eyes does not."""

JAW_CROSSING_MAX = 0.085
"""A face is occluded above this :attr:`JawCrossing.edges` (about the top 2.3 % of LFW's
faces) ..."""
JAW_LINES_MAX = 0.06
"""... or above this :attr:`JawCrossing.lines` (about the top 2 %). Together with the spread
rule below: on the labelled LFW faces, 74 flagged, 48 of them occluded (precision 0.65), 48
of the 62 occluded ones flagged (0.77); 3.8 % of the sample's faces flagged."""
JAW_CROSSING_MAX_ALIGNED = 0.10
"""The same for a face on an aligned crop's known box (``Face.detected`` False) ..."""
JAW_LINES_MAX_ALIGNED = 0.08
"""... and this. A 112x112 crop cuts the band at the chin and shows less of what is in front
of it, so both measures tell less there: on aligned crops of the labelled LFW faces these
flag 30, 18 occluded (0.60), 18 of the 62 (0.29), and 2.8 % of ``lfw-fold1.bin``'s crops; the
photo thresholds would flag 5.4 % of them at precision 0.49."""
JAW_CROSSING_INSIDE_MIN_ALIGNED = 0.05
"""On an aligned crop, :data:`JAW_CROSSING_MAX_ALIGNED` holds only where the face's side of the
band is crossed by more than this (:attr:`JawCrossing.inside`): something in front of the face
runs on across its outline, while what is behind or beside it (a collar, a scarf, a hand held
out below the chin) stops at the outline, so its edges fill the outer half alone. Over the
aligned crops of all 13,224 LFW faces (each photo's first face, aligned as ``maskgen align``
does), this leaves unmasked 230 instead of 291 as ``occluded``; the 61 no longer flagged were
viewed one by one and none has anything in front of its lower face (collars, scarves,
earrings, beards, background; two a hand or another face beside, touching the outline).
Among them lfw-mini's record 226 (a hand held out at the crop's lower-left corner, inside
0.022) and ``lfw-fold1.bin``'s crops 206, 208, 662 and 826 (0.029-0.036); the hands,
microphones and telephones in front of the face flagged on those sets reach 0.055 and more.
Not used on photos: there the same rule left 68 of LFW's 577 flagged faces, of them at least
six with a hand, a telephone, a medal or a microphone in front of the lower face
(``Rick_Perry_0001``, ``Leonid_Kuchma_0002``, ``Natalie_Coughlin_0001``,
``Kenneth_Bowersox_0001``, ``Manuel_Poggiali_0002``, ``Cheryl_Little_0001``), at 0.03-0.05:
what crosses a photo's wider band need not reach a narrow inner half."""
LOWER_SPREAD_MAX = 0.05
"""A face is also occluded where the jaw and mouth points spread over restarts by more than
this (root-mean-square distance from their mean, in inter-ocular distances) ..."""
LOWER_TO_UPPER_SPREAD_MAX = 3.0
"""... and this many times more than the eyes and nose (a blurred or turned face spreads
everywhere, an occluded lower face mostly there) ..."""
JAW_CROSSING_WITH_SPREAD = 0.04
"""... on a jaw band crossed by at least this much (over a quarter of LFW's faces reach it): a
wide-open mouth or a grin scatters the mouth points too, but crosses no jaw line. Set at 0.035
with seven fits, this kept 12 of the 33 scattered fits of a 2,000-photo LFW sample, 9 of them
behind a hand or a microphone (``Hugo_Chavez_0010``, at 0.043, among them), against 14 of the
33 without it; raised to 0.04 (no face of that sample was decided by the spread below 0.041)
so that the restarts run on a fifth fewer faces."""
JAW_CROSSING_WITH_SPREAD_ALIGNED = 0.06
"""The same for a face on an aligned crop's box, set so that the restarts (the dearest part of
the checks) run on fewer crops: an eighth of ``lfw-fold1.bin``'s crops instead of 43 %. With
the bound at 0.035 the spread decided 2 of its 1,200 crops, both at 0.070."""
YAW_MAX_DEGREES = 55.0
"""Beyond this yaw (from :func:`head_pose`) a mask leaves the face outline on the far side
often enough not to be believable: judged on LFW renders binned by yaw (fine at 45-50,
mostly fine at 50-55, about half off the face beyond 55). 16 of LFW's 13,224 faces exceed
it; dlib's frontal detector finds few faces turned further."""
PITCH_MAX_DEGREES = 45.0
"""Beyond this pitch (up or down, from :func:`head_pose`) the fit is not believable (3 of
LFW's faces)."""
POSE_GATE_YAW_DEGREES = 40.0
"""``cv2.solvePnP`` (:func:`head_pose`, about 0.2 ms a face) runs only on faces whose
:func:`rough_pose` exceeds this yaw ..."""
POSE_GATE_PITCH_DEGREES = 30.0
"""... or this pitch: a tenth of LFW's faces. The rough pose differs from :func:`head_pose` by
up to ~40 degrees on odd fits, so the gate was checked on all 13,769 faces dlib finds in LFW,
not derived: of the 23 that :func:`head_pose` puts beyond the limits, it passes 20 on; the 3
it lets through are frontal faces (``David_Nalbandian_0011``, ``Gerhard_Schroeder_0083``,
``Greg_Ostertag_0001``, checked by eye) where the iterative solver stopped in a wrong
minimum (a pitch of 170 degrees, a yaw of 66), so the gate drops only false flags."""
FOCAL_PER_EYE_DISTANCE = 6.25
"""The camera's focal length in inter-ocular distances: an LFW photo's width (250 px) over its
median eye distance (40 px), Mallick's recipe (focal length = image width) for LFW, made
independent of the photo's size and of where the face sits in it."""

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
_MODEL_PSEUDO_INVERSE = np.linalg.pinv(_MODEL_POINTS - _MODEL_POINTS.mean(0))
"""(3, 6): the centred model points' pseudo-inverse, for :func:`rough_pose`."""

_RESTARTS = ((0.0, 0.06, 0.0), (0.0, 0.0, 0.08))
"""Box restarts: (x shift, y shift, scale change) as fractions of the box side. The box moved
down and the box enlarged: of the six boxes and the mirrored image first used (shifts of 0.06
in x and y, scale by 0.08), the pair that changed the fewest decisions when the others were
dropped: 3 of the 2,092 faces of a 2,000-photo LFW sample (the seven-fit code as the
reference; ``Hugo_Chavez_0010`` needs the box moved down), at two fits a face instead of
seven."""
_JAW = slice(2, 15)
_ACROSS = np.linspace(-1.0, 1.0, 9)
"""Where :attr:`JawCrossing.lines` samples across the band, in half-widths."""
_LOWER = np.r_[2:15, 48:68]
_UPPER = np.r_[27:48]

Box = tuple[float, float, float, float]


class LandmarkFitter(Protocol):
    """What the spread check needs: :meth:`maskgen.faces.FaceFinder.fit_landmarks_batch`."""

    def fit_landmarks_batch(
        self, images: Sequence[np.ndarray], boxes: Sequence[Box]
    ) -> np.ndarray: ...


def head_pose(landmarks: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of a face from its (68, 2) landmarks, in pixels; 0 faces the
    camera. Signs follow the model's axes; callers use the magnitudes. See the module
    docstring for the method. The camera's centre is put on the face (its landmarks' mean) and
    its focal length is :data:`FOCAL_PER_EYE_DISTANCE` inter-ocular distances, so the pose
    depends neither on where the face sits in the photo nor on the photo's size (the warp that
    draws the mask sees only the face)."""
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


def is_too_turned(landmarks: np.ndarray) -> bool:
    """Whether :func:`head_pose` puts the face beyond :data:`YAW_MAX_DEGREES` or
    :data:`PITCH_MAX_DEGREES`."""
    yaw, pitch = head_pose(landmarks)
    return abs(yaw) > YAW_MAX_DEGREES or abs(pitch) > PITCH_MAX_DEGREES


def rough_pose(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(yaw, pitch) in degrees, each (N,), of N faces from their (N, 68, 2) landmarks, under a
    weak-perspective (scaled orthographic) camera: the least-squares affine map of the same
    six model points onto the landmarks, made a rotation. All faces in a few array operations
    (about 1 µs a face against :func:`head_pose`'s 0.2 ms), for :data:`POSE_GATE_YAW_DEGREES`
    and :data:`POSE_GATE_PITCH_DEGREES`; same axes and signs as :func:`head_pose`."""
    image = np.asarray(landmarks, dtype=np.float64)[:, list(_MODEL_LANDMARKS)]
    image = image - image.mean(1, keepdims=True)
    affine = np.einsum("kn,fnc->fck", _MODEL_PSEUDO_INVERSE, image)  # (N, 2, 3)
    x = affine[:, 0] / (np.sqrt((affine[:, 0] ** 2).sum(1, keepdims=True)) + 1e-12)
    y = affine[:, 1] - (affine[:, 1] * x).sum(1, keepdims=True) * x
    y /= np.sqrt((y**2).sum(1, keepdims=True)) + 1e-12
    z = x[:, [1, 2, 0]] * y[:, [2, 0, 1]] - x[:, [2, 0, 1]] * y[:, [1, 2, 0]]  # x cross y
    yaw = np.degrees(np.arctan2(-z[:, 0], np.hypot(x[:, 0], y[:, 0])))
    pitch = np.degrees(np.arctan2(z[:, 1], z[:, 2]))
    return yaw, (pitch + 360.0) % 360.0 - 180.0


def too_turned(landmarks: Sequence[np.ndarray]) -> list[bool]:
    """:func:`is_too_turned` for each face's (68, 2) landmarks; ``cv2.solvePnP`` runs only on
    the faces :func:`rough_pose` puts beyond :data:`POSE_GATE_YAW_DEGREES` or
    :data:`POSE_GATE_PITCH_DEGREES` (the others are taken as within the limits)."""
    if not len(landmarks):
        return []
    yaw, pitch = rough_pose(np.stack([np.asarray(points) for points in landmarks]))
    gate = (np.abs(yaw) > POSE_GATE_YAW_DEGREES) | (np.abs(pitch) > POSE_GATE_PITCH_DEGREES)
    return [
        bool(gated) and is_too_turned(points) for gated, points in zip(gate, landmarks, strict=True)
    ]


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the eye centres in px (at least 1)."""
    points = np.asarray(landmarks, dtype=np.float64)
    dx, dy = points[42:48].mean(0) - points[36:42].mean(0)
    return max(1.0, math.hypot(dx, dy))


@dataclass(frozen=True)
class JawCrossing:
    """How much crosses the jaw line (landmarks 2-14), from :func:`jaw_crossing`.

    ``edges``: the fraction, in [0, 1], of a band along the jaw (a quarter of the inter-ocular
    distance wide) whose gradient is strong (over half the face's own 90th-percentile
    gradient) and runs across the jaw (within ~37 degrees of its tangent).
    ``lines``: the fraction of the jaw's length where one edge runs right across a band 0.3
    inter-ocular distances wide: the same sign of gradient along the jaw, stronger than across
    it and over a quarter of the reference, on at least 60 % of the band's width (of what the
    image shows of it, at least 5 of its 9 samples). Beard and
    stubble cross the jaw in short strokes (``edges``), a finger or a microphone in one line.
    ``inside``: ``edges`` on the band's inner half alone (the face's side of the jaw line,
    inside the polygon of landmarks 2-14 and 27), which what is behind the face never reaches;
    None where it was not measured (see :func:`jaw_crossing`).
    """

    edges: float
    lines: float
    inside: float | None = None


def jaw_crossing(
    rgb: np.ndarray, landmarks: np.ndarray, *, inside_above: float | None = 0.0
) -> JawCrossing:
    """What crosses the jaw line of a face (see :class:`JawCrossing`). ``rgb``: (H, W, 3)
    uint8; ``landmarks``: (68, 2) px. Only a crop around the landmarks is read.
    ``JawCrossing.inside`` is measured only where ``edges`` exceeds ``inside_above`` (None:
    never), the only faces whose decision it can change (a second pass over the band)."""
    points = np.asarray(landmarks, dtype=np.float64)
    iod = inter_ocular(points)
    x0, y0, x1, y1 = _crop_box(points, rgb.shape[0], rgb.shape[1], margin=0.6 * iod)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return JawCrossing(0.0, 0.0)
    grey = cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), max(0.8, 0.02 * iod))
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude = cv2.magnitude(gx, gy)
    jaw = points[_JAW] - (x0, y0)
    upper = points[17:48] - (x0, y0)
    ux0, uy0 = np.maximum(upper.min(0).astype(int), 0)
    ux1, uy1 = upper.max(0).astype(int)
    inner = magnitude[uy0 : uy1 + 1, ux0 : ux1 + 1]
    reference = _percentile_90(inner) + 1.0
    band = _jaw_band(jaw, iod, gx.shape)
    edges = _crossing_edges(gx, gy, magnitude, band, reference)
    inside = None
    if inside_above is not None and edges > inside_above:
        inside = _crossing_edges(
            gx, gy, magnitude, _face_side(band, points[27] - (x0, y0)), reference
        )
    return JawCrossing(
        edges=edges, lines=_crossing_lines(gx, gy, jaw, iod, reference), inside=inside
    )


@dataclass(frozen=True)
class _Band:
    """The band along the jaw: (h, w) uint8 ``segments`` numbering each pixel's jaw segment
    from 1 (0 outside), placed at ``top``, ``left`` of the face crop; ``tangents`` (S, 2)
    float64, each segment's unit direction; ``corners`` (13, 2) int, the jaw points in the
    crop."""

    segments: np.ndarray
    top: int
    left: int
    tangents: np.ndarray
    corners: np.ndarray


def _jaw_band(jaw: np.ndarray, iod: float, shape: tuple[int, ...]) -> _Band | None:
    """The band is drawn as thick line segments, numbered by segment, on its bounding box only
    (the same pixels as on the whole crop: integer points, clipped at its edges); None where
    the box is empty."""
    width = max(3, round(0.25 * iod))
    corners = np.round(jaw).astype(int)
    height, full_width = shape[:2]
    bx0, by0 = np.maximum(corners.min(0) - width, 0)
    bx1, by1 = np.minimum(corners.max(0) + width + 1, (full_width, height))
    if bx1 <= bx0 or by1 <= by0:
        return None
    segments = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
    ends = (corners - (bx0, by0)).tolist()
    for i in range(len(ends) - 1):
        cv2.line(segments, tuple(ends[i]), tuple(ends[i + 1]), i + 1, width)
    steps = np.diff(jaw, axis=0)
    steps /= np.linalg.norm(steps, axis=1, keepdims=True) + 1e-9
    return _Band(segments, int(by0), int(bx0), steps, corners)


def _face_side(band: _Band | None, nose_bridge: np.ndarray) -> _Band | None:
    """The band cut to its inner half: inside the polygon of the jaw points and
    ``nose_bridge`` (landmark 27, (2,) px in the crop)."""
    if band is None:
        return None
    inner = np.zeros_like(band.segments)
    polygon = np.vstack([band.corners, np.round(nose_bridge).astype(int)]) - (band.left, band.top)
    cv2.fillPoly(inner, [polygon.astype(np.int32)], 1)
    return replace(band, segments=band.segments * inner)


def _crossing_edges(
    gx: np.ndarray,
    gy: np.ndarray,
    magnitude: np.ndarray,
    band: _Band | None,
    reference: float,
) -> float:
    """:attr:`JawCrossing.edges` over ``band``'s pixels, tested in one pass
    (:mod:`maskgen.faces._visibility_kernels`)."""
    if band is None:
        return 0.0
    return kernels().band_edges(
        band.segments, gx, gy, magnitude, band.tangents, band.top, band.left, reference
    )


def _crossing_lines(
    gx: np.ndarray, gy: np.ndarray, jaw: np.ndarray, iod: float, reference: float
) -> float:
    map_x, map_y, tangent = kernels().jaw_samples(jaw, 0.15 * iod, _ACROSS)
    if not len(map_x):
        return 0.0
    sample_x = cv2.remap(gx, map_x, map_y, cv2.INTER_LINEAR)
    sample_y = cv2.remap(gy, map_x, map_y, cv2.INTER_LINEAR)
    height, width = gx.shape
    return kernels().lines_crossed(
        sample_x, sample_y, map_x, map_y, tangent, height, width, reference
    )


def kernels() -> ModuleType | SimpleNamespace:
    """The per-pixel loops of :func:`jaw_crossing`: :mod:`maskgen.faces._visibility_kernels`
    (numba, imported on first use) once the process uses compiled code, else their numpy forms
    below, equal to the bit, so a small run never loads numba
    (:func:`maskgen.compiled.use_compiled`)."""
    if not compiled.use_compiled():
        return _NUMPY_KERNELS
    from maskgen.faces import _visibility_kernels

    return _visibility_kernels


def _band_edges_numpy(
    segments: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    magnitude: np.ndarray,
    tangents: np.ndarray,
    top: int,
    left: int,
    reference: float,
) -> float:
    """:func:`maskgen.faces._visibility_kernels.band_edges` in vectorised numpy."""
    band = segments > 0
    pixels = np.count_nonzero(band)
    window = np.s_[top : top + segments.shape[0], left : left + segments.shape[1]]
    ys, xs = np.nonzero(band & (magnitude[window] > 0.5 * reference))
    if not len(ys):
        return 0.0
    tangent = tangents[segments[ys, xs] - 1]
    ys, xs = ys + top, xs + left
    strength = magnitude[ys, xs]
    along = np.abs(gx[ys, xs] * tangent[:, 0] + gy[ys, xs] * tangent[:, 1]) / (strength + 1e-6)
    return np.count_nonzero(along > 0.8) / pixels


def _jaw_samples_numpy(
    jaw: np.ndarray, half_width: float, across: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`maskgen.faces._visibility_kernels.jaw_samples` in vectorised numpy."""
    steps = np.diff(jaw, axis=0)
    lengths = np.sqrt((steps**2).sum(1))
    keep = lengths > 1e-6
    if not keep.any():
        empty = np.zeros((0, len(across)), np.float32)
        return empty, empty, np.zeros((0, 2))
    starts, steps, lengths = jaw[:-1][keep], steps[keep], lengths[keep]
    ends = np.concatenate([[0.0], np.cumsum(lengths)])
    along = np.arange(0.0, ends[-1], 1.0)  # one sample per pixel of jaw
    segment = np.clip(np.searchsorted(ends, along, side="right") - 1, 0, len(steps) - 1)
    tangent = steps[segment] / lengths[segment, None]
    centre = starts[segment] + tangent * (along - ends[segment])[:, None]
    offsets = half_width * across
    map_x = (centre[:, None, 0] + offsets * -tangent[:, None, 1]).astype(np.float32)
    map_y = (centre[:, None, 1] + offsets * tangent[:, None, 0]).astype(np.float32)
    return map_x, map_y, tangent


def _lines_crossed_numpy(
    sample_x: np.ndarray,
    sample_y: np.ndarray,
    map_x: np.ndarray,
    map_y: np.ndarray,
    tangent: np.ndarray,
    height: int,
    width: int,
    reference: float,
) -> float:
    """:func:`maskgen.faces._visibility_kernels.lines_crossed` in vectorised numpy."""
    sx, sy = sample_x.astype(np.float64), sample_y.astype(np.float64)
    tx, ty = tangent[:, None, 0], tangent[:, None, 1]
    across = sx * tx + sy * ty
    lengthwise = sx * -ty + sy * tx
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    strong = (np.abs(across) > 0.25 * reference) & (np.abs(across) > np.abs(lengthwise)) & inside
    seen = inside.sum(1)  # an aligned crop may cut the band at the chin: judge what it shows
    rising, falling = (strong & (across > 0)).sum(1), (strong & (across < 0)).sum(1)
    crossed = (np.maximum(rising, falling) >= 0.6 * seen) & (seen >= 5)
    return np.count_nonzero(crossed) / len(crossed)


_NUMPY_KERNELS = SimpleNamespace(
    band_edges=_band_edges_numpy,
    jaw_samples=_jaw_samples_numpy,
    lines_crossed=_lines_crossed_numpy,
)


def fit_spread(
    fitter: LandmarkFitter, images: Sequence[np.ndarray], faces: Sequence[tuple[Box, np.ndarray]]
) -> np.ndarray:
    """For each (image, (box, landmarks)) pair: (lower, upper), the root-mean-square spread of
    the jaw-and-mouth and of the eyes-and-nose points over the fit and the box restarts
    (:data:`_RESTARTS`), in inter-ocular distances. (N, 2) float64; all faces are refitted in
    one batch."""
    if not faces:
        return np.zeros((0, 2))
    fit_images = [rgb for rgb in images for _ in _RESTARTS]
    boxes = [_restart_box(box, *restart) for box, _ in faces for restart in _RESTARTS]
    fitted = fitter.fit_landmarks_batch(fit_images, boxes).astype(np.float64)
    fitted = fitted.reshape(len(faces), len(_RESTARTS), 68, 2)
    spreads = np.zeros((len(faces), 2))
    for i, (_, landmarks) in enumerate(faces):
        runs = np.concatenate([fitted[i], np.asarray(landmarks, np.float64)[None]])
        spread = np.sqrt(((runs - runs.mean(0)) ** 2).sum(-1).mean(0)) / inter_ocular(landmarks)
        spreads[i] = spread[_LOWER].mean(), spread[_UPPER].mean()
    return spreads


def is_occluded(
    crossing: JawCrossing, lower_spread: float, upper_spread: float, *, aligned: bool = False
) -> bool:
    """The occlusion decision from :func:`jaw_crossing` and :func:`fit_spread`: a jaw line
    crossed by strong edges or by lines (:data:`JAW_CROSSING_MAX`, :data:`JAW_LINES_MAX`, or
    their ``_ALIGNED`` forms for a face on an aligned crop's box, where the edges must also
    reach into the face, :data:`JAW_CROSSING_INSIDE_MIN_ALIGNED`), or a scattered
    jaw-and-mouth fit (:data:`LOWER_SPREAD_MAX`, :data:`LOWER_TO_UPPER_SPREAD_MAX`) on a jaw
    line crossed a little (:data:`JAW_CROSSING_WITH_SPREAD`, on an aligned crop
    :data:`JAW_CROSSING_WITH_SPREAD_ALIGNED`)."""
    scattered = lower_spread > LOWER_SPREAD_MAX and lower_spread > (
        LOWER_TO_UPPER_SPREAD_MAX * max(upper_spread, 0.005)
    )
    edges = JAW_CROSSING_MAX_ALIGNED if aligned else JAW_CROSSING_MAX
    lines = JAW_LINES_MAX_ALIGNED if aligned else JAW_LINES_MAX
    into_face = (
        not aligned or crossing.inside is None or crossing.inside > JAW_CROSSING_INSIDE_MIN_ALIGNED
    )  # not measured: the edges decide alone, as on a photo
    return (
        (crossing.edges > edges and into_face)
        or crossing.lines > lines
        or (scattered and crossing.edges > _with_spread(aligned))
    )


def _with_spread(aligned: bool) -> float:
    return JAW_CROSSING_WITH_SPREAD_ALIGNED if aligned else JAW_CROSSING_WITH_SPREAD


def face_problems(
    fitter: LandmarkFitter,
    images: Sequence[np.ndarray],
    faces: Sequence[tuple[Box, np.ndarray]],
    aligned: Sequence[bool] | None = None,
    scores: Sequence[float | None] | None = None,
) -> list[str | None]:
    """For each (image, (box, landmarks)) pair, why the face should not be masked
    (:data:`OUT_OF_FRAME`, :data:`TOO_TURNED`, :data:`DOUBTFUL_FACE`, then :data:`OCCLUDED`),
    or None. ``aligned``: per face, whether its box is an aligned crop's known box (None: none
    is; such a face is never out of frame). ``scores``: per face, the detector's score (None
    where there is none, as for an aligned box: never doubtful).

    Cheapest first: the frame and the pose, then what crosses the jaw, and the restarts (the
    dearest: two landmark fits) only for the faces whose decision depends on them (a jaw
    crossed a little, not enough to decide alone: about a third of the faces of photos, an eighth of
    aligned crops; and a detection scored under :data:`DOUBTFUL_SCORE_MAX`), all fitted in one
    batch."""
    on_crop = list(aligned) if aligned is not None else [False] * len(faces)
    score_of = list(scores) if scores is not None else [None] * len(faces)
    low_score = [score is not None and score < DOUBTFUL_SCORE_MAX for score in score_of]
    reasons: list[str | None] = [None] * len(faces)
    undecided: list[tuple[int, JawCrossing]] = []
    turned = too_turned([landmarks for _, landmarks in faces])
    for i, (rgb, (_, landmarks)) in enumerate(zip(images, faces, strict=True)):
        if not on_crop[i] and outside_share(landmarks, *rgb.shape[:2]) > OUT_OF_FRAME_SHARE:
            reasons[i] = OUT_OF_FRAME
            continue
        if turned[i]:
            reasons[i] = TOO_TURNED
            continue
        inside_above = JAW_CROSSING_MAX_ALIGNED if on_crop[i] else None
        crossing = jaw_crossing(rgb, landmarks, inside_above=inside_above)
        if low_score[i]:  # the spread decides whether it is a face before occlusion is judged
            undecided.append((i, crossing))
        elif is_occluded(crossing, 0.0, 0.0, aligned=on_crop[i]):
            reasons[i] = OCCLUDED
        elif crossing.edges > _with_spread(on_crop[i]):
            undecided.append((i, crossing))
    indices = [i for i, _ in undecided]
    spreads = fit_spread(fitter, [images[i] for i in indices], [faces[i] for i in indices])
    for (i, crossing), (lower, upper) in zip(undecided, spreads, strict=True):
        if low_score[i] and upper > DOUBTFUL_UPPER_SPREAD_MIN:
            reasons[i] = DOUBTFUL_FACE
        elif is_occluded(crossing, float(lower), float(upper), aligned=on_crop[i]):
            reasons[i] = OCCLUDED
    return reasons


def outside_share(landmarks: np.ndarray, height: int, width: int) -> float:
    """The share of (N, 2) (x, y) pixel landmarks that lie outside an image of ``height`` x
    ``width`` pixels."""
    x, y = landmarks[:, 0], landmarks[:, 1]
    outside = (x < 0) | (y < 0) | (x > width - 1) | (y > height - 1)
    return float(np.count_nonzero(outside)) / max(len(landmarks), 1)


def _percentile_90(values: np.ndarray) -> float:
    """``np.percentile(values, 90)`` (linear interpolation, numpy's formula), 0 when empty:
    one partition, without percentile's overhead on a small array."""
    flat = values.ravel()
    if not flat.size:
        return 0.0
    rank = 0.9 * (flat.size - 1)
    low = int(rank)
    high = min(low + 1, flat.size - 1)
    part = np.partition(flat, (low, high))
    a, b, t = float(part[low]), float(part[high]), rank - low
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


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
