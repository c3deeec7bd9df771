"""Masking as a data-augmentation transform, for training pipelines that load faces themselves.

:class:`MaskAugment` follows albumentations' calling convention (``aug(image=rgb, **targets)``
returns a dict), so it fits in a PyTorch ``Dataset``, an albumentations ``Compose`` (as a plain
callable) or arcface_torch's record loader, without maskgen depending on any of them.

Randomness. Called with ``key=``, every draw comes from the item's generator
``item_rng(seed, key)`` (:mod:`maskgen.seeding`), exactly as ``maskgen augment`` draws it, so the
masked image is the one ``augment`` writes for that key with the same seed and mask options
(before its JPEG encode), in any process. Whether to mask at all (probability ``p``) is drawn
from a child of that generator's seed sequence, which leaves the mask draws themselves
untouched. Called without ``key``, draws come from the instance's own generator: seeded with
``seed`` in the process that built the instance, and reseeded the first time it is used in any
other process (see :meth:`MaskAugment._own_rng`), so DataLoader workers do not repeat each
other.

Models. The instance holds only its options; the landmark model, templates and textures load on
first use, once per process and option set, so the transform pickles small (no dlib objects)
into DataLoader workers.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from maskgen.errors import ConfigError
from maskgen.faces import find_model_file
from maskgen.faces.landmarks import is_small_square_crop
from maskgen.masks.engine import (
    Masker,
    MaskOutcome,
    _shared_masker,
    checked_face_mode,
    checked_rgb,
    checked_seed,
)
from maskgen.masks.policy import CREASES, DEFAULT_WEAR, MaskSpec, parse_wear
from maskgen.masks.templates import load_templates
from maskgen.masks.textures import load_textures
from maskgen.seeding import item_rng
from maskgen.types import Key

NOT_DRAWN = "not_drawn"
"""``params["reason"]`` when the draw with probability ``p`` decided not to mask."""


_NOT_GIVEN: Any = object()
"""``image``'s default: an ``image=None`` given (``decode_rgb`` of a damaged record) is the
image's own fault (ValueError), not a call without one (TypeError)."""

_BY_KEYWORD = (
    "MaskAugment takes the image by keyword, as albumentations transforms do: "
    "out = aug(image=rgb, key=index), rgb an (H, W, 3) uint8 RGB numpy array, and returns a "
    'dict (out["image"], out["masked"]); in a torchvision Compose, give aug.image_only(), '
    "which takes and returns the image alone"
)


