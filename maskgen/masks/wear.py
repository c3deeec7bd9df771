"""How a mask is worn: the correct placement and three common wrong ones.

A placement moves the template's face points (see :func:`maskgen.masks.render.face_points`)
before the piecewise warp, so the mask sits where people wear it when it is pulled down or up,
deformed as a real one is, not a shifted copy of the correct fit:

- ``correct``: unchanged, nose bridge to under the chin (the fit of
  :func:`~maskgen.masks.render.face_points`).
- ``nose_uncovered``: pulled down under the nose. The top edge runs just below the nostrils
  (on the upper lip, above the mouth); the mask is compressed vertically (its pleats bunch) and
  still covers mouth and chin.
- ``mouth_uncovered``: pulled down onto the chin. The top edge runs between the lower lip and
  the chin; the mask is strongly compressed, hangs further under the jaw and narrows with it;
  the ear ends of the loops stay at the ears, so the loops run up from the mask and pull its
  top corners up beside the mouth: the top edge is a U from under the lower lip up the jaw
  (:func:`_corner_rise`). That band beside the mouth is what stays of the mask inside an
  aligned 112x112 crop, whose bottom edge runs about the chin.
- ``chin_uncovered``: pulled up. The top edge stays on the nose bridge; the bottom edge runs
  between the lower lip and the chin's lowest point, so the chin shows.

The geometry works in a frame of the face itself: *level* is the distance along the line from
landmark 27 (top of the nose bridge) to landmark 8 (chin), *lateral* the signed distance from
that line. A placement is a monotone, piecewise-linear map of levels that sends the mask's top
edge (its highest point between the nostrils) and bottom edge (its lowest point about the chin)
to levels set by the landmarks of the nose, lips and chin, linear in between (uniform
compression) and a plain shift beyond. Each point then moves to its new level and its lateral
distance scales with the width of the jaw there (landmarks 0-8 on landmark 0's side, 8-16 on
the other), so points on the jaw line stay on it; the points at the ears stay put
(:data:`EAR_HOLD`). The map is monotone in level and positive in width, so the warp's
triangles keep their orientation (no fold-overs; checked on 16 LFW faces in the tests; on 300
spread LFW photos a thin triangle still turns over on 1-3 % of the faces, turned ones).

The fractions below were chosen with ``benchmarks/wear_coverage.py``, which judges each
placement with MediaPipe FaceMesh landmarks (a model other than the dlib one masks are warped
onto), on 300 LFW photos and 300 aligned crops, and checked on 1,000 other photos and 1,199
other crops; with the correct fit's chin and far-cheek corrections
(:func:`maskgen.masks.fit.fit_landmarks`) every placement is still >= 95 % right on all 13,233
LFW photos, on the same photos aligned by FaceMesh's five points and on 1,200 insightface
crops (lowest: ``mouth_uncovered`` on the FaceMesh-aligned crops, 95.9 %).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from maskgen.errors import ConfigError, TemplateError
from maskgen.masks.templates import MaskTemplate

WEAR_PLACEMENTS: tuple[str, ...] = (
    "correct",
    "nose_uncovered",
    "mouth_uncovered",
    "chin_uncovered",
)
"""The placements a mask may be drawn with; ``correct`` is today's fit."""

WEAR_CLASSES: tuple[str, ...] = ("none", *WEAR_PLACEMENTS)
"""Wear classes for labels and models: 0 no mask, then :data:`WEAR_PLACEMENTS` in order."""

