"""Mask templates: a drawn mask image plus the face points it is fitted to.

A template is a pair of files in a templates folder: ``<name>.png`` (RGBA, transparent outside
the mask) and ``<name>.json`` (metadata and *fit points*). Each fit point is a named position in
template pixels that corresponds to a point of the face derived from the 68 dlib landmarks (see
:data:`FACE_POINTS`). Rendering triangulates the fit points and warps every triangle onto the
face, so the mask follows tilt, turn and the jaw line. Adding a template is adding two files.

JSON layout::

    {"format": 1, "name": "surgical", "display_name": "Surgical mask", "family": "surgical",
     "base_color": "#a2c4e0", "recolorable": true, "image_size": [600, 550],
     "fit_points": {"lm08": [300.0, 470.1], "out08": [300.0, 514.4], ...},
     "surface": {"step": 10, "du": [[0.0, ...], ...], "dv": [[0.0, ...], ...]}}

``surface`` (optional) says where the mask's cloth lies: at every ``step``-th template pixel
(rows ``y = 0, step, ...``, columns ``x = 0, step, ...``, up to the last pixel's row and
column) the fabric position is the pixel plus ``(du, dv)``, in template pixels. A print or
weave is laid out in fabric positions, so its stripes bend where the cloth curves (over the
nose, round the cheeks) and jump at pleats; without it the print lies flat.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import maskgen
from maskgen.cache import file_key, read_arrays, write_arrays
from maskgen.errors import TemplateError

logger = logging.getLogger(__name__)

TEMPLATE_FORMAT = 1
OUTER_RING = 0.15
"""``outNN`` points lie this fraction of the way beyond jaw landmark NN, away from the nose tip
(landmark 30): room around the jaw for ear loops, straps and the part under the chin."""

JAW = range(17)
NOSE_TIP = 30


def _face_point_table() -> dict[str, dict[int, float]]:
    """Every known face point as a weighted sum of landmarks: ``name -> {index: weight}``."""
    table: dict[str, dict[int, float]] = {f"lm{i:02d}": {i: 1.0} for i in range(68)}
    for i in JAW:
        table[f"out{i:02d}"] = {i: 1.0 + OUTER_RING, NOSE_TIP: -OUTER_RING}
    return table


FACE_POINTS: Mapping[str, Mapping[int, float]] = _face_point_table()
"""Face points a template may use: ``lmNN`` is landmark NN (dlib 68-point order), ``outNN``
(NN in 0..16) the jaw point pushed outward (see :data:`OUTER_RING`)."""

REQUIRED_FIT_POINTS: tuple[str, ...] = (
    *(f"lm{i:02d}" for i in range(1, 16)),  # cheeks and jaw line, chin (8)
    *(f"lm{i:02d}" for i in range(27, 31)),  # nose bridge
    "out07",
    "out08",
    "out09",  # below the chin
)
"""Fit points every template must have, so the mask can reach from the nose bridge over the
cheeks to under the chin."""

LEVEL_STEP = 2**-0.5
MIN_LEVEL_WIDTH = 24


def face_point_matrix(names: tuple[str, ...]) -> np.ndarray:
    """(N, 68) float32 weights: ``matrix @ landmarks`` gives the N named face points."""
    matrix = np.zeros((len(names), 68), dtype=np.float32)
    for row, name in enumerate(names):
        for index, weight in FACE_POINTS[name].items():
            matrix[row, index] = weight
    return matrix


def parse_hex_color(value: Any, where: str) -> tuple[int, int, int]:
    """ "#rrggbb" -> (r, g, b) ints; ``where`` names the file/field for the error message."""
    if not isinstance(value, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise TemplateError(f"{where}: expected a colour '#rrggbb', got {value!r}")
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


@dataclass(frozen=True, eq=False)
class TemplateLevel:
    """One pre-scaled copy of a template: ``scale`` level pixels per template pixel.

    ``color`` (h, w, 3) float32 straight RGB in [0, 1]; ``alpha`` (h, w) float32; ``shade``
    (h, w) float32, the template's luminance over its base colour's (folds, seams, loops: what
    a new colour or texture is multiplied by); ``premultiplied`` (h, w, 4) float32, the
    template's own look with alpha, ready to warp; ``shade_alpha`` (h, w, 2) float32, shading
    times alpha and alpha (what a recoloured mask warps).
    """

    scale: float
    color: np.ndarray
    alpha: np.ndarray
    shade: np.ndarray
    premultiplied: np.ndarray
    shade_alpha: np.ndarray


@dataclass(frozen=True, eq=False)
class MaskTemplate:
    """A loaded, validated template. ``points`` (N, 2) float32 template pixels, named by
    ``point_names``; ``triangles`` (T, 3) int32 indices into them (Delaunay); ``rgba``
    (H, W, 4) uint8 RGBA. One read from files (:func:`read_template`) also carries
    ``files_key``, the key of its files as read, which its cached levels are stored under; a
    copy made with ``dataclasses.replace`` has none, so it is never served the original's."""

    name: str
    display_name: str
    family: str
    base_color: tuple[int, int, int]
    recolorable: bool
    point_names: tuple[str, ...]
    points: np.ndarray
    triangles: np.ndarray
    rgba: np.ndarray
    source: Path
    surface: np.ndarray | None = None
    """(2, rows, columns) float32 (du, dv) fabric displacement every ``surface_step`` template
    pixels (see the module doc), or None: the print lies flat."""
    surface_step: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in template pixels."""
        return (self.rgba.shape[1], self.rgba.shape[0])

    @cached_property
    def point_weights(self) -> np.ndarray:
        """(N, 68) float32: landmarks -> this template's face points."""
        return face_point_matrix(self.point_names)

    @cached_property
    def active_triangles(self) -> np.ndarray:
        """Indices of the triangles that hold any of the mask (the others are never drawn)."""
        alpha = self.rgba[:, :, 3]
        height, width = alpha.shape
        active = []
        for index, tri in enumerate(self.triangles):
            corners = np.round(self.points[tri]).astype(np.int32)
            # rasterised on the triangle's bounding box within the template, not the whole
            # template: the same pixels (whole-pixel shifts), a fraction of the work
            (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
            x0, y0 = max(int(x0), 0), max(int(y0), 0)
            x1, y1 = min(int(x1), width - 1), min(int(y1), height - 1)
            if x1 < x0 or y1 < y0:
                continue  # wholly outside the template
            canvas = np.zeros((y1 - y0 + 1, x1 - x0 + 1), alpha.dtype)
            cv2.fillConvexPoly(canvas, corners - np.array([x0, y0], np.int32), 255)
            if np.any(alpha[y0 : y1 + 1, x0 : x1 + 1][canvas > 0] > 0):
                active.append(index)
        return np.array(active, dtype=np.int32)

    @cached_property
    def active_corners(self) -> np.ndarray:
        """(T, 3) int32 fit-point indices of the triangles that hold any of the mask."""
        return np.ascontiguousarray(self.triangles[self.active_triangles])

    @cached_property
    def active_sources(self) -> np.ndarray:
        """(T, 3, 2) float64 corners of the active triangles in template pixels + 0.5, so that
        ``active_sources * level.scale - 0.5`` are their corners in a level's pixels."""
        return self.points[self.active_corners].astype(np.float64) + 0.5

    @cached_property
    def spread(self) -> float:
        """Root of the summed squared distances of the fit points from their mean (pixels)."""
        centred = self.points - self.points.mean(axis=0)
        return max(float(np.sqrt((centred * centred).sum())), 1e-6)

    @cached_property
    def mask_width(self) -> float:
        """Width in template pixels of the mask's body (columns mostly covered)."""
        columns = np.flatnonzero((self.rgba[:, :, 3] > 127).sum(axis=0) > 0.05 * self.size[1])
        return float(columns[-1] - columns[0] + 1) if columns.size else float(self.size[0])

    @cached_property
    def jitter_weights(self) -> np.ndarray:
        """(N, 2) float32: how much each fit point moves with ``fit_jitter`` (top, bottom).

        Points around the nose bridge carry the top edge, points about the chin the bottom
        edge; weights fade linearly in between, measured along the nose-bridge-to-chin axis.
        """
        top = self.points[self.point_names.index("lm27"), 1]
        chin = self.points[self.point_names.index("lm08"), 1]
        depth = (self.points[:, 1] - top) / max(chin - top, 1e-6)
        upper = np.clip((0.45 - depth) / 0.25, 0.0, 1.0)
        lower = np.clip((depth - 0.6) / 0.3, 0.0, 1.0)
        return np.stack([upper, lower], axis=1).astype(np.float32)

    @cached_property
    def level_scales(self) -> tuple[float, ...]:
        """Each level's scale (level pixels per template pixel): 1 (full size), then steps of
        1/sqrt(2) down to a level about :data:`MIN_LEVEL_WIDTH` px wide. Known without
        building any level."""
        scales = []
        scale = 1.0
        width = self.size[0]
        while width * scale >= MIN_LEVEL_WIDTH or not scales:
            scales.append(scale)
            scale *= LEVEL_STEP
        return tuple(scales)

    @property
    def levels(self) -> tuple[TemplateLevel, ...]:
        """Every level, built now (not kept: several MB each at full size; rendering builds and
        keeps only the levels its faces need, see :meth:`level_index_for`)."""
        return tuple(self.level(index) for index in range(len(self.level_scales)))

    def level(self, index: int) -> TemplateLevel:
        """Level ``index`` of :attr:`level_scales`, built from the template (a few ms at full
        size; the caller keeps it if it needs it again).

        Levels are reduced from the premultiplied image, so transparent pixels never bleed
        their (meaningless) colour into the anti-aliased edge.
        """
        scale = self.level_scales[index]
        base = np.array(self.base_color, dtype=np.float32) / 255.0
        full = self.rgba.astype(np.float32) / 255.0
        alpha = full[:, :, 3]
        # premultiplied: the same float32 products as numpy's broadcast, three times sooner
        full = cv2.multiply(full, cv2.merge([alpha, alpha, alpha, np.ones_like(alpha)]))
        width, height = self.size
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        premultiplied = (
            full if scale == 1.0 else cv2.resize(full, size, interpolation=cv2.INTER_AREA)
        )
        return _make_level(premultiplied, scale, base)

    def fabric_coords(self, index: int) -> np.ndarray:
        """(h, w, 2) float32, read-only: where each pixel of level ``index`` lies on the
        mask's cloth, in that level's pixels (the pixel's own (x, y) when the template has no
        ``surface``). A texture tiled over these positions follows the cloth. Kept for the 16
        most recent (template, level) pairs."""
        return _fabric_coords(self, index)

    def level_index_for(self, scale: float) -> int:
        """Index of the smallest level at least ``scale`` times template size (or of the
        largest one), so warping never shrinks by more than a factor sqrt(2)."""
        chosen = 0
        for index, level_scale in enumerate(self.level_scales):
            if level_scale >= scale:
                chosen = index
        return chosen

    def level_for(self, scale: float) -> TemplateLevel:
        """The level :meth:`level_index_for` picks, built now."""
        return self.level(self.level_index_for(scale))


@functools.lru_cache(maxsize=16)
def _fabric_coords(template: MaskTemplate, index: int) -> np.ndarray:
    """:meth:`MaskTemplate.fabric_coords`: the surface grid read bilinearly at each level
    pixel's centre (template position ``(x + 0.5) / scale - 0.5``), scaled to level pixels."""
    scale = template.level_scales[index]
    width, height = template.size
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    xs = np.arange(size[0], dtype=np.float32)
    ys = np.arange(size[1], dtype=np.float32)
    grid_x, grid_y = np.meshgrid(xs, ys)
    coords = np.dstack([grid_x, grid_y])
    if template.surface is not None:
        step = float(template.surface_step)
        map_x = ((grid_x + 0.5) / scale - 0.5) / step
        map_y = ((grid_y + 0.5) / scale - 0.5) / step
        shift = np.dstack(
            [
                cv2.remap(plane, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                for plane in template.surface
            ]
        )
        coords += shift * np.float32(scale)
    coords = np.ascontiguousarray(coords, dtype=np.float32)
    coords.setflags(write=False)
    return coords


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of (..., 3) float RGB."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _make_level(premultiplied: np.ndarray, scale: float, base: np.ndarray) -> TemplateLevel:
    """Straight colour, alpha and shading from a premultiplied (h, w, 4) float32 image."""
    premultiplied = np.ascontiguousarray(premultiplied, dtype=np.float32)
    alpha = np.ascontiguousarray(premultiplied[:, :, 3])
    safe = np.maximum(alpha, 1e-3)[:, :, None]
    color = np.where(alpha[:, :, None] > 1e-3, premultiplied[:, :, :3] / safe, base)
    color = np.clip(color, 0.0, 1.0).astype(np.float32)
    base_luma = max(float(_luma(base)), 1e-3)
    shade = (_luma(color) / base_luma).astype(np.float32)
    shade_alpha = np.ascontiguousarray(np.dstack([shade * alpha, alpha]), dtype=np.float32)
    for array in (alpha, premultiplied, color, shade, shade_alpha):
        array.setflags(write=False)
    return TemplateLevel(scale, color, alpha, shade, premultiplied, shade_alpha)


def default_templates_dir() -> Path:
    """The installed templates (``maskgen/_assets/templates`` in a wheel), else the source
    tree's ``templates/``."""
    package = Path(maskgen.__file__).parent
    installed = package / "_assets" / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


def load_templates(templates_dir: str | Path | None = None) -> dict[str, MaskTemplate]:
    """Every template in a folder (default: :func:`default_templates_dir`), by name, sorted.

    Loads and validates once per folder and process. Raises TemplateError naming the file
    for anything malformed, or if the folder holds no template.
    """
    root = Path(templates_dir) if templates_dir is not None else default_templates_dir()
    return dict(_load_templates_cached(root.resolve()))


@functools.lru_cache(maxsize=8)
def _load_templates_cached(root: Path) -> tuple[tuple[str, MaskTemplate], ...]:
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise TemplateError(f"templates folder {root} {what}")
    specs = sorted(root.glob("*.json"))
    if not specs:
        raise TemplateError(f"templates folder {root} holds no <name>.json + <name>.png pair")
    templates = [read_template(path) for path in specs]
    return tuple((template.name, template) for template in templates)


def read_template(json_path: Path) -> MaskTemplate:
    """Read and validate one template from its JSON file and the PNG beside it."""
    json_path = Path(json_path)
    try:  # taken before the files are read: a file changed since gets another key
        files_key: str | None = file_key(json_path, json_path.with_suffix(".png"))
    except OSError:
        files_key = None
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TemplateError(f"{json_path}: cannot read template JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise TemplateError(f"{json_path}: expected a JSON object")
    _check_meta(meta, json_path)
    png_path = json_path.with_suffix(".png")
    width, height = meta["image_size"]
    rgba = _read_rgba_cached(png_path, files_key, (height, width))
    if rgba.shape[:2] != (height, width):
        raise TemplateError(
            f"{png_path}: image is {rgba.shape[1]}x{rgba.shape[0]}, "
            f"{json_path.name} says {width}x{height}"
        )
    names, points = _read_fit_points(meta["fit_points"], json_path, width, height)
    surface, step = _read_surface(meta.get("surface"), json_path, width, height)
    template = MaskTemplate(
        name=json_path.stem,
        display_name=str(meta.get("display_name", json_path.stem)),
        family=str(meta.get("family", json_path.stem)),
        base_color=parse_hex_color(meta["base_color"], f"{json_path}: base_color"),
        recolorable=bool(meta.get("recolorable", True)),
        point_names=names,
        points=points,
        triangles=_triangulate(points, json_path),
        rgba=rgba,
        source=json_path,
        surface=surface,
        surface_step=step,
    )
    # what the files were when read: the key of this template's cached levels (a template
    # made with dataclasses.replace has none, so it is never served another's levels)
    object.__setattr__(template, "files_key", files_key)
    return template


def _check_meta(meta: dict[str, Any], json_path: Path) -> None:
    """Required keys, format version, name and size fields."""
    for key in ("format", "base_color", "image_size", "fit_points"):
        if key not in meta:
            raise TemplateError(f"{json_path}: missing key {key!r}")
    if meta["format"] != TEMPLATE_FORMAT:
        raise TemplateError(
            f"{json_path}: format {meta['format']!r} not supported (expected {TEMPLATE_FORMAT})"
        )
    if meta.get("name", json_path.stem) != json_path.stem:
        raise TemplateError(
            f"{json_path}: name {meta['name']!r} differs from the file name {json_path.stem!r}"
        )
    if meta.get("outer_ring", OUTER_RING) != OUTER_RING:
        raise TemplateError(
            f"{json_path}: outer_ring {meta['outer_ring']!r} differs from this maskgen's "
            f"{OUTER_RING} (the outNN points would land elsewhere)"
        )
    size = meta["image_size"]
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 for v in size)
    ):
        raise TemplateError(f"{json_path}: image_size must be [width, height], got {size!r}")


def _read_rgba_cached(png_path: Path, files_key: str | None, size: tuple[int, int]) -> np.ndarray:
    """:func:`_read_rgba`, decoded once into the user's cache (:mod:`maskgen.cache`, keyed on
    the template's files as read, ``files_key``) and read from there memory-mapped afterwards:
    every run checks the templates before it starts, and decoding the six built-in PNGs took
    about 35 ms of it (this project's 2-core AMD EPYC VM), against about 1 ms read back. An
    entry that is not an RGBA image of the JSON's ``size`` (height, width) is not used: the
    PNG is decoded (and checked against ``size``) as without a cache, and stored in its place."""
    if files_key is None:
        return _read_rgba(png_path)
    key = f"template-rgba-{png_path.stem}-{files_key}"
    stored = read_arrays(key, ("rgba",), lambda a: _is_rgba(a["rgba"], size))
    if stored is not None:
        rgba = stored["rgba"]
    else:
        rgba = _read_rgba(png_path)
        if _is_rgba(rgba, size):  # else refused by the caller: nothing to store
            write_arrays(key, {"rgba": rgba})
    rgba.setflags(write=False)
    return rgba


def _is_rgba(array: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether ``array`` is an (H, W, 4) uint8 image of ``size`` (H, W)."""
    return array.dtype == np.uint8 and array.shape == (*size, 4)


def _read_rgba(png_path: Path) -> np.ndarray:
    """(H, W, 4) uint8 RGBA from a PNG with an alpha channel that shows something."""
    if not png_path.is_file():
        raise TemplateError(f"{png_path}: template image missing (needed beside its .json)")
    data = np.fromfile(png_path, dtype=np.uint8)
    bgra = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if bgra is None:
        raise TemplateError(f"{png_path}: not a readable image")
    if bgra.dtype != np.uint8 or bgra.ndim != 3 or bgra.shape[2] != 4:
        raise TemplateError(f"{png_path}: expected 8-bit RGBA (with alpha), got {bgra.shape}")
    if int(bgra[:, :, 3].max()) == 0:
        raise TemplateError(f"{png_path}: alpha is empty (the mask is fully transparent)")
    rgba = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)
    rgba.setflags(write=False)
    return rgba


def _read_surface(
    raw: Any, json_path: Path, width: int, height: int
) -> tuple[np.ndarray | None, int]:
    """The optional ``surface`` grid as (2, rows, columns) float32 and its step (None, 0
    when absent); TemplateError naming the problem when malformed."""
    if raw is None:
        return None, 0
    where = f"{json_path}: surface"
    if not isinstance(raw, dict):
        raise TemplateError(f"{where} must be an object with step, du and dv")
    step = raw.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step <= 0:
        raise TemplateError(f"{where}: step must be a whole number of pixels > 0, got {step!r}")
    shape = ((height - 1) // step + 1, (width - 1) // step + 1)
    planes = []
    for key in ("du", "dv"):
        try:
            plane = np.array(raw.get(key), dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise TemplateError(f"{where}: {key} must be rows of numbers ({exc})") from exc
        if plane.shape != shape or not np.all(np.isfinite(plane)):
            raise TemplateError(
                f"{where}: {key} must be {shape[0]} rows of {shape[1]} finite numbers "
                f"(one every {step} px of a {width}x{height} image), got shape {plane.shape}"
            )
        planes.append(plane)
    surface = np.ascontiguousarray(np.stack(planes))
    surface.setflags(write=False)
    return surface, step


def _read_fit_points(
    raw: Any, json_path: Path, width: int, height: int
) -> tuple[tuple[str, ...], np.ndarray]:
    """Validated fit points: known names, all required present, inside the image."""
    if not isinstance(raw, dict):
        raise TemplateError(f"{json_path}: fit_points must be an object of name: [x, y]")
    unknown = sorted(set(raw) - set(FACE_POINTS))
    if unknown:
        raise TemplateError(
            f"{json_path}: unknown fit points {unknown} (known: lm00..lm67, out00..out16)"
        )
    missing = [name for name in REQUIRED_FIT_POINTS if name not in raw]
    if missing:
        raise TemplateError(f"{json_path}: missing fit points {missing}")
    names = tuple(sorted(raw))
    try:
        points = np.array([[float(v) for v in raw[name]] for name in names], dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"{json_path}: fit points must be [x, y] numbers ({exc})") from exc
    if points.shape != (len(names), 2) or not np.all(np.isfinite(points)):
        raise TemplateError(f"{json_path}: fit points must be finite [x, y] pairs")
    outside = [
        name
        for name, (x, y) in zip(names, points, strict=True)
        if not (0 <= x <= width - 1 and 0 <= y <= height - 1)
    ]
    if outside:
        raise TemplateError(
            f"{json_path}: fit points outside the {width}x{height} image: {outside}"
        )
    points.setflags(write=False)
    return names, points


def _triangulate(points: np.ndarray, json_path: Path) -> np.ndarray:
    """Delaunay triangles over the fit points, (T, 3) int32, in a fixed order."""
    x0, y0 = np.floor(points.min(axis=0)) - 1
    x1, y1 = np.ceil(points.max(axis=0)) + 1
    subdiv = cv2.Subdiv2D((int(x0), int(y0), int(x1 - x0) + 1, int(y1 - y0) + 1))
    index = {}
    for i, (x, y) in enumerate(points.tolist()):
        if (x, y) in index:
            raise TemplateError(f"{json_path}: fit points {i} and {index[x, y]} coincide")
        index[x, y] = i
        subdiv.insert((x, y))
    triangles = []
    for tri in subdiv.getTriangleList().reshape(-1, 3, 2).astype(np.float32).tolist():
        corners = [index.get((x, y)) for x, y in tri]
        if None not in corners:
            triangles.append(sorted(corners))
    if not triangles:
        raise TemplateError(f"{json_path}: fit points cannot be triangulated (collinear?)")
    result = np.array(sorted(triangles), dtype=np.int32)
    result.setflags(write=False)
    return result
