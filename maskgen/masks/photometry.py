"""How sharp and how noisy a face photo is, measured so a mask can be rendered to match.

A mask pasted crisp and clean onto a soft or grainy photo is a cue a recogniser can learn and
that real masked photos never show. Two cheap no-reference measurements over the face's
landmark box (luma, a few thousand pixels) tell the renderer how much to blur the mask and how
much grain to add:

- **Edge spread** (:func:`measure_edge_spread`), by re-blurring (Hu & de Haan, "Low cost robust
  blur estimator", ICIP 2006; Crété-Roffet et al., "The blur effect", SPIE 2007): a step edge
  blurred by a Gaussian of ``s`` pixels has a peak gradient proportional to ``1 / s``; blurred
  again by ``r`` pixels, to ``1 / sqrt(s² + r²)``. The ratio ``R`` of gradient energies before
  and after the re-blur, over the strongest edges, gives ``s = r / sqrt(R - 1)``. It is a
  *measure*, not the true point-spread width (the derivative filter and the face's own edges add
  to it), so the renderer does not use it as a blur width directly: it blurs the mask until the
  mask measures what the face measures (:func:`mask_blur_for`, calibrated on rendered masks).
  On real masked photos (MFR2, RMFD aligned crops) the mask's measure is 0.94-1.02 times the
  eye region's; on twins it is 0.76 without this match and 0.91 with it
  (``benchmarks/photo_match.py``).
- **Noise** (:func:`measure_noise`): Immerkær's fast noise variance estimation ("Fast noise
  variance estimation", CVIU 64(2), 1996): the image filtered by the difference of two
  Laplacians ``[[1, -2, 1], [-2, 4, -2], [1, -2, 1]]``, which cancels smooth shading and linear
  ramps and passes white noise of standard deviation ``s`` at ``6 s``. The median absolute
  response (over 0.6745, Gaussian noise's median absolute deviation) replaces Immerkær's mean,
  so the face's edges, a minority of the pixels, do not count as noise (the robust scale
  estimate of Donoho & Johnstone, Biometrika 1994).

- **JPEG quality** (:func:`measure_jpeg_quality`): a low-quality JPEG keeps its strong edges
  (the edge spread of LFW faces is the same at quality 10 and 95) but quantises each 8x8
  block's DCT coefficients to multiples of its quantisation table, flattening texture into
  blocks. The decoded luma's low-frequency coefficients, on the image's 8x8 grid, still sit on
  those multiples: the step found for a few of them, over the IJG standard table's entry
  (ITU-T T.81 Annex K), gives the scale and so the quality (IJG's quality-to-scale rule), as in
  Fan & de Queiroz, "Identification of bitmap compression history: JPEG detection and quantizer
  estimation", IEEE TIP 12(2), 2003. The renderer then JPEG-compresses the mask's blocks at
  that quality, so the mask gets the face's blocks and ringing. A photo resized or shifted
  since its last JPEG has no grid left and reads None (nothing is simulated).
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass

import cv2
import numpy as np

from maskgen import compiled

REBLUR_SIGMA = 1.0
"""Re-blur width (pixels) of the edge-spread measure."""
EDGE_FRACTION = 0.03
"""The strongest 3% of gradient-energy pixels count as edges."""
_SPREAD_MAX = 8.0
"""Edge spreads are reported up to this many pixels (R close to 1 means "very soft")."""
MASK_SPREAD_TABLE = (
    (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
    (0.77, 0.88, 1.26, 1.63, 2.0, 2.7),
)
"""(Gaussian blur added to a rendered mask, pixels; the mask's edge spread then, pixels):
medians over 40 LFW photos and 40 aligned 112x112 crops of ``lfw-fold1.bin`` (random mask
types, colours and textures, each rendered onto flat grey and measured over its own coverage).
Beyond the last point the slope between the last two continues."""
NOISE_FLOOR = 0.5
"""What :func:`measure_noise` reads on a noiseless 8-bit image (rounding alone: one step of
the median of integer responses is 1 / (6 * 0.6745) = 0.25 levels, and clean LFW faces read
0.49): only noise above it is added to a mask."""
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_MAD_GAUSS = 0.6745
"""Median of |x| for a standard normal x."""
MIN_BOX = 8
"""A face box with a side under this many pixels is too small to measure: no match."""


JPEG_BELOW = 70
"""Qualities under this are simulated on the mask; above, JPEG's blocks are too faint to see
(and the mask is re-encoded with the whole image anyway when a twin is written as JPEG)."""
_DCT = np.array(
    [
        [
            math.sqrt((1 if k == 0 else 2) / 8) * math.cos(math.pi * (2 * n + 1) * k / 16)
            for n in range(8)
        ]
        for k in range(8)
    ],
    dtype=np.float32,
)
"""The orthonormal 8-point DCT-II matrix: ``D @ block @ D.T`` is JPEG's forward DCT."""
_JPEG_POSITIONS = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0))
"""The DCT coefficients (row, column) whose quantisation step is estimated."""
_POSITION_BASES = np.stack([np.outer(_DCT[u], _DCT[v]).ravel() for u, v in _JPEG_POSITIONS], axis=1)
"""(64, positions) float32: coefficient (u, v) of an 8x8 block is its 64 pixels (row by row)
dotted with ``outer(D[u], D[v])`` (``D @ block @ D.T`` for those positions alone)."""
_IJG_LUMA = {(0, 1): 11.0, (1, 0): 12.0, (1, 1): 12.0, (0, 2): 10.0, (2, 0): 14.0}
"""Those positions' entries in the standard luminance quantisation table (T.81 Annex K)."""
_PERIODIC = 0.6
"""Mean cos(2 pi c / q) over a position's coefficients above which they sit on multiples of q."""


