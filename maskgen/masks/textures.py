"""Fabric textures for cloth masks: the built-in set, the user's own images, and tiling.

Half of the cloth masks in a masked twin wear a fabric print (Montero et al.). The built-in set
(``textures/``: ``<family>_<nn>.png`` tiles and ``index.json``) imitates real mask fabrics at a
real scale; it is drawn by the build tool ``maskgen.assets.texture_art``, which nothing here
imports.

Scale convention. A texture's ``scale_hint`` is the magnification (output pixels per texture
pixel) that gives its pattern a true-to-life size on a mask canvas 256 px wide, taken to be
16 cm of cloth (16 px/cm): ``scale_hint = tile_cm / 16`` where ``tile_cm`` is how many
centimetres of fabric one tile shows. :func:`texture_scale_for` scales that to any mask width.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import PIL

import maskgen
from maskgen import images as images_module
from maskgen.cache import file_key, read_arrays, write_arrays
from maskgen.errors import ConfigError, TemplateError
from maskgen.images import decode_rgb

__all__ = [
    "MASK_WIDTH_CM",
    "REFERENCE_MASK_PX",
    "USER_EXTENSIONS",
    "Texture",
    "default_textures_dir",
    "load_textures",
    "texture_scale_for",
    "tile_image",
    "tile_texture",
    "user_texture_files",
]

INDEX_NAME = "index.json"
REFERENCE_MASK_PX = 256
"""Mask canvas width (px) at which a texture's ``scale_hint`` applies."""
MASK_WIDTH_CM = 16.0
"""Width of cloth a mask spans from ear to ear, used to turn centimetres into pixels."""
USER_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


@dataclass(frozen=True)
class Texture:
    """One fabric: ``image`` is a read-only ``(H, W, 3) uint8 RGB`` tile that repeats seamlessly;
    ``scale_hint`` is the magnification that looks right on a 256-px-wide mask (see module doc)."""

    name: str
    family: str
    image: np.ndarray
    scale_hint: float


def default_textures_dir() -> Path:
    """The built-in textures: the copy a wheel ships first, else the source tree's ``textures/``.

    Raises TemplateError when neither exists (a broken install or a bare checkout).
    """
    package = Path(maskgen.__file__).parent
    candidates = (package / "_assets" / "textures", package.parent / "textures")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise TemplateError(f"built-in textures not found (tried {tried})")


def load_textures(
    extra_dirs: Sequence[Path] = (), *, include_builtin: bool = True
) -> dict[str, Texture]:
    """Every texture by name, in sorted name order (the random policy draws by index).

    Built-ins come from :func:`default_textures_dir`; each of ``extra_dirs`` adds its jpg, png,
    bmp and webp images as family ``"user"``, name ``"user/<stem>"``, scale_hint 1.0. Loaded
    once per process for each combination of folders. Raises TemplateError for a missing or
    empty folder, an unreadable image or a duplicate name.
    """
    builtin = default_textures_dir().resolve() if include_builtin else None
    dirs = tuple(Path(d).resolve() for d in extra_dirs)
    if builtin is None and not dirs:
        raise TemplateError("no textures requested: include_builtin=False and no extra_dirs")
    return dict(_load_cached(builtin, dirs))


def texture_scale_for(mask_width_px: float, texture: Texture, jitter: float = 1.0) -> float:
    """The ``scale`` for :func:`tile_texture` that gives ``texture`` its real size on a mask
    canvas ``mask_width_px`` wide, times a random ``jitter`` (1.0 = none)."""
    if not (mask_width_px > 0 and jitter > 0):
        raise ConfigError(
            f"mask_width_px and jitter must be > 0, got {mask_width_px!r} and {jitter!r}"
        )
    return texture.scale_hint * mask_width_px / REFERENCE_MASK_PX * jitter