NOSE_GAP = 0.4
"""``nose_uncovered``: the top edge sits this fraction of the way from the nostrils' lowest
landmark (31-35) to the upper lip's highest (48-54)."""
CHIN_TOP = 0.4
"""``mouth_uncovered``: the top edge sits this fraction of the way from the lower lip's lowest
landmark (48, 54-59) to the chin (8)."""
CHIN_HANG = 2.0
"""``mouth_uncovered``: the bottom edge hangs this many times further below the chin than in
the correct fit (the rest of the mask folds under the jaw)."""
CORNER_RISE = 0.8
"""``mouth_uncovered``: the mask's top corners (at the jaw) rise this fraction of the way from
its top edge under the lip to the level of the mouth's corners (see :func:`_corner_rise`)."""
NOSE_SLIDE = 0.25
"""``nose_uncovered``: the bottom edge moves down by this fraction of its distance below the
chin (the whole mask slid down a little)."""
CHIN_GAP = 0.35
"""``chin_uncovered``: the bottom edge sits this fraction of the way from the lower lip's
lowest landmark to the chin."""
EAR_HOLD: Mapping[str, float] = {
    "lm00": 1.0,
    "lm16": 1.0,
    "out00": 1.0,
    "out16": 1.0,
    "out01": 0.75,
    "out15": 0.75,
    "out02": 0.5,
    "out14": 0.5,
    "out03": 0.25,
    "out13": 0.25,
}
"""How much each fit point about the ears stays put when the mask is pulled (1 = fully): the
ears hold the loops, so the outer ring (where loops and straps are drawn) stretches from the
ears to the moved mask instead of moving with it."""
_MIN_GAP = 1e-3
"""Smallest level difference the maps divide by (face units of the 27-8 distance)."""
_JAW_LEFT = np.arange(0, 9)
_JAW_RIGHT = np.arange(16, 7, -1)
_NOSTRILS = np.arange(31, 36)
_UPPER_LIP = np.arange(48, 55)
_LOWER_LIP = np.array([48, 54, 55, 56, 57, 58, 59])
_CENTRE_COLUMN = ("lm27", "lm28", "lm29", "lm30", "lm33", "lm08", "out08")
"""Fit points on the face's centre line, top to bottom: they tie template rows to levels."""


def check_wear(wear: str) -> str:
    """``wear`` if it names a placement, else ConfigError listing them."""
    if wear not in WEAR_PLACEMENTS:
        raise ConfigError(f"unknown wear {wear!r}; known: {', '.join(WEAR_PLACEMENTS)}")
    return wear


def wear_class(wear: str | None) -> int:
    """The class index of a placement in :data:`WEAR_CLASSES` (0 for None: no mask), as
    ``.rec`` twin labels and wear models number them. ConfigError for an unknown name."""
    return 0 if wear is None else WEAR_CLASSES.index(check_wear(wear))


def place_points(
    template: MaskTemplate, landmarks: np.ndarray, points: np.ndarray, wear: str
) -> np.ndarray:
    """The template's face points moved to placement ``wear``, (N, 2) float32 image pixels.

    ``template`` is the :class:`~maskgen.masks.templates.MaskTemplate` the points belong to
    (its point names and image are read); ``landmarks`` (68, 2) float32, dlib order;
    ``points`` (N, 2) float32, the correct fit (as :func:`~maskgen.masks.render.face_points`
    gives it). ``correct`` returns ``points`` itself. Raises ConfigError for an unknown wear.
    """
    check_wear(wear)
    if wear == "correct":
        return points
    frame = _FaceFrame(landmarks.astype(np.float64))
    level, lateral = frame.coordinates(points.astype(np.float64))
    edges = _template_edges(template)
    centre = [template.point_names.index(name) for name in edges.names]
    top, bottom = np.interp(edges.rows, edges.row_of_points, level[centre])
    new_top, new_bottom = _edge_targets(wear, frame, top, bottom)
    move = 1.0 - _hold(template)
    mapped = _level_map(level, (top, bottom), (new_top, new_bottom))
    new_level = level + move * (mapped - level)
    if wear == "mouth_uncovered":
        rise = _corner_rise(frame, mapped, (new_top, new_bottom))
        new_level = new_level - _outline(template) * move * rise
    ratio = frame.width_ratio(level, new_level, lateral) ** move
    return frame.points(new_level, lateral * ratio).astype(np.float32)


