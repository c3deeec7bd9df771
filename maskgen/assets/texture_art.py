"""Draw maskgen's built-in fabric textures (a build tool: nothing at run time imports it).

A classifier trained on a masked twin is scored on real photos, so the built-in textures imitate
real mask fabrics at a real scale: woven checks and tartans, denim, linen, jersey knit and plain
cotton are woven thread by thread (the weave produces the check, the houndstooth or the twill
line); stripes, dots, florals, paisley, camouflage, motifs, flag and animal prints are printed
onto a plain-weave ground, and tie-dye is dyed into a knit. The last eight designs add the
families and grounds that the patterned masks of ``../shared/data/real-masks`` show and the
first 61 lacked (tie-dye, stars and stripes, leopard and fawn prints, pink-ground florals and
dots). Everything is drawn by :func:`generate_textures` from a seed with numpy and OpenCV only,
so the shipped ``textures/`` folder regenerates byte for byte (``python -m maskgen.assets``).
``maskgen.masks.textures`` loads and tiles them; its module docstring gives the scale convention
(``scale_hint = tile_cm / 16``).
"""

from __future__ import annotations

import argparse
import colorsys
import functools
import json
import logging
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import maskgen
from maskgen.errors import OutputError
from maskgen.masks.textures import INDEX_NAME, MASK_WIDTH_CM, REFERENCE_MASK_PX

logger = logging.getLogger(__name__)

__all__ = ["INDEX_GENERATOR", "generate_textures"]

INDEX_GENERATOR = "maskgen.masks.textures"
"""The ``generator`` field of ``index.json``: where the generator lived when the shipped set was
drawn. Informative only (nothing reads it); kept so that the index regenerates byte for byte."""
_TILE = 256  # built-in tile side (px)
_SS = 4  # supersampling factor for printed shapes (antialiasing by area averaging)


# --------------------------------------------------------------------------------------------
# Generator: shared building blocks
# --------------------------------------------------------------------------------------------

_Rgb = np.ndarray  # (3,) float32 in [0, 1]
_Maker = Callable[[np.random.Generator], np.ndarray]


