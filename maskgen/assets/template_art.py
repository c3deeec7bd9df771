"""Draw maskgen's own mask templates (no third-party images), a build tool that nothing at run
time imports: ``python -m maskgen.assets.template_art [OUT_DIR]`` rewrites ``templates/`` byte
for byte (``maskgen.masks.templates`` loads them).

Every template is drawn on a *canonical face*: the mean of dlib's 68 landmarks over LFW photos
(measured with maskgen's own face finder, made symmetric), scaled so the jaw is 1 unit wide
(landmark 0 to 16) with landmark 27 (top of the nose bridge) at the origin. Shapes are placed
relative to those landmarks (the jaw line, the nose), so once the fit points are mapped onto a
real face's landmarks the edges land on the real jaw line and nose bridge.

Shading is drawn as a map of relative brightness (folds, seams, the mask's curvature) multiplied
into the base colour; recolouring and texturing later reuse that map.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import maskgen
from maskgen.errors import TemplateError
from maskgen.masks.templates import NOSE_TIP, OUTER_RING, TEMPLATE_FORMAT, face_point_matrix

CANONICAL_LANDMARKS = np.array(
    [
        [-0.5, 0.0353], [-0.4954, 0.1676], [-0.4825, 0.299], [-0.459, 0.4289],
        [-0.4126, 0.551], [-0.3379, 0.6595], [-0.2412, 0.749], [-0.1289, 0.8193],
        [0.0, 0.8403], [0.1289, 0.8193], [0.2412, 0.749], [0.3379, 0.6595],
        [0.4126, 0.551], [0.459, 0.4289], [0.4825, 0.299], [0.4954, 0.1676],
        [0.5, 0.0353], [-0.3937, -0.063], [-0.3351, -0.1206], [-0.2509, -0.1403],
        [-0.1625, -0.1304], [-0.08, -0.0977], [0.08, -0.0977], [0.1625, -0.1304],
        [0.2509, -0.1403], [0.3351, -0.1206], [0.3937, -0.063], [0.0, 0.0],
        [0.0, 0.0818], [0.0, 0.1641], [0.0, 0.2491], [-0.0988, 0.3101],
        [-0.0515, 0.3284], [0.0, 0.3439], [0.0515, 0.3284], [0.0988, 0.3101],
        [-0.2944, 0.0201], [-0.2427, -0.0098], [-0.1817, -0.0097], [-0.1277, 0.0271],
        [-0.1851, 0.0382], [-0.2449, 0.0383], [0.1277, 0.0271], [0.1817, -0.0097],
        [0.2427, -0.0098], [0.2944, 0.0201], [0.2449, 0.0383], [0.1851, 0.0382],
        [-0.194, 0.4806], [-0.125, 0.443], [-0.0533, 0.4273], [0.0, 0.4386],
        [0.0533, 0.4273], [0.125, 0.443], [0.194, 0.4806], [0.128, 0.5504],
        [0.0573, 0.5805], [0.0, 0.5864], [-0.0573, 0.5805], [-0.128, 0.5504],
        [-0.1645, 0.4827], [-0.0538, 0.4682], [0.0, 0.4729], [0.0538, 0.4682],
        [0.1645, 0.4827], [0.0549, 0.5186], [0.0, 0.5252], [-0.0549, 0.5186],
    ],
    dtype=np.float64,
)  # fmt: skip
"""Mean dlib landmarks (68, 2) on the canonical face (jaw width 1, landmark 27 at 0, 0)."""

WIDTH, HEIGHT = 600, 550
UNIT = 500.0
"""Template pixels per canonical unit (the jaw width is 500 px)."""
ORIGIN = (300.0, 50.0)
SUPERSAMPLE = 4
LOOP_END = 0.09
"""Ear loops and straps end this far outside the jaw line (see ``jaw``): well inside the outer
ring of fit points (0.15), so every drawn pixel lies inside the triangulated area."""

FIT_POINT_NAMES: tuple[str, ...] = (
    *(f"lm{i:02d}" for i in range(17)),
    *(f"lm{i:02d}" for i in (27, 28, 29, 30, 31, 33, 35, 36, 39, 40, 41, 42, 45, 46, 47)),
    *(f"out{i:02d}" for i in range(17)),
)
"""Jaw line, nose, lower eyelids (they hold the top edge below the eyes) and the outer ring."""


@dataclass(frozen=True)
class Design:
    """One template to draw: its metadata and the function that paints it."""

    name: str
    display_name: str
    family: str
    base_color: str
    draw: Callable[[Canvas, np.ndarray], tuple[np.ndarray, np.ndarray]]
    seed: int
    recolorable: bool = True

    @property
    def base_rgb(self) -> np.ndarray:
        return np.array([int(self.base_color[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0


class Canvas:
    """Pixel grid of a template with its canonical coordinates and drawing helpers."""

    def __init__(self, seed: int) -> None:
        xs = (np.arange(WIDTH, dtype=np.float64) + 0.5 - ORIGIN[0]) / UNIT
        ys = (np.arange(HEIGHT, dtype=np.float64) + 0.5 - ORIGIN[1]) / UNIT
        self.x, self.y = np.meshgrid(xs, ys)
        self.rng = np.random.default_rng(seed)

    # -- geometry ------------------------------------------------------------------------
    @staticmethod
    def to_px(points: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Canonical units -> (supersampled) pixel coordinates, int32 for cv2 drawing."""
        px = np.asarray(points, dtype=np.float64) * UNIT + ORIGIN
        return np.round(px * scale - 0.5).astype(np.int32)

    def fill(self, polygon: np.ndarray) -> np.ndarray:
        """Anti-aliased coverage (H, W) float in [0, 1] of a polygon in canonical units."""
        big = np.zeros((HEIGHT * SUPERSAMPLE, WIDTH * SUPERSAMPLE), np.uint8)
        cv2.fillPoly(big, [self.to_px(polygon, SUPERSAMPLE)], 255)
        return self._reduce(big)

    def stroke(self, path: np.ndarray, width: float) -> np.ndarray:
        """Coverage of a polyline ``width`` units thick."""
        big = np.zeros((HEIGHT * SUPERSAMPLE, WIDTH * SUPERSAMPLE), np.uint8)
        thickness = max(1, round(width * UNIT * SUPERSAMPLE))
        cv2.polylines(big, [self.to_px(path, SUPERSAMPLE)], False, 255, thickness, cv2.LINE_AA)
        return self._reduce(big)

    def dashes(self, path: np.ndarray, width: float, dash: float, gap: float) -> np.ndarray:
        """Coverage of a dashed polyline (stitches, weld dots)."""
        big = np.zeros((HEIGHT * SUPERSAMPLE, WIDTH * SUPERSAMPLE), np.uint8)
        thickness = max(1, round(width * UNIT * SUPERSAMPLE))
        for segment in _dash_segments(path, dash, gap):
            cv2.polylines(
                big, [self.to_px(segment, SUPERSAMPLE)], False, 255, thickness, cv2.LINE_AA
            )
        return self._reduce(big)

    def inner_distance(self, polygon: np.ndarray) -> np.ndarray:
        """Distance in units from each pixel inside a polygon to its edge (0 outside)."""
        big = np.zeros((HEIGHT * SUPERSAMPLE, WIDTH * SUPERSAMPLE), np.uint8)
        cv2.fillPoly(big, [self.to_px(polygon, SUPERSAMPLE)], 255)
        dist = cv2.distanceTransform(big, cv2.DIST_L2, 5)
        small = cv2.resize(dist, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
        return small.astype(np.float64) / (UNIT * SUPERSAMPLE)

    @staticmethod
    def _reduce(big: np.ndarray) -> np.ndarray:
        small = cv2.resize(big, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
        return small.astype(np.float64) / 255.0

    # -- texture -------------------------------------------------------------------------
    def noise(self, blur: float) -> np.ndarray:
        """Smooth noise with unit standard deviation; ``blur`` is its feature size in units."""
        field = self.rng.standard_normal((HEIGHT, WIDTH)).astype(np.float32)
        sigma = max(blur * UNIT, 0.3)
        field = cv2.GaussianBlur(field, (0, 0), sigma).astype(np.float64)
        return field / max(field.std(), 1e-9)


def _dash_segments(path: np.ndarray, dash: float, gap: float) -> list[np.ndarray]:
    """Split a polyline into dashes of length ``dash`` separated by ``gap`` (units)."""
    path = np.asarray(path, dtype=np.float64)
    lengths = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))]
    segments = []
    start = gap / 2
    while start < lengths[-1]:
        stop = min(start + dash, lengths[-1])
        ts = np.linspace(start, stop, 4)
        segments.append(np.stack([np.interp(ts, lengths, path[:, i]) for i in (0, 1)], axis=1))
        start = stop + gap
    return segments


