"""Masking whole images: find the faces, draw a mask for each, render it.

:class:`Masker` loads the face finder, templates and textures once and is then reused for every
image (one per worker process). Expected outcomes are values: an image without a face comes back
unchanged with ``reason="no_face"``, one too small to hold a face (a side under
``maskgen.faces.MIN_IMAGE_SIDE`` px) with ``reason="too_small"``. A face that cannot take a
believable mask (something in front of its lower face, turned too far, largely cut off by
the border, or perhaps no face: :mod:`maskgen.faces.visibility`) is left as it is and listed in
``skipped`` with its reason (``occluded``, ``too_turned``, ``out_of_frame``,
``doubtful_face``); an image none of whose faces was masked for that reason gets the main
face's reason.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, get_args

import numpy as np

from maskgen.errors import ConfigError
from maskgen.faces import Face, FaceMode, is_too_small, load_face_finder
from maskgen.faces.shape_predictor import FIT_BLOCK
from maskgen.faces.visibility import face_problems
from maskgen.masks.policy import MaskSpec, checked_spec, sample_mask_params
from maskgen.masks.render import apply_mask, prepare_render
from maskgen.masks.templates import load_templates
from maskgen.masks.textures import Texture, load_textures
from maskgen.types import MaskParams

PHOTO_BATCH = 32
"""Photos per :meth:`ImageMasker.mask_images` call in a dataset run: their faces' landmarks and
occlusion restarts are fitted together, about 1 ms of CPU less per photo than one by one on this
project's 2-core AMD EPYC VM (``benchmarks/augment_speed.py``)."""


@dataclass(frozen=True)
class AppliedMask:
    """One face and the mask drawn for it (``params`` re-renders it exactly)."""

    params: MaskParams
    face: Face

    def to_json(self) -> dict[str, Any]:
        """The face's record (a manifest row's ``face_masks`` entry, MaskAugment's ``faces``):
        its box [x0, y0, x1, y1] in pixels (0.1 px), whether the detector found it (False: the
        known box of an aligned crop), and every MaskParams field, so it re-renders exactly."""
        box = [round(float(value), 1) for value in self.face.box]
        return {"box": box, "detected": bool(self.face.detected), **self.params.to_json()}


