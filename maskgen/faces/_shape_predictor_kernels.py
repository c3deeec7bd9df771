"""numba kernels behind :mod:`maskgen.faces.shape_predictor`: reading dlib's serialized
``shape_predictor`` and walking its trees for a batch of faces.

Every step repeats dlib's own arithmetic (dlib 19/20, ``dlib/image_processing/shape_predictor.h``)
in the same types and order, so the fitted shape is dlib's to the bit: the shape and the leaf
sums in float32, tree after tree; the similarity transform to the current shape in float64,
rounded to float32; feature pixels placed in float32, carried into the image in float64 and
rounded as ``floor(v + 0.5)``; grey level ``(r + g + b) // 3``; pixels outside the image read 0.

Imported lazily (numba takes a few tenths of a second to start). Compiled code is cached on
disk where numba finds a writable place (``__pycache__`` beside this file, else the user's cache
folder), else compiled once per process.
"""

from __future__ import annotations

import math

import numpy as np

from maskgen.compiled import jit

INF_EXPONENT, NINF_EXPONENT, NAN_EXPONENT = 32000, 32001, 32002
"""dlib's ``float_details`` exponents standing for +inf, -inf and NaN (``dlib/float_details.h``)."""


_POWERS_OF_TWO = np.ldexp(1.0, np.arange(-1074, 1024))
"""2**e for every float64 exponent e: ``mantissa * 2**e`` is exact where ``ldexp`` is."""


class ParseError(ValueError):
    """Raised inside :func:`parse_shape_predictor` with (what, byte offset)."""


# --- dlib's serialization (dlib/serialize.h, dlib/float_details.h) ------------------------------


@jit
def _read_int(buf: np.ndarray, pos: int) -> tuple[int, int]:
    """One packed integer at ``pos``: a control byte (bit 7: negative; bits 0-3: byte count;
    bits 4-6 zero) and that many little-endian bytes. (value, next pos); next pos -1 where the
    bytes are not a packed integer or run past the end."""
    if pos < 0 or pos >= buf.size:
        return 0, -1
    head = np.int64(buf[pos])
    size = head & 0x0F
    if (head & 0x70) != 0 or size > 8 or pos + 1 + size > buf.size:
        return 0, -1
    value = np.int64(0)
    for k in range(size):
        value |= np.int64(buf[pos + 1 + k]) << (8 * k)
    if head & 0x80:
        value = -value
    return value, pos + 1 + size


@jit
def _read_float(buf: np.ndarray, pos: int) -> tuple[np.float32, int]:
    """One float: packed mantissa then packed exponent, value ``mantissa * 2**exponent``."""
    mantissa, pos = _read_int(buf, pos)
    exponent, pos = _read_int(buf, pos)
    if pos < 0:
        return np.float32(0.0), -1
    if exponent == INF_EXPONENT:
        return np.float32(np.inf), pos
    if exponent == NINF_EXPONENT:
        return np.float32(-np.inf), pos
    if exponent == NAN_EXPONENT:
        return np.float32(np.nan), pos
    if -1074 <= exponent <= 1023:  # the common case, without a libm call: the same value
        return np.float32(float(mantissa) * _POWERS_OF_TWO[exponent + 1074]), pos
    return np.float32(math.ldexp(float(mantissa), exponent)), pos


@jit
def _expect(buf: np.ndarray, pos: int, expected: int, what: str) -> int:
    """Read a packed integer that must equal ``expected``; ParseError(what, offset) otherwise."""
    value, after = _read_int(buf, pos)
    if after < 0 or value != expected:
        raise ParseError(what, pos)
    return after


@jit
def _read_column(buf: np.ndarray, pos: int, out: np.ndarray, what: str) -> int:
    """A ``matrix<float,0,1>`` of ``out.size`` rows: its dimensions (negated by current dlib,
    positive in old files) then the values, into ``out``."""
    start = pos
    rows, pos = _read_int(buf, pos)
    cols, pos = _read_int(buf, pos)
    if abs(rows) != out.size or abs(cols) != 1 or pos < 0:
        raise ParseError(what, start)
    for k in range(out.size):
        out[k], pos = _read_float(buf, pos)
    if pos < 0:
        raise ParseError(what, start)
    return pos


