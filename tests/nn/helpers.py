"""Helpers for tests that need a model file: a network saved as a maskgen checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_network_checkpoint(
    path: Path, network: Any, *, name: str = "tiny", step: int = 7, threshold: float | None = None
) -> Path:
    """``network`` (a FaceNet) saved the way the trainer saves it, with empty training state."""
    from maskgen.nn.checkpoint import write_checkpoint

    return write_checkpoint(
        path,
        network=name,
        embedding_size=int(network.embedding_size),
        mask_head=network.mask_fc is not None,
        model=network.state_dict(),
        arcface={},
        optimizer={},
        scheduler={},
        scaler={},
        step=step,
        epoch=0,
        config={},
        rng={},
        data_position={},
        threshold=threshold,
        mask_classes=int(getattr(network, "mask_classes", 2)),
    )