@dataclass(frozen=True)
class SkippedFace:
    """A face found but left unmasked, and why (``occluded``, ``too_turned``,
    ``out_of_frame``, ``doubtful_face``)."""

    face: Face
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The face's record (a manifest row's ``faces_not_masked`` entry): ``box`` [x0, y0,
        x1, y1] in pixels (0.1 px), ``detected`` and ``reason``."""
        box = [round(float(value), 1) for value in self.face.box]
        return {"box": box, "detected": bool(self.face.detected), "reason": self.reason}


@dataclass(frozen=True)
class MaskOutcome:
    """The result for one image: ``image`` (H, W, 3) uint8 RGB, the masks applied in face
    order (main face first), the faces left unmasked (``skipped``, same order) and
    ``reason`` ("no_face", "too_small", or the first skipped face's "occluded",
    "too_turned", "out_of_frame" or "doubtful_face") when nothing was masked."""

    image: np.ndarray
    applied: tuple[AppliedMask, ...]
    reason: str | None = None
    skipped: tuple[SkippedFace, ...] = ()

    @property
    def masked(self) -> bool:
        return bool(self.applied)


class Masker:
    """Puts random masks on faces. Loads the face finder, templates and textures once.

    ``spec`` says which mask types, colours and textures may be drawn; ``face_mode`` how faces
    are found ("auto", "detect" or "aligned", see :mod:`maskgen.faces`).
    """

    def __init__(
        self,
        spec: MaskSpec = MaskSpec(),  # noqa: B008 (frozen, so a shared default is safe)
        *,
        face_mode: FaceMode = "auto",
        models_dir: str | None = None,
    ) -> None:
        self.spec = checked_spec(spec)
        self.face_mode: FaceMode = checked_face_mode(face_mode)
        self.templates = load_templates(spec.templates_dir)
        self.mask_types = spec.validate(self.templates)
        self.textures: dict[str, Texture] = (
            load_textures(spec.texture_dirs) if spec.texture_prob > 0 else {}
        )
        self.finder = load_face_finder(models_dir)
        self.finder.prepare(face_mode)  # before any fork: workers share what it loads
        prepare_render()

    def mask_image(self, rgb: np.ndarray, rng: np.random.Generator) -> MaskOutcome:
        """Find every face in an (H, W, 3) uint8 RGB image and mask each with its own draw.
        Any view (a crop, ``bgr[..., ::-1]``) gives what its contiguous copy gives; ``rgb``
        is never modified. ValueError, naming what it got, for anything but an (H, W, 3)
        uint8 numpy array."""
        return self.mask_images([rgb], [rng])[0]

    @property
    def batch_size(self) -> int:
        """How many images :meth:`mask_images` should get at once: the landmarks of all the
        faces a batch finds are fitted in one pass (FIT_BLOCK faces share each read of the
        model). Aligned crops: one block; photos: :data:`PHOTO_BATCH` (the pipeline also
        bounds a batch of photos by their bytes: a few large photos hold many pixels)."""
        return FIT_BLOCK if self.face_mode == "aligned" else PHOTO_BATCH

    def mask_images(
        self, images: Sequence[np.ndarray], rngs: Sequence[np.random.Generator]
    ) -> list[MaskOutcome]:
        """:meth:`mask_image` for each (image, rng) pair, the same outcomes, with the faces of
        all the images found in one call (aligned crops: one batched landmark fit). ValueError
        where the two differ in length."""
        images = [checked_rgb(image) for image in images]
        if len(images) != len(rngs):
            raise ValueError(
                f"mask_images: {len(images)} images but {len(rngs)} generators (one per image)"
            )
        for rng in rngs:
            if not isinstance(rng, np.random.Generator):
                raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), "
                                f"got {type(rng).__name__}")  # fmt: skip
        faces = self.finder.find_faces_batch(images, self.face_mode)
        problems = self.face_problems(images, faces)
        return [
            _too_small(rgb)
            if is_too_small(*rgb.shape[:2])
            else self.mask_faces(rgb, found, rng, problems=found_problems)
            for rgb, found, rng, found_problems in zip(images, faces, rngs, problems, strict=True)
        ]

    def face_problems(
        self, images: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]
    ) -> list[list[str | None]]:
        """For each image's faces, why each should not be masked (``occluded``,
        ``too_turned``, ``doubtful_face``, ...) or None; all None where ``spec.face_checks`` is
        off. The checks of all the faces are fitted in one batch
        (:func:`maskgen.faces.visibility.face_problems`)."""
        if not self.spec.face_checks:
            return [[None] * len(found) for found in faces]
        pairs = [(rgb, face) for rgb, found in zip(images, faces, strict=True) for face in found]
        flat = iter(
            face_problems(
                self.finder,
                [rgb for rgb, _ in pairs],
                [(face.box, face.landmarks) for _, face in pairs],
                [not face.detected for _, face in pairs],
                [face.score for _, face in pairs],
            )
        )
        return [[next(flat) for _ in found] for found in faces]

    def mask_faces(
        self,
        rgb: np.ndarray,
        faces: list[Face] | tuple[Face, ...],
        rng: np.random.Generator,
        *,
        problems: Sequence[str | None] | None = None,
    ) -> MaskOutcome:
        """Mask the given faces, in order, each with its own draw from ``rng``.

        ``problems`` (one per face, e.g. from :meth:`face_problems`) name the faces to leave
        unmasked; None masks every face given (:meth:`mask_image` and :meth:`mask_images`
        check them). Every face draws its params either way, so leaving one face unmasked
        never changes another face's draw."""
        if not faces:
            return MaskOutcome(image=np.array(rgb, copy=True), applied=(), reason="no_face")
        if problems is None:
            problems = [None] * len(faces)
        image = rgb  # each render returns a new image, so the caller's is never written
        applied: list[AppliedMask] = []
        skipped: list[SkippedFace] = []
        for face, problem in zip(faces, problems, strict=True):
            params = sample_mask_params(rng, self.spec, self.templates, self.textures)
            if problem is not None:
                skipped.append(SkippedFace(face=face, reason=problem))
                continue
            image, _ = self.render(image, face.landmarks, params)
            applied.append(AppliedMask(params=params, face=face))
        if not applied:
            image = np.array(rgb, copy=True)
        return MaskOutcome(
            image=image,
            applied=tuple(applied),
            reason=None if applied else skipped[0].reason,
            skipped=tuple(skipped),
        )

    def render(
        self, rgb: np.ndarray, landmarks: np.ndarray, params: MaskParams
    ) -> tuple[np.ndarray, np.ndarray]:
        """Re-render recorded ``params`` on a face: (image, coverage), see ``apply_mask``."""
        if params.mask_type not in self.templates:
            raise ConfigError(
                f"unknown mask type {params.mask_type!r}; available: {', '.join(self.templates)}"
            )
        texture = None
        if params.texture is not None:
            if params.texture not in self.textures:
                raise ConfigError(f"unknown texture {params.texture!r}")
            texture = self.textures[params.texture]
        return apply_mask(rgb, landmarks, self.templates[params.mask_type], params, texture)


