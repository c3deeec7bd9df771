"""Render a mask template onto a face: deterministic, pure numpy/OpenCV.

Steps (all inside the bounding rectangle of the warped mask, never the whole image):

1. Face points: the template's fit points as weighted sums of the 68 landmarks, nudged by
   ``params.fit_jitter``.
2. Piecewise-affine warp: each Delaunay triangle of fit points maps onto its face triangle; one
   dense map (:mod:`maskgen.masks.warp`) feeds ``cv2.remap``, which reads a pre-scaled level of
   the template near the target size.
3. Look: the template's own colours, or a new colour / a texture multiplied by the template's
   shading map, so folds and seams stay visible.
4. Light: a brightness plane fitted to the face's skin (side light), the photo's exposure and
   colour cast, multiplied in, so a mask in a dark or side-lit photo is dark or side-lit too; a
   black-and-white photo gets a grey mask.
5. Premultiplied compositing, so anti-aliased edges blend face and mask without a rim, plus a
   soft contact shadow on the skin just below the mask's edge.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import cv2
import numpy as np

from maskgen.errors import ConfigError
from maskgen.masks.templates import MaskTemplate, TemplateLevel, parse_hex_color
from maskgen.masks.textures import Texture, texture_scale_for, tile_texture
from maskgen.masks.warp import dense_map
from maskgen.types import MaskParams

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_LIGHT_GRID = 12

_SKIN_POINTS = np.zeros((13, 68), dtype=np.float32)
"""Where the skin's light is sampled: (13, 68) weights over the landmarks (upper, middle and
lower cheeks both sides, nose bridge to tip, between the brows, chin)."""
for _row, _pairs in enumerate(
    (
        ((2, 0.5), (40, 0.5)),
        ((14, 0.5), (47, 0.5)),
        ((3, 0.5), (31, 0.5)),
        ((13, 0.5), (35, 0.5)),
        ((5, 0.5), (48, 0.5)),
        ((11, 0.5), (54, 0.5)),
        ((28, 1.0),),
        ((29, 1.0),),
        ((30, 1.0),),
        ((1, 0.35), (36, 0.65)),
        ((15, 0.35), (45, 0.65)),
        ((27, 1.6), (30, -0.6)),
        ((8, 0.5), (57, 0.5)),
    )
):
    for _index, _weight in _pairs:
        _SKIN_POINTS[_row, _index] = _weight

_REF_SKIN_LUMA = 0.55
"""Median skin luma at the sample points over LFW faces: such a face gets exposure 1."""
_REF_FACE_HIGH = 0.67
"""Median 95th-percentile luma over the landmarks' box (highlights, eye whites) on LFW."""
_REF_IMAGE_HIGH = 0.79
"""Median 95th-percentile luma over whole LFW photos."""
_EXPOSURE_WEIGHTS = (0.35, 0.35, 0.30)
"""Exponents of the three ratios above; they sum to 1, so a photo darkened by k gets a mask
darkened by k, while dark skin alone darkens the mask much less than its luma would."""
_REF_SKIN_CHROMA = np.array([1.244, 0.926, 0.751], dtype=np.float32)
"""Median skin colour over its luma on LFW: deviations from it are taken as the light's colour."""
_REF_SKIN_SATURATION = 0.40
"""Median skin saturation ((max - min) / max of the mean skin colour) on LFW."""
_GREY_BELOW = 0.6
"""Skin less saturated than this fraction of the median means a faded or black-and-white
photo: the mask loses its colour in proportion (a grey photo gets a grey mask)."""
_EXPOSURE_RANGE = (0.22, 1.08)
_GRADIENT_RANGE = (0.55, 1.35)
_CAST_STRENGTH = 0.35
_CAST_RANGE = (0.88, 1.12)
_SOFTNESS = 0.8
"""Read the template from a level about this fraction of the target size: the slight
magnification softens the mask to the sharpness of typical face photos."""
_SHADOW_STRENGTH = 0.28
_SHADOW_BLUR = 0.018
_SHADOW_DROP = 0.012
"""Contact shadow: darkening at full strength, blur and downward offset (fractions of the
jaw width)."""
_HALF_RES_FROM = 40
"""Regions at least this many pixels on their short side get a half-resolution warp map."""
_TEXTURE_TINT = 0.3
"""Weight of the drawn colour over a texture when both are drawn."""


