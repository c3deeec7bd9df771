"""Render a mask template onto a face: deterministic, pure numpy/OpenCV.

Steps (all inside the bounding rectangle of the warped mask, never the whole image):

1. Face points: the template's fit points as weighted sums of the 68 landmarks, nudged by
   ``params.fit_jitter``.
2. Piecewise-affine warp: each Delaunay triangle of fit points maps onto its face triangle; one
   dense map (:mod:`maskgen.masks.warp`) feeds ``cv2.remap``, which reads a pre-scaled level of
   the template near the target size.
3. Look: the template's own colours, or a new colour / a texture multiplied by the template's
   shading map, so folds and seams stay visible; a surgical mask also gets creases of its own
   (:mod:`maskgen.masks.creases`, from ``params.grain_seed``).
4. Light: a brightness plane fitted to the face's skin (side light), the photo's exposure and
   colour cast, multiplied in, so a mask in a dark or side-lit photo is dark or side-lit too; a
   black-and-white photo gets a grey mask.
5. Photographic match (:mod:`maskgen.masks.photometry`): the lit mask, colour and coverage
   alike, is blurred until its edges measure as soft as the face's, and gets luma grain as
   strong as the noise measured on the face (drawn from ``params.grain_seed``).
6. Premultiplied compositing, so anti-aliased edges blend face and mask without a rim, plus a
   soft contact shadow on the skin just below the mask's edge.
7. A photo last saved as a low-quality JPEG (quality under ``photometry.JPEG_BELOW``, read
   from its 8x8 grid) has the mask's blocks JPEG-compressed at that quality.

Speed: a render costs a few hundred microseconds, spread over many small numpy/OpenCV calls,
so everything that does not depend on the face is prepared once per template level
(:func:`_level_assets`: the level cropped to its mask, four-channel arrays, the source mesh)
and the per-face arithmetic runs as few, fused float32 passes as possible (four-channel
OpenCV calls are the fast ones).
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskgen import compiled
from maskgen.cache import file_key, read_arrays, write_arrays
from maskgen.errors import ConfigError
from maskgen.masks.creases import STRENGTH_BITS, FoldStyle, crease_relief, creases_for
from maskgen.masks.fit import fit_landmarks
from maskgen.masks.photometry import (
    MIN_BOX,
    NO_MATCH,
    PhotoMatch,
    measure_photo,
    sample_grain,
)
from maskgen.masks.templates import MaskTemplate, parse_hex_color
from maskgen.masks.textures import Texture, pixel_grid, texture_scale_for, tile_image
from maskgen.masks.warp import closed_corners, dense_map_from_corners, source_mesh
from maskgen.masks.wear import place_points
from maskgen.types import MaskParams

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_LUMA_PER_MILLE = np.array([299, 587, 114], dtype=np.int32)
"""ITU-R BT.601 luma weights in thousandths: integer luma, exact in any order of summing."""
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
_SURROUND_STRENGTH = 0.15
"""Weights of the skin's and the surround's colour deviations in the light's colour: the
Wiener (least-squares) weights of a cast that both see, from the covariance of the two over
300 LFW photos (log R/G: 0.36 and 0.12, log B/G: 0.37 and 0.17; the shared part is the
light, the rest skin tone and background)."""
_REF_SURROUND_CHROMA = (1.079, 0.981, 0.898)
"""Median colour over its luma of LFW photos outside the face box (the same 300 photos)."""
_SURROUND_MIN = 24
"""Fewest samples outside the face box that give a surround colour."""
_CAST_RANGE = (0.8, 1.25)
_SOFTNESS = 0.8
"""Read the template from a level about this fraction of the target size: the slight
magnification softens the mask to the sharpness of typical face photos."""
_SHADOW_STRENGTH = 0.28
_SHADOW_BLUR = 0.018
_SHADOW_DROP = 0.012
"""Contact shadow: darkening at full strength, blur and downward offset (fractions of the
jaw width)."""
_FACE_HEIGHT_RATIO = 0.84
"""Landmark 27 (top of the nose bridge) to 8 (chin) over the jaw's width (0 to 16) on the
mean frontal face (``maskgen.assets.template_art.CANONICAL_LANDMARKS``)."""
_HALF_RES_FROM = 40
"""Regions at least this many pixels on their short side get a half-resolution warp map."""
_TEXTURE_TINT = 0.3
"""Weight of the drawn colour over a texture when both are drawn."""
_MIN_BLUR = 0.25
"""A photographic-match blur under this many pixels is skipped (it moves no pixel by more
than about one 8-bit level)."""
_MIN_GRAIN = 0.5
"""Grain under this many 8-bit levels is skipped (rounding to 8 bits adds 0.29 levels of
noise anyway)."""
_BLUR_REACH = 3.0
"""The region grows by this many blur widths, so the blurred mask's fringe is not cut."""
_MEASURE_SIDE = 160
"""The photographic match is measured on at most this many pixels square of the face box,
centred on the eyes (large faces: a window keeps the cost bounded and the pixel scale)."""


