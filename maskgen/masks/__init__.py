"""Synthetic face masks: templates, the random policy, rendering and the per-image engine."""

from __future__ import annotations

from maskgen.masks.engine import AppliedMask, Masker, MaskOutcome, mask_image
from maskgen.masks.policy import MaskSpec, sample_mask_params
from maskgen.masks.render import apply_mask
from maskgen.masks.templates import MaskTemplate, default_templates_dir, load_templates
from maskgen.masks.textures import Texture, load_textures
from maskgen.masks.transform import MaskAugment
from maskgen.masks.wear import WEAR_CLASSES, WEAR_PLACEMENTS
from maskgen.types import MaskParams  # what sample_mask_params draws and apply_mask takes


def available_mask_types(templates_dir: str | None = None) -> tuple[str, ...]:
    """Names of the mask templates found (built-in by default), sorted."""
    return tuple(sorted(load_templates(templates_dir)))


__all__ = [
    "WEAR_CLASSES",
    "WEAR_PLACEMENTS",
    "AppliedMask",
    "MaskAugment",
    "MaskOutcome",
    "MaskParams",
    "MaskSpec",
    "MaskTemplate",
    "Masker",
    "Texture",
    "apply_mask",
    "available_mask_types",
    "default_templates_dir",
    "load_templates",
    "load_textures",
    "mask_image",
    "sample_mask_params",
]
