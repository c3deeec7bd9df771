"""The shared face-network core: modules that need PyTorch are not collected without it (the
numpy-only scores are)."""

from __future__ import annotations

import importlib.util

collect_ignore = (
    []
    if importlib.util.find_spec("torch")
    else ["test_models.py", "test_preprocess.py", "test_embedder.py"]
)