def apply_mask(
    rgb: np.ndarray,
    landmarks: np.ndarray,
    template: MaskTemplate,
    params: MaskParams,
    texture: Texture | None = None,
    match: PhotoMatch | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Put one mask on one face.

    ``rgb``: (H, W, 3) uint8 RGB; ``landmarks``: (68, 2) float, dlib order, image pixels.
    ``texture`` must be given when ``params.texture`` names one (and is ignored when it names
    none). ``params.fit_jitter`` is (top, bottom): how much lower the mask's top edge and its
    bottom edge sit, in units of the nose's length (landmark 27 to 30); ``params.wear`` is
    the placement (:mod:`maskgen.masks.wear`; ConfigError for an unknown one);
    ``params.grain_seed`` seeds the grain matched to the photo's noise and a surgical mask's
    creases. ``match`` overrides the
    photographic match measured on the face (:func:`photo_match`; ``NO_MATCH``: none). Returns
    the new image (H, W, 3) uint8 and the mask's coverage (H, W) float32 in [0, 1]. Inputs are
    not modified.
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
    points = face_points(template, landmarks, params.fit_jitter, params.wear)
    assets = _level_assets(
        template, template.level_index_for(_fit_scale(template, points) * _SOFTNESS)
    )
    corners = points.T.astype(np.float64)[:, _corner_index(template)]  # (2, 4, T)
    match = photo_match(image, landmarks) if match is None else match
    blur = match.blur if match.blur >= _MIN_BLUR else 0.0
    region = _region(corners, height, width, math.ceil(_BLUR_REACH * blur))
    if region is None:
        return out, coverage
    x0, y0, x1, y1 = region
    warp = _warp_map(corners, (x0, y0), assets.mesh, y1 - y0, x1 - x0)
    jaw = float(np.hypot(*(landmarks[16] - landmarks[0])))
    plane, gain, colourful = _face_light(image, landmarks, region, jaw)
    folds = creases_for(template.family)
    if folds is not None and params.grain_seed & STRENGTH_BITS:  # its own folds
        relief = _creases(params.grain_seed, landmarks, y1 - y0, x1 - x0, folds)
        plane = cv2.multiply(plane, relief)
    if texture is not None:
        source = _textured(assets, params, texture, color, template)
        tint = gain * 255.0
    elif color is not None:
        source, tint = assets.shaded, color * gain * 255.0
    else:
        source, tint = assets.premultiplied, gain * 255.0
    layers = cv2.remap(source, warp, None, cv2.INTER_LINEAR)
    red, green, blue = (plane * v for v in tint.tolist())
    light = cv2.merge([red, green, blue, np.ones_like(plane)])  # alpha passes unchanged
    lit = cv2.multiply(layers, light)
    if blur:  # the photo's softness: colour and coverage alike, so the edge softens too
        lit = cv2.GaussianBlur(lit, (0, 0), blur)
    alpha = cv2.extractChannel(lit, 3)
    np.minimum(alpha, 1.0, out=alpha)  # bilinear weights of alphas >= 0: never below 0
    mask_rgb = cv2.cvtColor(lit, cv2.COLOR_RGBA2RGB)
    if colourful < 1.0:
        grey = cv2.cvtColor(mask_rgb, cv2.COLOR_RGB2GRAY)
        mask_rgb = cv2.addWeighted(mask_rgb, colourful, cv2.merge([grey] * 3), 1 - colourful, 0)
    if match.grain >= _MIN_GRAIN:  # the photo's noise, as luma grain over the mask
        grain = sample_grain(params.grain_seed, y1 - y0, x1 - x0)
        grain = cv2.multiply(grain, alpha, scale=match.grain)
        mask_rgb = cv2.add(mask_rgb, cv2.merge([grain, grain, grain]))
    face = out[y0:y1, x0:x1]
    keep = _kept_skin(alpha, jaw)
    kept = cv2.multiply(face, cv2.merge([keep] * 3), dtype=cv2.CV_32F)
    blended = cv2.add(kept, mask_rgb, dst=face, dtype=cv2.CV_8U)  # rounds and saturates
    if blended is not face:  # OpenCV wrote a new array instead of the view: copy it in
        face[:] = blended
    coverage[y0:y1, x0:x1] = alpha
    if match.jpeg:
        _compress_blocks(out, coverage, region, match.jpeg)
    return out, coverage


def _creases(
    seed: int, landmarks: np.ndarray, height: int, width: int, style: FoldStyle
) -> np.ndarray:
    """The crease relief (:func:`~maskgen.masks.creases.crease_relief`) over a (height, width)
    region of the face with these (68, 2) landmarks: turned with the eye line, scaled to the
    face's width, or to its height (landmark 27 to 8 over :data:`_FACE_HEIGHT_RATIO`) where a
    turned head makes the jaw look narrower."""
    left, right = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    angle = math.atan2(float(right[1] - left[1]), float(right[0] - left[0]))
    jaw = float(np.hypot(*(landmarks[16] - landmarks[0])))
    tall = float(np.hypot(*(landmarks[8] - landmarks[27]))) / _FACE_HEIGHT_RATIO
    return crease_relief(seed, height, width, max(jaw, tall, 1.0), angle, style)


def _compress_blocks(
    out: np.ndarray, coverage: np.ndarray, region: tuple[int, int, int, int], quality: int
) -> None:
    """JPEG-compress the mask's part of ``out`` in place at ``quality``, as the photo was: the
    region, widened to the image's 16-pixel grid (JPEG's 8x8 blocks and its 2x2-subsampled
    colour), is encoded and decoded (libjpeg through OpenCV, 4:2:0), and every 8x8 block the
    mask touches takes the decoded pixels; the other blocks keep theirs."""
    height, width = out.shape[:2]
    x0, y0, x1, y1 = region
    gx0, gy0 = x0 // 16 * 16, y0 // 16 * 16
    gx1, gy1 = min(-(-x1 // 16) * 16, width), min(-(-y1 // 16) * 16, height)
    patch = out[gy0:gy1, gx0:gx1]
    _, data = cv2.imencode(
        ".jpg", cv2.cvtColor(patch, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    decoded = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    rows, columns = -(-(gy1 - gy0) // 8), -(-(gx1 - gx0) // 8)
    touched = np.zeros((rows * 8, columns * 8), dtype=bool)
    touched[: gy1 - gy0, : gx1 - gx0] = coverage[gy0:gy1, gx0:gx1] > 0
    blocks = touched.reshape(rows, 8, columns, 8).any(axis=(1, 3))
    pixels = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)[: gy1 - gy0, : gx1 - gx0]
    patch[pixels] = decoded[pixels]


def prepare_render() -> None:
    """Load the compiled kernels a render runs (the warp map, the landmark fit, the photo's
    measures, the light's) now, where this process uses numba
    (:func:`maskgen.compiled.use_compiled`), so that workers forked afterwards inherit them
    instead of each loading them."""
    corners = closed_corners(np.array([[[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]]]))
    dense_map_from_corners(corners, source_mesh(np.zeros((1, 3, 2))), 2, 2)
    fit_landmarks(np.zeros((68, 2), np.float32))
    measure_photo(np.zeros((MIN_BOX, MIN_BOX), np.uint8))
    grid = np.zeros((_LIGHT_GRID, _LIGHT_GRID, 3), np.uint8)
    photo = np.zeros((4, 4, 3), np.uint8)[::2, ::2]  # a strided view, as the photo's samples
    light_summary(grid, photo, np.zeros((len(_SKIN_POINTS), 2)), (0, 0, 2, 2), 2)


def _kept_skin(alpha: np.ndarray, jaw: float) -> np.ndarray:
    """(h, w) float32: how much of the skin shows, ``1 - alpha``, times a soft contact shadow
    (<= 1) darkening it just outside the mask, mostly below it (the mask stands off the face a
    little and light comes from above); ``jaw`` is the distance between landmarks 0 and 16."""
    sigma = max(_SHADOW_BLUR * jaw, 0.5)
    drop = round(_SHADOW_DROP * jaw)
    kept = 1.0 - alpha
    if drop >= alpha.shape[0]:
        drop = 0  # a sliver of a mask: its shadow stays put
    blurred = cv2.GaussianBlur(alpha, (0, 0), sigma)
    shadow = blurred[: blurred.shape[0] - drop]  # moved down by drop rows
    kept[drop:] *= cv2.addWeighted(shadow, -_SHADOW_STRENGTH, shadow, 0.0, 1.0)
    return kept


def _warp_map(
    corners: np.ndarray, origin: tuple[int, int], mesh: np.ndarray, height: int, width: int
) -> np.ndarray:
    """The (h, w, 2) piecewise-affine map for the region at ``origin`` (x, y) (``corners``
    (2, 4, T) in image pixels); regions at least :data:`_HALF_RES_FROM` pixels on their short
    side are mapped on a half-resolution grid and enlarged bilinearly (exact inside each
    triangle, since an affine map survives bilinear interpolation; 4x fewer pixels to
    rasterise)."""
    x0, y0 = origin
    if min(height, width) < _HALF_RES_FROM:
        return dense_map_from_corners(corners - _column(x0, y0), mesh, height, width)
    half_h, half_w = (height + 1) // 2, (width + 1) // 2
    # half-grid node i sits at full-resolution coordinate 2 i + 0.5, as cv2.resize expects
    half = corners - _column(x0 + 0.5, y0 + 0.5)
    half *= 0.5
    half = dense_map_from_corners(half, mesh, half_h, half_w)
    full = cv2.resize(half, (2 * half_w, 2 * half_h), interpolation=cv2.INTER_LINEAR)
    return full[:height, :width]


def face_points(
    template: MaskTemplate,
    landmarks: np.ndarray,
    fit_jitter: tuple[float, float] = (0.0, 0.0),
    wear: str = "correct",
) -> np.ndarray:
    """The template's fit points on this face, (N, 2) float32 image pixels: the template's
    weighted sums of :func:`~maskgen.masks.fit.fit_landmarks` (dlib's landmarks with room under
    the chin and the jaw held round a turned face's far cheek).

    ``fit_jitter = (top, bottom)`` moves the points about the nose bridge and about the chin
    along the nose (landmark 27 -> 30), in units of the nose's length: positive is lower.
    ``wear`` then moves them to a placement (:mod:`maskgen.masks.wear`); ConfigError for an
    unknown one.
    """
    points = template.point_weights @ fit_landmarks(landmarks)
    top, bottom = fit_jitter
    if top or bottom:
        nose = landmarks[30] - landmarks[27]
        shift = template.jitter_weights @ np.array([top, bottom], dtype=np.float32)
        points = points + shift[:, None] * nose[None, :]
    points = points.astype(np.float32)
    if wear != "correct":
        points = place_points(template, landmarks, points, wear)
    return points


def photo_match(rgb: np.ndarray, landmarks: np.ndarray) -> PhotoMatch:
    """How the mask should match this face's photo (blur, grain), measured on the luma of the
    upper face, the box of the brows, eyes and nose (landmarks 17-47: what the mask leaves
    visible, and half the pixels of the whole face; at most :data:`_MEASURE_SIDE` pixels
    square, centred on the eyes); ``rgb`` (H, W, 3) uint8, ``landmarks`` (68, 2) float32.
    ``NO_MATCH`` for a face too small (or too far outside the image) to measure."""
    height, width = rgb.shape[:2]
    on_grid = _on_jpeg_grid(rgb, _landmark_box(landmarks, height, width))
    x0, y0, x1, y1 = _landmark_box(landmarks[17:48], height, width)
    if x1 - x0 > _MEASURE_SIDE or y1 - y0 > _MEASURE_SIDE:
        eyes_x, eyes_y = landmarks[36:48].mean(axis=0).tolist()
        half = _MEASURE_SIDE // 2
        x0 = min(max(int(eyes_x) - half, x0), max(x1 - _MEASURE_SIDE, x0))
        y0 = min(max(int(eyes_y) - half, y0), max(y1 - _MEASURE_SIDE, y0))
        x1, y1 = min(x1, x0 + _MEASURE_SIDE), min(y1, y0 + _MEASURE_SIDE)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return NO_MATCH
    return measure_photo(cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY), on_grid)


def _on_jpeg_grid(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """(h, w) float32 luma of the whole 8x8 blocks of the image's grid inside ``box`` (at most
    :data:`_MEASURE_SIDE` pixels square), None where fewer than 2x2 blocks fit."""
    x0, y0, x1, y1 = box
    gx0, gy0 = -(-x0 // 8) * 8, -(-y0 // 8) * 8
    gx1 = min(x1, gx0 + _MEASURE_SIDE) // 8 * 8
    gy1 = min(y1, gy0 + _MEASURE_SIDE) // 8 * 8
    if gx1 - gx0 < 16 or gy1 - gy0 < 16:
        return None
    return cv2.cvtColor(rgb[gy0:gy1, gx0:gx1], cv2.COLOR_RGB2GRAY).astype(np.float32)


def _check_image(rgb: np.ndarray) -> np.ndarray:
    image = np.asarray(rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ConfigError(f"image must be (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}")
    return image


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float32)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise ConfigError(f"landmarks must be (68, 2) finite numbers, got {points.shape}")
    return points


def _fit_scale(template: MaskTemplate, points: np.ndarray) -> float:
    """Image pixels per template pixel (RMS spread of the face points over the template's)."""
    face = points - points.sum(axis=0) / len(points)  # the mean, computed as numpy's mean does
    return float(np.sqrt((face * face).sum())) / template.spread


def _column(x: float, y: float) -> np.ndarray:
    """(2, 1, 1) float64: an (x, y) offset that broadcasts over (2, 4, T) corners."""
    return np.array([x, y], dtype=np.float64).reshape(2, 1, 1)


def _region(
    corners: np.ndarray, height: int, width: int, margin: int = 0
) -> tuple[int, int, int, int] | None:
    """Bounding rectangle (x0, y0, x1, y1) of the warped triangles (``corners`` (2, 4, T)),
    grown by ``margin`` pixels, inside the image."""
    flat = corners.reshape(2, -1)
    (low_x, low_y), (high_x, high_y) = flat.min(axis=1).tolist(), flat.max(axis=1).tolist()
    x0, y0 = max(int(low_x) - margin, 0), max(int(low_y) - margin, 0)
    x1, y1 = min(int(high_x) + 2 + margin, width), min(int(high_y) + 2 + margin, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


@functools.lru_cache(maxsize=64)
def _corner_index(template: MaskTemplate) -> np.ndarray:
    """(4, T) int: the fit points at corners 0, 1, 2 and 0 again of the template's active
    triangles (the :func:`~maskgen.masks.warp.closed_corners` layout)."""
    index = np.ascontiguousarray(template.active_corners[:, [0, 1, 2, 0]].T)
    index.setflags(write=False)
    return index


@dataclass(frozen=True, eq=False)
class _LevelAssets:
    """What a template level gives every face, prepared once: the level's ``scale``, the level
    cropped to its mask (plus a transparent margin, so nothing it shows is cut) as
    ``premultiplied`` (h, w, 4) float32 RGBA, ``shaded`` (h, w, 4) float32
    ``[shade * alpha] * 3 + [alpha]`` (what a colour or a texture is multiplied by), ``alpha``
    (h, w) float32, the active triangles as a :func:`~maskgen.masks.warp.source_mesh` in the
    crop's pixels, and ``centre``, the level's centre in the crop's pixels (textures turn about
    it)."""

    scale: float
    premultiplied: np.ndarray
    shaded: np.ndarray
    alpha: np.ndarray
    mesh: np.ndarray
    centre: tuple[int, int]

    @property
    def nbytes(self) -> int:
        return self.premultiplied.nbytes + self.shaded.nbytes + self.alpha.nbytes


_LEVEL_CACHE_BYTES = 64 * 2**20
"""The prepared levels a process keeps, at most (least recently used go first). One full-size
level of a 600x550 template is about 10 MB, the small ones an aligned crop reads about 0.1 MB,
so this holds every level a run commonly uses; all levels of the six built-in templates would
take about 120 MB."""


class _LevelCache:
    """Prepared levels by (template, level index), least recently used dropped beyond
    ``budget`` bytes (the most recent one is always kept). Templates hash by identity."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[tuple[MaskTemplate, int], _LevelAssets] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, template: MaskTemplate, index: int) -> _LevelAssets:
        key = (template, index)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        assets = _prepare_level(template, index)
        with self._lock:
            if key not in self._entries:
                self._entries[key] = assets
                self._bytes += assets.nbytes
            while self._bytes > self.budget and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes
            return self._entries.get(key, assets)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes


_LEVELS = _LevelCache(_LEVEL_CACHE_BYTES)


def _level_assets(template: MaskTemplate, index: int) -> _LevelAssets:
    """Level ``index`` of ``template`` prepared for rendering (kept in a bounded cache)."""
    return _LEVELS.get(template, index)


_LEVEL_ARRAYS = ("premultiplied", "shaded", "alpha", "mesh", "meta")
_CACHED_LEVEL_BYTES = 2 * 2**20
"""Levels up to this size (faces up to about 250 px wide) are stored in the user's cache; the
few larger ones a run needs are built (their faces' photos cost far more than the build), so
the cache stays small: about 0.5 MB a level for LFW-sized faces."""
_LEVEL_CODE = tuple(Path(__file__).with_name(f"{m}.py") for m in ("render", "templates", "warp"))
"""The modules whose code makes a level: a cached level is keyed on them too."""


def _prepare_level(template: MaskTemplate, index: int) -> _LevelAssets:
    """Level ``index`` of ``template`` ready to render: read from the user's cache
    (:mod:`maskgen.cache`, keyed on the template's files as they were read, the code that makes
    levels and the OpenCV and numpy versions) where an earlier run stored it, else built
    (:func:`_build_level`, about 5 ms; a worker of a photo run needs a dozen or more) and
    stored there. A template made or changed in code (no ``files_key``) is always built."""
    read_as = template.__dict__.get("files_key")  # None: made or changed in code, not cached
    code = _level_code_key()
    if read_as is None or code is None:
        return _build_level(template, index)
    key = f"level-{template.name}-{index}-{read_as}-{code}"
    stored = read_arrays(key, _LEVEL_ARRAYS, _is_level)  # a malformed entry is removed
    if stored is not None:
        scale, centre_x, centre_y = stored.pop("meta").tolist()
        for array in stored.values():
            array.setflags(write=False)
        return _LevelAssets(scale, **stored, centre=(int(centre_x), int(centre_y)))
    assets = _build_level(template, index)
    if assets.nbytes <= _CACHED_LEVEL_BYTES:
        meta = np.array([assets.scale, *assets.centre], dtype=np.float64)
        arrays = {name: getattr(assets, name) for name in _LEVEL_ARRAYS[:-1]}
        write_arrays(key, arrays | {"meta": meta})
    return assets


def _is_level(arrays: dict[str, np.ndarray]) -> bool:
    """Whether cached arrays have a level's shapes and dtypes (:class:`_LevelAssets`)."""
    alpha, mesh, meta = arrays["alpha"], arrays["mesh"], arrays["meta"]
    if alpha.ndim != 2 or alpha.dtype != np.float32 or meta.shape != (3,):
        return False
    rgba = (*alpha.shape, 4)
    return (
        all(
            arrays[n].shape == rgba and arrays[n].dtype == np.float32
            for n in ("premultiplied", "shaded")
        )
        and mesh.ndim == 2
        and mesh.shape[0] == 3
        and mesh.dtype == np.complex128
        and meta.dtype == np.float64
    )


@functools.lru_cache(maxsize=1)
def _level_code_key() -> str | None:
    """The part of a cached level's key that the code and libraries make (once a process);
    None where the modules' files cannot be read (nothing is cached then)."""
    try:
        return file_key(*_LEVEL_CODE, extra=f"cv2 {cv2.__version__} numpy {np.__version__}")
    except OSError:
        return None


def _build_level(template: MaskTemplate, index: int) -> _LevelAssets:
    """Build level ``index`` and crop it to its mask: the level's :class:`_LevelAssets`."""
    level = template.level(index)
    alpha = level.alpha
    rows = np.flatnonzero(alpha.max(axis=1) > 0)
    columns = np.flatnonzero(alpha.max(axis=0) > 0)
    height, width = alpha.shape
    margin = 2  # bilinear reads reach one pixel beyond the last visible one
    x0, y0 = max(int(columns[0]) - margin, 0), max(int(rows[0]) - margin, 0)
    x1 = min(int(columns[-1]) + margin + 1, width)
    y1 = min(int(rows[-1]) + margin + 1, height)
    crop = (slice(y0, y1), slice(x0, x1))
    shade = level.shade_alpha[crop][:, :, 0]
    arrays = (
        np.ascontiguousarray(level.premultiplied[crop]),
        cv2.merge([shade, shade, shade, alpha[crop]]),
        np.ascontiguousarray(alpha[crop]),
    )
    for array in arrays:
        array.setflags(write=False)
    mesh = source_mesh(template.active_sources * level.scale - 0.5 - (x0, y0))
    return _LevelAssets(level.scale, *arrays, mesh=mesh, centre=(width // 2 - x0, height // 2 - y0))


def _textured(
    assets: _LevelAssets,
    params: MaskParams,
    texture: Texture,
    color: np.ndarray | None,
    template: MaskTemplate,
) -> np.ndarray:
    """(h, w, 4) float32 premultiplied RGBA of the (cropped) level painted with a texture
    (tinted by ``color`` if one was drawn too) under the template's shading. The texture is
    laid out over the level's positions on the cloth (:func:`_fabric`), so it bends and jumps
    where the template's ``surface`` says the cloth does."""
    mask_px = template.mask_width * assets.scale
    scale = texture_scale_for(mask_px, texture, max(params.texture_scale, 1e-3))
    tile, scale = _reduced_tile(texture, scale)
    tiled = tile_image(
        tile,
        assets.alpha.shape,
        scale=scale,
        angle_deg=params.texture_angle,
        offset=params.texture_offset,
        centre=assets.centre,
        coords=_fabric(template, assets),
    )
    weight = 1.0 if color is None else 1.0 - _TEXTURE_TINT
    out = cv2.multiply(tiled, assets.shaded, scale=weight / 255, dtype=cv2.CV_32F)
    if color is not None:
        tint = [float(v) * _TEXTURE_TINT for v in color]
        out = cv2.add(out, cv2.multiply(assets.shaded, (*tint, 0.0)))
    out[:, :, 3] = assets.alpha  # exactly the plain mask's alpha
    return out


@functools.lru_cache(maxsize=16)
def _fabric(
    template: MaskTemplate, assets: _LevelAssets
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """Where each pixel of the cropped level lies on the cloth (x, y planes, (h, w) float32,
    and their bounds): :meth:`MaskTemplate.fabric_coords` of the level, cut as
    :func:`_prepare_level` cut the level (its centre tells where the crop starts)."""
    index = template.level_scales.index(assets.scale)
    coords = template.fabric_coords(index)
    height, width = assets.alpha.shape
    x0 = coords.shape[1] // 2 - assets.centre[0]
    y0 = coords.shape[0] // 2 - assets.centre[1]
    crop = coords[y0 : y0 + height, x0 : x0 + width] - np.array([x0, y0], dtype=np.float32)
    xs, ys = (np.ascontiguousarray(crop[:, :, i]) for i in (0, 1))  # in the crop's pixels
    for plane in (xs, ys):
        plane.setflags(write=False)
    bounds = (float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max()))
    return xs, ys, bounds


def _reduced_tile(texture: Texture, scale: float) -> tuple[np.ndarray, float]:
    """The texture as an RGBA tile halved (exactly, so tiles stay seamless) until drawing it
    needs no shrinking, and the scale that keeps its size: tiling then skips a costly
    full-tile blur."""
    halvings = 0
    height, width = texture.image.shape[:2]
    while scale * 2**halvings < 1.0 and height % 2 == 0 and width % 2 == 0 and height > 8:
        halvings += 1
        height, width = height // 2, width // 2
    return _texture_rgba(_Ref(texture), halvings), scale * 2**halvings


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
def _texture_rgba(ref: _Ref, halvings: int) -> np.ndarray:
    """The texture's image reduced by 2**halvings (area average), as read-only RGBA (OpenCV
    warps four channels faster than three)."""
    image = ref.texture.image
    if halvings:
        height, width = image.shape[:2]
        size = (width >> halvings, height >> halvings)
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    rgba = cv2.cvtColor(image, cv2.COLOR_RGB2RGBA)
    rgba.setflags(write=False)
    return rgba


def _percentile95(values: np.ndarray) -> float:
    flat = values.ravel()
    k = int(0.95 * (flat.size - 1))
    return float(np.partition(flat, k)[k])


@functools.lru_cache(maxsize=1024)
def _hex_rgb(color: str) -> np.ndarray:
    """ "#rrggbb" -> (3,) float32 in [0, 1], read-only."""
    try:
        rgb = parse_hex_color(color, "mask colour")
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    result = np.array(rgb, dtype=np.float32) / 255.0
    result.setflags(write=False)
    return result


@dataclass(frozen=True)
class _LightStats:
    """What the face tells about the light: skin samples (K, 3) float RGB in [0, 1] at
    ``points`` (K, 2), the 95th-percentile luma over the face box and over the photo, and
    ``surround``, the photo's mean RGB (0-255) outside the face box (None where too little of
    the photo lies outside it)."""

    samples: np.ndarray
    points: np.ndarray
    face_high: float
    image_high: float
    surround: tuple[float, float, float] | None = None


def _landmark_box(landmarks: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the landmarks' bounding box (whole pixels, plus one beyond the last
    one's pixel) clipped to the image; may be empty."""
    left, top, box_w, box_h = cv2.boundingRect(landmarks)  # floors; one call, not four
    if left >= 0 and top >= 0:
        return left, top, min(left + box_w + 1, width), min(top + box_h + 1, height)
    # off the top or left edge: truncate toward zero, as the clipping below expects
    low_x, low_y = landmarks.min(axis=0).tolist()
    high_x, high_y = landmarks.max(axis=0).tolist()
    x0, y0 = max(int(low_x), 0), max(int(low_y), 0)
    return x0, y0, min(int(high_x) + 2, width), min(int(high_y) + 2, height)


def _light_stats(image: np.ndarray, landmarks: np.ndarray) -> _LightStats | None:
    """Measure the face's light; None for a face too small (or too far outside) to measure."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = _landmark_box(landmarks, height, width)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    grid = _LIGHT_GRID
    cell = max(1, min(y1 - y0, x1 - x0) // grid) | 1
    # box blur + point sampling: the same cell means as an area resize, several times faster
    small8 = cv2.resize(
        cv2.blur(image[y0:y1, x0:x1], (cell, cell)), (grid, grid), interpolation=cv2.INTER_LINEAR
    )
    points = _SKIN_POINTS @ landmarks
    stride = max(1, min(height, width) // 24)
    cells, face_high, photo_high, surround = light_summary(
        small8, image[::stride, ::stride], points, (x0, y0, x1, y1), stride
    )
    small = small8.reshape(-1, 3)[cells].astype(np.float32)
    small *= np.float32(1 / 255)
    return _LightStats(
        samples=small,
        points=points,
        face_high=face_high / 255.0,
        image_high=photo_high / 255.0,
        surround=surround,
    )


def light_summary(
    small: np.ndarray,
    coarse: np.ndarray,
    points: np.ndarray,
    box: tuple[int, int, int, int],
    stride: int,
) -> tuple[np.ndarray, float, float, tuple[float, float, float] | None]:
    """What the light is read from: the cell of the (g, g, 3) uint8 grid ``small`` (the face
    box, reduced) under each of the (K, 2) skin ``points`` ((K,) int, row-major), the 95th
    percentile of the grid's luma and of the photo's samples ``coarse`` ((rows, columns, 3)
    uint8, every ``stride``-th pixel), luma 0-255, and the mean RGB of the samples outside the
    face ``box`` (x0, y0, x1, y1; :func:`_surround_mean`, None where too few lie outside).
    Luma is ``(299 R + 587 G + 114 B) / 1000`` (ITU-R BT.601), taken in integers, so it is
    exact in any order. Computed by a compiled kernel (:mod:`maskgen.masks._light_kernels`)
    where the process uses numba, else by :func:`light_summary_numpy`: the same numbers to the
    bit."""
    points = points.astype(np.float64)
    if not compiled.use_compiled():
        return light_summary_numpy(small, coarse, points, box, stride)
    from maskgen.masks import _light_kernels as kernels

    cells, face_high, photo_high, outside, *mean = kernels.light_summary(
        small, coarse, points, box, stride, _SURROUND_MIN, _LUMA_PER_MILLE
    )
    return cells, face_high / 1000, photo_high / 1000, tuple(mean) if outside else None


def light_summary_numpy(
    small: np.ndarray,
    coarse: np.ndarray,
    points: np.ndarray,
    box: tuple[int, int, int, int],
    stride: int,
) -> tuple[np.ndarray, float, float, tuple[float, float, float] | None]:
    """:func:`light_summary` in numpy (``points`` float64): the reference the kernel repeats
    (the cells in Python: 13 points cost less than numpy's calls)."""
    grid = small.shape[0]
    x0, y0, x1, y1 = box
    step_x, step_y = grid / (x1 - x0), grid / (y1 - y0)
    top = grid - 1
    cells = [
        min(max(int((y - y0) * step_y), 0), top) * grid + min(max(int((x - x0) * step_x), 0), top)
        for x, y in points.tolist()
    ]
    face_high = _percentile95(small @ _LUMA_PER_MILLE) / 1000
    photo_high = _percentile95(coarse @ _LUMA_PER_MILLE) / 1000
    return np.array(cells), face_high, photo_high, _surround_mean(coarse, stride, box)


def _surround_mean(
    coarse: np.ndarray, stride: int, box: tuple[int, int, int, int]
) -> tuple[float, float, float] | None:
    """Mean RGB (0-255) of the photo's samples ``coarse`` (every ``stride``-th pixel) outside
    the face ``box``: the grey-world estimate of the light (Buchsbaum, J. Franklin Inst. 310,
    1980) without the face. None where fewer than :data:`_SURROUND_MIN` samples lie outside."""
    x0, y0, x1, y1 = (-(-v // stride) for v in box)  # first sample index at or after each edge
    rows, columns = coarse.shape[:2]
    inside = coarse[y0:y1, x0:x1]
    outside = rows * columns - inside.shape[0] * inside.shape[1]
    if outside < _SURROUND_MIN:
        return None
    total = cv2.sumElems(coarse)[:3]  # float64 sums of 8-bit values: exact integers
    within = cv2.sumElems(inside)[:3] if inside.size else (0.0, 0.0, 0.0)
    return tuple((a - b) / outside for a, b in zip(total, within, strict=True))


def _face_light(
    image: np.ndarray, landmarks: np.ndarray, region: tuple[int, int, int, int], jaw: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """The face's light over ``region``: a (h, w) float32 plane of relative brightness (side
    light), a (3,) float32 gain (exposure times the light's colour) and how much of the mask's
    own colour the photo keeps (1 = all; 0 in a black-and-white photo). ``jaw`` is the face's
    width (landmark 0 to 16, pixels)."""
    x0, y0, x1, y1 = region
    stats = _light_stats(image, landmarks)
    if stats is None:
        return np.ones((y1 - y0, x1 - x0), np.float32), np.ones(3, np.float32), 1.0
    count = len(stats.samples)
    luma = stats.samples @ _LUMA
    mean = max(float(luma.sum() / count), 1e-3)  # float32 sum / count, as numpy's mean
    ratios = (
        mean / _REF_SKIN_LUMA,
        stats.face_high / _REF_FACE_HIGH,
        stats.image_high / _REF_IMAGE_HIGH,
    )
    exposure = 1.0
    for ratio, weight in zip(ratios, _EXPOSURE_WEIGHTS, strict=True):
        exposure *= max(ratio, 1e-3) ** weight
    exposure = min(max(exposure, _EXPOSURE_RANGE[0]), _EXPOSURE_RANGE[1])
    # three-vectors as Python floats: numpy's per-call cost dwarfs the arithmetic here
    skin = (stats.samples.sum(axis=0) / count).tolist()
    cast = _light_colour(skin, mean, stats.surround)
    cast_luma = sum(c * w for c, w in zip(cast, _LUMA.tolist(), strict=True))
    gain = np.array([c / cast_luma * exposure for c in cast], dtype=np.float32)
    saturation = (max(skin) - min(skin)) / max(max(skin), 1e-3)
    colourful = min(saturation / (_GREY_BELOW * _REF_SKIN_SATURATION), 1.0)
    return _light_plane(stats.points, luma, mean, jaw, region), gain, colourful


def _light_colour(
    skin: list[float], skin_luma: float, surround: tuple[float, float, float] | None
) -> list[float]:
    """The light's colour as three channel factors (before normalising to luma 1): what the
    skin's colour and the surround's (grey-world) deviate from their LFW medians, combined as
    ``exp(w_skin * log dev_skin + w_surround * log dev_surround)``, clipped to
    :data:`_CAST_RANGE`. A person's skin tone moves only the first, a coloured background only
    the second, a colour cast of the whole photo both, so it gets the sum of the weights."""
    low, high = _CAST_RANGE
    logs = [
        _CAST_STRENGTH * math.log(max(value / skin_luma / ref, 1e-3))
        for value, ref in zip(skin, _REF_SKIN_CHROMA.tolist(), strict=True)
    ]
    if surround is not None:
        luma = max(sum(v * w for v, w in zip(surround, _LUMA.tolist(), strict=True)), 1.0)
        logs = [
            value + _SURROUND_STRENGTH * math.log(max(channel / luma / ref, 1e-3))
            for value, channel, ref in zip(logs, surround, _REF_SURROUND_CHROMA, strict=True)
        ]
    return [min(max(math.exp(value), low), high) for value in logs]


def _light_plane(
    points: np.ndarray,
    luma: np.ndarray,
    mean: float,
    jaw: float,
    region: tuple[int, int, int, int],
) -> np.ndarray:
    """Least-squares plane through the skin samples' luma (mean ``mean``), over that mean,
    clipped: (h, w) float32."""
    x0, y0, x1, y1 = region
    size = jaw or 1.0
    centre = points.sum(axis=0) / len(points)
    u = points - centre
    u /= size
    # normal equations of luma ~ c0 + c1 u + c2 v (u, v centred, so c0 is the mean)
    (uu, uv), (_, vv) = (u.T @ u).tolist()
    lu, lv = (luma @ u).tolist()
    det = uu * vv - uv * uv
    if det <= 1e-12:
        return np.ones((y1 - y0, x1 - x0), np.float32)
    cu = (lu * vv - lv * uv) / det / mean / size
    cv = (lv * uu - lu * uv) / det / mean / size
    centre_x, centre_y = centre.tolist()
    # 1 + cu (x - cx) + cv (y - cy) over the region, in one pass over cached pixel grids
    xs, ys = pixel_grid(y1 - y0, x1 - x0)
    offset = 1.0 + cu * (x0 - centre_x) + cv * (y0 - centre_y)
    plane = cv2.addWeighted(xs, cu, ys, cv, offset)
    return np.clip(plane, *_GRADIENT_RANGE, out=plane)
