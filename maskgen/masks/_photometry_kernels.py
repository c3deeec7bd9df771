"""numba kernels behind :mod:`maskgen.masks.photometry`'s measures: the same numbers to the bit
as their numpy references (:func:`~maskgen.masks.photometry.edge_energy_sums_numpy` and the
responses :func:`~maskgen.masks.photometry.measure_noise` takes the median of), without
numpy's per-call cost, which is most of a small face's measuring time (a few thousand pixels,
some twenty array calls each).

Equal to the bit because each kernel does the reference's arithmetic in the same types and
order: integers where the reference's values are integers (Sobel and Immerkær responses of
8-bit pixels, their squares and sums), float32 where it works in float32 (the re-blurred
image's gradients, as written out in the reference), float64 sums taken one term after
another in raster order (the reference takes ``np.cumsum``'s last element), and no fused or
widened operations (numba without ``fastmath``, like numpy). Tests compare both on real faces.
"""

from __future__ import annotations

import numpy as np

from maskgen.compiled import jit


@jit
def edge_energy_sums(luma: np.ndarray, blurred: np.ndarray, kth: int) -> tuple[int, float]:
    """``photometry.edge_energy_sums_numpy`` to the bit: ``luma`` (h, w) uint8, ``blurred``
    (h, w) float32 (its Gaussian re-blur), ``kth`` the rank of the edge threshold."""
    height, width = luma.shape
    energy = np.empty(height * width, np.int64)
    for y in range(height):
        above = y - 1 if y > 0 else 1  # BORDER_REFLECT_101, as OpenCV's Sobel reads it
        below = y + 1 if y < height - 1 else height - 2
        for x in range(width):
            left = x - 1 if x > 0 else 1
            right = x + 1 if x < width - 1 else width - 2
            gx = (
                (np.int64(luma[above, right]) - luma[above, left])
                + 2 * (np.int64(luma[y, right]) - luma[y, left])
                + (np.int64(luma[below, right]) - luma[below, left])
            )
            gy = (
                (np.int64(luma[below, left]) - luma[above, left])
                + 2 * (np.int64(luma[below, x]) - luma[above, x])
                + (np.int64(luma[below, right]) - luma[above, right])
            )
            energy[y * width + x] = gx * gx + gy * gy
    threshold = _kth_smallest(energy, kth)
    sharp = 0
    soft = 0.0
    two = np.float32(2.0)
    for y in range(height):
        above = y - 1 if y > 0 else 1
        below = y + 1 if y < height - 1 else height - 2
        for x in range(width):
            value = energy[y * width + x]
            if value < threshold:
                continue
            left = x - 1 if x > 0 else 1
            right = x + 1 if x < width - 1 else width - 2
            sx = (
                (blurred[above, right] - blurred[above, left])
                + (blurred[below, right] - blurred[below, left])
            ) + two * (blurred[y, right] - blurred[y, left])
            sy = (
                (blurred[below, left] - blurred[above, left])
                + (blurred[below, right] - blurred[above, right])
            ) + two * (blurred[below, x] - blurred[above, x])
            sharp += value
            soft += np.float64(sx * sx + sy * sy)
    return sharp, soft


@jit
def _kth_smallest(values: np.ndarray, kth: int) -> int:
    """The ``kth`` smallest (0-based) of non-negative int64 ``values`` below 2**22 (squared
    Sobel gradients of 8-bit pixels are at most 2 * 1020**2): a histogram of the top bits
    finds its bin, a sort of that bin's few values the value."""
    shift = 10
    counts = np.zeros((1 << 22 >> shift) + 1, np.int64)
    for value in values:
        counts[value >> shift] += 1
    seen = 0
    bin_index = 0
    for bin_index in range(counts.size):
        if seen + counts[bin_index] > kth:
            break
        seen += counts[bin_index]
    inside = np.empty(counts[bin_index], np.int64)
    filled = 0
    for value in values:
        if value >> shift == bin_index:
            inside[filled] = value
            filled += 1
    inside.sort()
    return inside[kth - seen]


@jit
def noise_median_counts(luma: np.ndarray) -> tuple[int, int, int, int]:
    """What the binned median of the absolute Immerkær responses ``|[[1, -2, 1], [-2, 4, -2],
    [1, -2, 1]] * luma|`` over the interior pixels of ``luma`` (h, w) uint8 needs: (how many
    responses, the ``size // 2``-th smallest (0-based, at most ``size - 1``), how many are
    below it, how many equal it), from their histogram (responses are integers, at most
    16 * 255)."""
    height, width = luma.shape
    counts = np.zeros(16 * 255 + 1, np.int64)
    for y in range(1, height - 1):
        for x in range(1, width - 1):
            corners = (
                np.int64(luma[y - 1, x - 1])
                + luma[y - 1, x + 1]
                + luma[y + 1, x - 1]
                + luma[y + 1, x + 1]
            )
            sides = np.int64(luma[y - 1, x]) + luma[y, x - 1] + luma[y, x + 1] + luma[y + 1, x]
            counts[abs(corners - 2 * sides + 4 * np.int64(luma[y, x]))] += 1
    size = (height - 2) * (width - 2)
    k = min(size // 2, size - 1)
    below = 0
    for value in range(counts.size):
        if below + counts[value] > k:
            return size, value, below, counts[value]
        below += counts[value]
    return size, 0, 0, 0  # no interior pixels