def jaw(t: np.ndarray | float, push: np.ndarray | float = 0.0) -> np.ndarray:
    """Points on the canonical jaw line at fractional landmark index ``t`` (0..16), pushed
    outward from the nose tip by ``push`` (fraction, negative = inward), Catmull-Rom smooth."""
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    push = np.broadcast_to(np.asarray(push, dtype=np.float64), t.shape)
    ring = CANONICAL_LANDMARKS[:17]
    padded = np.vstack([2 * ring[0] - ring[1], ring, 2 * ring[16] - ring[15]])
    i = np.clip(np.floor(t).astype(int), 0, 15)
    f = (t - i)[:, None]
    p0, p1, p2, p3 = padded[i], padded[i + 1], padded[i + 2], padded[i + 3]
    point = 0.5 * (
        2 * p1
        + (p2 - p0) * f
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * f**2
        + (3 * p1 - p0 - 3 * p2 + p3) * f**3
    )
    centre = CANONICAL_LANDMARKS[NOSE_TIP]
    return point + push[:, None] * (point - centre)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def bezier(p0, p1, p2, n: int = 40) -> np.ndarray:
    """Quadratic Bezier curve through p0, p2 with control p1 (canonical units)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def top_edge(corner: np.ndarray, peak_y: float, round_: float, n: int = 81) -> np.ndarray:
    """A nose-wire top edge from the left corner over a rounded peak (x = 0) to the right
    corner (mirrored): a softened V whose tip sits on the nose bridge."""
    xs = np.linspace(corner[0], -corner[0], n)
    u = np.abs(xs) / abs(corner[0])
    profile = (np.sqrt(u**2 + round_**2) - round_) / (np.sqrt(1 + round_**2) - round_)
    ys = peak_y + (corner[1] - peak_y) * profile
    return np.stack([xs, ys], axis=1)


def outline_height(outline: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom y of a closed outline at each x (for folds that follow the shape)."""
    closed = np.vstack([outline, outline[:1]])
    tops = np.full(xs.shape, np.inf)
    bottoms = np.full(xs.shape, -np.inf)
    for a, b in itertools.pairwise(closed):
        lo, hi = min(a[0], b[0]), max(a[0], b[0])
        inside = (xs >= lo) & (xs <= hi) & (hi > lo)
        if not np.any(inside):
            continue
        y = a[1] + (xs[inside] - a[0]) * (b[1] - a[1]) / (b[0] - a[0])
        tops[inside] = np.minimum(tops[inside], y)
        bottoms[inside] = np.maximum(bottoms[inside], y)
    return tops, bottoms