@jit
def parse_header(buf: np.ndarray) -> tuple[np.ndarray, int, int, int, int, int]:
    """The start of a serialized ``dlib::shape_predictor`` (``shape_predictor.h``, version 1):
    version, initial_shape (2P floats), the number of cascades C, and, peeking at the first
    tree, T trees per cascade, S splits and L = S + 1 leaves per tree (dlib's trainer makes
    every tree as deep). Returns (initial_shape (2P,) f4, C, T, S, L, offset of the first
    cascade). ParseError(what, byte offset) where the bytes are not such a model."""
    pos = _expect(buf, 0, 1, "version 1")
    rows, _ = _read_int(buf, pos)
    n_coords = abs(rows)
    if n_coords == 0 or n_coords % 2 != 0 or 4 * n_coords > buf.size:
        raise ParseError("initial_shape of 2P rows", pos)
    initial = np.empty(n_coords, np.float32)
    pos = _read_column(buf, pos, initial, "initial_shape")
    n_cascades, pos = _read_int(buf, pos)
    n_trees, peek = _read_int(buf, pos)
    n_splits, peek = _read_int(buf, peek)
    for _ in range(4 * n_splits):
        _, peek = _read_int(buf, peek)
    n_leaves, peek = _read_int(buf, peek)
    complete = n_leaves == n_splits + 1 and n_leaves & (n_leaves - 1) == 0
    if peek < 0 or n_cascades < 1 or n_trees < 1 or n_splits < 1 or not complete:
        raise ParseError("forests of complete trees", pos)
    if n_cascades * n_trees * n_leaves * n_coords * 4 > buf.size:  # a float takes >= 4 bytes
        raise ParseError("forests of complete trees", pos)
    return initial, n_cascades, n_trees, n_splits, n_leaves, pos


@jit
def parse_cascade(
    buf: np.ndarray, pos: int, splits: np.ndarray, thresholds: np.ndarray, leaves: np.ndarray
) -> int:
    """One cascade's forest at ``pos``: T trees, each S splits ``(idx1, idx2, thresh)`` into
    ``splits`` (T, S, 2) and ``thresholds`` (T, S), then L leaf vectors into ``leaves``
    (T, L, 2P). Returns the offset after it."""
    n_trees, n_splits, n_leaves = leaves.shape[0], splits.shape[1], leaves.shape[1]
    pos = _expect(buf, pos, n_trees, "the same number of trees in every cascade")
    for t in range(n_trees):
        pos = _expect(buf, pos, n_splits, "the same tree depth everywhere")
        for s in range(n_splits):
            start = pos
            idx1, pos = _read_int(buf, pos)
            idx2, pos = _read_int(buf, pos)
            thresholds[t, s], pos = _read_float(buf, pos)
            if pos < 0 or idx1 < 0 or idx2 < 0 or idx1 > 2**31 or idx2 > 2**31:
                raise ParseError("split (idx1, idx2, thresh)", start)
            splits[t, s, 0] = idx1
            splits[t, s, 1] = idx2
        pos = _expect(buf, pos, n_leaves, "the same tree depth everywhere")
        for leaf in range(n_leaves):
            pos = _read_column(buf, pos, leaves[t, leaf], "leaf_values")
    return pos