class MaskAugment:
    """Put a random mask on the face(s) of an RGB image, with probability ``p``.

    Args:
        p: probability of masking an image, in [0, 1]. ``p=0`` returns every input unchanged
            and draws nothing; ``p=1`` masks every image that has a face.
        mask_types: mask types to draw from, uniformly: None for every built-in type, a name, a
            comma-separated string ("surgical,n95") or an iterable of names; any letter case.
        color_prob: probability of a random palette colour (the paper's 0.5).
        texture_prob: probability of a fabric texture (the paper's 0.5).
        face_mode: "aligned" (ArcFace-aligned crops such as insightface's 112x112: no
            detection), "detect" (photos) or "auto"; see :mod:`maskgen.faces`.
        seed: int in [0, 2**32): the run's seed; with ``key``, the same as ``maskgen augment
            --seed``.
        texture_dirs, templates_dir, models_dir: as ``--textures``, ``--templates`` and
            ``--models-dir``; ``texture_dirs`` one folder or several.
        wear: how masks are worn: placements (:data:`~maskgen.masks.wear.WEAR_PLACEMENTS`)
            mapped to probabilities summing to 1, e.g. ``{"correct": 0.7, "nose_uncovered":
            0.1, "mouth_uncovered": 0.1, "chin_uncovered": 0.1}``, or ``--wear``'s string
            form ("correct=0.7,nose_uncovered=0.3"); None: every mask correct. Drawn as
            ``maskgen augment --wear`` draws it; ``params["wear"]`` says which was drawn.
        face_checks: leave unmasked a face with something in front of its lower face
            (``occluded``), turned too far (``too_turned``), cut off by the border
            (``out_of_frame``) or perhaps no face (``doubtful_face``), as ``maskgen augment`` does
            (:mod:`maskgen.faces.visibility`); False masks every face found.
        creases: give each surgical mask creases of its own, as ``maskgen augment
            --creases`` (:mod:`maskgen.masks.creases`).
        params_key: the output key of the drawn params. Inside an albumentations ``Compose``
            followed by albumentations transforms, use another name ("mask_params"): those
            transforms take a ``params`` argument of their own and fail on a ``params`` target.

    Raises:
        ConfigError (a ValueError): for any argument out of range; an unknown mask type names
            the available ones. ModelNotFoundError: the landmark model cannot be found.

    Call it as ``aug(image=rgb, key=k)``; see :meth:`__call__`.

    >>> aug = MaskAugment(p=0.5, mask_types="surgical,n95", seed=0)  # doctest: +SKIP
    >>> out = aug(image=rgb, key=17)  # doctest: +SKIP
    >>> out["image"], out["masked"], out["params"]["mask_type"]  # doctest: +SKIP
    """

    available_keys = frozenset({"image", "key"})
    """The keyword targets it reads. albumentations' ``Compose`` (1.4 and later) asks every
    transform in it for this set; any other target passes through unchanged."""

    def __init__(
        self,
        p: float = 0.5,
        mask_types: str | Iterable[str] | None = None,
        color_prob: float = 0.5,
        texture_prob: float = 0.5,
        face_mode: str = "aligned",
        seed: int = 0,
        *,
        texture_dirs: str | Path | Iterable[str | Path] = (),
        templates_dir: str | Path | None = None,
        models_dir: str | Path | None = None,
        params_key: str = "params",
        wear: Mapping[str, float] | str | None = None,
        face_checks: bool = True,
        creases: bool = CREASES,
    ) -> None:
        self.p = _probability("p", p)
        self.params_key = _params_key(params_key)
        self.seed = checked_seed(seed)
        self.face_mode = checked_face_mode(face_mode)
        available = tuple(load_templates(templates_dir))
        spec = MaskSpec(
            mask_types=_mask_types(mask_types, available),
            color_prob=color_prob,
            texture_prob=texture_prob,
            texture_dirs=texture_dirs,  # MaskSpec takes one folder or several
            templates_dir=Path(templates_dir) if templates_dir is not None else None,
            wear=_wear(wear),
            face_checks=face_checks,
            creases=creases,
        )
        spec.validate(available)
        if spec.texture_prob > 0 and spec.texture_dirs:
            load_textures(spec.texture_dirs)  # a bad folder fails here, not in a worker
        self.models_dir = str(models_dir) if models_dir is not None else None
        find_model_file(models_dir=self.models_dir)
        self.spec = spec
        self._owner = _process_owner()
        self._rng = _fresh_rng(self.seed, self._owner, origin=True)

    def __repr__(self) -> str:
        return (
            f"MaskAugment(p={self.p}, mask_types={self.spec.mask_types}, "
            f"color_prob={self.spec.color_prob}, texture_prob={self.spec.texture_prob}, "
            f"face_mode={self.face_mode!r}, seed={self.seed}"
            + ("" if self.params_key == "params" else f", params_key={self.params_key!r}")
            + (f", wear={dict(self.spec.wear)}" if self.spec.wear_given else "")
            + ("" if self.spec.face_checks else ", face_checks=False")
            + ("" if self.spec.creases == CREASES else f", creases={self.spec.creases}")
            + ")"
        )

    def to_dict_private(self) -> dict[str, Any]:
        """Its class and arguments, JSON-able: what albumentations' ``Compose`` asks of each
        transform to print (or save) itself."""
        return {
            "__class_fullname__": f"{type(self).__module__}.{type(self).__qualname__}",
            "p": self.p,
            "mask_types": list(self.spec.mask_types) if self.spec.mask_types else None,
            "color_prob": self.spec.color_prob,
            "texture_prob": self.spec.texture_prob,
            "face_mode": self.face_mode,
            "seed": self.seed,
            "params_key": self.params_key,
            "wear": dict(self.spec.wear),
            "face_checks": self.spec.face_checks,
            "creases": self.spec.creases,
            "texture_dirs": [str(d) for d in self.spec.texture_dirs],
            "templates_dir": str(self.spec.templates_dir) if self.spec.templates_dir else None,
            "models_dir": self.models_dir,
        }

    def image_only(self) -> ImageOnly:
        """This transform as torchvision's ``Compose`` calls one, ``t(img)``: see
        :class:`ImageOnly`."""
        return ImageOnly(self)

    @property
    def mask_types(self) -> tuple[str, ...] | None:
        """The mask types drawn from, as canonical names (None: every available type)."""
        return self.spec.mask_types

    def __call__(
        self,
        *args: Any,
        image: Any = _NOT_GIVEN,
        key: Key | None = None,
        force_apply: bool = False,
        **targets: Any,
    ) -> dict[str, Any]:
        """Mask ``image`` with probability ``p``.

        Args:
            image: (H, W, 3) uint8 RGB; never modified.
            key: the item's stable id (int or str, e.g. its RecordIO key or index). With a key
                the result depends only on (seed, key); without one it comes from the
                instance's own generator.
            force_apply: mask whatever ``p`` (albumentations' meaning); the mask itself is
                drawn exactly as without it.
            **targets: anything else (labels, a segmentation mask, ...), returned unchanged;
                ``key`` too, where given.

        Returns:
            ``targets`` plus ``"image"``: (H, W, 3) uint8 RGB, a new array if masked, else
            ``image`` itself; ``"masked"``: bool, whether a mask was drawn (False where the
            face could not be found or masked); ``"params"`` (or ``params_key``): JSON-able
            dict, see :func:`outcome_params`.

        Raises:
            ValueError: ``image`` is not an (H, W, 3) uint8 array. TypeError: ``key`` is
            neither an int nor a str, or the image is not given by keyword.
        """
        if image is _NOT_GIVEN and not args and "images" in targets:
            raise TypeError(
                "MaskAugment masks one image per call (image=rgb): call it for each image of "
                "a batch given as images="
            )
        if args or image is _NOT_GIVEN:
            # torchvision's Compose calls t(img): Python said only "takes 1 positional argument"
            raise TypeError(_BY_KEYWORD)
        rgb = checked_rgb(image)
        if self.face_mode == "aligned" and not is_small_square_crop(*rgb.shape[:2]):
            _warn_not_a_crop(rgb.shape[:2])
        item_key = None if key is None else _checked_key(key)
        if key is not None:
            targets["key"] = key  # passed on, like any other target
        if not force_apply and self.p <= 0.0:
            return self._output(targets, image, False, not_drawn_params())
        rng = self._own_rng() if item_key is None else item_rng(self.seed, item_key)
        if not force_apply and self.p < 1.0:
            decision = rng if item_key is None else _decision_rng(rng)
            if not decision.random() < self.p:
                return self._output(targets, image, False, not_drawn_params())
        outcome = self._masker().mask_image(rgb, rng)
        image_out = outcome.image if outcome.masked else image
        return self._output(targets, image_out, outcome.masked, outcome_params(outcome))

    def _output(
        self, targets: dict[str, Any], image: np.ndarray, masked: bool, params: dict[str, Any]
    ) -> dict[str, Any]:
        """The other targets, then ``image``, ``masked`` and the params."""
        return {**targets, "image": image, "masked": masked, self.params_key: params}

    def preload(self) -> MaskAugment:
        """Load the landmark model, templates and textures now, in this process; returns self.

        Call it before creating a DataLoader whose workers are forked (Linux's default): the
        workers then start with the models loaded and share their ~100 MB of pages, instead
        of each loading its own copy on its first image."""
        self._masker()
        return self

    def _masker(self) -> Masker:
        """This process's Masker for these options, built on first use (engine's cache).

        OpenCV's thread count is left alone: calling ``cv2.setNumThreads`` in a forked worker
        whose parent's OpenCV pool has run hangs the worker (glibc waits on a condition
        variable the parent's pool threads held)."""
        return _shared_masker(self.spec, self.face_mode, self.models_dir)

    def _own_rng(self) -> np.random.Generator:
        """The generator for calls without a key.

        In the process that built the instance: ``default_rng(seed)``, so a fresh instance
        is reproducible. In any other process (a DataLoader worker, which gets a pickled or
        forked copy; a multiprocessing pool) it is replaced on first use: in a PyTorch
        DataLoader worker by ``default_rng([seed, worker seed])`` (torch's per-worker seed:
        different per worker and per epoch, reproducible under ``torch.manual_seed``), else
        by ``default_rng([seed, pid])`` (different per process, not reproducible). Pass
        ``key`` for results that do not depend on processes at all.
        """
        owner = _process_owner()
        if owner != self._owner:
            self._owner = owner
            self._rng = _fresh_rng(self.seed, owner, origin=False)
        return self._rng