@dataclass(frozen=True)
class PhotoMatch:
    """What a mask needs to match its photo: ``blur``, the Gaussian blur (pixels) to give the
    rendered mask, colour and coverage alike; ``grain``, the standard deviation (8-bit levels)
    of the luma noise to add to it; ``jpeg``, the JPEG quality (1-100) to compress the mask's
    blocks at, 0 for none. ``PhotoMatch()`` changes nothing."""

    blur: float = 0.0
    grain: float = 0.0
    jpeg: int = 0


NO_MATCH = PhotoMatch()


def measure_photo(luma: np.ndarray, grid_luma: np.ndarray | None = None) -> PhotoMatch:
    """The match for a face whose box is ``luma`` (h, w) uint8; ``grid_luma`` is the same
    face's float32 luma cut on the image's 8x8 grid (sides multiples of 8, origin on the
    grid), None where there is none. :data:`NO_MATCH` for a box with a side under
    :data:`MIN_BOX` pixels."""
    if min(luma.shape) < MIN_BOX:
        return NO_MATCH
    quality = measure_jpeg_quality(grid_luma) if grid_luma is not None else None
    return PhotoMatch(
        blur=mask_blur_for(measure_edge_spread(luma)),
        grain=grain_for(measure_noise(luma)),
        jpeg=quality if quality is not None and quality < JPEG_BELOW else 0,
    )


