"""The landmark fit of :mod:`maskgen.faces._shape_predictor_kernels` in plain numpy, for runs too
small to repay loading numba (about 0.45 s of CPU a process): the same shapes to the bit.

Every step does the kernel's arithmetic in the same types and order (dlib's, see that module):
sums that dlib (and the kernel) take one term after another are added in that order: along
an array's slow axis numpy's sum adds term after term (along the fast axis it adds pairwise, a
different rounding, so those sums are ``np.cumsum``'s last element instead); float32 stays float32
(numpy, like numba without ``fastmath``, neither widens nor fuses float32 operations). The 500
trees of a cascade read the same feature pixels, so they are walked together, one array
operation per level, comparing only the split each face reaches; their leaves are then added
tree after tree. A face costs about 3 ms alone, about 1.0 ms in a batch of 16 (1.15 ms when
every split was compared; this project's 2-core AMD EPYC VM): slower than the kernel, so it
serves small runs only. Tests compare it with the kernel on real faces.
"""

from __future__ import annotations

import numpy as np

_TERMS_BYTES = 256 * 1024
"""Size of the buffer the leaves are gathered into before they are added (at most): small
enough to stay in a core's cache (gathering every tree's leaves for a batch of 32 faces at once
took 8.7 MB and made a batch's faces slower than a batch of 16's)."""
_THIRDS = (np.arange(3 * 255 + 1) // 3).astype(np.uint8)
"""``s // 3`` for every sum ``s`` of three uint8 levels: one lookup instead of a division."""


def grey_levels(rgb: np.ndarray) -> np.ndarray:
    """dlib's grey level ``(r + g + b) // 3`` of flat RGB uint8 pixels, flat uint8 (channel by
    channel: numpy sums along a 3-wide fast axis about ten times slower)."""
    channels = rgb.reshape(-1, 3)
    total = np.add(channels[:, 0], channels[:, 1], dtype=np.uint16)
    total += channels[:, 2]
    return np.take(_THIRDS, total)


def fit_shapes(
    grey: np.ndarray,
    offsets: np.ndarray,
    heights: np.ndarray,
    widths: np.ndarray,
    boxes: np.ndarray,
    initial: np.ndarray,
    splits: np.ndarray,
    thresholds: np.ndarray,
    leaves: np.ndarray,
    anchors: np.ndarray,
    deltas: np.ndarray,
) -> np.ndarray:
    """``_shape_predictor_kernels.fit_shapes``: (N, 2P) float32 shapes in box units, the same
    arguments (flat grey levels, per-face offset, height, width, (N, 4) float64 boxes, the
    model's arrays)."""
    n_faces = boxes.shape[0]
    n_cascades, n_trees, n_splits = thresholds.shape
    n_leaves = leaves.shape[2]
    depth = int(n_splits + 1).bit_length() - 1
    # terms[n] = this face's shape so far, then its leaf of each of a run of trees: summed in
    # that order, run after run (the same order as one sum over all trees; runs keep the
    # buffer in the cache, where one (faces, trees, points) buffer would not fit)
    run = max(1, min(n_trees, _TERMS_BYTES // max(1, n_faces * initial.size * 4)))
    terms = np.empty((n_faces, run + 1, initial.size), np.float32)
    shapes = np.repeat(initial[None, :].astype(np.float32), n_faces, axis=0)
    first_leaf = np.arange(n_trees)[None, :] * n_leaves - n_splits
    for c in range(n_cascades):
        values = _feature_pixels(grey, offsets, heights, widths, boxes, shapes, initial,
                                 anchors[c], deltas[c])  # fmt: skip
        node = _walk(values, splits[c], thresholds[c], depth)
        flat_leaves = leaves[c].reshape(n_trees * n_leaves, initial.size)
        reached = first_leaf + node  # (N, T): each tree's leaf, as a row of flat_leaves
        for start in range(0, n_trees, run):
            stop = min(start + run, n_trees)
            terms[:, 0] = shapes
            np.take(flat_leaves, reached[:, start:stop], axis=0, out=terms[:, 1 : stop - start + 1],
                    mode="clip")  # fmt: skip
            # along a slow axis numpy adds in order, in float32
            np.add.reduce(terms[:, : stop - start + 1], axis=1, out=shapes)
    return np.ascontiguousarray(shapes)


def _walk(values: np.ndarray, splits: np.ndarray, thresholds: np.ndarray, depth: int) -> np.ndarray:
    """Every face's path down every tree of a cascade: (N, T) int64, the split-node index
    (0 at the root, ``2 * node + 1`` to the left) where each path ends, as the kernel's
    ``_leaf``. Only the split each face reaches is compared, level by level (4 of a tree's 15)."""
    n_faces, n_trees = values.shape[0], splits.shape[0]
    n_splits = splits.shape[1]
    tree_base = np.arange(n_trees, dtype=np.int64) * n_splits  # (T,)
    face_base = np.arange(n_faces, dtype=np.int64)[:, None] * values.shape[1]  # (N, 1)
    flat_values = values.reshape(-1)
    left_pixel, right_pixel = splits[..., 0].reshape(-1), splits[..., 1].reshape(-1)
    flat_thresholds = thresholds.reshape(-1)
    node = np.zeros((n_faces, n_trees), np.int64)
    for _ in range(depth):
        at = tree_base + node  # (N, T): this level's split of each tree, flat
        difference = flat_values[face_base + left_pixel[at]]
        difference -= flat_values[face_base + right_pixel[at]]
        node = 2 * node + 2 - (difference > flat_thresholds[at])
    return node


def _in_order_sum(values: np.ndarray) -> np.ndarray:
    """Sum over the last axis, one term after another (as a C loop adds them), float64."""
    return np.cumsum(values, axis=-1, dtype=np.float64)[..., -1]


def _similarity(shapes: np.ndarray, initial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's ``_similarity`` for every face: (a, b), each (N,) float32."""
    n = initial.size // 2
    from_xy = initial.reshape(n, 2).astype(np.float64).T  # (2, P)
    to_xy = shapes.reshape(len(shapes), n, 2).astype(np.float64).transpose(0, 2, 1)  # (N, 2, P)
    from_mean = _in_order_sum(from_xy) / n  # (2,)
    to_mean = _in_order_sum(to_xy) / n  # (N, 2)
    fx, fy = from_xy[0] - from_mean[0], from_xy[1] - from_mean[1]
    tx, ty = to_xy[:, 0] - to_mean[:, 0:1], to_xy[:, 1] - to_mean[:, 1:2]
    sigma_from = _in_order_sum(fx * fx + fy * fy) / n
    cov_xx, cov_xy = _in_order_sum(tx * fx), _in_order_sum(tx * fy)
    cov_yx, cov_yy = _in_order_sum(ty * fx), _in_order_sum(ty * fy)
    n_faces = len(shapes)
    if sigma_from == 0.0:
        return np.ones(n_faces, np.float32), np.zeros(n_faces, np.float32)
    a = (cov_xx / n + cov_yy / n) / sigma_from
    b = (cov_xy / n - cov_yx / n) / sigma_from
    return a.astype(np.float32), b.astype(np.float32)


def _feature_pixels(
    grey: np.ndarray,
    offsets: np.ndarray,
    heights: np.ndarray,
    widths: np.ndarray,
    boxes: np.ndarray,
    shapes: np.ndarray,
    initial: np.ndarray,
    anchors: np.ndarray,
    deltas: np.ndarray,
) -> np.ndarray:
    """The kernel's ``_feature_pixels`` for every face: (N, F) float32 grey levels under the
    feature points, 0 outside the image."""
    a, b = _similarity(shapes, initial)
    a, b = a[:, None], b[:, None]
    dx, dy = deltas[:, 0], deltas[:, 1]
    x = (a * dx + b * dy) + shapes[:, 2 * anchors]
    y = (-b * dx + a * dy) + shapes[:, 2 * anchors + 1]
    left, top = boxes[:, 0:1], boxes[:, 1:2]
    box_width, box_height = boxes[:, 2:3] - left, boxes[:, 3:4] - top
    px = np.floor(box_width * x.astype(np.float64) + left + 0.5)
    py = np.floor(box_height * y.astype(np.float64) + top + 0.5)
    width, height = widths[:, None], heights[:, None]
    inside = (px >= 0) & (py >= 0) & (px <= width - 1) & (py <= height - 1)
    index = offsets[:, None] + np.where(inside, py, 0).astype(np.int64) * width
    index += np.where(inside, px, 0).astype(np.int64)
    return np.where(inside, grey[index], 0).astype(np.float32)
