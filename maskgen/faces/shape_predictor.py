"""dlib's 68-point landmark model, read from dlib's own file and fitted to many faces at once.

The model is an ensemble of regression trees (Kazemi & Sullivan 2014, "One Millisecond Face
Alignment with an Ensemble of Regression Trees"; dlib's ``shape_predictor``): a cascade of 15
forests of 500 trees of depth 4, whose leaves hold 65 MB of shape updates. dlib walks it face by
face, so each face reads about 4 MB scattered over those 65 MB, and its speed follows the host's
cache. :meth:`ShapePredictor.fit` applies each tree to a whole batch of faces before the next,
so each tree's leaves come from memory once per batch, not once per face.

Each face is fitted with dlib's own arithmetic, in the same types and order (see
:mod:`maskgen.faces._shape_predictor_kernels`), so rounded as dlib rounds
(:func:`dlib_points`) the landmarks are dlib's, whatever the batch; ``benchmarks/landmark_fit.py``
compares them on LFW. The fit runs as a numba kernel, or for a process's first few faces as the
same computation in numpy (:mod:`maskgen.faces._shape_predictor_numpy`, equal to the bit),
which spares a small run loading numba (:mod:`maskgen.compiled`).
"""

from __future__ import annotations

import functools
import mmap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from maskgen import compiled
from maskgen.errors import ModelFormatError
from maskgen.faces import model_cache

Box = tuple[float, float, float, float]

FIT_BLOCK = 128
"""Faces per pass over the trees. A block's shapes and feature pixels (about 5 KB a face) stay
in the core's L2 cache while every tree is applied to them; on this project's machine the time
per face falls to 0.17 ms at 128 and no further at 256 (0.20 ms at 64)."""


@dataclass(frozen=True, eq=False)
class ShapePredictor:
    """A dlib ``shape_predictor`` as arrays: C cascades of T trees with S splits and L = S + 1
    leaves, P parts, F feature pixels per cascade (68-point model: C=15, T=500, S=15, P=68,
    F=500). Shapes are in box units: (0, 0) is the box's top-left corner, (1, 1) its
    bottom-right.

    - ``initial_shape`` (2P,) float32: x0, y0, x1, y1, ... where every fit starts.
    - ``splits`` (C, T, S, 2) int32: the two feature pixels each split node compares.
    - ``thresholds`` (C, T, S) float32: go left where ``pixel[idx1] - pixel[idx2] > thresh``.
    - ``leaf_values`` (C, T, L, 2P) float32: the shape update at each leaf.
    - ``anchor_idx`` (C, F) int32 and ``deltas`` (C, F, 2) float32: each feature pixel is the
      anchor part plus the delta, turned and scaled with the current shape.
    """

    initial_shape: np.ndarray
    splits: np.ndarray
    thresholds: np.ndarray
    leaf_values: np.ndarray
    anchor_idx: np.ndarray
    deltas: np.ndarray
    face_count: compiled.FaceCount = field(default_factory=compiled.FaceCount, repr=False)
    """Faces this model has fitted: its first few run in numpy (:mod:`maskgen.compiled`)."""

    @property
    def num_parts(self) -> int:
        return self.initial_shape.size // 2

    def warm_up(self) -> None:
        """Load the compiled fit kernel now (numba: a few tenths of a second, once per
        process) where this process uses it (:func:`maskgen.compiled.use_compiled`), so that
        workers forked later inherit it instead of each loading it."""
        if compiled.use_compiled():
            self.fit([np.zeros((1, 1, 3), np.uint8)], [(0, 0, 0, 0)])

    def fit(self, images: Sequence[np.ndarray], boxes: np.ndarray | Sequence[Box]) -> np.ndarray:
        """Landmarks of N faces, (N, P, 2) float64 image pixels (x, y), not rounded.

        ``images``: N images, each (H, W, 3) uint8 RGB or (H, W) uint8 grey (all of one kind),
        or one stacked (N, H, W[, 3]) array; the same image may appear several times.
        ``boxes``: (N, 4) face boxes (left, top, right, bottom) in pixels, right and bottom
        inclusive, as ``dlib.rectangle``; dlib's boxes are integers, so pass integers to get
        its landmarks. Each face's landmarks depend on its image and box only, never on the
        rest of the batch. ValueError for mismatched or malformed inputs.
        """
        box_array = _box_array(boxes)
        packed = _pack_images(images)
        if len(box_array) != len(packed.offsets):
            raise ValueError(f"{len(packed.offsets)} images but {len(box_array)} boxes")
        kernels = _kernels(self.face_count.use_compiled(len(box_array)))
        grey = kernels.grey_levels(packed.pixels) if packed.channels == 3 else packed.pixels
        shapes = np.empty((len(box_array), self.initial_shape.size), np.float32)
        for start in range(0, len(box_array), FIT_BLOCK):
            block = slice(start, start + FIT_BLOCK)
            shapes[block] = kernels.fit_shapes(
                grey, packed.offsets[block], packed.heights[block], packed.widths[block],
                box_array[block], self.initial_shape, self.splits, self.thresholds,
                self.leaf_values, self.anchor_idx, self.deltas,
            )  # fmt: skip
        return _to_pixels(shapes, box_array)


