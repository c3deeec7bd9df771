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
    ``id2``); the per-item step never looks inside it.
    """

    key: Key
    data: bytes
    label: np.ndarray | None = None
    is_image: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MaskParams:
    """Everything random about one face's mask, drawn by ``sample_mask_params``.

    JSON-able so the manifest can record it and any item can be re-rendered exactly.
    ``color`` is "#rrggbb" or None, ``texture`` a texture name or None. ``texture_scale``,
    ``texture_angle`` and ``texture_offset`` place the texture; ``fit_jitter`` nudges the fit so
    masks do not all sit identically (0 = none). ``wear`` is the placement: "correct" or a
    way masks are worn wrongly (``maskgen.masks.wear.WEAR_PLACEMENTS``).
    """

    mask_type: str
    color: str | None = None
    texture: str | None = None
    texture_scale: float = 1.0
    texture_angle: float = 0.0
    texture_offset: tuple[float, float] = (0.0, 0.0)
    fit_jitter: tuple[float, float] = (0.0, 0.0)
    wear: str = "correct"

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
        }


@dataclass(frozen=True)
class ItemResult:
    """What happened to one input item: one row of ``manifest.jsonl``.

    ``reason`` is None when masked, else a short code: ``no_face``, ``unreadable``, ...
    Where several faces were masked, the mask fields describe the largest face.
    """

    key: Key
    masked: bool
    mask_type: str | None = None
    color: str | None = None
    texture: str | None = None
    reason: str | None = None
    faces: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "masked": self.masked,
            "mask_type": self.mask_type,
            "color": self.color,
            "texture": self.texture,
            "reason": self.reason,
            "faces": self.faces,
        }