class ImageOnly:
    """A :class:`MaskAugment` called as torchvision's ``Compose`` calls a transform: ``t(img)``,
    an (H, W, 3) uint8 RGB array or an RGB PIL image in, the image out as it came (a PIL image
    for a PIL image, so PIL-only transforms may follow; an array for an array, a new one if
    masked), without a key (the augment's own generator draws; see
    :meth:`MaskAugment._own_rng`). The ``masked`` flag and params are dropped: where the
    label matters, call the augment itself, as ``MaskedFaces`` in ``docs/mask_augment.md``
    does. Unlike a lambda it pickles, so DataLoader workers started by spawn or forkserver
    (macOS's and Windows' default) take it. ValueError for another image, as the augment's."""

    def __init__(self, augment: MaskAugment) -> None:
        self.augment = augment

    def __call__(self, img: Any) -> Any:
        out = self.augment(image=np.asarray(img))["image"]
        if isinstance(img, np.ndarray):
            return out
        from PIL import Image

        return Image.fromarray(out) if isinstance(img, Image.Image) else out

    def __repr__(self) -> str:
        return f"{self.augment!r}.image_only()"


def outcome_params(outcome: MaskOutcome) -> dict[str, Any]:
    """The JSON-able record of a Masker outcome, with the manifest row's fields.

    ``mask_type``, ``color`` ("#rrggbb" or None), ``texture`` (name or None) and ``wear``
    (its placement, :data:`~maskgen.masks.wear.WEAR_PLACEMENTS`) describe the main face
    (None when not masked); ``reason`` is None when masked, else why not
    (``no_face``, ``occluded``, ``too_turned``, ...); ``faces_not_masked`` lists the faces
    found but left unmasked (``box``, ``detected``, ``reason``: something in front of the lower
    face, turned too far, cut off by the border or perhaps no face), so a skipped face is never
    masked by the transform either, the image passes through unchanged where no face was
    masked; ``faces`` lists every masked
    face, largest first, as its full
    :class:`~maskgen.types.MaskParams` (which re-renders it exactly) plus ``box`` (x0, y0, x1,
    y1 in image pixels, to 0.1 px) and ``detected`` (False where the box came from the alignment).
    """
    faces = [applied.to_json() for applied in outcome.applied]
    largest = faces[0] if faces else {}
    return {
        "mask_type": largest.get("mask_type"),
        "color": largest.get("color"),
        "texture": largest.get("texture"),
        "wear": largest.get("wear"),
        "reason": None if faces else (outcome.reason or "no_face"),
        "faces": faces,
        "faces_not_masked": [face.to_json() for face in outcome.skipped],
    }