def apply_mask(
    rgb: np.ndarray,
    landmarks: np.ndarray,
    template: MaskTemplate,
    params: MaskParams,
    texture: Texture | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Put one mask on one face.

    ``rgb``: (H, W, 3) uint8 RGB; ``landmarks``: (68, 2) float, dlib order, image pixels.
    ``texture`` must be given when ``params.texture`` names one (and is ignored when it names
    none). ``params.fit_jitter`` is (top, bottom): how much lower the mask's top edge and its
    bottom edge sit, in units of the nose's length (landmark 27 to 30). Returns the new image
    (H, W, 3) uint8 and the mask's coverage (H, W) float32 in [0, 1]. Inputs are not modified.
    """
    image = _check_image(rgb)
    landmarks = _check_landmarks(landmarks)
    if params.texture is not None and texture is None:
        raise ConfigError(f"params name texture {params.texture!r} but no texture was given")
    texture = texture if params.texture is not None else None  # params decide, always
    color = _hex_rgb(params.color) if params.color is not None else None
    height, width = image.shape[:2]
    out = image.copy()
    coverage = np.zeros((height, width), dtype=np.float32)
    points = face_points(template, landmarks, params.fit_jitter)
    level = template.level_for(_fit_scale(template, points) * _SOFTNESS)
    dst = points[template.active_corners].astype(np.float64)
    region = _region(dst, height, width)
    if region is None:
        return out, coverage
    x0, y0, x1, y1 = region
    src = template.active_sources * level.scale - 0.5
    warp = _warp_map(dst - (x0, y0), src, y1 - y0, x1 - x0)
    plane, gain, colourful = _face_light(image, landmarks, region)
    if color is not None and texture is None:
        layers = cv2.remap(level.shade_alpha, warp, None, cv2.INTER_LINEAR)
        alpha = np.clip(layers[:, :, 1], 0.0, 1.0)
        lit = layers[:, :, 0] * plane
        mask_rgb = cv2.merge([lit * float(v) for v in color * gain * 255.0])
    else:
        source = (
            level.premultiplied
            if texture is None
            else _textured(level, params, texture, color, template)
        )
        layers = cv2.remap(source, warp, None, cv2.INTER_LINEAR)
        alpha = np.clip(layers[:, :, 3], 0.0, 1.0)
        light = cv2.merge([plane * float(v) for v in gain * 255.0])
        mask_rgb = cv2.multiply(np.ascontiguousarray(layers[:, :, :3]), light)
    if colourful < 1.0:
        grey = cv2.cvtColor(mask_rgb, cv2.COLOR_RGB2GRAY)
        mask_rgb = cv2.addWeighted(mask_rgb, colourful, cv2.merge([grey] * 3), 1 - colourful, 0)
    face = out[y0:y1, x0:x1]
    keep = (1.0 - alpha) * _contact_shadow(alpha, landmarks)
    kept = cv2.multiply(face, cv2.merge([keep] * 3), dtype=cv2.CV_32F)
    face[:] = cv2.convertScaleAbs(cv2.add(kept, mask_rgb))
    coverage[y0:y1, x0:x1] = alpha
    return out, coverage


def _contact_shadow(alpha: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(h, w) float32 factor <= 1 darkening the skin just outside the mask, mostly below it
    (the mask stands off the face a little and light comes from above)."""
    width = float(np.hypot(*(landmarks[16] - landmarks[0])))
    sigma = max(_SHADOW_BLUR * width, 0.5)
    drop = round(_SHADOW_DROP * width)
    blurred = cv2.GaussianBlur(alpha, (0, 0), sigma)
    if 0 < drop < blurred.shape[0]:
        blurred[drop:] = blurred[:-drop].copy()
        blurred[:drop] = 0.0
    return 1.0 - _SHADOW_STRENGTH * blurred


def _warp_map(dst: np.ndarray, src: np.ndarray, height: int, width: int) -> np.ndarray:
    """The (h, w, 2) piecewise-affine map for a region; regions at least
    :data:`_HALF_RES_FROM` pixels on their short side are mapped on a half-resolution grid and
    enlarged bilinearly (exact inside each triangle, since an affine map survives bilinear
    interpolation; 4x fewer pixels to rasterise)."""
    if min(height, width) < _HALF_RES_FROM:
        return dense_map(dst, src, height, width)
    half_h, half_w = (height + 1) // 2, (width + 1) // 2
    # half-grid node i sits at full-resolution coordinate 2 i + 0.5, as cv2.resize expects
    half = dense_map((dst - 0.5) / 2.0, src, half_h, half_w)
    full = cv2.resize(half, (2 * half_w, 2 * half_h), interpolation=cv2.INTER_LINEAR)
    return full[:height, :width]


def face_points(
    template: MaskTemplate, landmarks: np.ndarray, fit_jitter: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """The template's fit points on this face, (N, 2) float32 image pixels.

    ``fit_jitter = (top, bottom)`` moves the points about the nose bridge and about the chin
    along the nose (landmark 27 -> 30), in units of the nose's length: positive is lower.
    """
    points = template.point_weights @ landmarks
    top, bottom = fit_jitter
    if top or bottom:
        nose = landmarks[30] - landmarks[27]
        shift = template.jitter_weights @ np.array([top, bottom], dtype=np.float32)
        points = points + shift[:, None] * nose[None, :]
    return points.astype(np.float32)


def _check_image(rgb: np.ndarray) -> np.ndarray:
    image = np.asarray(rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ConfigError(f"image must be (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}")
    return image


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float32)
    if points.shape != (68, 2) or not np.all(np.isfinite(points)):
        raise ConfigError(f"landmarks must be (68, 2) finite numbers, got {points.shape}")
    return points


def _fit_scale(template: MaskTemplate, points: np.ndarray) -> float:
    """Image pixels per template pixel (RMS spread of the face points over the template's)."""
    face = points - points.mean(axis=0)
    return float(np.sqrt((face * face).sum())) / template.spread


def _region(dst: np.ndarray, height: int, width: int) -> tuple[int, int, int, int] | None:
    """Bounding rectangle (x0, y0, x1, y1) of the warped triangles inside the image."""
    lo = dst.reshape(-1, 2).min(axis=0)
    hi = dst.reshape(-1, 2).max(axis=0)
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]) + 2, width), min(int(hi[1]) + 2, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _textured(
    level: TemplateLevel,
    params: MaskParams,
    texture: Texture,
    color: np.ndarray | None,
    template: MaskTemplate,
) -> np.ndarray:
    """(h, w, 4) float32 premultiplied RGBA of the level painted with a texture (tinted by
    ``color`` if one was drawn too) under the template's shading."""
    height, width = level.alpha.shape
    mask_px = template.mask_width * level.scale
    scale = texture_scale_for(mask_px, texture, max(params.texture_scale, 1e-3))
    reduced, scale = _reduced_texture(texture, scale)
    tiled = tile_texture(
        reduced,
        (height, width),
        scale=scale,
        angle_deg=params.texture_angle,
        offset=params.texture_offset,
    )
    paint = tiled.astype(np.float32) * np.float32(1 / 255)
    if color is not None:
        paint = paint * (1 - _TEXTURE_TINT) + color * _TEXTURE_TINT
    out = np.empty((height, width, 4), dtype=np.float32)
    np.multiply(paint, level.shade_alpha[:, :, :1], out=out[:, :, :3])
    out[:, :, 3] = level.alpha
    return out


def _reduced_texture(texture: Texture, scale: float) -> tuple[Texture, float]:
    """The texture halved (exactly, so tiles stay seamless) until drawing it needs no
    shrinking, and the scale that keeps its size: tiling then skips a costly full-tile blur."""
    halvings = 0
    height, width = texture.image.shape[:2]
    while scale * 2**halvings < 1.0 and height % 2 == 0 and width % 2 == 0 and height > 8:
        halvings += 1
        height, width = height // 2, width // 2
    if halvings == 0:
        return texture, scale
    return _texture_mip(_Ref(texture), halvings), scale * 2**halvings


@dataclass(frozen=True, eq=False)
class _Ref:
    """Wraps a texture so caches key on the object itself (Texture holds an array, so it does
    not hash); the loaded textures live as long as the process, so identity is stable."""

    texture: Texture

    def __hash__(self) -> int:
        return id(self.texture)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ref) and other.texture is self.texture


