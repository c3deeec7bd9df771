"""The two output heads every face network shares: ``FaceNet``, the base of the backbones.

A backbone (``forward_features``) ends at a ``(N, C, 7, 7)`` map; then come the embedding head
of insightface's arcface_torch (BN2d -> flatten -> Dropout -> Linear -> BN1d with a fixed scale
of 1) and the Multi-Task ArcFace mask head, a second Linear (``mask_fc``) on the same dropout
output: 2 logits (no mask / mask), or 5 for a wear-class model (``mask_classes=5``: the classes
of ``maskgen.masks.wear.WEAR_CLASSES``, no mask / correct / three wrong placements).
Module names follow arcface_torch (``bn2``, ``dropout``, ``fc``, ``features``) so its
``backbone.pth`` files load as they are. The ArcFace class centres are training's alone
(``maskgen.train.heads``).
"""

from __future__ import annotations

import torch
from torch import nn

FEATURE_SIZE = 7
"""Every backbone ends at a 7x7 map for a 112x112 input."""


class FaceNet(nn.Module):
    """Base of every face network: ``forward(x) -> (embedding (N, E), mask_logits (N, K) | None)``,
    K = ``mask_classes`` (2, or 5 for wear classes).

    Subclasses build their backbone, call ``_build_heads`` and implement ``forward_features``
    (``(N, 3, 112, 112)`` float, normalised RGB -> ``(N, channels, 7, 7)``).
    """

    embedding_size: int
    has_mask_head: bool
    mask_classes: int

    def _build_heads(
        self,
        channels: int,
        embedding_size: int,
        dropout: float,
        mask_head: bool,
        mask_classes: int = 2,
    ) -> None:
        flat = channels * FEATURE_SIZE * FEATURE_SIZE
        self.embedding_size = embedding_size
        self.has_mask_head = mask_head
        self.mask_classes = int(mask_classes)
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(flat, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False  # fixed scale, as in arcface_torch
        self.mask_fc = nn.Linear(flat, self.mask_classes) if mask_head else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.forward_features(x)
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        embedding = self.features(self.fc(x))
        mask_logits = self.mask_fc(x) if self.mask_fc is not None else None
        return embedding, mask_logits