def measure_jpeg_quality(luma: np.ndarray) -> int | None:
    """The IJG quality (1-100) an image was last JPEG-compressed at, from (h, w) float32 luma
    (0-255, ``0.299 R + 0.587 G + 0.114 B``, rounded or not) whose origin lies on the image's
    8x8 grid and whose sides are multiples of 8 (at least 16). None where no quantisation
    shows (never a JPEG, resized or shifted since, or a quality so high its steps drown in
    rounding).

    Per position of :data:`_JPEG_POSITIONS`: the coefficients above 2.5 in magnitude, their
    first cluster's median as the step ``q``, kept when they sit on multiples of it (mean
    ``cos(2 pi c / q)`` over :data:`_PERIODIC`); the median of the kept steps over the
    standard table's entries is the scale. Qualities 10, 30 and 50 re-encoded onto LFW
    faces read 9-10, 30 and 50 where found (found in 90-99% of faces at 10 and 30, about half
    at 50)."""
    height, width = luma.shape
    if height < 16 or width < 16 or height % 8 or width % 8:
        return None
    # each 8x8 block as a row of 64, times the DCT basis of each position: (blocks, positions)
    blocks = luma.reshape(height // 8, 8, width // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64)
    coefficients = blocks @ _POSITION_BASES
    ordered = np.sort(np.abs(coefficients.T), axis=-1)  # each position's magnitudes, sorted
    scales = []
    for index, (position, row) in enumerate(zip(_JPEG_POSITIONS, ordered, strict=True)):
        if len(scales) + len(_JPEG_POSITIONS) - index < 3:
            return None  # too few positions left to find three steps
        step = _quantisation_step(row[int(row.searchsorted(2.5, side="right")) :])  # > 2.5
        if step is not None:
            scales.append(step / _IJG_LUMA[position])
    if len(scales) < 3:
        return None
    scale = 100.0 * statistics.median(scales)  # np.median's value; it would load numpy.ma
    quality = 5000.0 / scale if scale > 100.0 else (200.0 - scale) / 2.0
    return min(max(round(quality), 1), 100)


def _quantisation_step(ordered: np.ndarray) -> float | None:
    """The step the (n,) positive ``ordered`` values (sorted, ascending) are multiples of, or
    None: the middle value of the first cluster (values under 1.5 times their 20th
    percentile), checked for periodicity. (One sort serves every order statistic: these arrays
    hold tens of values, where numpy's per-call cost is what counts.)"""
    values = ordered
    if values.size < 8:
        return None
    low = float(ordered[values.size // 5])
    end = int(ordered.searchsorted(1.5 * low))
    step = float(ordered[end // 2])
    if step < 2.5:
        return None
    periodic = float(np.cos(ordered * (2.0 * math.pi / step)).sum()) / values.size
    return step if periodic >= _PERIODIC else None


def measure_edge_spread(luma: np.ndarray) -> float:
    """Edge spread (pixels) of an (h, w) uint8 image by re-blurring (see the module
    docstring): ``REBLUR_SIGMA / sqrt(R - 1)`` with ``R`` the ratio of Sobel gradient energy
    before and after a Gaussian re-blur of :data:`REBLUR_SIGMA`, summed over the
    :data:`EDGE_FRACTION` strongest pixels (:func:`edge_energy_sums`); at most
    :data:`_SPREAD_MAX`. Sharp LFW faces read about 1.0-1.1 px, ones blurred by 2 px about 2.0
    (both measured on 60 LFW photos)."""
    sharp, soft = edge_energy_sums(luma)
    ratio = sharp / max(soft, 1e-6)
    if ratio <= 1.0 + (REBLUR_SIGMA / _SPREAD_MAX) ** 2:
        return _SPREAD_MAX
    return REBLUR_SIGMA / math.sqrt(ratio - 1.0)


def edge_energy_sums(luma: np.ndarray) -> tuple[float, float]:
    """(sharp, soft): the squared Sobel gradient of ``luma`` ((h, w) uint8, sides >= 2) and of
    its Gaussian re-blur by :data:`REBLUR_SIGMA`, each summed over the pixels whose sharp
    energy is at least the :data:`EDGE_FRACTION` quantile. Computed by a compiled kernel
    (:mod:`maskgen.masks._photometry_kernels`) where the process uses numba
    (:func:`maskgen.compiled.use_compiled`), else by :func:`edge_energy_sums_numpy`: the same
    two numbers to the bit. ValueError for another dtype or shape."""
    luma = np.ascontiguousarray(luma)
    if luma.dtype != np.uint8 or luma.ndim != 2 or min(luma.shape) < 2:
        raise ValueError(
            f"luma must be (h, w) uint8 with sides >= 2, got {luma.dtype} {luma.shape}"
        )
    kth = int((1.0 - EDGE_FRACTION) * (luma.size - 1))
    blurred = cv2.GaussianBlur(luma.astype(np.float32), (0, 0), REBLUR_SIGMA)
    if not compiled.use_compiled():
        return edge_energy_sums_numpy(luma, blurred, kth)
    from maskgen.masks import _photometry_kernels as kernels

    sharp, soft = kernels.edge_energy_sums(luma, blurred, kth)
    return float(sharp), soft


def edge_energy_sums_numpy(luma: np.ndarray, blurred: np.ndarray, kth: int) -> tuple[float, float]:
    """:func:`edge_energy_sums` in numpy, given the re-blur ``blurred`` ((h, w) float32) and the
    threshold's rank ``kth``: the reference the kernel repeats. The sharp energies are
    integers (exact); the soft gradient is taken at the edge pixels only, from a 3x3
    neighbourhood of the re-blur in float32, each sum written out in a fixed order, and the
    soft energies are added one after another in raster order (``np.cumsum``), so the kernel's
    loop gives the same float to the bit. Borders reflect as OpenCV's Sobel reads them
    (BORDER_REFLECT_101)."""
    dx, dy = cv2.spatialGradient(luma)  # Sobel 3x3, BORDER_REFLECT_101, int16
    dx, dy = dx.astype(np.int64).ravel(), dy.astype(np.int64).ravel()
    energy = dx * dx + dy * dy
    threshold = np.partition(energy, kth)[kth]
    edges = np.flatnonzero(energy >= threshold)
    width = luma.shape[1]
    padded = cv2.copyMakeBorder(blurred, 1, 1, 1, 1, cv2.BORDER_REFLECT_101).ravel()
    corner = edges // width * (width + 2) + edges % width  # padded: each 3x3's top left
    stride = width + 2
    # g[:, 3 r + c]: the re-blur at row y - 1 + r, column x - 1 + c of each edge pixel (x, y)
    g = padded[corner[:, None] + np.array([r * stride + c for r in range(3) for c in range(3)])]
    two = np.float32(2.0)
    sx = ((g[:, 2] - g[:, 0]) + (g[:, 8] - g[:, 6])) + two * (g[:, 5] - g[:, 3])
    sy = ((g[:, 6] - g[:, 0]) + (g[:, 8] - g[:, 2])) + two * (g[:, 7] - g[:, 1])
    soft = np.cumsum(sx * sx + sy * sy, dtype=np.float64)
    return float(energy[edges].sum()), float(soft[-1])


def measure_noise(luma: np.ndarray) -> float:
    """Noise standard deviation (8-bit levels) of an (h, w) uint8 image: Immerkær's filter,
    median absolute response / (6 * 0.6745), the median interpolated within its integer bin
    (responses of 8-bit pixels are integers, so a plain median moves in steps of 0.25 levels).
    Gaussian noise of 2, 5 and 10 levels added to LFW faces reads 2.2, 5.2 and 9.9.
    ValueError for a side under 3 (no interior pixel)."""
    if luma.ndim != 2 or min(luma.shape) < 3:
        raise ValueError(f"luma must be (h, w) with sides >= 3, got {luma.shape}")
    if luma.dtype == np.uint8 and compiled.use_compiled():  # from a histogram: the same median
        from maskgen.masks import _photometry_kernels as kernels

        size, value, below, inside = kernels.noise_median_counts(np.ascontiguousarray(luma))
        median = _interpolated_median(size / 2.0, float(value), below, inside)
        return median / (6.0 * _MAD_GAUSS)
    response = cv2.filter2D(luma, cv2.CV_32F, _IMMERKAER)[1:-1, 1:-1]  # integers, exactly
    magnitude = np.abs(response).ravel()
    return _binned_median(magnitude) / (6.0 * _MAD_GAUSS)


def mask_blur_for(face_spread: float) -> float:
    """The Gaussian blur (pixels) that gives a rendered mask the edge spread ``face_spread``
    (pixels) measures on the face: :data:`MASK_SPREAD_TABLE` read backwards, 0 where the mask
    is already as soft."""
    added, spread = MASK_SPREAD_TABLE
    if face_spread <= spread[0]:
        return 0.0
    if face_spread >= spread[-1]:
        slope = (added[-1] - added[-2]) / (spread[-1] - spread[-2])
        return added[-1] + slope * (face_spread - spread[-1])
    return float(np.interp(face_spread, spread, added))


def grain_for(noise: float) -> float:
    """Grain (8-bit levels) to add to a mask for a photo whose noise measures ``noise``: the
    part above :data:`NOISE_FLOOR`, in quadrature (independent noises add in variance)."""
    return math.sqrt(max(noise * noise - NOISE_FLOOR * NOISE_FLOOR, 0.0))


GRAIN_FIELD = 512
"""Side (pixels) of the process's fixed field of white noise that grain windows are cut from."""


def sample_grain(seed: int, height: int, width: int) -> np.ndarray:
    """(height, width) float32 standard normal white noise chosen by ``seed`` (a drawn
    ``MaskParams.grain_seed``), the same in every process: a window of the fixed
    :func:`_grain_field` at an offset taken from the seed (a slice: a generator's normals
    would cost more than the rest of a small render's grain), or, for a region more than half
    the field's side, normals from a generator seeded with ``seed``. Read-only."""
    room = GRAIN_FIELD // 2
    if height > room or width > room:
        return np.random.default_rng(seed).standard_normal((height, width), dtype=np.float32)
    x, y = seed % room, (seed // room) % room
    return _grain_field()[y : y + height, x : x + width]


@functools.lru_cache(maxsize=1)
def _grain_field() -> np.ndarray:
    """(GRAIN_FIELD, GRAIN_FIELD) float32 standard normal noise from a fixed seed, read-only."""
    field = np.random.default_rng(0x6772_6169).standard_normal(
        (GRAIN_FIELD, GRAIN_FIELD), dtype=np.float32
    )
    field.setflags(write=False)
    return field


def _binned_median(values: np.ndarray) -> float:
    """Median of non-negative integer-valued ``values``, interpolated within its unit bin
    (the grouped-data median): continuous in the data, unlike the integer median."""
    half = values.size / 2.0
    k = min(int(half), values.size - 1)
    median = float(np.partition(values, k)[k])
    below = np.count_nonzero(values < median - 0.5)
    inside = np.count_nonzero(values < median + 0.5) - below
    return _interpolated_median(half, median, below, inside)


def _interpolated_median(half: float, median: float, below: int, inside: int) -> float:
    """The grouped-data median: ``median``'s unit bin holds ``inside`` values and ``below``
    lie under it, ``half`` is half their number."""
    if inside == 0:
        return median
    return max(median - 0.5 + (half - below) / inside, 0.0)
