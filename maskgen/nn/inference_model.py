"""The inference graph shared by PyTorch evaluation and the ONNX export (imports torch: load it
only where torch is wanted).

Both run the very same module, so a checkpoint and its export agree by construction up to
floating-point rounding: ``(N, 3, 112, 112)`` normalised RGB in, ``embedding`` (N, E) (not
normalised) and ``mask_prob`` (N,) (softmax class 1) out.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["InferenceModel"]


class InferenceModel(nn.Module):
    """Wraps a face network: ``x -> (embedding, mask_prob)``, or ``(embedding,)`` without a
    mask head."""

    def __init__(self, network: nn.Module, mask_head: bool) -> None:
        super().__init__()
        self.network = network
        self.mask_head = mask_head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        embedding, mask_logits = self.network(x)
        if not self.mask_head or mask_logits is None:
            return (embedding,)
        return embedding, torch.softmax(mask_logits, dim=1)[:, 1]
