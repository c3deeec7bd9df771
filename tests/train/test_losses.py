"""ArcFace margin, the multi-task loss and the sharded cross-entropy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from maskgen.train.heads import ArcFaceHead, init_class_centres, shard_range
from maskgen.train.losses import apply_margin, multitask_loss, sharded_cross_entropy

pytestmark = pytest.mark.torch


def test_margin_matches_acos_and_its_fallback() -> None:
    cosine = torch.tensor([[0.9, 0.1, -0.2], [0.3, -0.95, 0.5], [0.0, 0.2, -0.99]])
    labels = torch.tensor([0, 1, -1])
    out = apply_margin(cosine, labels, margin=0.5, scale=64.0)
    # row 0: theta + m < pi -> cos(acos(0.9) + 0.5)
    assert out[0, 0].item() == pytest.approx(64 * math.cos(math.acos(0.9) + 0.5), rel=1e-5)
    # row 1: theta + m > pi -> the decreasing fallback cos - m sin(m)
    assert out[1, 1].item() == pytest.approx(64 * (-0.95 - 0.5 * math.sin(0.5)), rel=1e-5)
    # non-target logits and the row whose class is elsewhere (-1) are s * cos
    assert torch.allclose(out[0, 1:], 64 * cosine[0, 1:])
    assert torch.allclose(out[2], 64 * cosine[2])


def test_margin_gradient_is_exact() -> None:
    c = 0.6
    cosine = torch.tensor([[c, 0.2]], requires_grad=True)
    apply_margin(cosine, torch.tensor([0]), margin=0.5, scale=1.0)[0, 0].backward()
    # d/dc cos(acos(c) + m) = cos(m) + sin(m) * c / sqrt(1 - c^2)
    expected = math.cos(0.5) + math.sin(0.5) * c / math.sqrt(1 - c * c)
    assert cosine.grad[0, 0].item() == pytest.approx(expected, rel=1e-5)
    assert cosine.grad[0, 1].item() == 0.0
    edge = torch.tensor([[1.0, 0.0]], requires_grad=True)
    apply_margin(edge, torch.tensor([0]))[0, 0].backward()
    assert torch.isfinite(edge.grad).all()


def test_multitask_loss_is_arcface_plus_log_mask() -> None:
    g = torch.Generator().manual_seed(0)
    logits, ids = torch.randn(8, 5, generator=g), torch.randint(0, 5, (8,), generator=g)
    mask_logits, masks = torch.randn(8, 2, generator=g), torch.randint(0, 2, (8,), generator=g)
    total, arc, mask = multitask_loss(logits, ids, mask_logits, masks)
    ce_arc, ce_mask = F.cross_entropy(logits, ids), F.cross_entropy(mask_logits, masks)
    assert arc.item() == pytest.approx(ce_arc.item())
    assert mask.item() == pytest.approx(ce_mask.item())
    assert total.item() == pytest.approx(ce_arc.item() + math.log(ce_mask.item() + 1), rel=1e-6)
    alone, _, zero = multitask_loss(logits, ids, None, None)
    assert alone.item() == pytest.approx(ce_arc.item()) and zero.item() == 0.0
    heavier, _, _ = multitask_loss(logits, ids, mask_logits, masks, mask_weight=2.5)
    expected = ce_arc.item() + 2.5 * math.log(ce_mask.item() + 1)
    assert heavier.item() == pytest.approx(expected, rel=1e-6)


def test_mask_smoothing_softens_the_mask_targets() -> None:
    g = torch.Generator().manual_seed(3)
    logits, ids = torch.randn(8, 5, generator=g), torch.randint(0, 5, (8,), generator=g)
    masks = torch.randint(0, 2, (8,), generator=g)
    # a confident, right mask head: plain CE is near 0, smoothed CE is not
    sure = torch.where(masks[:, None] == torch.arange(2), 12.0, -12.0)
    _, _, plain = multitask_loss(logits, ids, sure, masks)
    _, _, smooth = multitask_loss(logits, ids, sure, masks, mask_smoothing=0.1)
    # by hand: targets 0.95 / 0.05, so CE = -(0.95 log p + 0.05 log(1 - p))
    log_p = F.log_softmax(sure, dim=1)
    target = torch.where(masks[:, None] == torch.arange(2), 0.95, 0.05)
    assert smooth.item() == pytest.approx(-(target * log_p).sum(1).mean().item(), rel=1e-6)
    assert plain.item() < 1e-9 < 0.5 < smooth.item()
    # its minimum over a logit gap d sits at d = log(0.95 / 0.05), not at infinity
    gaps = torch.linspace(0.0, 12.0, 241)
    losses = [
        multitask_loss(logits, ids, torch.tensor([[0.0, float(d)]]), torch.tensor([1]),
                       mask_smoothing=0.1)[2].item()
        for d in gaps
    ]  # fmt: skip
    best = gaps[int(torch.tensor(losses).argmin())].item()
    assert best == pytest.approx(math.log(0.95 / 0.05), abs=0.05)


def test_sharded_cross_entropy_equals_cross_entropy_on_one_rank() -> None:
    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    try:
        g = torch.Generator().manual_seed(1)
        logits = (torch.randn(6, 9, generator=g) * 20).requires_grad_()
        labels = torch.randint(0, 9, (6,), generator=g)
        loss = sharded_cross_entropy(logits, labels)
        loss.backward()
        reference = logits.detach().clone().requires_grad_()
        expected = F.cross_entropy(reference, labels)
        expected.backward()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
        assert torch.allclose(logits.grad, reference.grad, atol=1e-7)
    finally:
        dist.destroy_process_group()


def test_class_centre_shards_are_rows_of_the_whole() -> None:
    whole = init_class_centres(10_000, 8, seed=5)
    for world in (1, 3, 7):
        parts = [
            init_class_centres(10_000, 8, 5, *shard_range(10_000, r, world)) for r in range(world)
        ]
        assert torch.equal(torch.cat(parts), whole)
    assert shard_range(10, 0, 3) == (0, 4) and shard_range(10, 2, 3) == (7, 10)
    assert not torch.equal(init_class_centres(10, 8, seed=6), whole[:10])


def test_arcface_head_returns_cosines() -> None:
    head = ArcFaceHead(4, 3, seed=0)
    with torch.no_grad():
        head.weight.copy_(torch.eye(4, 3) * 5)
    cos = head(torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 4.0]]))
    assert torch.allclose(cos[0], torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert torch.allclose(cos[1], torch.tensor([0.0, 0.6, 0.8, 0.0]))