def dlib_points(points: np.ndarray) -> np.ndarray:
    """Points rounded as dlib rounds its parts (``floor(v + 0.5)``, ``dlib/geometry/vector.h``),
    as float32: with :meth:`ShapePredictor.fit`, the landmarks dlib's predictor returns."""
    return np.floor(points + 0.5).astype(np.float32)


def grey_levels(rgb: np.ndarray) -> np.ndarray:
    """dlib's grey level of an (H, W, 3) uint8 RGB image, ``(r + g + b) // 3`` (its
    ``assign_pixel`` from rgb_pixel, ``dlib/pixel.h``), (H, W) uint8: the intensity the trees
    compare. :meth:`ShapePredictor.fit` takes these as well as RGB images."""
    kernels = _kernels(compiled.use_compiled())
    return kernels.grey_levels(np.ascontiguousarray(rgb).reshape(-1)).reshape(rgb.shape[:2])


def _kernels(numba: bool) -> ModuleType:
    """The fit's numba kernels, or their numpy twin (the same results either way)."""
    if numba:
        from maskgen.faces import _shape_predictor_kernels as kernels
    else:
        from maskgen.faces import _shape_predictor_numpy as kernels
    return kernels


def read_shape_predictor(path: str | Path) -> ShapePredictor:
    """Read a dlib ``shape_predictor`` file (e.g. ``shape_predictor_68_face_landmarks.dat``).

    The file is memory-mapped and decoded in one pass, cascade by cascade, each cascade's
    pages let go once read (the 68-point model: 100 MB read in about 0.2 s CPU into 67 MB of
    arrays). ModelFormatError naming the byte offset where the file is not such a model
    (truncated, another dlib object, an old text-format float).
    """
    from maskgen.faces import _shape_predictor_kernels as kernels

    path = Path(path)
    try:
        buf, release = _map(path)
        initial, n_cascades, n_trees, n_splits, n_leaves, pos = kernels.parse_header(buf)
        splits = np.empty((n_cascades, n_trees, n_splits, 2), np.int32)
        thresholds = np.empty((n_cascades, n_trees, n_splits), np.float32)
        leaves = np.empty((n_cascades, n_trees, n_leaves, initial.size), np.float32)
        for c in range(n_cascades):
            pos = kernels.parse_cascade(buf, pos, splits[c], thresholds[c], leaves[c])
            release(pos)
        anchors, deltas = kernels.parse_tail(
            buf, pos, n_cascades, initial.size // 2, int(splits.max())
        )
    except kernels.ParseError as error:
        what, offset = error.args
        raise ModelFormatError(
            f"{path}: not a dlib shape_predictor file (expected {what} at byte {offset})"
        ) from None
    return ShapePredictor(initial, splits, thresholds, leaves, anchors, deltas)


@functools.lru_cache(maxsize=2)
def load_shape_predictor(path: str) -> ShapePredictor:
    """The process's ShapePredictor for ``path``, read once (forked workers share it): from
    the user's model cache where an entry for this file (path, size, modification time) is
    there, memory-mapped (about 1 ms); else read with :func:`read_shape_predictor` (about
    0.2 s) and stored there for the next run (:mod:`maskgen.faces.model_cache`)."""
    key = f"shape_predictor-{model_cache.file_key(path)}"
    arrays = model_cache.read_arrays(key, _FIELDS, _consistent)  # else removed, then stored
    if arrays is not None:
        return ShapePredictor(**arrays)
    predictor = read_shape_predictor(path)
    model_cache.write_arrays(key, {name: getattr(predictor, name) for name in _FIELDS})
    return predictor


_FIELDS = ("initial_shape", "splits", "thresholds", "leaf_values", "anchor_idx", "deltas")


