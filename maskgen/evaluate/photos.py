"""From photos to aligned 112x112 faces: read, detect (dlib), align to the ArcFace template.

A photo that cannot be read or holds no face is not an error: it is reported as a skipped item
with a short reason (``unreadable``, ``no_face``, ``too_small``; ``not_aligned`` where the
photos were said to be aligned crops), the way the masking pipeline reports items.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from maskgen.decoder_messages import warn_decoder_said
from maskgen.errors import ConfigError, DatasetFormatError, no_such_file
from maskgen.faces import (
    MIN_IMAGE_SIDE,
    FaceFinder,
    align_face,
    five_points,
    is_too_small,
    load_face_finder,
)
from maskgen.images import decode_rgb_and_said, is_cut_short_jpeg, read_stored
from maskgen.nn.mask_usage import MASK_THRESHOLD

if TYPE_CHECKING:
    from maskgen.evaluate.embedder import Embedder

__all__ = [
    "AlignedPhotos",
    "PhotoComparison",
    "align_photo",
    "align_photos",
    "compare_photos",
    "describe_skip",
    "read_photo",
    "verification_threshold",
]

logger = logging.getLogger(__name__)

FACE_SIZE = 112

SKIP_REASONS = {
    "no_face": "no face found",
    "too_small": f"too small to hold a face (a side under {MIN_IMAGE_SIDE} px)",
    "unreadable": "not a readable image",
    "cut_short": "a JPEG cut short (its end is missing)",
    "unsupported_format": "pixels maskgen cannot read (8- and 16-bit images only)",
    "not_aligned": f"not an aligned {FACE_SIZE}x{FACE_SIZE} crop",
}
"""What each skip reason means, for messages."""


@dataclass(frozen=True)
class AlignedPhotos:
    """``faces``: (N, 112, 112, 3) uint8 RGB, the main face of each photo in ``paths``;
    ``skipped``: photo path -> reason, for photos that gave no face."""

    paths: tuple[str, ...]
    faces: np.ndarray
    skipped: dict[str, str] = field(default_factory=dict)


def describe_skip(
    reason: str, path: str | Path | None = None, *, aligned_words: str = "aligned=True"
) -> str:
    """A skip reason in words: ``no_face`` -> ``no face found``. Given the photo's ``path``,
    no face found on an image of an aligned crop's size says how to take it as one
    (``aligned_words``: the CLI's ``--aligned``): the detector misses many aligned crops, of
    masked faces above all, and "no face found" alone left the user there."""
    words = SKIP_REASONS.get(reason, reason.replace("_", " "))
    if reason == "no_face" and path is not None and _has_crop_size(path):
        words += f" (an aligned {FACE_SIZE}x{FACE_SIZE} crop? {aligned_words} takes it as one)"
    return words


def _has_crop_size(path: str | Path) -> bool:
    """Whether the image at ``path`` is FACE_SIZE pixels square (read from its header)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size == (FACE_SIZE, FACE_SIZE)
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def read_photo(path: str | Path) -> np.ndarray | None:
    """An image file as (H, W, 3) uint8 RGB, or None where it cannot be read or decoded; a
    photo the decoder calls damaged but that decodes is named in a warning with the
    decoder's words, as ``maskgen align`` and ``mask`` name it."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    rgb, said = decode_rgb_and_said(data, Path(path).name)
    if said:
        warn_decoder_said(logger, str(path), said)
    return rgb


def align_photo(rgb: np.ndarray, finder: FaceFinder) -> np.ndarray | None:
    """The main face (``find_faces``' first) of an (H, W, 3) uint8 RGB photo, aligned to
    (112, 112, 3) uint8, or None where no face is found. An already aligned small crop is
    recognised as such where the detector sees a face on its aligned face box (``auto``, see
    :mod:`maskgen.faces.crops`)."""
    faces = finder.find_faces(rgb, mode="auto")
    if not faces:
        return None
    return align_face(rgb, five_points(faces[0].landmarks), size=FACE_SIZE)


def require_file(path: str | Path) -> None:
    """DatasetFormatError unless ``path`` is a regular file, saying what is there instead (a
    folder was called missing): :func:`maskgen.errors.no_such_file`."""
    if not Path(path).is_file():
        raise no_such_file(Path(path))


def align_photos(
    paths: Sequence[str | Path],
    *,
    models_dir: str | Path | None = None,
    aligned: bool = False,
    progress: Callable[[int], None] | None = None,
) -> AlignedPhotos:
    """Read, detect and align every photo in ``paths`` (in order); see :class:`AlignedPhotos`.
    ``models_dir``: where dlib's landmark model is (None: the default lookup). ``aligned``:
    the photos are ArcFace-aligned 112x112 crops, taken as they are without detection (the
    detector misses many crops of faces that wear a mask); any other size is skipped,
    ``not_aligned``. Every path is checked first: a missing one raises DatasetFormatError
    before any work. ``progress`` is called with 1 after each photo (a bar's ``update``)."""
    for path in paths:
        require_file(path)
    finder = None if aligned else load_face_finder(None if models_dir is None else str(models_dir))
    kept: list[str] = []
    faces: list[np.ndarray] = []
    skipped: dict[str, str] = {}
    for path in paths:
        rgb = read_photo(path)
        if rgb is None:
            face = None
        else:
            face = _as_aligned(rgb) if finder is None else align_photo(rgb, finder)
        if face is None:
            skipped[str(path)] = _skip_reason(rgb, aligned=aligned, path=path)
            logger.info("skipped %s: %s", path, skipped[str(path)])
        else:
            kept.append(str(path))
            faces.append(face)
        if progress is not None:
            progress(1)
    stacked = np.stack(faces) if faces else np.zeros((0, FACE_SIZE, FACE_SIZE, 3), dtype=np.uint8)
    return AlignedPhotos(paths=tuple(kept), faces=stacked, skipped=skipped)


def _as_aligned(rgb: np.ndarray) -> np.ndarray | None:
    """``rgb`` itself where it is an aligned crop's size, else None."""
    return rgb if rgb.shape[:2] == (FACE_SIZE, FACE_SIZE) else None


def _skip_reason(
    rgb: np.ndarray | None, *, aligned: bool = False, path: str | Path | None = None
) -> str:
    """Why a photo gave no face: unreadable, a JPEG cut short (left out, as ``maskgen align``
    leaves it out), pixels of a depth maskgen does not read (a float TIFF:
    ``unsupported_format``, as ``maskgen mask`` names it), too small, no face found or
    (``aligned``) not an aligned crop's size."""
    if rgb is None:
        return _undecoded_reason(path) if path is not None else "unreadable"
    if aligned:
        return "not_aligned"
    return "too_small" if is_too_small(*rgb.shape[:2]) else "no_face"


@dataclass(frozen=True)
class PhotoComparison:
    """Two photos' faces compared. ``similarity``: cosine of the two (flip-summed) embeddings;
    ``threshold``: the squared-L2 verification threshold t used (None if the model has none),
    so the faces are the same person when ``similarity > 1 - t / 2``."""

    paths: tuple[str, str]
    similarity: float
    threshold: float | None
    mask_prob: tuple[float, float] | None

    @property
    def cosine_threshold(self) -> float | None:
        return None if self.threshold is None else 1.0 - self.threshold / 2.0

    @property
    def same(self) -> bool | None:
        cosine = self.cosine_threshold
        return None if cosine is None else self.similarity > cosine

    def format(self) -> str:
        """Human-readable lines: similarity, threshold and verdict, mask probabilities."""
        lines = [f"cosine similarity: {self.similarity:.4f}"]
        if self.threshold is None:
            lines.append("verdict: unknown (no threshold stored with the model; pass --threshold)")
        else:
            lines.append(
                f"threshold: {self.cosine_threshold:.4f} cosine (squared L2 {self.threshold:.4f})"
            )
            lines.append(f"verdict: {'same person' if self.same else 'different people'}")
        if self.mask_prob is not None:
            for path, prob in zip(self.paths, self.mask_prob, strict=True):
                masked = "masked" if prob > MASK_THRESHOLD else "unmasked"
                lines.append(f"mask probability: {prob:.4f} ({masked}) {path}")
        return "\n".join(lines)


def verification_threshold(embedder: Embedder, threshold: float | None = None) -> float:
    """The squared-L2 threshold to decide same/different with: ``threshold`` where given, else
    the one stored with the model (training's validation found it). ConfigError naming the
    fix for a model that has none (trained without validation, or another ONNX model)."""
    if threshold is not None:
        return float(threshold)
    if embedder.info.threshold is None:
        raise ConfigError(
            f"{embedder.info.path}: no verification threshold stored with this model; pass "
            "threshold=T (squared L2, 0-4: the 'threshold' that `maskgen eval --bin X.bin "
            "--json R.json` reports for a set)",
            parameters={"threshold=T": "threshold"},
        )
    return float(embedder.info.threshold)


def compare_photos(
    embedder: Embedder,
    path_a: str | Path,
    path_b: str | Path,
    *,
    threshold: float | None = None,
    models_dir: str | Path | None = None,
    aligned: bool = False,
) -> PhotoComparison:
    """Compare the main faces of two photos with ``embedder``; ``threshold`` (squared L2)
    overrides the one stored with the model; ``aligned`` as in :func:`align_photos`. A photo
    without a face raises DatasetFormatError."""
    result = embedder.embed_faces([path_a, path_b], models_dir=models_dir, aligned=aligned)
    for path, reason in result.skipped.items():
        raise DatasetFormatError(
            f"{path}: {describe_skip(reason, path)}, nothing to compare",
            parameters={"aligned=True": "aligned"},
        )
    similarity = float(np.dot(result.embeddings[0], result.embeddings[1]))
    probs = result.mask_prob
    return PhotoComparison(
        paths=(str(path_a), str(path_b)),
        similarity=similarity,
        threshold=embedder.info.threshold if threshold is None else float(threshold),
        mask_prob=None if probs is None else (float(probs[0]), float(probs[1])),
    )


def _undecoded_reason(path: str | Path) -> str:
    """Why the file at ``path`` gave no RGB image: ``cut_short``, ``unsupported_format``
    (pixels maskgen cannot use: float32, ...) or ``unreadable``."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return "unreadable"
    if is_cut_short_jpeg(data, Path(path).name):
        return "cut_short"
    stored = read_stored(data, Path(path).name)
    return "unsupported_format" if stored is not None and not stored.maskable else "unreadable"
