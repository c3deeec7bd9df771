"""The ArcFace class centres, which only training needs (the embedding and mask heads every
network has are ``maskgen.nn.models.base.FaceNet``'s).

``ArcFaceHead`` holds the class centres (all of them, or one rank's contiguous shard of them) and
returns cosine similarities; the margin and the loss live in ``losses.py``.
"""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F
from torch import nn

_CENTRE_BLOCK_ROWS = 4096
"""Class centres are drawn in blocks of this many rows, each from its own seeded generator, so
any shard of the centres can be drawn alone and equals the same rows of the full matrix."""


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