@jit
def parse_tail(
    buf: np.ndarray, pos: int, n_cascades: int, n_parts: int, max_split_feature: int
) -> tuple[np.ndarray, np.ndarray]:
    """The end of the model at ``pos``: anchor_idx (C, F) and deltas (C, F, 2 floats), which
    must end the file. Returns (anchor_idx (C, F) i4, deltas (C, F, 2) f4)."""
    pos = _expect(buf, pos, n_cascades, "anchor_idx for every cascade")
    n_features, _ = _read_int(buf, pos)
    if n_features < 1 or n_features * n_cascades * 10 > buf.size - pos:
        raise ParseError("anchor_idx", pos)
    if max_split_feature >= n_features:
        raise ParseError("a feature pool larger than every split's pixel index", pos)
    anchors = np.empty((n_cascades, n_features), np.int32)
    for c in range(n_cascades):
        pos = _expect(buf, pos, n_features, "the same feature pool size in every cascade")
        for f in range(n_features):
            start = pos
            anchor, pos = _read_int(buf, pos)
            if pos < 0 or anchor < 0 or anchor >= n_parts:
                raise ParseError("anchor_idx below the number of parts", start)
            anchors[c, f] = anchor
    pos = _expect(buf, pos, n_cascades, "deltas for every cascade")
    deltas = np.empty((n_cascades, n_features, 2), np.float32)
    for c in range(n_cascades):
        pos = _expect(buf, pos, n_features, "the same feature pool size in every cascade")
        start = pos
        for f in range(n_features):
            deltas[c, f, 0], pos = _read_float(buf, pos)
            deltas[c, f, 1], pos = _read_float(buf, pos)
        if pos < 0:
            raise ParseError("deltas", start)
    if pos != buf.size:
        raise ParseError("the end of the model", pos)
    return anchors, deltas


# --- the fit (dlib::shape_predictor::operator()) ------------------------------------------------


@jit
def _similarity(shape: np.ndarray, initial: np.ndarray) -> tuple[np.float32, np.float32]:
    """dlib's ``find_tform_between_shapes(initial, shape)`` rounded to float32: the 2x2 part
    ``[[a, b], [-b, a]]`` of the least-squares similarity taking ``initial`` to ``shape``
    (Umeyama 1991; for 2-D points the SVD reduces to these sums). Returns (a, b)."""
    n = shape.size // 2
    from_x = 0.0
    from_y = 0.0
    to_x = 0.0
    to_y = 0.0
    for i in range(n):
        from_x += initial[2 * i]
        from_y += initial[2 * i + 1]
        to_x += shape[2 * i]
        to_y += shape[2 * i + 1]
    from_x /= n
    from_y /= n
    to_x /= n
    to_y /= n
    sigma_from = 0.0
    cov_xx = 0.0
    cov_xy = 0.0
    cov_yx = 0.0
    cov_yy = 0.0
    for i in range(n):
        fx = initial[2 * i] - from_x
        fy = initial[2 * i + 1] - from_y
        tx = shape[2 * i] - to_x
        ty = shape[2 * i + 1] - to_y
        sigma_from += fx * fx + fy * fy
        cov_xx += tx * fx
        cov_xy += tx * fy
        cov_yx += ty * fx
        cov_yy += ty * fy
    sigma_from /= n
    if sigma_from == 0.0:
        return np.float32(1.0), np.float32(0.0)
    a = (cov_xx / n + cov_yy / n) / sigma_from
    b = (cov_xy / n - cov_yx / n) / sigma_from
    return np.float32(a), np.float32(b)


