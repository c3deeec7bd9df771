"""The two output heads every face network shares, and the ArcFace class centres.

``FaceNet`` is the common base of the backbones: a backbone (``forward_features``) ending at a
``(N, C, 7, 7)`` map, then the embedding head of insightface's arcface_torch (BN2d -> flatten ->
Dropout -> Linear -> BN1d with a fixed scale of 1) and the Multi-Task ArcFace mask head, a second
Linear (``mask_fc``) on the same dropout output. Module names follow arcface_torch (``bn2``,
``dropout``, ``fc``, ``features``) so its ``backbone.pth`` files load as they are.

``ArcFaceHead`` holds the class centres (all of them, or one rank's contiguous shard of them) and
returns cosine similarities; the margin and the loss live in ``losses.py``.
"""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_SIZE = 7
"""Every backbone ends at a 7x7 map for a 112x112 input."""

_CENTRE_BLOCK_ROWS = 4096
"""Class centres are drawn in blocks of this many rows, each from its own seeded generator, so
any shard of the centres can be drawn alone and equals the same rows of the full matrix."""


class FaceNet(nn.Module):
    """Base of every face network: ``forward(x) -> (embedding (N, E), mask_logits (N, 2) | None)``.

    Subclasses build their backbone, call ``_build_heads`` and implement ``forward_features``
    (``(N, 3, 112, 112)`` float, normalised RGB -> ``(N, channels, 7, 7)``).
    """

    embedding_size: int
    has_mask_head: bool

    def _build_heads(
        self, channels: int, embedding_size: int, dropout: float, mask_head: bool
    ) -> None:
        flat = channels * FEATURE_SIZE * FEATURE_SIZE
        self.embedding_size = embedding_size
        self.has_mask_head = mask_head
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(flat, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False  # fixed scale, as in arcface_torch
        self.mask_fc = nn.Linear(flat, 2) if mask_head else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.forward_features(x)
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        embedding = self.features(self.fc(x))
        mask_logits = self.mask_fc(x) if self.mask_fc is not None else None
        return embedding, mask_logits


def shard_range(num_classes: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of the class centres held by ``rank``: contiguous, sizes differing
    by at most one (the first ``num_classes % world_size`` ranks hold one more)."""
    base, extra = divmod(num_classes, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def init_class_centres(
    num_classes: int, embedding_size: int, seed: int, start: int = 0, stop: int | None = None
) -> torch.Tensor:
    """Rows ``[start, stop)`` of the initial ``(num_classes, E)`` float32 centres, N(0, 0.01).

    Drawn block by block from generators seeded by a CRC-32 of ``(seed, block)`` (torch's CPU
    generator keeps 32 bits of a seed), so a shard equals the same rows of the full matrix
    whatever the number of ranks.
    """
    stop = num_classes if stop is None else stop
    rows = []
    for block in range(start // _CENTRE_BLOCK_ROWS, -(-stop // _CENTRE_BLOCK_ROWS)):
        first = block * _CENTRE_BLOCK_ROWS
        count = min(_CENTRE_BLOCK_ROWS, num_classes - first)
        generator = torch.Generator().manual_seed(
            zlib.crc32(f"maskgen-centres:{seed}:{block}".encode())
        )
        values = torch.empty(count, embedding_size).normal_(0.0, 0.01, generator=generator)
        rows.append(values[max(start - first, 0) : stop - first])
    if not rows:
        return torch.empty(0, embedding_size)
    return torch.cat(rows)


class ArcFaceHead(nn.Module):
    """Class centres ``weight (stop - start, E)`` for classes ``[start, stop)`` of
    ``num_classes``; ``forward(embeddings (N, E)) -> cosine (N, stop - start)`` in float32."""

    def __init__(
        self,
        num_classes: int,
        embedding_size: int,
        *,
        seed: int = 0,
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.start = start
        self.stop = num_classes if stop is None else stop
        centres = init_class_centres(num_classes, embedding_size, seed, self.start, self.stop)
        self.weight = nn.Parameter(centres)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        with torch.autocast(embeddings.device.type, enabled=False):
            unit = F.normalize(embeddings.float(), dim=1)
            centres = F.normalize(self.weight.float(), dim=1)
            return unit @ centres.t()
