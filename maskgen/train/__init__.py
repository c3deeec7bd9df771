"""Multi-Task ArcFace training (needs the ``[train]`` extra: torch, tensorboard, pyyaml).

Public API: ``train(config) -> RunSummary``, ``Trainer``, ``TrainConfig``, ``resolve_config``.
The networks, checkpoints and preprocessing are ``maskgen.nn``'s, shared with evaluation. Names
load lazily, so importing ``maskgen.train.config`` (which the CLI does to check options) does
not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "train": "maskgen.train.loop",
    "RunSummary": "maskgen.train.loop",
    "Trainer": "maskgen.train.trainer",
    "TrainConfig": "maskgen.train.config",
    "resolve_config": "maskgen.train.config",
    "PRESETS": "maskgen.train.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'maskgen.train' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