def _tube(canvas: Canvas, path: np.ndarray, width: float, fade_from: float = 0.75):
    """An elastic cord (ear loop, strap): coverage and shading, fading where it turns away."""
    cover = canvas.stroke(path, width)
    core = canvas.stroke(path, width * 0.4)
    shade = 0.82 + 0.2 * core
    lengths = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))]
    end = path[-1]
    start_fade = (
        np.interp(fade_from * lengths[-1], lengths, path[:, 0]),
        np.interp(fade_from * lengths[-1], lengths, path[:, 1]),
    )
    span = max(np.hypot(end[0] - start_fade[0], end[1] - start_fade[1]), 1e-6)
    dist_end = np.hypot(canvas.x - end[0], canvas.y - end[1])
    toward_end = np.clip(dist_end / span, 0.0, 1.0)
    cover = cover * toward_end**0.7
    # the cord goes behind the ear into its shadow, and narrows as it turns away
    shade = shade * (1 - 0.3 * (1 - toward_end))
    cover = cover * (0.6 + 0.4 * np.clip(core + toward_end, 0.0, 1.0))
    return cover, shade


def compose(layers: list[tuple[np.ndarray, np.ndarray]], base: np.ndarray) -> np.ndarray:
    """Paint (coverage, rgb) layers bottom to top ("over"); returns (H, W, 4) uint8 RGBA."""
    premult = np.zeros((HEIGHT, WIDTH, 3))
    alpha = np.zeros((HEIGHT, WIDTH))
    for cover, rgb in layers:
        premult = premult * (1 - cover[:, :, None]) + rgb * cover[:, :, None]
        alpha = alpha * (1 - cover) + cover
    straight = np.where(
        alpha[:, :, None] > 1e-6, premult / np.maximum(alpha, 1e-6)[:, :, None], base
    )
    rgba = np.dstack([np.clip(straight, 0, 1), np.clip(alpha, 0, 1)])
    return np.round(rgba * 255).astype(np.uint8)


def fabric_grain(canvas: Canvas, amount: float) -> np.ndarray:
    """Fine non-woven grain plus soft unevenness, as a brightness factor around 1."""
    return 1.0 + amount * (0.6 * canvas.noise(0.0012) + 0.4 * canvas.noise(0.02))