class _FaceFrame:
    """Levels and lateral distances in the face's own frame (see the module docstring), in
    units of the landmark 27 to 8 distance."""

    def __init__(self, landmarks: np.ndarray) -> None:
        self.landmarks = landmarks
        self.origin = landmarks[27]
        axis = landmarks[8] - landmarks[27]
        self.size = max(float(np.hypot(*axis)), 1e-6)
        self.down = axis / self.size
        self.across = np.array([-self.down[1], self.down[0]])  # toward landmark 0's side
        self.level, self.lateral = self.coordinates(landmarks)

    def coordinates(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(level, lateral) of (K, 2) image points, each (K,) float64."""
        offset = points - self.origin
        return offset @ self.down / self.size, offset @ self.across / self.size

    def points(self, level: np.ndarray, lateral: np.ndarray) -> np.ndarray:
        """(K, 2) image points at the given levels and lateral distances."""
        return self.origin + self.size * (
            level[:, None] * self.down + lateral[:, None] * self.across
        )

    def half_width(self, level: np.ndarray, lateral: np.ndarray) -> np.ndarray:
        """(K,) the jaw's half-width at each level on the point's side of the face (levels
        clamped to the jaw from the ear, landmark 0 / 16, to landmark 5 / 11, where it is
        still wide enough to compare)."""
        width = np.ones_like(level)
        for jaw, side in ((_JAW_LEFT, lateral >= 0), (_JAW_RIGHT, lateral < 0)):
            levels = np.maximum.accumulate(self.level[jaw])  # monotone for np.interp
            widths = np.maximum(np.abs(self.lateral[jaw]), _MIN_GAP)
            width[side] = np.interp(np.clip(level[side], levels[0], levels[5]), levels, widths)
        return width

    def width_ratio(
        self, level: np.ndarray, new_level: np.ndarray, lateral: np.ndarray
    ) -> np.ndarray:
        """(K,) jaw half-width at each new level over the one at the old level."""
        return self.half_width(new_level, lateral) / self.half_width(level, lateral)

    def lowest(self, indices: np.ndarray) -> float:
        return float(self.level[indices].max())

    def highest(self, indices: np.ndarray) -> float:
        return float(self.level[indices].min())


def _edge_targets(wear: str, frame: _FaceFrame, top: float, bottom: float) -> tuple[float, float]:
    """New levels of the mask's top and bottom edges (centre column) for ``wear``."""
    nostrils = frame.lowest(_NOSTRILS)
    lip_top = max(frame.highest(_UPPER_LIP), nostrils + _MIN_GAP)
    lip_bottom = frame.lowest(_LOWER_LIP)
    chin = max(float(frame.level[8]), lip_bottom + _MIN_GAP)
    below = max(bottom - chin, _MIN_GAP)  # how far the correct fit reaches under the chin
    if wear == "nose_uncovered":
        return nostrils + NOSE_GAP * (lip_top - nostrils), bottom + NOSE_SLIDE * below
    if wear == "mouth_uncovered":
        return lip_bottom + CHIN_TOP * (chin - lip_bottom), chin + CHIN_HANG * below
    return top, lip_bottom + CHIN_GAP * (chin - lip_bottom)  # chin_uncovered


def _level_map(
    level: np.ndarray, edges: tuple[float, float], targets: tuple[float, float]
) -> np.ndarray:
    """Levels moved so ``edges`` (top, bottom) land on ``targets``: linear between them, a
    plain shift above the top and below the bottom."""
    (top, bottom), (new_top, new_bottom) = edges, targets
    scale = max(new_bottom - new_top, _MIN_GAP) / max(bottom - top, _MIN_GAP)
    moved = new_top + (level - top) * scale
    moved = np.where(level < top, level + (new_top - top), moved)
    return np.where(level > bottom, level + (new_top + (bottom - top) * scale - bottom), moved)


def _corner_rise(frame: _FaceFrame, mapped: np.ndarray, targets: tuple[float, float]) -> np.ndarray:
    """(K,) how far up (in levels) the outline of a mask pulled onto the chin rides: the ear
    loops pull the mask's sides and top corners up toward the ears, so its top edge runs as a
    U from under the lower lip up the jaw. Applied to the outline's fit points only
    (:func:`_outline`, the jaw and the outer ring); the inner ones about the nose hold the top
    edge under the mouth, so the mouth stays bare and the warp carries the rise out to the
    sides. ``mapped`` (K,) are the points' levels after the placement's map.

    The rise fades linearly from the mask's top edge (``targets[0]``) to its bottom
    (``targets[1]``), so the chin stays covered, and above the top edge over twice the rise;
    the map's slope in level stays >= 1/2 (monotone). In full it lifts the top corners
    :data:`CORNER_RISE` of the way from the top edge to the level of the mouth's corners
    (landmarks 48, 54)."""
    new_top, new_bottom = targets
    corner_level = float(frame.level[[48, 54]].mean())
    rise = CORNER_RISE * max(new_top - corner_level, 0.0)
    if rise <= 0.0:
        return np.zeros_like(mapped)
    down = (mapped - new_top) / max(new_bottom - new_top, _MIN_GAP)
    fade = np.where(down < 0, np.clip(1.0 + (mapped - new_top) / (2.0 * rise), 0.0, 1.0),
                    np.clip(1.0 - down, 0.0, 1.0))  # fmt: skip
    return rise * fade


class _Edges:
    """Where a template's mask begins and ends about its centre line: ``rows`` (top, bottom)
    in template pixels, and the centre-column fit points (``names``) with their template rows
    (``row_of_points``, increasing), to turn rows into levels on a face."""

    def __init__(self, names: tuple[str, ...], row_of_points: np.ndarray, rows: np.ndarray):
        self.names, self.row_of_points, self.rows = names, row_of_points, rows


@functools.lru_cache(maxsize=64)
def _template_edges(template: MaskTemplate) -> _Edges:
    """The template's :class:`_Edges`. The top is the highest row where alpha is at least
    half in the columns between the nostrils (fit points lm31 and lm35; the nose's width about
    landmark 8's column where a template lacks them), the bottom the lowest such row between
    lm07 and lm09: the edges' extremes where the nostrils and the chin must show."""
    names = tuple(n for n in _CENTRE_COLUMN if n in template.point_names)
    rows = np.array([template.points[template.point_names.index(n), 1] for n in names])
    order = np.argsort(rows, kind="stable")
    names, rows = tuple(names[i] for i in order), rows[order]
    solid = template.rgba[:, :, 3] >= 128
    top = _extreme_row(template, solid, ("lm31", "lm35"), first=True)
    bottom = _extreme_row(template, solid, ("lm07", "lm09"), first=False)
    return _Edges(names, rows.astype(np.float64), np.array([top, bottom], np.float64))


def _extreme_row(
    template: MaskTemplate, solid: np.ndarray, between: tuple[str, str], first: bool
) -> float:
    """The highest (``first``) or lowest row of ``solid`` in the columns between two fit
    points; TemplateError if those columns show no mask."""
    names, points = template.point_names, template.points
    centre = float(points[names.index("lm08"), 0])
    half = 0.05 * template.size[0]
    xs = [float(points[names.index(n), 0]) for n in between if n in names]
    low, high = (min(xs), max(xs)) if len(xs) == 2 else (centre - half, centre + half)
    band = solid[:, max(int(np.floor(low)), 0) : int(np.ceil(high)) + 1]
    rows = np.flatnonzero(band.any(axis=1))
    if rows.size == 0:
        raise TemplateError(f"{template.source}: no mask between fit points {between}")
    return float(rows[0] if first else rows[-1])


@functools.lru_cache(maxsize=64)
def _hold(template: MaskTemplate) -> np.ndarray:
    """(N,) float64 read-only: each fit point's :data:`EAR_HOLD` (0 for the others)."""
    hold = np.array([EAR_HOLD.get(name, 0.0) for name in template.point_names])
    hold.setflags(write=False)
    return hold


@functools.lru_cache(maxsize=64)
def _outline(template: MaskTemplate) -> np.ndarray:
    """(N,) float64 read-only: 1 for the fit points of the mask's outline (the jaw points
    lm00-lm16 and the outer ring), which the loops pull up beside the mouth, 0 for the inner
    points about the nose and eyes, which only anchor the warp."""
    outline = np.array(
        [float(n.startswith("out") or (n.startswith("lm") and int(n[2:]) <= 16))
         for n in template.point_names]
    )  # fmt: skip
    outline.setflags(write=False)
    return outline