def _consistent(arrays: dict[str, np.ndarray]) -> bool:
    """Whether cached arrays make a model the fit kernel can walk safely: the types and shapes
    :class:`ShapePredictor` states, complete trees, and every index in range (the kernel does
    not check indices)."""
    initial, splits, thresholds = arrays["initial_shape"], arrays["splits"], arrays["thresholds"]
    leaves, anchors, deltas = arrays["leaf_values"], arrays["anchor_idx"], arrays["deltas"]
    dtypes = (np.float32, np.int32, np.float32, np.float32, np.int32, np.float32)
    if any(arrays[name].dtype != dtype for name, dtype in zip(_FIELDS, dtypes, strict=True)):
        return False
    if not all(array.flags.c_contiguous for array in arrays.values()):
        return False
    if initial.ndim != 1 or splits.ndim != 4 or anchors.ndim != 2 or initial.size % 2:
        return False
    n_cascades, n_trees, n_splits, _ = splits.shape
    n_features = anchors.shape[1]
    return (
        splits.shape[3] == 2
        and n_splits >= 1
        and thresholds.shape == (n_cascades, n_trees, n_splits)
        and leaves.shape == (n_cascades, n_trees, n_splits + 1, initial.size)
        and (n_splits + 1) & n_splits == 0
        and anchors.shape[0] == n_cascades
        and deltas.shape == (n_cascades, n_features, 2)
        and splits.size > 0
        and n_features >= 1
        and int(splits.min()) >= 0
        and int(splits.max()) < n_features
        and int(anchors.min()) >= 0
        and int(anchors.max()) < initial.size // 2
    )


def _map(path: Path) -> tuple[np.ndarray, Callable[[int], None]]:
    """The file's bytes, read-only and memory-mapped (unmapped when the array goes), and
    ``release(end)``, which lets the pages before ``end`` go from this process's memory (they
    stay in the OS's file cache): a sequential reader then never holds the whole file."""
    if path.stat().st_size == 0:
        empty = np.zeros(0, np.uint8)
        empty.flags.writeable = False
        return empty, lambda end: None
    with path.open("rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)

    def release(end: int) -> None:
        if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            mapped.madvise(mmap.MADV_DONTNEED, 0, end - end % mmap.PAGESIZE)

    return np.frombuffer(mapped, np.uint8), release


def _box_array(boxes: np.ndarray | Sequence[Box]) -> np.ndarray:
    box_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(box_array).all():
        raise ValueError("face boxes must be finite")
    return np.ascontiguousarray(box_array)


@dataclass(frozen=True)
class _PackedImages:
    """Images in one flat C-ordered uint8 array: face n's image starts at pixel ``offsets[n]``
    (counted in pixels, not bytes) and is ``heights[n]`` x ``widths[n]`` x ``channels``."""

    pixels: np.ndarray
    offsets: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    channels: int


def _pack_images(images: Sequence[np.ndarray]) -> _PackedImages:
    """One flat array of the images (no copy for one image or a contiguous stack); an image
    passed for several faces (the same object) is stored once."""
    if isinstance(images, np.ndarray) and images.ndim not in (3, 4):
        raise ValueError(f"stacked images must be (N, H, W[, 3]), got {images.shape}")
    faces = list(images)
    if not all(image.ndim in (2, 3) and image.dtype == np.uint8 for image in faces):
        raise ValueError("images must be (H, W, 3) or (H, W) uint8 arrays")
    kinds = {image.shape[2] if image.ndim == 3 else 1 for image in faces}
    if len(kinds) > 1 or not kinds <= {1, 3}:
        raise ValueError("images must be all (H, W, 3) RGB or all (H, W) grey")
    if isinstance(images, np.ndarray) and images.flags.c_contiguous:
        unique, index, pixels = faces, list(range(len(faces))), images.reshape(-1)
    else:
        unique, index = _distinct(faces)
        parts = [np.ravel(image) for image in unique] or [np.zeros(0, np.uint8)]
        pixels = parts[0] if len(parts) == 1 else np.concatenate(parts)
    heights = np.array([image.shape[0] for image in unique], np.int64).reshape(-1)
    widths = np.array([image.shape[1] for image in unique], np.int64).reshape(-1)
    starts = np.cumsum(heights * widths) - heights * widths
    return _PackedImages(
        pixels=np.ascontiguousarray(pixels),
        offsets=starts[index],
        heights=heights[index],
        widths=widths[index],
        channels=kinds.pop() if kinds else 1,
    )


def _distinct(images: list[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """The distinct image objects in order of first use, and each entry's index among them."""
    position: dict[int, int] = {}
    distinct: list[np.ndarray] = []
    index = []
    for image in images:
        if id(image) not in position:
            position[id(image)] = len(distinct)
            distinct.append(image)
        index.append(position[id(image)])
    return distinct, index


def _to_pixels(shapes: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Box units -> image pixels, as dlib's ``unnormalizing_tform`` (float64)."""
    points = shapes.reshape(len(shapes), shapes.shape[1] // 2, 2).astype(np.float64)
    left, top = boxes[:, 0:1], boxes[:, 1:2]
    points[..., 0] = (boxes[:, 2:3] - left) * points[..., 0] + left
    points[..., 1] = (boxes[:, 3:4] - top) * points[..., 1] + top
    return points
