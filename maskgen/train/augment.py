"""Training-time image augmentation: the degradations of photos taken in the wild.

Web photos of masked people (MFR2, RMFD) are smaller, blurrier, more strongly compressed and
differently lit than a curated training set; a model that never saw such images reads mask usage
from them less reliably (docs/experiments.md's paper-in-miniature tables measure it, with and
without this augmentation). :class:`RealismAugment` draws, for one
aligned ``(112, 112, 3)`` uint8 RGB face, in this order:

- jitter of the alignment (p 0.5): where ``rotate_limit`` is set (``maskgen train
  --rotate-limit``; off by default), first a rotation of up to that many degrees either way,
  as another aligner's roll error gives; then scale 0.9-1.1 and a shift of up to 5 px each way;
- loss of resolution (p 0.5): two times in three a down-and-up resize to 35-100 % of the side
  (INTER_AREA down, bilinear up), else a Gaussian blur of sigma 0.5-1.5 px;
- colour jitter (p 0.5): saturation, contrast and brightness each times 0.75-1.25;
- JPEG recompression (p 0.8) at a quality drawn from 30-95 (OpenCV / libjpeg's IJG scale).

It is applied alike to original and masked samples (after masking, before the flip), so a
masked twin's extra encoding is drowned in recompression the originals get as well: the mask
label cannot be read from compression history.

Every draw comes from :func:`augment_rng` ``(seed, epoch, key)``: a sample is augmented the same
way whatever the worker count, the rank count or where a run was resumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from maskgen.train.config import AUGMENTS

_SALT = 0x61756774  # "augt": keeps these draws apart from other uses of (seed, epoch, key)


def augment_rng(seed: int, epoch: int, key: int) -> np.random.Generator:
    """The generator of record ``key``'s augmentation in ``epoch`` of a run seeded ``seed``:
    a pure function of the three (numpy's SeedSequence of ``[seed, epoch, key, salt]``)."""
    return np.random.default_rng([seed, epoch, key, _SALT])


@dataclass(frozen=True)
class RealismAugment:
    """Photometric and geometric degradation of one aligned face (see the module docstring).

    ``augment(image, rng) -> image``: ``image`` (H, W, 3) uint8 RGB, H == W; returns a new
    contiguous uint8 array of the same shape. Probabilities and ranges are fields so a
    benchmark can vary them; the defaults are the measured recipe. ``rotate_limit``: degrees,
    finite and at least 0 (ValueError otherwise).
    """

    geometry_p: float = 0.5
    scale: tuple[float, float] = (0.9, 1.1)
    shift_px: float = 5.0
    rotate_limit: float = 0.0
    resolution_p: float = 0.5
    resize_share: float = 2 / 3
    min_resize: float = 0.35
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    colour_p: float = 0.5
    colour: float = 0.25
    jpeg_p: float = 0.8
    jpeg_quality: tuple[int, int] = (30, 95)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rotate_limit) and self.rotate_limit >= 0):
            raise ValueError(f"rotate_limit must be a finite angle >= 0, got {self.rotate_limit}")

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = image
        if rng.random() < self.geometry_p:
            out = self._geometry(out, rng)
        if rng.random() < self.resolution_p:
            out = self._resolution(out, rng)
        if rng.random() < self.colour_p:
            out = self._colour(out, rng)
        if rng.random() < self.jpeg_p:
            out = recompress(out, int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)))
        return np.ascontiguousarray(out)

    def _geometry(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        size = image.shape[0]
        # drawn only where set: without it every other draw is the one runs made before it
        angle = rng.uniform(-self.rotate_limit, self.rotate_limit) if self.rotate_limit else 0.0
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, rng.uniform(*self.scale))
        matrix[:, 2] += rng.uniform(-self.shift_px, self.shift_px, size=2)
        return cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REFLECT_101)

    def _resolution(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        size = image.shape[0]
        if rng.random() < self.resize_share:
            small = max(8, round(size * rng.uniform(self.min_resize, 1.0)))
            down = cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA)
            return cv2.resize(down, (size, size), interpolation=cv2.INTER_LINEAR)
        sigma = rng.uniform(*self.blur_sigma)
        return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma)

    def _colour(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        low, high = 1.0 - self.colour, 1.0 + self.colour
        x = image.astype(np.float32)
        grey = x.mean(axis=2, keepdims=True)
        x = grey + (x - grey) * rng.uniform(low, high)  # saturation
        mean = x.mean()
        x = (x - mean) * rng.uniform(low, high) + mean  # contrast
        x = x * rng.uniform(low, high)  # brightness
        return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def recompress(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (H, W, 3) uint8 RGB after a JPEG encode/decode at ``quality`` (1-100, the IJG
    scale libjpeg uses); unchanged where OpenCV cannot encode it."""
    ok, buffer = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return image
    return np.ascontiguousarray(cv2.imdecode(buffer, cv2.IMREAD_COLOR)[:, :, ::-1])


def build_augment(name: str, rotate_limit: float = 0.0) -> RealismAugment | None:
    """The augmentation called ``name`` (one of :data:`AUGMENTS`; None for ``none``), with
    rotations of up to ``rotate_limit`` degrees either way (``realism`` only; 0: none)."""
    if name == "none":
        return None
    if name == "realism":
        return RealismAugment(rotate_limit=rotate_limit)
    raise ValueError(f"augment: {name!r} is not one of {', '.join(AUGMENTS)}")