def _rgb(hex_color: str) -> _Rgb:
    """``"#rrggbb"`` as a float32 RGB triple in [0, 1]."""
    value = int(hex_color.lstrip("#"), 16)
    return np.array([(value >> 16) & 255, (value >> 8) & 255, value & 255], np.float32) / 255


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def _downsample(image: np.ndarray) -> np.ndarray:
    """A supersampled ``(S*_SS, S*_SS, 3)`` drawing averaged down to the tile, float32 in [0, 1].

    Quantised to uint8 first: OpenCV's integer area resize gives the same bytes on every CPU,
    where its float path may differ in the last bit between SIMD code paths.
    """
    if image.dtype != np.uint8:
        image = _to_uint8(image)
    small = cv2.resize(image, (_TILE, _TILE), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def _periodic_noise(
    rng: np.random.Generator, shape: tuple[int, int], sigma: tuple[float, float]
) -> np.ndarray:
    """Smooth Gaussian noise that wraps round both edges: ``shape`` float32, mean 0, std 1.

    White noise low-passed in the Fourier domain is exactly periodic, so tiles stay seamless.
    ``sigma = (sy, sx)`` is the blur radius in pixels along each axis (0 = white along it).
    """
    white = rng.standard_normal(shape)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    gain = np.exp(-2.0 * np.pi**2 * ((sigma[0] * ky) ** 2 + (sigma[1] * kx) ** 2))
    smooth = np.fft.irfft2(np.fft.rfft2(white) * gain, s=shape)
    smooth -= smooth.mean()
    return (smooth / (smooth.std() + 1e-12)).astype(np.float32)


def _mottle(rng: np.random.Generator, amount: float, sigma: float = 3.0) -> np.ndarray:
    """A ``(S, S, 1)`` brightness factor near 1: uneven yarn and dye.

    Kept fine-grained (a few px): blotches as large as the tile would repeat as a visible
    wallpaper grid once a small tile is shrunk onto a mask.
    """
    return (1.0 + amount * _periodic_noise(rng, (_TILE, _TILE), (sigma, sigma)))[..., None]


def _threads(stripes: Sequence[tuple[str, int]], n: int, repeats: int, mirror: bool) -> np.ndarray:
    """Per-thread colours ``(n, 3)``: a sett of ``(colour, thread count)`` stripes, mirrored
    about its ends when ``mirror`` (as tartans are), resampled to repeat ``repeats`` times."""
    colours = [_rgb(c) for c, count in stripes for _ in range(count)]
    if mirror:
        colours = colours + colours[-2:0:-1]
    sett = np.stack(colours)
    idx = (np.arange(n) * len(sett) * repeats // n) % len(sett)
    return sett[idx]


def _interlacing(pattern: str, n: int) -> np.ndarray:
    """``(n, n)`` bool, [weft row j, warp column i]: True where the warp thread lies on top."""
    j, i = np.mgrid[0:n, 0:n]
    if pattern == "plain":
        return (i + j) % 2 == 0
    if pattern == "twill":  # 2/2, lines rising to the right
        return (i + j) % 4 < 2
    if pattern == "denim":  # 3/1 warp-faced, right-hand twill
        return (i + j) % 4 < 3
    if pattern == "herringbone":  # 2/2 twill that reverses every 8 warp threads
        direction = np.where((i // 8) % 2 == 0, 1, -1)
        return (i + direction * j) % 4 < 2
    if pattern == "basket":  # 2/2 basket (oxford-like)
        return (i // 2 + j // 2) % 2 == 0
    raise ValueError(f"unknown weave pattern {pattern!r}")


@dataclass(frozen=True)
class _Weave:
    """How a woven cloth is built: thread colours per warp (column) and weft (row) thread."""

    warp: np.ndarray  # (n, 3)
    weft: np.ndarray  # (n, 3)
    pattern: str = "plain"
    thread_px: int = 2
    irregularity: float = 0.05  # std of per-thread brightness
    slub: float = 0.03  # std of brightness along a thread (thick and thin places)
    slub_px: float = 6.0  # length scale of slubs
    relief: float = 0.22  # darkening at a thread's edges (its round cross-section)


def _weave(rng: np.random.Generator, spec: _Weave) -> np.ndarray:
    """Render a woven cloth thread by thread: ``(S, S, 3)`` float32 in [0, 1]."""
    n = _TILE // spec.thread_px
    thread = np.arange(_TILE) // spec.thread_px  # thread index of each pixel row/column
    within = (np.arange(_TILE) % spec.thread_px + 0.5) / spec.thread_px * 2.0 - 1.0
    profile = 1.0 - spec.relief * within**2 if spec.thread_px > 1 else np.ones(_TILE)
    warp_gain = 1.0 + spec.irregularity * rng.standard_normal(n)
    weft_gain = 1.0 + spec.irregularity * rng.standard_normal(n)
    warp_slub = 1.0 + spec.slub * _periodic_noise(rng, (n, _TILE), (0.0, spec.slub_px))
    weft_slub = 1.0 + spec.slub * _periodic_noise(rng, (n, _TILE), (0.0, spec.slub_px))
    warp_light = warp_slub[thread].T * (warp_gain[thread] * profile)[None, :]
    weft_light = weft_slub[thread] * (weft_gain[thread] * profile)[:, None]
    warp_img = spec.warp[thread][None, :, :] * warp_light[..., None]
    weft_img = spec.weft[thread][:, None, :] * weft_light[..., None]
    on_top = _interlacing(spec.pattern, n)[np.ix_(thread, thread)]
    return np.where(on_top[..., None], warp_img, weft_img).astype(np.float32)


def _ground(shadow: float = 0.07) -> np.ndarray:
    """The plain-weave cotton a print sits on, as a ``(S, S, 1)`` brightness factor near 1.

    Two-pixel threads, each shadowed on one side, crossing over and under. Perfectly regular
    (period 4 px) rather than irregular thread by thread: at mask scale the weave is far below a
    pixel anyway, and a regular ground keeps the PNGs small.
    """
    index = np.arange(_TILE)
    across = 1.0 - shadow * (index % 2)
    on_top = _interlacing("plain", _TILE // 2)[np.ix_(index // 2, index // 2)]
    cloth = np.where(on_top, across[None, :], across[:, None] * (1.0 - shadow / 2))
    return (cloth / cloth.mean()).astype(np.float32)[..., None]


class _Sketch:
    """A supersampled uint8 canvas for printed shapes; every shape wraps round the tile edges.

    Coordinates are in tile pixels (floats); shapes are drawn ``_SS`` times larger with 4 bits of
    sub-pixel precision and averaged down, which antialiases them and keeps the tile seamless.
    """

    _SHIFT = 4

    def __init__(self, background: str) -> None:
        side = _TILE * _SS
        self.image = np.empty((side, side, 3), np.uint8)
        self.image[:] = _to_uint8(_rgb(background))

    def _pt(self, x: float, y: float) -> tuple[int, int]:
        k = _SS * (1 << self._SHIFT)
        return round(x * k), round(y * k)

    def _fixed(self, points: np.ndarray) -> np.ndarray:
        """Tile-pixel ``(N, 2)`` points as the canvas's fixed-point int32 coordinates."""
        return np.rint(points * _SS * (1 << self._SHIFT)).astype(np.int32)

    def _copies(self, x: float, y: float) -> list[tuple[float, float]]:
        return [(x + dx, y + dy) for dy in (-_TILE, 0, _TILE) for dx in (-_TILE, 0, _TILE)]

    @staticmethod
    def _colour(colour: str) -> tuple[int, int, int]:
        r, g, b = (int(v) for v in _to_uint8(_rgb(colour)))
        return r, g, b

    def circle(self, x: float, y: float, radius: float, colour: str) -> None:
        r = round(radius * _SS * (1 << self._SHIFT))
        for cx, cy in self._copies(x % _TILE, y % _TILE):
            cv2.circle(
                self.image, self._pt(cx, cy), r, self._colour(colour), -1, cv2.LINE_8, self._SHIFT
            )

    def ellipse(
        self, x: float, y: float, axes: tuple[float, float], angle: float, colour: str
    ) -> None:
        k = _SS * (1 << self._SHIFT)
        size = (round(axes[0] * k), round(axes[1] * k))
        for cx, cy in self._copies(x % _TILE, y % _TILE):
            cv2.ellipse(
                self.image,
                self._pt(cx, cy),
                size,
                angle,
                0,
                360,
                self._colour(colour),
                -1,
                cv2.LINE_8,
                self._SHIFT,
            )

    def polygon(self, points: np.ndarray, colour: str) -> None:
        """A filled polygon; ``points`` is ``(N, 2)`` float (x, y) in tile pixels."""
        base = points - np.floor(points.mean(axis=0) / _TILE) * _TILE
        for dx, dy in self._copies(0.0, 0.0):
            pts = self._fixed(base + np.array([dx, dy]))
            cv2.fillPoly(self.image, [pts], self._colour(colour), cv2.LINE_8, self._SHIFT)

    def polyline(self, points: np.ndarray, width: float, colour: str) -> None:
        """An open curve ``width`` tile pixels thick, with round joins."""
        base = points - np.floor(points.mean(axis=0) / _TILE) * _TILE
        thickness = max(1, round(width * _SS))
        for dx, dy in self._copies(0.0, 0.0):
            pts = self._fixed(base + np.array([dx, dy]))
            cv2.polylines(
                self.image, [pts], False, self._colour(colour), thickness, cv2.LINE_8, self._SHIFT
            )

    def result(self) -> np.ndarray:
        """The tile, ``(S, S, 3)`` float32 in [0, 1]."""
        return _downsample(self.image)


def _jittered_grid(
    rng: np.random.Generator, cells: int, jitter: float, half_drop: bool = False
) -> np.ndarray:
    """``(cells², 2)`` points on a ``cells × cells`` lattice over the tile, each moved by up
    to ``jitter`` of a cell; ``half_drop`` shifts every other column by half a cell."""
    step = _TILE / cells
    row, col = np.mgrid[0:cells, 0:cells]
    x = (col + 0.5) * step
    y = (row + 0.5 + (0.5 * (col % 2) if half_drop else 0.0)) * step
    points = np.stack([x.ravel(), y.ravel()], axis=1)
    return points + rng.uniform(-jitter, jitter, points.shape) * step


def _printed(sketch: _Sketch) -> np.ndarray:
    """A drawn print on plain-weave cotton.

    No uneven-dye mottling here: on prints it is invisible at mask scale yet doubles the PNG
    size (the renderer shades the mask anyway).
    """
    return sketch.result() * _ground()


# --------------------------------------------------------------------------------------------
# Generator: woven families
# --------------------------------------------------------------------------------------------


def _woven(
    rng: np.random.Generator,
    warp: Sequence[tuple[str, int]],
    weft: Sequence[tuple[str, int]] | None = None,
    *,
    repeats: int = 1,
    mirror: bool = False,
    pattern: str = "plain",
    irregularity: float = 0.05,
    slub: float = 0.03,
    slub_px: float = 6.0,
    mottle: float = 0.02,
) -> np.ndarray:
    """A yarn-dyed woven cloth, 2-px threads, from warp and weft setts (weft defaults to the
    warp's); ``repeats`` is how many times the sett repeats across the tile."""
    n = _TILE // 2
    spec = _Weave(
        _threads(warp, n, repeats, mirror),
        _threads(weft if weft is not None else warp, n, repeats, mirror),
        pattern=pattern,
        thread_px=2,
        irregularity=irregularity,
        slub=slub,
        slub_px=slub_px,
    )
    return _weave(rng, spec) * _mottle(rng, mottle)


def _denim(rng: np.random.Generator, indigo: str, weft: str, fade: float) -> np.ndarray:
    """3/1 twill with ring-dyed indigo warp and ecru weft, lighter where it has worn."""
    n = _TILE // 2
    blue = _rgb(indigo)
    warp = blue * (1.0 + 0.10 * rng.standard_normal((n, 1))).astype(np.float32)
    spec = _Weave(
        warp,
        np.tile(_rgb(weft), (n, 1)),
        "denim",
        irregularity=0.04,
        slub=0.16,
        slub_px=8.0,
        relief=0.25,
    )
    cloth = _weave(rng, spec)
    streaks = _periodic_noise(rng, (_TILE, _TILE), (10.0, 1.0))  # fading runs along the warp
    wear = np.clip(streaks, 0.0, None)[..., None]
    return cloth + fade * wear * (_rgb("#c8d3e0") - cloth) * 0.25


def _knit(
    rng: np.random.Generator, yarns: Sequence[str], weights: Sequence[float], rib: bool = False
) -> np.ndarray:
    """Jersey (or 1x1 rib) knit: rows of V-shaped stitches from a heathered yarn.

    A knitted yarn runs along a course (row), so heather colour is streaky along rows.
    """
    cell = 8
    n = _TILE // cell
    palette = np.stack([_rgb(c) for c in yarns])
    pick = rng.choice(len(yarns), size=(n, 2 * n), p=np.asarray(weights) / np.sum(weights))
    streak = _periodic_noise(rng, (n, 2 * n), (0.0, 1.5))
    legs = palette[pick] * (1.0 + 0.06 * streak)[..., None]  # (course, leg, 3)
    y, x = np.mgrid[0:_TILE, 0:_TILE].astype(np.float32)
    u = (x % cell + 0.5) / cell  # position within the stitch, 0..1
    v = (y % cell + 0.5) / cell
    left = u < 0.5
    lu = np.where(left, u - 0.25, u - 0.75)  # across one leg
    tilt = np.where(left, 0.45, -0.45)
    across = (lu - tilt * (v - 0.5)) / 0.2
    shade = np.clip(1.0 - 0.55 * across**2, 0.35, 1.0) * (0.9 + 0.1 * np.sin(np.pi * v))
    if rib:  # purl wales sink between the knit wales
        shade = shade * np.where((x // cell) % 2 == 0, 1.0, 0.72)
    course = (y // cell).astype(int)
    leg = (2 * (x // cell) + (~left)).astype(int)
    return legs[course, leg] * shade[..., None] * _mottle(rng, 0.02)


# --------------------------------------------------------------------------------------------
# Generator: printed families
# --------------------------------------------------------------------------------------------


def _stripes(
    rng: np.random.Generator,
    background: str,
    bands: Sequence[tuple[str, float, float]],
    period: int,
    direction: str,
) -> np.ndarray:
    """Printed stripes: ``bands`` are ``(colour, start, width)`` in px within one ``period``
    (which divides the tile); ``direction`` is "vertical", "horizontal" or "diagonal"."""
    side = _TILE * _SS
    # diagonal stripes are a function of x + y, so lay them out along a double-length line
    line = np.arange(2 * side if direction == "diagonal" else side, dtype=np.float32) / _SS
    colours = np.tile(_to_uint8(_rgb(background)), (line.size, 1))
    for colour, start, width in bands:
        colours[(line - start) % period < width] = _to_uint8(_rgb(colour))
    index = np.arange(side)
    if direction == "vertical":
        image = np.broadcast_to(colours[None, :, :], (side, side, 3))
    elif direction == "horizontal":
        image = np.broadcast_to(colours[:, None, :], (side, side, 3))
    else:
        image = colours[index[:, None] + index[None, :]]
    return _downsample(np.ascontiguousarray(image)) * _ground()


def _dots(
    rng: np.random.Generator,
    background: str,
    colours: Sequence[str],
    cells: int,
    radius: float,
    jitter: float = 0.0,
    size_jitter: float = 0.0,
) -> np.ndarray:
    """Polka dots on a half-drop lattice (or scattered confetti when jittered)."""
    sketch = _Sketch(background)
    for x, y in _jittered_grid(rng, cells, jitter, half_drop=True):
        r = radius * (1.0 + size_jitter * rng.uniform(-1, 1))
        sketch.circle(x, y, r, colours[int(rng.integers(len(colours)))])
    return _printed(sketch)


def _flower(
    sketch: _Sketch,
    rng: np.random.Generator,
    x: float,
    y: float,
    radius: float,
    petal: str,
    centre: str,
    shade: str | None,
) -> None:
    """A simple flower: ``5-7`` elliptical petals round a round centre."""
    count = int(rng.integers(5, 8))
    start = rng.uniform(0, 360)
    for k in range(count):
        angle = start + 360.0 * k / count
        a = math.radians(angle)
        px, py = x + 0.52 * radius * math.cos(a), y + 0.52 * radius * math.sin(a)
        axes = (0.52 * radius, 0.3 * radius)
        if shade is not None:
            sketch.ellipse(px, py, (axes[0] * 1.1, axes[1] * 1.2), angle, shade)
        sketch.ellipse(px, py, axes, angle, petal)
    sketch.circle(x, y, 0.24 * radius, centre)


def _leaf(
    sketch: _Sketch, x: float, y: float, length: float, angle: float, colour: str, vein: str
) -> None:
    """A pointed leaf ``length`` px long, pointing at ``angle`` degrees, with a curved midrib."""
    t = np.linspace(0.0, 1.0, 24)
    half = 0.28 * length * np.sin(np.pi * t) ** 0.8
    along = length * t
    outline = np.concatenate([np.stack([along, half], 1), np.stack([along[::-1], -half[::-1]], 1)])
    rib = np.stack([along[2:-2], 0.04 * length * np.sin(np.pi * t[2:-2])], 1)
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    sketch.polygon(outline @ rot.T + (x, y), colour)
    sketch.polyline(rib @ rot.T + (x, y), max(0.5, length * 0.04), vein)


def _floral(
    rng: np.random.Generator,
    background: str,
    petals: Sequence[str],
    centre: str,
    leaves: Sequence[str],
    cells: int,
    radius: float,
    shade: str | None = None,
    leaf_count: int = 2,
) -> np.ndarray:
    """Scattered flowers with leaves tucked under them, plus small buds between."""
    sketch = _Sketch(background)
    flowers = _jittered_grid(rng, cells, 0.3, half_drop=True)
    step = _TILE / cells
    for x, y in flowers:
        for _ in range(leaf_count if leaves else 0):
            angle = rng.uniform(0, 360)
            a = math.radians(angle)
            start = 0.4 * radius
            length = radius * rng.uniform(1.1, 1.6)
            colour = leaves[int(rng.integers(len(leaves)))]
            sketch.polyline(
                np.array([[x, y], [x + start * math.cos(a), y + start * math.sin(a)]]),
                max(0.6, radius * 0.06),
                colour,
            )
            vein = background if len(leaves) == 1 else leaves[0]
            _leaf(
                sketch,
                x + start * math.cos(a),
                y + start * math.sin(a),
                length,
                angle,
                colour,
                vein,
            )
    for x, y in flowers:
        r = radius * rng.uniform(0.8, 1.15)
        _flower(sketch, rng, x, y, r, petals[int(rng.integers(len(petals)))], centre, shade)
    for x, y in flowers + step * 0.5:
        bud = petals[int(rng.integers(len(petals)))]
        sketch.circle(x + rng.uniform(-0.15, 0.15) * step, y, radius * 0.16, bud)
    return _printed(sketch)


def _camo(
    rng: np.random.Generator,
    colours: Sequence[str],
    thresholds: Sequence[float],
    blob_px: float,
    pixel: int = 0,
) -> np.ndarray:
    """Camouflage: layers of smooth-noise blobs (or square 'digital' cells when ``pixel``).

    Blobs are drawn at half the usual supersampling: their edges are long and smooth.
    """
    side = _TILE * _SS // 2 if pixel == 0 else _TILE // pixel
    sigma = blob_px * side / _TILE
    image = np.empty((side, side, 3), np.float32)
    image[:] = _rgb(colours[0])
    for colour, threshold in zip(colours[1:], thresholds, strict=True):
        field = _periodic_noise(rng, (side, side), (sigma * 0.75, sigma * 1.3))
        detail = _periodic_noise(rng, (side, side), (sigma * 0.25, sigma * 0.35))
        image[field + 0.3 * detail > threshold] = _rgb(colour)
    zoom = _SS * _TILE // side  # digital camouflage: square cells, blown up without blending
    image = np.repeat(np.repeat(image, zoom, axis=0), zoom, axis=1)
    return _downsample(image) * _ground()


def _paisley_shape(scale: float) -> np.ndarray:
    """``(120, 2)`` outline of a paisley teardrop (round body, tail curling to one side),
    about ``scale`` px across."""
    t = np.linspace(0.0, 2.0 * np.pi, 120, endpoint=False)
    r = 0.5 * (1.0 - 0.85 * np.sin(t / 2.0) ** 24) + 0.06 * np.cos(t)
    x = r * np.cos(t) - 0.1
    y = r * np.sin(t)
    tail = np.exp(-(((t - np.pi) / 0.5) ** 2))
    x = x - 0.75 * tail
    y = y + 0.25 * tail
    return np.stack([x, y], 1) * scale


def _paisley(
    rng: np.random.Generator,
    background: str,
    body: Sequence[str],
    trim: str,
    accent: str,
    cells: int,
    size: float,
    fill_dots: str | None = None,
) -> np.ndarray:
    """Bandana-style paisley: trimmed teardrops with a nested inner drop and dot rosettes."""
    sketch = _Sketch(background)
    step = _TILE / cells
    if fill_dots is not None:
        for x, y in _jittered_grid(rng, cells * 3, 0.0):
            sketch.circle(x, y, step * 0.035, fill_dots)
    for k, (x, y) in enumerate(_jittered_grid(rng, cells, 0.12, half_drop=True)):
        angle = rng.uniform(0, 360)
        a = math.radians(angle)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        shape = _paisley_shape(size)
        sketch.polygon(shape * 1.18 @ rot.T + (x, y), trim)
        sketch.polygon(shape @ rot.T + (x, y), body[k % len(body)])
        sketch.polygon(shape * 0.55 @ rot.T + (x, y), trim)
        sketch.polygon(shape * 0.42 @ rot.T + (x, y), accent)
        for j in range(8):
            b = 2.0 * math.pi * j / 8
            sketch.circle(
                x + size * 0.13 * math.cos(b), y + size * 0.13 * math.sin(b), size * 0.035, trim
            )
        # a small rosette between drops
        rx, ry = x + step * 0.5, y + step * 0.02
        for j in range(6):
            b = 2.0 * math.pi * j / 6
            sketch.circle(
                rx + size * 0.16 * math.cos(b), ry + size * 0.16 * math.sin(b), size * 0.06, trim
            )
        sketch.circle(rx, ry, size * 0.07, accent)
    return _printed(sketch)


def _heart(size: float) -> np.ndarray:
    """Heart outline (the classic parametric heart curve), about ``size`` px across."""
    t = np.linspace(0.0, 2.0 * np.pi, 80, endpoint=False)
    x = 16.0 * np.sin(t) ** 3
    y = -(13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y + 2.0], 1) * (size / 32.0)


def _star(size: float, points: int = 5) -> np.ndarray:
    """A ``points``-pointed star outline, ``size`` px tip to tip, pointing up."""
    k = np.arange(2 * points)
    r = np.where(k % 2 == 0, 0.5, 0.5 * 0.4) * size
    a = np.pi * k / points - np.pi / 2
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


def _motifs(
    rng: np.random.Generator,
    background: str,
    shapes: Sequence[str],
    colours: Sequence[str],
    cells: int,
    size: float,
    tilt: float,
) -> np.ndarray:
    """Small repeated motifs (hearts, stars) tossed on a half-drop lattice."""
    sketch = _Sketch(background)
    outlines = {"heart": _heart, "star": _star}
    for k, (x, y) in enumerate(_jittered_grid(rng, cells, 0.12, half_drop=True)):
        outline = outlines[shapes[k % len(shapes)]](size * rng.uniform(0.85, 1.1))
        a = math.radians(rng.uniform(-tilt, tilt))
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        sketch.polygon(outline @ rot.T + (x, y), colours[int(rng.integers(len(colours)))])
    return _printed(sketch)


def _chevron(
    rng: np.random.Generator, colours: Sequence[str], period: int, amplitude: float
) -> np.ndarray:
    """Zig-zag bands: one band of each colour per vertical ``period`` (px, divides the tile)."""
    side = _TILE * _SS
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / _SS
    zig = np.abs((x % period) - period / 2.0) / (period / 2.0) * amplitude
    band = ((y + zig) % period) / period * len(colours)
    palette = np.stack([_rgb(c) for c in colours])
    image = palette[np.minimum(band.astype(int), len(colours) - 1)]
    return _downsample(image) * _ground()


def _argyle(
    rng: np.random.Generator, colours: tuple[str, str, str], line: str, cells: int
) -> np.ndarray:
    """Argyle: a harlequin of diamonds in two colours on a third, crossed by thin diagonals."""
    sketch = _Sketch(colours[0])
    step = _TILE / cells
    for row in range(cells):
        for col in range(cells):
            cx, cy = (col + 0.5) * step, (row + 0.5) * step
            diamond = np.array([[0, -0.5], [0.5, 0], [0, 0.5], [-0.5, 0]]) * step + (cx, cy)
            sketch.polygon(diamond, colours[1 + (row + col) % 2] if row % 2 == 0 else colours[1])
    for k in range(cells):
        d = k * step
        sketch.polyline(np.array([[d, 0.0], [d + _TILE, _TILE]]), 0.8, line)
        sketch.polyline(np.array([[d, 0.0], [d - _TILE, _TILE]]), 0.8, line)
    return _printed(sketch)


def _triangles(rng: np.random.Generator, colours: Sequence[str], cells: int) -> np.ndarray:
    """Rows of triangles pointing up and down, each filled from a small palette."""
    sketch = _Sketch(colours[0])
    step = _TILE / cells
    for row in range(cells):
        for col in range(2 * cells):
            x0, y0 = col * step / 2, row * step
            up = (row + col) % 2 == 0
            pts = (
                [[x0 - step / 2, y0 + step], [x0 + step / 2, y0 + step], [x0, y0]]
                if up
                else [[x0 - step / 2, y0], [x0 + step / 2, y0], [x0, y0 + step]]
            )
            colour = colours[int(rng.integers(len(colours)))]
            inset = np.array(pts) * 0.86 + np.mean(pts, axis=0) * 0.14
            sketch.polygon(inset, colour)
    return _printed(sketch)


def _windowpane(rng: np.random.Generator, background: str, line: str, period: int) -> np.ndarray:
    """A windowpane check: single contrasting threads both ways every ``period`` px, in twill."""
    threads = period // 2
    sett = [(background, threads - 1), (line, 1)]
    return _woven(
        rng, sett, pattern="twill", repeats=_TILE // 2 // threads, irregularity=0.04, slub=0.03
    )


def _tie_dye(
    rng: np.random.Generator, hues: Sequence[float], saturation: float, blob_px: float
) -> np.ndarray:
    """Tie-dye: bands of dye that bleed into each other, following the crumpled folds.

    The hue runs through ``hues`` (0-1, in order, wrapping round) along a smooth periodic
    field; a finer field wrinkles the band edges and pales the folds the dye missed.
    """
    field = _periodic_noise(rng, (_TILE, _TILE), (blob_px, blob_px))
    wrinkle = _periodic_noise(rng, (_TILE, _TILE), (blob_px / 5, blob_px / 5))
    position = ((field + 0.35 * wrinkle) * 0.9 * len(hues)) % len(hues)
    lower = np.floor(position).astype(int)
    blend = (position - lower)[..., None] ** 2 * (3 - 2 * (position - lower)[..., None])
    colours = np.array([colorsys.hsv_to_rgb(h % 1.0, saturation, 0.92) for h in hues], np.float32)
    image = colours[lower] * (1 - blend) + colours[(lower + 1) % len(hues)] * blend
    missed = np.clip(0.8 * wrinkle - 1.2, 0.0, 0.6)[..., None]  # folds the dye did not reach
    image = image * (1 - missed) + missed * np.float32(0.95)
    # on a knit, not a weave: a ground's 4-px texture would double the PNG
    return _to_uint8(image).astype(np.float32) / 255.0


def _flag(rng: np.random.Generator, red: str, white: str, blue: str, stripes: int) -> np.ndarray:
    """Stars and stripes: red and white stripes, with a star-spangled blue block in one corner
    of each half of the tile (a flag print repeated along the cloth)."""
    sketch = _Sketch(white)
    step = _TILE / stripes
    for k in range(0, stripes, 2):
        y = k * step
        sketch.polygon(np.array([[0, y], [_TILE, y], [_TILE, y + step], [0, y + step]]), red)
    for x0, y0 in ((0.0, 0.0), (_TILE / 2, _TILE / 2)):
        w, h = 0.42 * _TILE, 7 * step / 2 if stripes >= 8 else _TILE / 4
        sketch.polygon(np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]]), blue)
        for row in range(4):
            for col in range(5 + row % 2 - 1):
                cx = x0 + (col + 0.5 + 0.5 * (row % 2 == 0)) * w / 5.5
                cy = y0 + (row + 0.5) * h / 4
                sketch.polygon(_star(0.17 * h) + np.array([cx, cy]), white)
    return _printed(sketch)


def _animal(
    rng: np.random.Generator,
    background: str,
    spot: str,
    centre: str | None,
    cells: int,
    size: float,
) -> np.ndarray:
    """An animal print: leopard rosettes (broken rings of ``spot`` round a ``centre`` that is
    darker than the ground) or, with ``centre`` None, irregular solid spots (giraffe, fawn)."""
    sketch = _Sketch(background)
    for x, y in _jittered_grid(rng, cells, 0.35, half_drop=True):
        r = size * rng.uniform(0.75, 1.2)
        if centre is None:
            angles = np.linspace(0, 2 * np.pi, 14, endpoint=False)
            radii = r * (0.55 + 0.45 * rng.uniform(0.6, 1.0, angles.size))
            squash = rng.uniform(0.6, 1.0)
            points = np.stack([radii * np.cos(angles), squash * radii * np.sin(angles)], 1)
            sketch.polygon(points + np.array([x, y]), spot)
            continue
        sketch.ellipse(x, y, (0.62 * r, 0.5 * r), rng.uniform(0, 180), centre)
        start = rng.uniform(0, 360)
        count = int(rng.integers(3, 6))
        for k in range(count):
            a = math.radians(start + 360.0 * k / count + rng.uniform(-15, 15))
            sketch.ellipse(
                x + 0.8 * r * math.cos(a),
                y + 0.7 * r * math.sin(a),
                (0.36 * r, 0.16 * r),
                math.degrees(a) + 90,
                spot,
            )
    return _printed(sketch)


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Design:
    family: str
    tile_cm: float  # centimetres of real fabric one tile shows
    make: _Maker


def _d(family: str, tile_cm: float, make: Callable[..., np.ndarray], **kwargs: object) -> _Design:
    return _Design(family, tile_cm, functools.partial(make, **kwargs))


def _sett(text: str) -> list[tuple[str, int]]:
    """A sett written compactly, ``"1e2b4a:18 121417:4"``, as ``(colour, threads)`` stripes."""
    return [(f"#{c}", int(n)) for c, n in (item.split(":") for item in text.split())]


_NAVY, _BLACK, _WHITE, _CREAM = "#1f2a44", "#1b1b1d", "#ecebe6", "#e9e1cc"
_DITSY = ["#d1495b", "#edae49", "#00798c", "#30638e", "#66a182"]

# fmt: off
_WOVEN = (
    # tartans and checks: 2/2 twill, mirrored setts
    _d("plaid", 12.0, _woven, pattern="twill", mirror=True, warp=_sett(
        "1e2b4a:18 121417:4 1e2b4a:4 121417:4 1e2b4a:4 121417:18 1f4030:18 121417:2 1f4030:4")),
    _d("plaid", 12.0, _woven, pattern="twill", mirror=True, warp=_sett(
        "a3202b:24 1c2a4b:10 a3202b:2 1c2a4b:2 a3202b:2 1f4a33:12 d9b43a:1 1f4a33:2 e8e6df:1"
        " a3202b:8")),
    _d("plaid", 10.0, _woven, pattern="twill", mirror=True, warp=_sett(
        "5b5e63:20 2b2d31:12 5b5e63:3 8c2f39:1 5b5e63:3 2b2d31:12 9a9da1:6")),
    _d("plaid", 10.0, _woven, pattern="twill", repeats=2,
       warp=_sett("9e1b24:32 141416:32")),  # buffalo check
    _d("plaid", 9.0, _woven, mirror=True, warp=_sett(
        "7da6c9:10 eef0ee:3 e8b4b8:6 eef0ee:3 f1d98b:4 7da6c9:2 3e5f8a:4")),  # pastel madras
    _d("gingham", 9.6, _woven, repeats=8, warp=_sett("b3222e:8 f2efe9:8")),
    _d("gingham", 9.6, _woven, repeats=8, warp=_sett("203a6b:8 f2efe9:8")),
    _d("gingham", 6.4, _woven, repeats=16, warp=_sett("17181a:4 f2efe9:4")),
    _d("gingham", 9.6, _woven, repeats=8, warp=_sett("6f8f72:8 f2efe9:8")),
    # 4-and-4 in 2/2 twill is what makes a houndstooth
    _d("houndstooth", 6.4, _woven, pattern="twill", repeats=16, warp=_sett("151517:4 e6e3dc:4")),
    _d("houndstooth", 9.6, _woven, pattern="twill", repeats=8, warp=_sett("4a3526:8 d9cdb4:8")),
    _d("tweed", 6.0, _woven, pattern="herringbone", warp=_sett("3b3d40:1"),
       weft=_sett("a9a8a3:1"), irregularity=0.10, slub=0.10),
    _d("tweed", 6.0, _woven, pattern="herringbone", warp=_sett("4d3a2a:1"),
       weft=_sett("b49d7a:1"), irregularity=0.12, slub=0.12),
    _d("denim", 3.2, _denim, indigo="#1c2d4f", weft="#a9a69c", fade=0.4),
    _d("denim", 3.2, _denim, indigo="#3a5a8a", weft="#b4b2aa", fade=0.7),
    _d("denim", 3.2, _woven, warp=_sett("4d6c98:1"), weft=_sett("e3e2dc:1"),
       irregularity=0.06, slub=0.06),  # chambray
    _d("solid", 3.2, _woven, warp=_sett("1d1e21:1"), weft=_sett("25262a:1")),
    _d("solid", 3.2, _woven, warp=_sett("1f2a44:1"), weft=_sett("243050:1")),
    _d("solid", 3.2, _woven, warp=_sett("5e1f2d:1"), weft=_sett("56202b:1")),
    _d("solid", 3.2, _woven, warp=_sett("5a5d4a:1"), weft=_sett("4f533f:1")),
    _d("solid", 3.2, _woven, warp=_sett("c9a5a6:1"), weft=_sett("c29c9e:1")),
    _d("solid", 3.2, _woven, warp=_sett("8fb0d6:1"), weft=_sett("eceeed:1"),
       pattern="basket"),  # oxford shirting
    _d("linen", 4.0, _woven, warp=_sett("bdae90:1"), weft=_sett("b1a283:1"),
       irregularity=0.08, slub=0.14, slub_px=10.0),
    _d("linen", 4.0, _woven, warp=_sett("e6e2d8:1"), weft=_sett("dcd7cb:1"),
       irregularity=0.06, slub=0.10, slub_px=10.0),
    _d("linen", 4.0, _woven, warp=_sett("8ba1b5:1"), weft=_sett("a7b5c1:1"),
       irregularity=0.08, slub=0.12, slub_px=10.0),
    _d("knit", 2.6, _knit, yarns=["#8d8f92", "#6e7074", "#b2b3b5", "#d6d6d6"],
       weights=[0.45, 0.25, 0.22, 0.08]),  # heather grey jersey
    _d("knit", 2.6, _knit, yarns=["#26324f", "#34416a", "#1a2033", "#5a6482"],
       weights=[0.5, 0.25, 0.2, 0.05]),
    _d("knit", 2.6, _knit, yarns=["#202124", "#2e2f33", "#45464b"], weights=[0.6, 0.3, 0.1]),
    _d("knit", 2.6, _knit, yarns=["#8a2a36", "#732230", "#9d3c47"], weights=[0.5, 0.3, 0.2],
       rib=True),
)

_PRINTED = (
    _d("stripes", 16.0, _stripes, background=_NAVY, period=16, direction="vertical",
       bands=[("#d4d6d9", 0, 0.7)]),  # pinstripe
    _d("stripes", 12.8, _stripes, background="#efece4", period=32, direction="horizontal",
       bands=[(_NAVY, 0, 12)]),  # breton
    _d("stripes", 16.0, _stripes, background="#e7dcc4", period=128, direction="horizontal",
       bands=[("#2d5f63", 0, 30), ("#c99a2e", 40, 16), ("#7a2631", 66, 30),
              ("#2d5f63", 106, 6)]),
    _d("stripes", 16.0, _stripes, background=_NAVY, period=64, direction="diagonal",
       bands=[("#7b1f2e", 0, 14), ("#c9a44c", 20, 2.5), ("#7b1f2e", 28, 3)]),  # regimental
    _d("stripes", 8.0, _stripes, background="#f3f4f3", period=16, direction="vertical",
       bands=[("#8fb2d6", 0, 7)]),  # candy stripe
    _d("stripes", 16.0, _stripes, background="#2b2c2f", period=32, direction="diagonal",
       bands=[("#6b6d72", 0, 10)]),
    _d("dots", 16.0, _dots, background=_NAVY, colours=[_WHITE], cells=16, radius=2.6),
    _d("dots", 16.0, _dots, background=_BLACK, colours=[_WHITE], cells=8, radius=7.0),
    _d("dots", 16.0, _dots, background="#e9c5c9", colours=["#fbf7f4"], cells=12, radius=4.5),
    _d("dots", 16.0, _dots, background="#f1efe9", colours=[_BLACK], cells=10, radius=4.0),
    _d("dots", 16.0, _dots, background="#a11f2b", colours=["#f4f1ea"], cells=12, radius=3.5),
    _d("dots", 16.0, _dots, background=_CREAM, colours=_DITSY, cells=16, radius=2.8,
       jitter=0.35, size_jitter=0.3),  # confetti
    _d("floral", 12.0, _floral, background=_NAVY, petals=["#f2efe6", "#f2efe6", "#f4c9d0"],
       centre="#e9b73f", leaves=["#5d7f60"], cells=8, radius=8.0, leaf_count=1),
    _d("floral", 16.0, _floral, background="#efe6d6", petals=["#c8414f", "#e07b86", "#b02e3e"],
       centre="#f1c453", leaves=["#4f7a4a", "#6f9a5c"], cells=5, radius=15.0, shade="#8f2633"),
    _d("floral", 18.0, _floral, background="#151618",
       petals=["#d6455a", "#ef8a5b", "#f2c14e", "#e6879b"], centre="#3b2a20",
       leaves=["#3f6b47", "#2f5138"], cells=4, radius=19.0, shade="#7d2331"),
    _d("floral", 14.0, _floral, background="#8fa08a", petals=["#f7f5ef"], centre="#e6b83c",
       leaves=[], cells=7, radius=11.0),  # daisies
    _d("floral", 12.0, _floral, background="#bcd3e6", petals=["#ffffff", "#e8eef7", "#5b79a8"],
       centre="#f0d264", leaves=["#7c9f86"], cells=8, radius=8.5),
    _d("camo", 24.0, _camo, colours=["#8a8060", "#4e5a36", "#5c4632", "#23221f"],
       thresholds=[0.0, 0.55, 1.05], blob_px=10.0),  # woodland
    _d("camo", 24.0, _camo, colours=["#cdb58b", "#a98a60", "#8c7a5a", "#6e5a44"],
       thresholds=[0.2, 0.7, 1.2], blob_px=11.0),  # desert
    _d("camo", 24.0, _camo, colours=["#9a9b9d", "#6c6e72", "#3d3f43", "#d7d8d9"],
       thresholds=[0.0, 0.6, 1.2], blob_px=9.0),  # urban
    _d("camo", 20.0, _camo, colours=["#7b7a57", "#4b5535", "#6a5a42", "#2a2a25"],
       thresholds=[-0.1, 0.5, 1.0], blob_px=8.0, pixel=4),  # digital
    _d("paisley", 16.0, _paisley, background="#a11d2a", body=["#a11d2a"], trim="#f3efe6",
       accent=_BLACK, cells=4, size=34.0, fill_dots="#f3efe6"),  # bandana
    _d("paisley", 16.0, _paisley, background="#1c2b4d", body=["#1c2b4d"], trim="#f3efe6",
       accent="#c9443f", cells=4, size=34.0, fill_dots="#f3efe6"),
    _d("paisley", 14.0, _paisley, background="#eadfc8", body=["#2e6b6a", "#b5523b", "#d8a03d"],
       trim="#3a2a24", accent="#efe4cc", cells=5, size=28.0),
    _d("geometric", 12.0, _chevron, colours=[_NAVY, "#eeeae1"], period=32, amplitude=14.0),
    _d("geometric", 16.0, _chevron, colours=["#46494f", "#b9bcc1", "#eeeee9", "#7f8389"],
       period=64, amplitude=24.0),
    _d("geometric", 16.0, _argyle, colours=("#2f3a4f", "#6d7a93", "#8b2f3b"), line="#d8d3c4",
       cells=4),
    _d("geometric", 12.0, _triangles, colours=["#2e4057", "#c8d0d9", "#d4a35a", "#7c9cb3"],
       cells=8),
    _d("geometric", 12.0, _windowpane, background="#3c3f45", line="#b8bcc2", period=32),
    _d("motif", 12.0, _motifs, background="#f2d6da", shapes=["heart"],
       colours=["#c9334a", "#e05f75"], cells=8, size=14.0, tilt=25.0),
    _d("motif", 12.0, _motifs, background=_NAVY, shapes=["star"],
       colours=["#f0eee8", "#e2c25c"], cells=8, size=14.0, tilt=30.0),
    _d("motif", 10.0, _motifs, background="#f3efe6", shapes=["heart", "star"],
       colours=["#e58e9c", "#7fb0d4", "#e8c167"], cells=10, size=12.0, tilt=30.0),
    # families and grounds the real masks' prints show that the ones above do not
    _d("tiedye", 20.0, _tie_dye, hues=[0.95, 0.08, 0.15, 0.33, 0.55, 0.75], saturation=0.7,
       blob_px=26.0),  # rainbow
    _d("tiedye", 20.0, _tie_dye, hues=[0.55, 0.62, 0.75, 0.85], saturation=0.55,
       blob_px=22.0),  # blues and purples
    _d("flag", 24.0, _flag, red="#b22234", white="#eeeae4", blue="#3c3b6e", stripes=12),
    _d("animal", 14.0, _animal, background="#d8b27a", spot="#2a1c12", centre="#b98a4e",
       cells=6, size=14.0),  # leopard
    _d("animal", 16.0, _animal, background="#7a5534", spot="#efe6d6", centre=None, cells=7,
       size=9.0),  # fawn spots
    _d("floral", 12.0, _floral, background="#f4b8c4", petals=["#fbeef0", "#e0475e", "#f7d6dc"],
       centre="#f2c94c", leaves=["#7bab6e"], cells=7, radius=9.0, leaf_count=1),  # pink ground
    _d("floral", 8.0, _floral, background="#f6f1ee", petals=["#ef8fa3", "#e35d78", "#f6b6c3"],
       centre="#f6d36b", leaves=["#86b27c"], cells=9, radius=5.5, leaf_count=1),  # pink ditsy
    _d("dots", 10.0, _dots, background="#f7a8b8", colours=["#fff7f5", "#c2405a"], cells=14,
       radius=2.4, jitter=0.3, size_jitter=0.3),
)
# fmt: on


def _catalogue() -> list[_Design]:
    """Every built-in design, woven then printed; names are ``<family>_<nn>`` in this order."""
    return [*_WOVEN, *_PRINTED]


def _named(designs: Sequence[_Design]) -> list[tuple[str, _Design]]:
    """``<family>_<nn>`` names, numbered from 01 within each family in catalogue order."""
    counts: dict[str, int] = {}
    named = []
    for design in designs:
        counts[design.family] = counts.get(design.family, 0) + 1
        named.append((f"{design.family}_{counts[design.family]:02d}", design))
    return named


def _render(name: str, design: _Design, seed: int) -> np.ndarray:
    """One design as a ``(S, S, 3) uint8 RGB`` tile; its RNG depends only on (seed, name)."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(name.encode("utf-8"))])
    return _to_uint8(design.make(rng))


def generate_textures(out_dir: Path, seed: int = 0) -> list[Path]:
    """(Re)draw every built-in texture into ``out_dir`` as ``<family>_<nn>.png`` plus
    ``index.json``; returns the written paths (images first, index last).

    Deterministic: the same seed gives byte-identical files on the same numpy/OpenCV build.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create texture folder ({exc.strerror})") from exc
    written: list[Path] = []
    entries = []
    for name, design in _named(_catalogue()):
        path = out_dir / f"{name}.png"
        _write_png(path, _render(name, design, seed))
        written.append(path)
        entries.append(
            {
                "name": name,
                "family": design.family,
                "file": path.name,
                "scale_hint": round(design.tile_cm / MASK_WIDTH_CM, 4),
                "tile_cm": design.tile_cm,
            }
        )
        logger.debug("wrote %s", path)
    index = {
        "generator": INDEX_GENERATOR,
        "seed": seed,
        "reference_mask_px": REFERENCE_MASK_PX,
        "mask_width_cm": MASK_WIDTH_CM,
        "textures": entries,
    }
    index_path = out_dir / INDEX_NAME
    _write_bytes(index_path, (json.dumps(index, indent=1) + "\n").encode("utf-8"))
    written.append(index_path)
    return written


def _write_png(path: Path, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", rgb[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise OutputError(f"{path}: could not encode texture as PNG")
    _write_bytes(path, encoded.tobytes())


def _write_bytes(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m maskgen.assets.texture_art``: regenerate the built-in
    textures (into the source tree's ``textures/`` by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out_dir", nargs="?", type=Path, default=Path(maskgen.__file__).parents[1] / "textures"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    paths = generate_textures(args.out_dir, seed=args.seed)
    logger.info("wrote %d textures and %s", len(paths) - 1, paths[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