def checked_rgb(image: Any) -> np.ndarray:
    """``image`` as a C-contiguous array (itself where it is one), after checking that it is
    an (H, W, 3) uint8 RGB numpy array; ValueError saying what it got otherwise (a grey,
    RGBA or float image reached OpenCV or dlib and failed there with their own messages)."""
    if not isinstance(image, np.ndarray):
        raise ValueError(
            f"image must be an (H, W, 3) uint8 RGB numpy array, got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3) RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    return np.ascontiguousarray(image)


def _too_small(rgb: np.ndarray) -> MaskOutcome:
    """The outcome for an image with a side too small to hold a face: unchanged."""
    return MaskOutcome(image=np.array(rgb, copy=True), applied=(), reason="too_small")


@functools.lru_cache(maxsize=8)
def _shared_masker(spec: MaskSpec, face_mode: FaceMode, models_dir: str | None) -> Masker:
    return Masker(spec, face_mode=face_mode, models_dir=models_dir)


def mask_image(
    rgb: np.ndarray,
    *,
    rng: np.random.Generator | None = None,
    seed: int = 0,
    mask_type: str | None = None,
    spec: MaskSpec | None = None,
    face_mode: FaceMode = "auto",
    models_dir: str | None = None,
) -> MaskOutcome:
    """Mask every face in one (H, W, 3) uint8 RGB image: the one-call entry point.

    ``rng`` (else a Generator seeded with ``seed``) drives the draws; ``mask_type`` restricts
    the draw to one type (overriding ``spec.mask_types``). The Masker behind it is built once
    per process for each (spec, face_mode, models_dir).

    Returns a :class:`MaskOutcome` (its ``image`` a new (H, W, 3) uint8 array; ``rgb`` is
    never modified). ValueError for anything but an (H, W, 3) uint8 numpy array; ConfigError
    (a ValueError) for an unknown ``mask_type`` or ``face_mode``, or a ``spec`` that is no
    MaskSpec.

    >>> outcome = mask_image(photo, seed=1, mask_type="kn95")  # doctest: +SKIP
    """
    spec = checked_spec(spec) if spec is not None else MaskSpec()
    if mask_type is not None:
        spec = replace(spec, mask_types=(mask_type,))
    generator = rng if rng is not None else np.random.default_rng(checked_seed(seed))
    return _shared_masker(spec, checked_face_mode(face_mode), models_dir).mask_image(rgb, generator)


def checked_seed(value: Any) -> int:
    """``value`` as a seed: an int in [0, 2**32) (numpy's SeedSequence takes no negative);
    ConfigError (a ValueError) naming what it got otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"seed must be an int in [0, 2**32), got {value!r}")
    if not 0 <= int(value) < 2**32:
        raise ConfigError(f"seed must be in [0, 2**32), got {value!r}")
    return int(value)


def checked_face_mode(value: Any) -> FaceMode:
    """``value`` as a face mode, any letter case ("Auto" is "auto"); ConfigError (a
    ValueError) naming the modes otherwise."""
    modes = get_args(FaceMode)
    mode = value.lower() if isinstance(value, str) else value
    if mode not in modes:
        raise ConfigError(f"face_mode must be one of {', '.join(modes)}, got {value!r}")
    return mode
