"""Plain data passed between readers, the per-item step and writers.

Data flows one way: ``Reader.read(key) -> Sample -> mask step -> Sample -> Writer.write``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Key = str | int
"""A stable item id: relative path (folders) or record key / image index (RecordIO, .bin)."""


@dataclass(frozen=True)
class Sample:
    """One dataset item as stored.

    ``data`` is the encoded payload exactly as the source holds it (JPEG/PNG bytes), so an item
    that is not masked is written back byte-for-byte. ``label`` is a 1-D float32 array or None
    (RecordIO keeps its labels here; element 0 is the identity). ``is_image`` is False for items
    that must pass through untouched (RecordIO header and identity records). ``extra`` holds
    format-specific fields a writer needs to round-trip the item (e.g. RecordIO ``flag``, ``id``,
    ``id2``); the per-item step never looks inside it. ``name`` is the item's file name where
    it has one (folder items: the relative path): it tells a damaged image (``.jpg``) from a
    file that is no image at all (``notes.txt``), and lets a format without a signature (TGA)
    be read where the name says so. Items without one (RecordIO, .bin) are images by format.
    """

    key: Key
    data: bytes
    label: np.ndarray | None = None
    is_image: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None


@dataclass(frozen=True)
class MaskParams:
    """Everything random about one face's mask, drawn by ``sample_mask_params``.

    JSON-able so the manifest can record it and any item can be re-rendered exactly.
    ``color`` is "#rrggbb" or None, ``texture`` a texture name or None. ``texture_scale``,
    ``texture_angle`` and ``texture_offset`` place the texture; ``fit_jitter`` nudges the fit so
    masks do not all sit identically (0 = none). ``wear`` is the placement: "correct" or a
    way masks are worn wrongly (``maskgen.masks.wear.WEAR_PLACEMENTS``). ``grain_seed`` seeds
    the grain that matches the mask to the photo's noise and a surgical mask's creases (bits
    20-29 clear: a flat mask, ``maskgen.masks.creases.STRENGTH_BITS``).
    """

    mask_type: str
    color: str | None = None
    texture: str | None = None
    texture_scale: float = 1.0
    texture_angle: float = 0.0
    texture_offset: tuple[float, float] = (0.0, 0.0)
    fit_jitter: tuple[float, float] = (0.0, 0.0)
    wear: str = "correct"
    grain_seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "mask_type": self.mask_type,
            "color": self.color,
            "texture": self.texture,
            "texture_scale": self.texture_scale,
            "texture_angle": self.texture_angle,
            "texture_offset": list(self.texture_offset),
            "fit_jitter": list(self.fit_jitter),
            "wear": self.wear,
            "grain_seed": self.grain_seed,
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> MaskParams:
        """The params :meth:`to_json` wrote (extra keys, such as a manifest face's ``box``, are
        ignored), e.g. to re-render one face of a manifest row."""
        return cls(
            mask_type=record["mask_type"],
            color=record.get("color"),
            texture=record.get("texture"),
            texture_scale=float(record.get("texture_scale", 1.0)),
            texture_angle=float(record.get("texture_angle", 0.0)),
            texture_offset=_pair(record.get("texture_offset", (0.0, 0.0))),
            fit_jitter=_pair(record.get("fit_jitter", (0.0, 0.0))),
            wear=record.get("wear", "correct"),
            grain_seed=int(record.get("grain_seed", 0)),
        )


def _pair(values: Any) -> tuple[float, float]:
    first, second = values
    return float(first), float(second)


SKIPPED_REASONS: frozenset[str] = frozenset({"not_an_image", "apple_double", "reserved_name"})
"""Reasons that say an item is not an image at all (a folder's text files, macOS ``._`` files,
a file named like maskgen's own outputs): counted apart from the images."""


@dataclass(frozen=True)
class ItemResult:
    """What happened to one input item: one row of ``manifest.jsonl``.

    ``reason`` is None when masked, else a short code: ``no_face``, ``unreadable``,
    ``not_an_image``, ... ``faces`` counts the masked faces and ``face_masks`` describes each,
    largest first: ``box`` [x0, y0, x1, y1] in pixels, ``detected`` and every field of its
    :class:`MaskParams`; ``mask_type``, ``color``, ``texture`` and ``wear`` (its placement,
    None where not masked) repeat the main face's, so readers of one mask per row keep
    working. ``faces_not_masked`` lists the faces found but left unmasked, largest first:
    ``box``, ``detected`` and ``reason`` (``occluded``: something in front of the lower face;
    ``too_turned``; ``out_of_frame``: largely cut off by the border; ``doubtful_face``: perhaps
    no face at all), also in an image whose
    other faces were masked. ``format_change`` says how the written image's layout differs
    from the input's (``"rgb 16-bit -> rgb 8-bit"``), None where it does not.
    ``decoder_warning``: what libpng or libjpeg said about a damaged image that still decoded
    (``"Corrupt JPEG data: premature end of data segment"``), where maskgen's CLI kept their
    lines off stderr; None otherwise.
    """

    key: Key
    masked: bool
    mask_type: str | None = None
    color: str | None = None
    texture: str | None = None
    wear: str | None = None
    reason: str | None = None
    faces: int = 0
    face_masks: tuple[Mapping[str, Any], ...] = ()
    format_change: str | None = None
    faces_not_masked: tuple[Mapping[str, Any], ...] = ()
    decoder_warning: str | None = None

    @property
    def skipped(self) -> bool:
        """Whether the item is not an image (see :data:`SKIPPED_REASONS`)."""
        return self.reason in SKIPPED_REASONS

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "masked": self.masked,
            "mask_type": self.mask_type,
            "color": self.color,
            "texture": self.texture,
            "wear": self.wear,
            "reason": self.reason,
            "faces": self.faces,
            "face_masks": [dict(face) for face in self.face_masks],
            "format_change": self.format_change,
            "faces_not_masked": [dict(face) for face in self.faces_not_masked],
            "decoder_warning": self.decoder_warning,
        }

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> ItemResult:
        """A row as :meth:`to_json` writes it (rows without the newer fields read too).
        TypeError or ValueError where it is not one."""
        fields = dict(row)
        lists = {name: fields.pop(name, ()) for name in ("face_masks", "faces_not_masked")}
        for name, faces in lists.items():
            if not isinstance(faces, list | tuple) or not all(isinstance(f, dict) for f in faces):
                raise ValueError(f"{name}: expected a list of objects")
        return cls(**fields, **{name: tuple(faces) for name, faces in lists.items()})
