"""The inference graph shared by PyTorch evaluation and the ONNX export (imports torch: load it
only where torch is wanted).

Both run the very same module, so a checkpoint and its export agree by construction up to
floating-point rounding: ``(N, 3, 112, 112)`` normalised RGB in, ``embedding`` (N, E) (not
normalised) and ``mask_prob`` (N,) out; a wear-class model (5-way mask head) also gives
``wear_prob`` (N, 5), the softmax over ``maskgen.masks.wear.WEAR_CLASSES``, and its
``mask_prob`` is the sum of the four masked classes (``1 - wear_prob[:, 0]``).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["InferenceModel"]


class InferenceModel(nn.Module):
    """Wraps a face network: ``x -> (embedding, mask_prob[, wear_prob])``, or ``(embedding,)``
    without a mask head. ``mask_prob`` of a 2-way head is its softmax's class 1."""

    def __init__(self, network: nn.Module, mask_head: bool) -> None:
        super().__init__()
        self.network = network
        self.mask_head = mask_head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        embedding, mask_logits = self.network(x)
        if not self.mask_head or mask_logits is None:
            return (embedding,)
        prob = torch.softmax(mask_logits, dim=1)
        if prob.shape[1] == 2:
            return embedding, prob[:, 1]
        return embedding, prob[:, 1:].sum(dim=1), prob