@functools.lru_cache(maxsize=256)
def _texture_mip(ref: _Ref, halvings: int) -> Texture:
    """The texture's image reduced by 2**halvings (area average)."""
    image = ref.texture.image
    height, width = image.shape[:2]
    size = (width >> halvings, height >> halvings)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small.setflags(write=False)
    return replace(ref.texture, image=small, scale_hint=ref.texture.scale_hint / 2**halvings)


def _percentile95(values: np.ndarray) -> float:
    flat = values.ravel()
    k = int(0.95 * (flat.size - 1))
    return float(np.partition(flat, k)[k])


def _hex_rgb(color: str) -> np.ndarray:
    """ "#rrggbb" -> (3,) float32 in [0, 1]."""
    try:
        rgb = parse_hex_color(color, "mask colour")
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return np.array(rgb, dtype=np.float32) / 255.0


@dataclass(frozen=True)
class _LightStats:
    """What the face tells about the light: skin samples (K, 3) float RGB in [0, 1] at
    ``points`` (K, 2), the 95th-percentile luma over the face box and over the photo."""

    samples: np.ndarray
    points: np.ndarray
    face_high: float
    image_high: float


def _light_stats(image: np.ndarray, landmarks: np.ndarray) -> _LightStats | None:
    """Measure the face's light; None for a face too small (or too far outside) to measure."""
    height, width = image.shape[:2]
    lo = np.maximum(landmarks.min(axis=0).astype(int), 0)
    hi = np.minimum(landmarks.max(axis=0).astype(int) + 2, (width, height))
    if hi[0] - lo[0] < 2 or hi[1] - lo[1] < 2:
        return None
    grid = _LIGHT_GRID
    face = image[lo[1] : hi[1], lo[0] : hi[0]]
    cell = max(1, min(face.shape[:2]) // grid) | 1
    # box blur + point sampling: the same cell means as an area resize, several times faster
    small = cv2.resize(cv2.blur(face, (cell, cell)), (grid, grid), interpolation=cv2.INTER_LINEAR)
    small = small.astype(np.float32) * np.float32(1 / 255)
    points = _SKIN_POINTS @ landmarks
    cells = ((points - lo) * (grid / (hi - lo))).astype(int)
    np.clip(cells, 0, grid - 1, out=cells)
    stride = max(1, min(height, width) // 24)
    return _LightStats(
        samples=small[cells[:, 1], cells[:, 0]],
        points=points,
        face_high=_percentile95(small @ _LUMA),
        image_high=_percentile95(image[::stride, ::stride] @ _LUMA) / 255.0,
    )


def _face_light(
    image: np.ndarray, landmarks: np.ndarray, region: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray, float]:
    """The face's light over ``region``: a (h, w) float32 plane of relative brightness (side
    light), a (3,) float32 gain (exposure times the light's colour) and how much of the mask's
    own colour the photo keeps (1 = all; 0 in a black-and-white photo)."""
    x0, y0, x1, y1 = region
    stats = _light_stats(image, landmarks)
    if stats is None:
        return np.ones((y1 - y0, x1 - x0), np.float32), np.ones(3, np.float32), 1.0
    luma = stats.samples @ _LUMA
    mean = max(float(luma.mean()), 1e-3)
    ratios = (
        mean / _REF_SKIN_LUMA,
        stats.face_high / _REF_FACE_HIGH,
        stats.image_high / _REF_IMAGE_HIGH,
    )
    exposure = 1.0
    for ratio, weight in zip(ratios, _EXPOSURE_WEIGHTS, strict=True):
        exposure *= max(ratio, 1e-3) ** weight
    exposure = min(max(exposure, _EXPOSURE_RANGE[0]), _EXPOSURE_RANGE[1])
    skin = stats.samples.mean(axis=0)
    cast = np.clip((skin / mean / _REF_SKIN_CHROMA) ** _CAST_STRENGTH, *_CAST_RANGE)
    gain = (cast / float(cast @ _LUMA) * exposure).astype(np.float32)
    saturation = float(skin.max() - skin.min()) / max(float(skin.max()), 1e-3)
    colourful = min(saturation / (_GREY_BELOW * _REF_SKIN_SATURATION), 1.0)
    return _light_plane(stats.points, luma, landmarks, region), gain, colourful


def _light_plane(
    points: np.ndarray, luma: np.ndarray, landmarks: np.ndarray, region: tuple[int, int, int, int]
) -> np.ndarray:
    """Least-squares plane through the skin samples' luma, over its mean, clipped: (h, w)."""
    x0, y0, x1, y1 = region
    size = float(np.hypot(*(landmarks[16] - landmarks[0]))) or 1.0
    centre = points.mean(axis=0)
    u = (points - centre) / size
    # normal equations of luma ~ c0 + c1 u + c2 v (u, v centred, so c0 is the mean)
    uu, uv, vv = float(u[:, 0] @ u[:, 0]), float(u[:, 0] @ u[:, 1]), float(u[:, 1] @ u[:, 1])
    lu, lv = float(luma @ u[:, 0]), float(luma @ u[:, 1])
    det = uu * vv - uv * uv
    mean = max(float(luma.mean()), 1e-3)
    if det <= 1e-12:
        return np.ones((y1 - y0, x1 - x0), np.float32)
    cu = (lu * vv - lv * uv) / det / mean
    cv = (lv * uu - lu * uv) / det / mean
    xs = (np.arange(x0, x1, dtype=np.float32) - centre[0]) * np.float32(cu / size)
    ys = (np.arange(y0, y1, dtype=np.float32) - centre[1]) * np.float32(cv / size)
    plane = 1.0 + xs[None, :] + ys[:, None]
    return np.clip(plane, *_GRADIENT_RANGE).astype(np.float32)
