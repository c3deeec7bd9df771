"""maskgen: masked twins of face-recognition datasets, and Multi-Task ArcFace training on them.

The public API, imported lazily so that ``import maskgen`` (and ``maskgen --help``) stays quick:

- :func:`mask_image` / :class:`Masker` / :class:`MaskSpec`: masks on faces in one image;
- :class:`MaskAugment`: masking as a training-time transform (albumentations-style call);
- :func:`augment_dataset` / :func:`merge_shards`: the masked twin of a whole dataset;
- :func:`open_reader`: any supported dataset (image folder, RecordIO ``.rec``, ``.bin``).

The subpackages load on first use too, so ``import maskgen`` then ``maskgen.train.train(config)``
or ``maskgen.evaluate.evaluate_model(...)`` works, as the README writes them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.2"

_EXPORTS = {
    "mask_image": "maskgen.masks",
    "Masker": "maskgen.masks",
    "MaskSpec": "maskgen.masks",
    "MaskAugment": "maskgen.masks",
    "augment_dataset": "maskgen.pipeline",
    "merge_shards": "maskgen.pipeline",
    "open_reader": "maskgen.formats",
}

_SUBPACKAGES = frozenset(
    {"formats", "faces", "masks", "pipeline", "nn", "train", "evaluate", "errors", "types"}
)
"""Subpackages reached as attributes of ``maskgen`` (imported on first use, as scipy's are):
``maskgen.train.train`` was an AttributeError unless something had imported it first."""

__all__ = ["__version__", *_EXPORTS]


def __dir__() -> list[str]:
    """The lazy exports too, so ``dir(maskgen)`` and a notebook's tab completion show them."""
    return sorted({*globals(), *_EXPORTS, *_SUBPACKAGES})


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"maskgen.{name}")
    raise AttributeError(f"module 'maskgen' has no attribute {name!r}")
