"""Gradient-norm clipping (``--clip-grad-norm``; ``--preset arcface``: 5, as arcface_torch)."""

from __future__ import annotations

import torch

from maskgen.train.config import TrainConfig
from maskgen.train.distributed import DistContext
from maskgen.train.trainer import Trainer


def _one_step(clip: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Network and class-centre updates of one plain SGD step (lr 1, no momentum or decay, so
    the update is minus the gradient) on a fixed random batch."""
    config = TrainConfig(
        network="tiny",
        embedding_size=32,
        batch_size=8,
        steps=1,
        lr=1.0,
        momentum=0.0,
        weight_decay=0.0,
        device="cpu",
        clip_grad_norm=clip,
    )
    torch.manual_seed(0)
    trainer = Trainer(config, num_classes=5, mask_head=True, ctx=DistContext(), total_steps=1)
    before = [p.detach().clone() for p in trainer.network.parameters()]
    centres = trainer.head.weight.detach().clone()
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (8, 112, 112, 3), dtype=torch.uint8, generator=g)
    torch.manual_seed(2)  # the same dropout in every call
    trainer.step(images, torch.arange(8) % 5, torch.arange(8) % 2)
    network = torch.cat(
        [
            (p.detach() - b).reshape(-1)
            for p, b in zip(trainer.network.parameters(), before, strict=True)
        ]
    )
    return network, trainer.head.weight.detach() - centres


def test_clipping_scales_the_network_gradient_to_the_norm_and_leaves_the_centres() -> None:
    free_network, free_centres = _one_step(None)
    norm = free_network.norm().item()
    assert norm > 0.5  # clipping at 0.5 below has something to do
    network, centres = _one_step(0.5)
    assert network.norm().item() <= 0.5 * (1 + 1e-4)
    assert torch.allclose(network, free_network * (0.5 / norm), atol=1e-6, rtol=1e-3)
    assert torch.allclose(centres, free_centres)  # the class centres are not clipped
    loose_network, _ = _one_step(norm * 2)
    assert torch.allclose(loose_network, free_network)  # under the norm: untouched