def not_drawn_params() -> dict[str, Any]:
    """``params`` when ``p`` decided not to mask: nothing was drawn, reason ``not_drawn``."""
    return {
        "mask_type": None,
        "color": None,
        "texture": None,
        "wear": None,
        "reason": NOT_DRAWN,
        "faces": [],
        "faces_not_masked": [],
    }


# --- randomness across processes -----------------------------------------------------------------


def _process_owner() -> tuple[int, int | None]:
    """(pid, PyTorch DataLoader worker seed or None): who may use a generator. torch is only
    asked if the caller already imported it, so maskgen never imports torch here."""
    worker_seed = None
    torch_data = sys.modules.get("torch.utils.data")
    if torch_data is not None:
        info = torch_data.get_worker_info()
        if info is not None:
            worker_seed = int(info.seed)
    return os.getpid(), worker_seed


def _fresh_rng(seed: int, owner: tuple[int, int | None], *, origin: bool) -> np.random.Generator:
    """See :meth:`MaskAugment._own_rng`: ``seed`` alone in the building process (outside a
    DataLoader worker), else ``seed`` with the worker seed or, failing that, the pid."""
    pid, worker_seed = owner
    if worker_seed is not None:
        return np.random.default_rng([seed, worker_seed])
    if origin:
        return np.random.default_rng(seed)
    return np.random.default_rng([seed, pid])