def tile_texture(
    texture: Texture,
    out_shape: tuple[int, int],
    *,
    scale: float,
    angle_deg: float,
    offset: tuple[float, float],
) -> np.ndarray:
    """Cover an ``out_shape = (H, W)`` canvas with ``texture`` repeated: ``(H, W, 3) uint8 RGB``.

    ``scale`` is output pixels per texture pixel (1.0 = one texel per pixel, so the texture
    repeats every tile-width pixels; 2.0 = twice as large); use :func:`texture_scale_for` to get
    the true-to-life value for a mask. The pattern turns ``angle_deg`` counter-clockwise on
    screen about the canvas centre ``(W // 2, H // 2)``, and ``offset = (dx, dy)`` shifts it by
    that fraction of the tile (so uniform draws in [0, 1) cover every phase). Shrinking
    (``scale < 1``) low-passes the tile first so fine weaves blend instead of aliasing.
    """
    return tile_image(texture.image, out_shape, scale=scale, angle_deg=angle_deg, offset=offset)


def tile_image(
    image: np.ndarray,
    out_shape: tuple[int, int],
    *,
    scale: float,
    angle_deg: float,
    offset: tuple[float, float],
    centre: tuple[float, float] | None = None,
    coords: tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]] | None = None,
) -> np.ndarray:
    """:func:`tile_texture` for a bare seamless tile ``image`` (h, w, C) uint8, any number of
    channels (an RGBA tile tiles faster than an RGB one in OpenCV): ``(H, W, C) uint8``.

    ``centre = (x, y)``, in canvas pixels, is the point the pattern turns about (default the
    canvas centre ``(W // 2, H // 2)``): a window of a larger canvas gets the same pattern as
    that canvas when ``centre`` is the larger canvas's centre minus the window's origin.

    ``coords = (xs, ys, (x_low, x_high, y_low, y_high))`` lays the pattern out over other
    positions than the canvas pixels': ``xs``, ``ys`` (H, W) float32 are each pixel's position
    on the cloth (in canvas pixels; see
    :meth:`~maskgen.masks.templates.MaskTemplate.fabric_coords`), the four numbers their
    bounds. Same speed as the plain grid.
    """
    height, width = (int(v) for v in out_shape)
    if height <= 0 or width <= 0:
        raise ConfigError(f"out_shape must be positive, got {out_shape!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"texture scale must be a finite number > 0, got {scale!r}")
    if not (math.isfinite(angle_deg) and all(math.isfinite(v) for v in offset)):
        raise ConfigError(f"angle and offset must be finite, got {angle_deg!r}, {offset!r}")
    centre_x, centre_y = (width // 2, height // 2) if centre is None else centre
    src = _prefilter(image, scale)
    tile_h, tile_w = src.shape[:2]
    theta = math.radians(angle_deg)
    cos, sin = math.cos(theta) / scale, math.sin(theta) / scale
    # canvas (x, y) reads tile (u, v) = rotation / scale about the centre, plus the offset
    matrix = [
        [cos, -sin, offset[0] * tile_w - cos * centre_x + sin * centre_y],
        [sin, cos, offset[1] * tile_h - sin * centre_x - cos * centre_y],
    ]
    if coords is None:
        xs, ys = pixel_grid(height, width)
        bounds = (0.0, width - 1.0, 0.0, height - 1.0)
    else:
        xs, ys, bounds = coords
        if xs.shape != (height, width) or ys.shape != (height, width):
            raise ConfigError(f"coords must be two {out_shape} arrays, got {xs.shape}")
    window = _wrapped_window(src, matrix, bounds)
    (a, b, c), (d, e, f) = matrix
    return cv2.remap(
        window,
        cv2.addWeighted(xs, a, ys, b, c),
        cv2.addWeighted(xs, d, ys, e, f),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


GRID_CACHE_PIXELS = 256 * 256
"""Pixel grids up to this size are kept (the 64 most recent; 32 MB at most): regions of
aligned crops and template levels recur. Larger ones, from large faces in large photos, are
made afresh: keeping them could hold hundreds of MB, and making one costs little beside such
a face's render."""


def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only (height, width) float32 x and y of every pixel (the affine maps' grid)."""
    if height * width <= GRID_CACHE_PIXELS:
        return _kept_pixel_grid(height, width)
    return _make_pixel_grid(height, width)


@functools.lru_cache(maxsize=64)
def _kept_pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return _make_pixel_grid(height, width)


def _make_pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    xs = np.broadcast_to(np.arange(width, dtype=np.float32), (height, width)).copy()
    ys = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width)).copy()
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys


def _wrapped_window(
    tile: np.ndarray, matrix: list[list[float]], bounds: tuple[float, float, float, float]
) -> np.ndarray:
    """The part of the endless tiling of ``tile`` that positions within ``bounds`` (x_low,
    x_high, y_low, y_high) read through the 2x3 ``matrix`` (positions -> tiling), with a pixel
    to spare all round; shifts
    ``matrix`` (in place) to read it. Sampling this small window instead of wrapping every
    read round the tile keeps OpenCV on its fast path (same pixels: the tile is seamless)."""
    tile_h, tile_w = tile.shape[:2]
    x_low, x_high, y_low, y_high = bounds
    ranges = []
    for row, period in zip(matrix, (tile_w, tile_h), strict=True):
        a, b, c = row
        # the extremes of a x + b y + c over the bounds lie at their corners
        low = c + min(a * x_low, a * x_high) + min(b * y_low, b * y_high)
        high = c + max(a * x_low, a * x_high) + max(b * y_low, b * y_high)
        start = math.floor(low) - 1
        ranges.append(_wrapped_range(start, math.ceil(high) + 2, period))
        row[2] = c - start
    columns, rows = ranges
    picked = tile[rows] if isinstance(rows, slice) else np.take(tile, rows, axis=0)
    return picked[:, columns] if isinstance(columns, slice) else np.take(picked, columns, axis=1)


def _wrapped_range(start: int, stop: int, period: int) -> slice | np.ndarray:
    """Indices ``start .. stop - 1`` modulo ``period``: a slice when they do not wrap."""
    first = start % period
    if first + stop - start <= period:
        return slice(first, first + stop - start)
    return np.arange(start, stop) % period


def _prefilter(image: np.ndarray, scale: float) -> np.ndarray:
    """Blur a tile (wrapping round its edges) before shrinking it by ``scale`` < 1."""
    if scale >= 1.0:
        return image
    sigma = 0.5 * math.sqrt(1.0 / scale**2 - 1.0)
    if sigma < 0.2:
        return image
    pad = min(math.ceil(3 * sigma), *image.shape[:2])
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="wrap")
    blurred = cv2.GaussianBlur(padded, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return np.ascontiguousarray(blurred[pad:-pad, pad:-pad])


@functools.lru_cache(maxsize=8)
def _load_cached(builtin: Path | None, dirs: tuple[Path, ...]) -> tuple[tuple[str, Texture], ...]:
    """The loaded textures as sorted ``(name, texture)`` pairs (immutable, so safe to share)."""
    found: dict[str, Texture] = {}
    sources: dict[str, Path] = {}
    groups = ([_read_builtin(builtin)] if builtin is not None else []) + [
        _read_user_dir(d) for d in dirs
    ]
    for group in groups:
        for path, texture in group:
            if texture.name in found:
                raise TemplateError(
                    f"{path}: texture name {texture.name!r} already used by {sources[texture.name]}"
                )
            found[texture.name] = texture
            sources[texture.name] = path
    return tuple(sorted(found.items()))


def _read_builtin(folder: Path) -> list[tuple[Path, Texture]]:
    """The textures ``index.json`` lists in ``folder``, checked against their files."""
    index_path = folder / INDEX_NAME
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TemplateError(f"{index_path}: cannot read texture index ({exc})") from exc
    entries = index.get("textures") if isinstance(index, dict) else None
    if not isinstance(entries, list) or not entries:
        raise TemplateError(f"{index_path}: 'textures' must be a non-empty list")
    return [_read_index_entry(folder, index_path, entry) for entry in entries]


def _read_index_entry(folder: Path, index_path: Path, entry: object) -> tuple[Path, Texture]:
    """One ``index.json`` entry and its image, with every field validated."""
    if not isinstance(entry, dict):
        raise TemplateError(f"{index_path}: every texture entry must be an object, got {entry!r}")
    for field in ("name", "family", "file"):
        if not isinstance(entry.get(field), str) or not entry[field]:
            raise TemplateError(f"{index_path}: entry {entry!r} needs a string {field!r}")
    scale_hint = entry.get("scale_hint")
    if (
        not isinstance(scale_hint, int | float)
        or isinstance(scale_hint, bool)
        or not (math.isfinite(scale_hint) and scale_hint > 0)
    ):
        raise TemplateError(f"{index_path}: {entry['name']}: scale_hint must be a number > 0")
    path = folder / entry["file"]
    if not path.is_file():
        raise TemplateError(f"{path}: cannot read texture image (no such file)")
    return path, _BuiltinTexture(entry["name"], entry["family"], path, float(scale_hint))


class _BuiltinTexture(Texture):
    """A built-in texture whose image is decoded when first used. A run draws few of the
    built-ins (decoding all 61 took ~0.06 s of a small run's 0.5 s of CPU on this project's
    2-core VM); the file's presence is checked at load, and the built-ins ship with maskgen.
    A user's folder is decoded at load instead, so a bad image fails before a run starts."""

    def __init__(self, name: str, family: str, path: Path, scale_hint: float) -> None:
        for field, value in (("name", name), ("family", family), ("scale_hint", scale_hint)):
            object.__setattr__(self, field, value)
        object.__setattr__(self, "_path", path)

    @property
    def image(self) -> np.ndarray:  # type: ignore[override]
        """The tile, decoded on first access (TemplateError naming the file if unreadable)."""
        image = self.__dict__.get("_image")
        if image is None:
            image = _read_rgb_cached(self.__dict__["_path"])
            object.__setattr__(self, "_image", image)
        return image


_DECODER_CODE = Path(images_module.__file__)
"""The module that decodes texture files: a cached decode is keyed on it too."""


def _read_rgb_cached(path: Path) -> np.ndarray:
    """:func:`_read_rgb`, decoded once into the user's cache (:mod:`maskgen.cache`, keyed on
    the file) and read from there memory-mapped afterwards: about 0.1 ms against about 1 ms to
    decode, and a photo run's worker draws most of the 69 built-ins. An entry that is not an
    (H, W, 3) uint8 image is decoded again and stored in its place."""
    try:
        decoder = f"texture rgb, cv2 {cv2.__version__}, Pillow {PIL.__version__}"
        key = f"texture-{path.stem}-{file_key(path, _DECODER_CODE, extra=decoder)}"
    except OSError:
        return _read_rgb(path)  # it says what is wrong with the file
    stored = read_arrays(key, ("rgb",), _is_rgb)
    if stored is not None:
        rgb = stored["rgb"]
        rgb.flags.writeable = False
        return rgb
    rgb = _read_rgb(path)
    write_arrays(key, {"rgb": rgb})
    return rgb


def _is_rgb(arrays: dict[str, np.ndarray]) -> bool:
    rgb = arrays["rgb"]
    return rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.size > 0


def user_texture_files(folder: Path) -> list[Path]:
    """The images a user's texture folder contributes (:data:`USER_EXTENSIONS`, top level
    only), sorted: what :func:`load_textures` reads, and so what a resumed run must find
    unchanged. OSError where the folder cannot be listed."""
    return sorted(
        p for p in Path(folder).iterdir() if p.suffix.lower() in USER_EXTENSIONS and p.is_file()
    )


def _read_user_dir(folder: Path) -> list[tuple[Path, Texture]]:
    """Every image in a user's texture folder as family "user", name "user/<stem>"."""
    if not folder.is_dir():
        what = "is a file, not a folder of textures" if folder.exists() else "does not exist"
        raise TemplateError(f"{folder}: texture folder {what}")
    paths = user_texture_files(folder)
    if not paths:
        allowed = ", ".join(sorted(USER_EXTENSIONS))
        raise TemplateError(f"{folder}: texture folder holds no images ({allowed})")
    return [(p, Texture(f"user/{p.stem}", "user", _read_rgb(p), 1.0)) for p in paths]


def _read_rgb(path: Path) -> np.ndarray:
    """A read-only ``(H, W, 3) uint8 RGB`` image; TemplateError naming the file if unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read texture image ({exc.strerror})") from exc
    rgb = decode_rgb(data)
    if rgb is None:
        raise TemplateError(f"{path}: not a readable image (jpg, png, bmp or webp)")
    rgb.flags.writeable = False
    return rgb