@jit
def grey_levels(rgb: np.ndarray) -> np.ndarray:
    """dlib's grey level ``(r + g + b) // 3`` of flat RGB uint8 pixels (its ``assign_pixel``
    from rgb_pixel, ``dlib/pixel.h``), flat uint8."""
    grey = np.empty(rgb.size // 3, np.uint8)
    for i in range(grey.size):
        total = np.uint16(rgb[3 * i]) + np.uint16(rgb[3 * i + 1]) + np.uint16(rgb[3 * i + 2])
        grey[i] = total // np.uint16(3)
    return grey


@jit
def _feature_pixels(
    grey: np.ndarray,
    offset: int,
    height: int,
    width: int,
    box: np.ndarray,
    shape: np.ndarray,
    initial: np.ndarray,
    anchors: np.ndarray,
    deltas: np.ndarray,
    out: np.ndarray,
) -> None:
    """dlib's ``extract_feature_pixel_values``: the grey level under each feature point of one
    face, 0 outside the image. ``box`` is (left, top, right, bottom)."""
    a, b = _similarity(shape, initial)
    left = box[0]
    top = box[1]
    box_width = box[2] - box[0]
    box_height = box[3] - box[1]
    for f in range(anchors.size):
        dx = deltas[f, 0]
        dy = deltas[f, 1]
        k = anchors[f]
        x = (a * dx + b * dy) + shape[2 * k]
        y = (-b * dx + a * dy) + shape[2 * k + 1]
        px = math.floor(box_width * np.float64(x) + left + 0.5)
        py = math.floor(box_height * np.float64(y) + top + 0.5)
        if px < 0 or py < 0 or px > width - 1 or py > height - 1:
            out[f] = 0.0
        else:
            out[f] = grey[offset + py * width + px]


ROW_TESTS_FROM = 4
"""From this many faces a tree's 15 split tests run for all faces, one vectorised row per node,
before each face follows its path through the results; fewer faces walk their 4 tests only.
Either way a face at node i goes to 2i + 1 where ``pixel[idx1] - pixel[idx2] > thresh``
(float32), else to 2i + 2, and the leaves are the same."""


@jit
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
    """The fitted shapes of N faces, (N, 2P) float32 in box units (0..1 across the box).

    ``grey`` holds every image's grey levels, C-ordered, image n from ``offsets[n]``,
    ``heights[n]`` x ``widths[n]`` uint8; ``boxes`` (N, 4) float64. Each cascade
    reads every face's feature pixels, then applies each tree to all N faces before the next
    tree, so a tree's leaves are read from memory once per batch."""
    n_faces = boxes.shape[0]
    n_cascades, n_trees, n_splits = thresholds.shape
    n_coords = initial.size
    depth = 0
    while (1 << depth) <= n_splits:
        depth += 1
    shapes = np.empty((n_faces, n_coords), np.float32)
    for n in range(n_faces):
        shapes[n] = initial
    values = np.empty((n_faces, anchors.shape[1]), np.float32)
    by_feature = np.empty((anchors.shape[1], n_faces), np.float32)
    left = np.empty((n_splits, n_faces), np.uint8)
    chosen = np.empty(n_faces, np.int64)
    chosen_by_tree = np.empty((n_trees, min(n_faces, ROW_TESTS_FROM)), np.int64)
    for c in range(n_cascades):
        for n in range(n_faces):
            _feature_pixels(
                grey, offsets[n], heights[n], widths[n], boxes[n], shapes[n],
                initial, anchors[c], deltas[c], values[n],
            )  # fmt: skip
        if n_faces >= ROW_TESTS_FROM:
            by_feature[:, :] = values.T
        for t in range(n_trees):
            split = splits[c, t]
            threshold = thresholds[c, t]
            if n_faces >= ROW_TESTS_FROM:
                for s in range(n_splits):
                    first = by_feature[split[s, 0]]
                    second = by_feature[split[s, 1]]
                    goes_left = left[s]
                    for n in range(n_faces):
                        goes_left[n] = first[n] - second[n] > threshold[s]
                for n in range(n_faces):
                    node = 0
                    for _ in range(depth):
                        node = 2 * node + 2 - np.int64(left[node, n])
                    chosen[n] = node - n_splits
            else:
                for n in range(n_faces):
                    value = values[n]
                    node = 0
                    for _ in range(depth):
                        test = value[split[node, 0]] - value[split[node, 1]] > threshold[node]
                        node = 2 * node + 2 - np.int64(test)
                    chosen[n] = node - n_splits
                chosen_by_tree[t, :n_faces] = chosen[:n_faces]
                continue  # few faces: their leaves are added below, after every walk
            leaf_values = leaves[c, t]
            for n in range(n_faces):
                leaf = leaf_values[chosen[n]]
                shape = shapes[n]
                for k in range(n_coords):
                    shape[k] += leaf[k]
        if n_faces < ROW_TESTS_FROM:
            _add_leaves(shapes, leaves[c], chosen_by_tree)
    return shapes


@jit
def _add_leaves(shapes: np.ndarray, leaves: np.ndarray, chosen_by_tree: np.ndarray) -> None:
    """Add each tree's chosen leaf to each face's shape, tree after tree (the order dlib sums
    them in). A cascade's walks depend only on the feature pixels read at its start, so they
    can all come first; the leaves' reads, independent of each other, then overlap in the
    memory system instead of waiting one by one behind the walks."""
    for n in range(shapes.shape[0]):
        shape = shapes[n]
        for t in range(leaves.shape[0]):
            leaf = leaves[t, chosen_by_tree[t, n]]
            for k in range(shape.size):
                shape[k] += leaf[k]