def _decision_rng(item: np.random.Generator) -> np.random.Generator:
    """A generator independent of ``item``'s stream, from a child of its seed sequence;
    ``item``'s own draws are unchanged by it."""
    bit_generator = item.bit_generator
    seed_seq = getattr(bit_generator, "seed_seq", None) or bit_generator._seed_seq  # numpy<1.25
    return np.random.default_rng(seed_seq.spawn(1)[0])


# --- argument checks -----------------------------------------------------------------------------


def _probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ConfigError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def _params_key(value: Any) -> str:
    if not isinstance(value, str) or not value or value in ("image", "masked", "key"):
        raise ConfigError(f"params_key must be a name other than image/masked/key, got {value!r}")
    return value


def _wear(value: Any) -> Any:
    """``wear`` as MaskSpec takes it: None is the default, a string is ``--wear``'s form;
    MaskSpec checks the rest (ConfigError)."""
    if value is None:
        return DEFAULT_WEAR
    if isinstance(value, str):
        return parse_wear(value)
    return value


def _mask_types(value: Any, available: tuple[str, ...]) -> tuple[str, ...] | None:
    """Canonical names for the requested types (any case; a string may list several)."""
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else list(value)
    if any(not isinstance(name, str) for name in names):
        raise ConfigError(f"mask_types must be mask type names, got {value!r}")
    by_lower = {name.lower(): name for name in available}
    wanted = [name.strip() for name in names if name.strip()]
    unknown = [name for name in wanted if name.lower() not in by_lower]
    if unknown or not wanted:
        what = f"unknown mask type(s) {', '.join(map(repr, unknown))}" if unknown else "no type"
        raise ConfigError(f"mask_types: {what}; available: {', '.join(sorted(available))}")
    return tuple(dict.fromkeys(by_lower[name.lower()] for name in wanted))


def _checked_key(key: Any) -> Key:
    if isinstance(key, bool) or not isinstance(key, str | numbers.Integral):
        raise TypeError(f"key must be an int or a str, got {type(key).__name__} {key!r}")
    return key if isinstance(key, str) else int(key)


def _warn_not_a_crop(size: tuple[int, int]) -> None:
    """A UserWarning (Python shows it once per process and size) that ``face_mode="aligned"``, the
    default, was given an image larger than aligned crops are: it takes any image for one and
    draws the mask where an aligned crop's face would be, over a whole photo's chin and neck,
    labelled masked."""
    import warnings

    height, width = size
    warnings.warn(
        f"MaskAugment(face_mode='aligned') takes every image for an ArcFace-aligned crop; this "
        f"one is {width}x{height}: on whole photos the mask lands where an aligned crop's face "
        "would be (give face_mode='auto' for photos)",
        UserWarning,
        stacklevel=3,
    )