# -- designs --------------------------------------------------------------------------------
def draw_surgical(canvas: Canvas, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Three-ply pleated mask: three pleats, hemmed edges, nose wire, white ear loops."""
    corner = jaw(1.45, -0.05)[0]
    top = top_edge(corner, peak_y=0.112, round_=0.14)
    lower = jaw(np.linspace(14.55, 1.45, 90), push=_surgical_push(np.linspace(14.55, 1.45, 90)))
    outline = np.vstack([top, lower])
    x, y = canvas.x, canvas.y
    cover = canvas.fill(outline)
    rim = canvas.inner_distance(outline)
    tops, bottoms = outline_height(outline, x[0])
    top_y, bottom_y = tops[None, :], bottoms[None, :]
    height = np.maximum(bottom_y - top_y, 1e-3)
    t = (y - top_y) / height

    shade = np.ones_like(x)
    for fold in (0.27, 0.47, 0.67):
        d = (t - fold) * height
        shadow = np.exp(-((np.maximum(d, 0) / 0.013) ** 2)) * (d > -0.002)
        lift = np.exp(-(((d + 0.03) / 0.03) ** 2))
        shade *= 1 - 0.24 * shadow
        shade *= 1 + 0.05 * lift
        # the band under each fold bulges: lighter at its top, darker into the next fold
        band = np.clip(d / 0.2, 0, 1) * (d > 0)
        shade *= 1 - 0.08 * band * (t < fold + 0.2)
    hem = smoothstep(0.04, 0.03, rim)
    shade *= 1 + 0.04 * hem
    shade *= 1 - 0.22 * np.exp(-(((rim - 0.042) / 0.003) ** 2))  # hem seam
    stitches = canvas.dashes(_inset(outline, 0.018), 0.004, 0.008, 0.006)
    shade *= 1 - 0.18 * stitches
    wire = np.exp(-(((y - top_y - 0.014) / 0.006) ** 2)) * (np.abs(x) < 0.2)
    shade *= 1 + 0.07 * wire
    shade *= _body_shading(x, y, side=0.34, chin=0.76)
    shade *= fabric_grain(canvas, 0.02)
    body = base * shade[:, :, None]

    loops = _ear_loops(canvas, upper=(1.45, -0.05), lower=(4.1, -0.03))
    return compose([(cover, body), *loops], base), outline


def _surgical_push(t: np.ndarray) -> np.ndarray:
    """How far the surgical mask's edge sits from the jaw line along it: on the cheeks a bit
    inside (the edge rests on the skin), under the chin a bit outside (the mask wraps it)."""
    side = np.minimum(np.abs(t - 8.0), 6.6) / 6.6
    return 0.035 - 0.085 * smoothstep(0.45, 0.95, side)


def _body_shading(x: np.ndarray, y: np.ndarray, side: float, chin: float) -> np.ndarray:
    """Curvature of a mask round a face: lit in front, darker where it turns to the sides and
    under the chin."""
    sides = 1 - side * smoothstep(0.1, 0.5, np.abs(x)) ** 1.3
    under = 1 - 0.3 * smoothstep(chin, chin + 0.12, y)
    front = 1 + 0.06 * np.exp(-((x / 0.16) ** 2) - ((y - 0.3) / 0.18) ** 2)
    # the valley where the fabric spans from the nose to the cheek, running down and out
    along = np.clip((y - 0.14) / 0.26, 0.0, 1.0)
    valley_x = 0.1 + 0.2 * along
    valley = np.exp(-(((np.abs(x) - valley_x) / 0.05) ** 2)) * (y > 0.12) * (1 - along) ** 0.5
    return sides * under * front * (1 - 0.07 * valley)


def _inset(outline: np.ndarray, amount: float) -> np.ndarray:
    """A closed outline moved ``amount`` units inward (toward its centroid, along normals)."""
    closed = np.vstack([outline, outline[:1]])
    tangent = np.gradient(closed, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    centre = outline.mean(axis=0)
    sign = np.sign(np.sum((centre - closed) * normal, axis=1, keepdims=True))
    return closed + sign * normal * amount


def _ear_loops(canvas: Canvas, upper: tuple[float, float], lower: tuple[float, float]):
    """Two white ear loops from the mask's corners back toward the ears, on each side."""
    layers = []
    for mirror in (1.0, -1.0):
        for (t, push), end_t, bend in ((upper, 0.75, 0.02), (lower, 2.1, 0.05)):
            start = jaw(t, push)[0]
            end = jaw(end_t, LOOP_END)[0]
            control = (start + end) / 2 + np.array([-bend, 0.0])
            path = bezier(start, control, end)
            path[:, 0] *= mirror
            cover, shade = _tube(canvas, path, 0.011)
            layers.append((cover, np.full((HEIGHT, WIDTH, 3), 0.96) * shade[:, :, None]))
    return layers


def draw_n95(canvas: Canvas, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Moulded cup respirator: domed shell, rim seam, nose clip, exhalation valve, head straps."""
    lower_t = np.linspace(13.1, 2.9, 80)
    push = 0.04 - 0.12 * smoothstep(0.55, 1.0, np.minimum(np.abs(lower_t - 8), 5.1) / 5.1)
    lower = jaw(lower_t, push)
    right, left = lower[0], lower[-1]
    arc_left = bezier(left, np.array([left[0] * 0.95, 0.1]), np.array([0.0, 0.075]), 40)
    arc_right = bezier(np.array([0.0, 0.075]), np.array([right[0] * 0.95, 0.1]), right, 40)
    outline = np.vstack([arc_left, arc_right[1:], lower[1:-1]])
    x, y = canvas.x, canvas.y
    cover = canvas.fill(outline)
    rim = canvas.inner_distance(outline)

    shade = _dome_shading(x, y)
    shade *= 1 - 0.10 * smoothstep(0.03, 0.0, rim)  # rounded rim
    shade *= 1 - 0.25 * np.exp(-(((rim - 0.03) / 0.0035) ** 2))  # welded seam
    shade *= 1 + 0.03 * (rim < 0.03)
    shade *= fabric_grain(canvas, 0.03)
    shade *= _valve_shadow(canvas, centre=(0.17, 0.56), radius=0.085)
    body = base * shade[:, :, None]

    clip_path = np.stack(
        [np.linspace(-0.13, 0.13, 30), 0.118 + 0.18 * np.linspace(-0.13, 0.13, 30) ** 2], 1
    )
    clip_cover = canvas.stroke(clip_path, 0.03)
    clip_shade = 0.9 + 0.12 * canvas.stroke(clip_path - np.array([0.0, 0.006]), 0.008)
    layers = [
        (cover, body),
        (clip_cover * 0.85, np.full((HEIGHT, WIDTH, 3), 0.8) * clip_shade[:, :, None]),
    ]

    layers.append(_valve(canvas, centre=(0.17, 0.56), radius=0.085))
    for mirror in (1.0, -1.0):
        for start_t, end_t, push_end in ((2.9, 1.1, LOOP_END), (4.4, 3.5, LOOP_END)):
            start = jaw(start_t, -0.05)[0]
            end = jaw(end_t, push_end)[0]
            path = bezier(start, (start + end) / 2 + [0.0, -0.01], end, 30)
            path[:, 0] *= mirror
            strap, strap_shade = _tube(canvas, path, 0.02, fade_from=0.6)
            layers.append((strap, np.full((HEIGHT, WIDTH, 3), 0.93) * strap_shade[:, :, None]))
    return compose(layers, base), outline


LIGHT = np.array([0.0, -0.45, 1.0]) / np.hypot(0.45, 1.0)
"""Direction toward the light that shades moulded shapes (x right, y down, z toward the
camera): from the front and a little above, as most photos are lit."""


def _lit(normal_x, normal_y, normal_z, ambient: float, shine: float = 0.0) -> np.ndarray:
    """Brightness of a matte surface with unit normals (x, y, z): ambient plus Lambert's
    cosine with :data:`LIGHT`, plus a soft highlight of strength ``shine`` (Blinn-Phong)."""
    cosine = normal_x * LIGHT[0] + normal_y * LIGHT[1] + normal_z * LIGHT[2]
    light = ambient + (1 - ambient) * np.clip(cosine, 0.0, 1.0)
    if shine:
        half = LIGHT + np.array([0.0, 0.0, 1.0])
        half /= np.linalg.norm(half)
        facing = normal_x * half[0] + normal_y * half[1] + normal_z * half[2]
        light = light + shine * np.clip(facing, 0.0, 1.0) ** 24
    return light


def _dome_shading(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A moulded cup's shading, about 1 at its brightest: a half-ellipsoid over the
    :data:`N95_DOME` crown (depth 1.2 of its radius), lit by :data:`LIGHT`, so it is brightest
    just above the middle and darkens all round toward the rim, most under the chin."""
    cx, cy, radius = N95_DOME
    dx, dy = (x - cx) / radius, (y - cy) / (radius * 0.95)
    r2 = np.minimum(dx * dx + dy * dy, 0.995)
    depth = 1.2
    # the ellipsoid z = depth * sqrt(1 - r^2): its normal is (x / depth-ish, y, z) normalised
    z = np.sqrt(1.0 - r2)
    nx, ny, nz = dx * depth, dy * depth, z
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    light = _lit(nx / norm, ny / norm, nz / norm, ambient=0.55, shine=0.04)
    shade = light / _lit(0.0, LIGHT[1], LIGHT[2], ambient=0.55, shine=0.04) * 1.09
    # a soft shoulder above 0.9: a white cup's lit crown stays below white in a bright photo
    return np.where(shade > 0.9, 0.9 + 0.65 * (shade - 0.9), shade)


def _valve_shadow(canvas: Canvas, centre: tuple[float, float], radius: float) -> np.ndarray:
    """The darkening (a factor <= 1) the exhalation valve casts on the cup: its disc moved
    away from the light and blurred."""
    vx, vy = centre
    dist = np.hypot(canvas.x - vx - 0.004, canvas.y - vy - 0.014)
    shadow = smoothstep(radius + 0.018, radius - 0.01, dist)
    return 1.0 - 0.35 * shadow


def _valve(canvas: Canvas, centre: tuple[float, float], radius: float):
    """An exhalation valve as a 3-D part: a short cylinder (its wall shows below the cap,
    away from the light) under a domed cap with a highlight, a raised rim ring and recessed
    vent slots with lit lower lips. One (coverage, rgb) layer."""
    x, y = canvas.x, canvas.y
    vx, vy = centre
    lift = 0.012  # the cap stands this far off the cup: its wall shows below it
    base_dist = np.hypot(x - vx, y - vy - lift * 0.5)
    cap_dist = np.hypot(x - vx, y - vy + lift * 0.5)
    wall = smoothstep(radius + 0.002, radius - 0.002, base_dist)
    cap = smoothstep(radius + 0.002, radius - 0.002, cap_dist)
    cover = np.maximum(wall, cap)
    # the cap: a shallow dome, steeper at its rounded rim
    u, v = (x - vx) / radius, (y - vy + lift * 0.5) / radius
    r2 = np.minimum(u * u + v * v, 0.999)
    slope = 0.35 + 1.6 * smoothstep(0.75, 1.0, np.sqrt(r2))
    nx, ny, nz = u * slope, v * slope, np.sqrt(1.0 - r2) + 0.05
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    cap_light = _lit(nx / norm, ny / norm, nz / norm, ambient=0.5, shine=0.35)
    ring = np.exp(-(((np.sqrt(r2) - 0.72) / 0.05) ** 2))
    cap_light *= 1 - 0.35 * ring * (v > 0) + 0.2 * ring * (v <= 0)  # a raised ring, lit on top
    period = 0.02
    phase = (y - vy + lift * 0.5) / period
    slot = (np.abs(phase - np.round(phase)) < 0.22) & (np.abs(u) < 0.5) & (np.abs(v) < 0.5)
    lip = (np.abs(phase - np.round(phase) - 0.3) < 0.08) & (np.abs(u) < 0.5) & (np.abs(v) < 0.5)
    cap_light *= 1 - 0.55 * slot
    cap_light *= 1 + 0.12 * lip
    wall_light = 0.5 - 0.15 * smoothstep(0.0, radius, np.abs(x - vx))
    light = np.where(cap > 0.5, cap_light, wall_light)
    return cover, np.full((HEIGHT, WIDTH, 3), 0.86) * light[:, :, None]


def _folded_panels_shading(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A KN95's two panels as surfaces lit by :data:`LIGHT`, about 1 at the brightest: each
    turned 35 degrees away from the centre fold, bending further back toward the ear loops,
    tipping up under the nose wire and down under the chin; so the fold stands out as a ridge
    and the mask is not a flat shape."""
    crease = smoothstep(0.0, 0.025, np.abs(x))  # the fold is rounded over a few millimetres
    turn = np.radians(35.0) * crease + 0.9 * smoothstep(0.18, 0.47, np.abs(x))
    tilt = 1.2 * (y - 0.46)  # tangent of the panel's slope up and down
    nx = np.sign(x) * np.sin(turn)
    nz = np.cos(turn)
    ny = tilt * nz
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    light = _lit(nx / norm, ny / norm, nz / norm, ambient=0.55)
    return light / _lit(0.0, LIGHT[1], LIGHT[2], ambient=0.55) * 1.13


def draw_kn95(canvas: Canvas, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Folded KN95: two panels meeting at a centre seam, welded dotted border, ear loops."""
    corner = jaw(1.6, -0.05)[0]
    top = top_edge(corner, peak_y=0.1, round_=0.25)
    lower_t = np.linspace(14.4, 1.6, 90)
    side = np.minimum(np.abs(lower_t - 8.0), 6.4) / 6.4
    push = 0.07 * (1 - side) ** 2 - 0.06 * smoothstep(0.5, 1.0, side)
    lower = jaw(lower_t, push)
    outline = np.vstack([top, lower])
    x, y = canvas.x, canvas.y
    cover = canvas.fill(outline)
    rim = canvas.inner_distance(outline)

    shade = _folded_panels_shading(x, y)
    shade *= np.where(x < 0, 1.0, 0.96)  # the two panels face slightly different ways
    shade *= 1 - 0.30 * np.exp(-((x / 0.005) ** 2))  # centre fold crease
    shade *= 1 + 0.06 * np.exp(-(((x + 0.012) / 0.008) ** 2))
    shade *= 1 - 0.16 * smoothstep(0.74, 0.9, y)
    band = rim < 0.038
    shade *= 1 + 0.03 * band
    shade *= 1 - 0.2 * np.exp(-(((rim - 0.038) / 0.003) ** 2))
    dots = canvas.dashes(_inset(outline, 0.02), 0.009, 0.004, 0.008)
    shade *= 1 - 0.15 * dots
    seam = np.stack([np.full(60, 0.0), np.linspace(0.1, 0.93, 60)], 1)
    shade *= 1 - 0.12 * canvas.dashes(seam + np.array([0.018, 0.0]), 0.007, 0.004, 0.008)
    shade *= 1 - 0.12 * canvas.dashes(seam - np.array([0.018, 0.0]), 0.007, 0.004, 0.008)
    shade *= fabric_grain(canvas, 0.02)
    body = base * shade[:, :, None]
    loops = _ear_loops(canvas, upper=(1.6, -0.05), lower=(3.8, -0.05))
    return compose([(cover, body), *loops], base), outline


def draw_cloth(canvas: Canvas, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sewn cloth mask: two curved panels with a centre seam, woven fabric, hems and fabric
    ear loops."""
    corner = jaw(1.5, -0.04)[0]
    top = top_edge(corner, peak_y=0.105, round_=0.45)
    lower_t = np.linspace(14.5, 1.5, 90)
    side = np.minimum(np.abs(lower_t - 8.0), 6.5) / 6.5
    push = 0.04 * (1 - side) - 0.06 * smoothstep(0.5, 1.0, side)
    lower = jaw(lower_t, push)
    outline = np.vstack([top, lower])
    x, y = canvas.x, canvas.y
    cover = canvas.fill(outline)
    rim = canvas.inner_distance(outline)

    u = (x * np.cos(0.3) + y * np.sin(0.3)) * UNIT
    v = (-x * np.sin(0.3) + y * np.cos(0.3)) * UNIT
    weave = 0.5 * (np.sin(u * 2 * np.pi / 3.2) * np.sin(v * 2 * np.pi / 3.2) + 1)
    shade = 1.0 + 0.10 * (weave - 0.5) + 0.035 * canvas.noise(0.0015)
    shade *= 1 + 0.05 * canvas.noise(0.05)  # soft wrinkles
    seam_x = 0.012 * np.sin(y * 6.0)
    shade *= 1 - 0.35 * np.exp(-(((x - seam_x) / 0.005) ** 2))
    shade *= 1 + 0.08 * np.exp(-(((x - seam_x + 0.014) / 0.01) ** 2))
    shade *= 1 - 0.06 * smoothstep(0.0, 0.2, x - seam_x) * (x > seam_x)
    shade *= _body_shading(x, y, side=0.36, chin=0.74)
    shade *= 1 + 0.05 * smoothstep(0.03, 0.0, rim)
    stitches = canvas.dashes(_inset(outline, 0.022), 0.005, 0.012, 0.007)
    shade *= 1 - 0.3 * stitches
    shade *= 1 - 0.18 * np.exp(-(((rim - 0.008) / 0.004) ** 2))
    body = base * shade[:, :, None]
    layers = [(cover, body)]
    for mirror in (1.0, -1.0):
        for (t, push_start), end_t in (((1.5, -0.04), 0.7), ((4.2, -0.04), 2.1)):
            start, end = jaw(t, push_start)[0], jaw(end_t, LOOP_END)[0]
            path = bezier(start, (start + end) / 2 + [-0.02, 0.0], end)
            path[:, 0] *= mirror
            loop, loop_shade = _tube(canvas, path, 0.02)
            layers.append((loop, base * (1.05 * loop_shade)[:, :, None]))
    return compose(layers, base), outline


# -- where the cloth lies (the templates' "surface" grids) -----------------------------------
SURFACE_STEP = 10
"""Template pixels between the nodes of a template's surface grid."""
WRAP_RADIUS = 0.56
"""Radius (units) of the cylinder a soft mask wraps round the face on: a print's columns
crowd toward the cheeks as the cloth turns away (asin of x over it)."""
PLEAT_DEPTH = 0.05
"""Cloth (units) each worn surgical pleat hides: a print jumps by this much at every fold."""


def _wrap(x: np.ndarray, radius: float) -> np.ndarray:
    """Arc length along a circle of ``radius`` to the point seen at ``x`` from the front
    (held beyond 0.95 radius, where the circle turns edge-on: no mask lies there)."""
    limit = 0.95 * radius
    clipped = np.clip(x, -limit, limit)
    return radius * np.arcsin(clipped / radius) + (x - clipped)


def _edge_t(outline: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """(t, top, bottom) on a grid: t is 0 on the outline's top edge and 1 on its bottom edge
    in each column (extrapolated a little beyond, to -0.25 and 1.25, and held there; columns
    beyond the outline take its last ones);
    top, bottom are the edges at the middle column (x = 0)."""
    columns = x[0]
    inside = np.clip(columns, outline[:, 0].min() + 0.01, outline[:, 0].max() - 0.01)
    tops, bottoms = outline_height(outline, inside)
    middle_top, middle_bottom = outline_height(outline, np.array([0.0]))
    height = np.maximum(bottoms - tops, 0.12)[None, :]
    t = np.clip((y - tops[None, :]) / height, -0.25, 1.25)
    return t, float(middle_top[0]), float(middle_bottom[0])


def _follow_edges(outline, x, y, amount: float) -> np.ndarray:
    """Fabric row positions that bend ``amount`` (0 = straight rows, 1 = fully) toward the
    mask's own edges: over the nose bridge the rows rise with the nose wire, under the chin
    they curve round it, toward the ear loops they fan in."""
    t, top, bottom = _edge_t(outline, x, y)
    return y + amount * (top + t * (bottom - top) - y)


def fabric_surgical(outline: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """A pleated sheet: rows fan into the corners where the pleats close, each fold hides
    :data:`PLEAT_DEPTH` of cloth (at the pleats ``draw_surgical`` shades), columns wrap."""
    t, _, _ = _edge_t(outline, x, y)
    v = _follow_edges(outline, x, y, 0.8)
    for fold in (0.27, 0.47, 0.67):
        v = v + PLEAT_DEPTH * smoothstep(fold - 0.01, fold + 0.01, t)
    return _wrap(x, WRAP_RADIUS), v


def fabric_cloth(outline: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Two shaped panels: columns wrap round the cheeks, rows bend with the nose and chin,
    and the right panel's print does not line up with the left one's at the centre seam."""
    seam = 0.012 * np.sin(y * 6.0)  # draw_cloth's seam line
    right = smoothstep(-0.004, 0.004, x - seam)
    u = _wrap(x, WRAP_RADIUS) + 0.031 * right
    v = _follow_edges(outline, x, y, 0.45) + 0.017 * right
    return u, v


def fabric_kn95(outline: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Two flat panels folded at the centre, each turned about 35 degrees away: columns
    foreshortened evenly, rows slightly bent by the welded border."""
    return x / np.cos(np.radians(35.0)), _follow_edges(outline, x, y, 0.35)


def fabric_n95(outline: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """A moulded dome: distance from its crown measured over the sphere (:data:`N95_DOME`),
    so a print stretches radially toward the rim."""
    cx, cy, radius = N95_DOME
    dx, dy = x - cx, y - cy
    r = np.maximum(np.hypot(dx, dy), 1e-9)
    arc = _wrap(r, radius) / r
    return cx + dx * arc, cy + dy * arc


N95_DOME = (0.0, 0.46, 0.45)
"""Crown (x, y) and radius (units) of the sphere an N95's cup follows."""
FABRICS = {
    "surgical": fabric_surgical,
    "cloth": fabric_cloth,
    "kn95": fabric_kn95,
    "n95": fabric_n95,
}


def surface_grid(family: str, outline: np.ndarray) -> dict[str, object] | None:
    """A template's ``surface`` JSON: the cloth displacement (template pixels, 0.1 px) every
    :data:`SURFACE_STEP` pixels, from the family's ``fabric_*`` function; None for a family
    without one (its print lies flat)."""
    fabric = FABRICS.get(family)
    if fabric is None:
        return None
    columns = np.arange(0, WIDTH, SURFACE_STEP, dtype=np.float64)
    rows = np.arange(0, HEIGHT, SURFACE_STEP, dtype=np.float64)
    x, y = np.meshgrid((columns + 0.5 - ORIGIN[0]) / UNIT, (rows + 0.5 - ORIGIN[1]) / UNIT)
    u, v = fabric(outline, x, y)
    return {
        "step": SURFACE_STEP,
        "du": np.round((u - x) * UNIT, 1).tolist(),
        "dv": np.round((v - y) * UNIT, 1).tolist(),
    }


DESIGNS: tuple[Design, ...] = (
    Design("surgical", "Surgical mask (light blue)", "surgical", "#a0c1dc", draw_surgical, 11),
    Design("surgical_green", "Surgical mask (green)", "surgical", "#7fbca3", draw_surgical, 12),
    Design("surgical_blue", "Surgical mask (blue)", "surgical", "#4a78b9", draw_surgical, 13),
    Design("n95", "N95 respirator (cup, valve)", "n95", "#dedbd3", draw_n95, 21),
    Design("kn95", "KN95 respirator (folded)", "kn95", "#dedddb", draw_kn95, 31),
    Design("cloth", "Cloth mask", "cloth", "#566173", draw_cloth, 41),
)


def fit_points() -> dict[str, list[float]]:
    """The canonical face points every template is fitted with, in template pixels."""
    points = face_point_matrix(FIT_POINT_NAMES).astype(np.float64) @ CANONICAL_LANDMARKS
    pixels = points * UNIT + ORIGIN - 0.5  # pixel centres at integers, as dlib and cv2 use
    return {
        name: [round(float(px), 2), round(float(py), 2)]
        for name, (px, py) in zip(FIT_POINT_NAMES, pixels, strict=True)
    }


def draw_template(design: Design) -> tuple[bytes, str]:
    """One template as (PNG bytes, JSON text)."""
    rgba, outline = design.draw(Canvas(design.seed), design.base_rgb)
    ok, png = cv2.imencode(
        ".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 9]
    )
    if not ok:
        raise TemplateError(f"cannot encode template {design.name} as PNG")
    meta = {
        "format": TEMPLATE_FORMAT,
        "name": design.name,
        "display_name": design.display_name,
        "family": design.family,
        "base_color": design.base_color,
        "recolorable": design.recolorable,
        "image_size": [WIDTH, HEIGHT],
        "outer_ring": OUTER_RING,
        "fit_points": fit_points(),
    }
    text = json.dumps(meta, indent=1)
    surface = surface_grid(design.family, outline)
    if surface is not None:  # one grid row a line: readable, and diffs stay small
        grids = ",\n".join(
            f' "{key}": [\n' + ",\n".join(f"  {json.dumps(row)}" for row in surface[key]) + "\n ]"
            for key in ("du", "dv")
        )
        text = text[:-2] + f',\n "surface": {{\n "step": {surface["step"]},\n{grids}\n }}\n}}'
    return png.tobytes(), text + "\n"


def draw_templates(out_dir: str | Path | None = None) -> list[Path]:
    """Write every design as ``<name>.png`` + ``<name>.json`` into ``out_dir`` (default: the
    source tree's templates folder). Output is byte-identical on every run."""
    source_tree = Path(maskgen.__file__).parents[1] / "templates"
    out = Path(out_dir) if out_dir is not None else source_tree
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for design in DESIGNS:
        png, text = draw_template(design)
        for path, data in (
            (out / f"{design.name}.png", png),
            (out / f"{design.name}.json", text.encode("utf-8")),
        ):
            path.write_bytes(data)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    for path in draw_templates(args[0] if args else None):
        print(path)


if __name__ == "__main__":
    main()
