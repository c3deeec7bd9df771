"""Multi-Task ArcFace loss: ArcFace on identities plus a damped cross-entropy on mask usage.

``loss = CE(s * cos(theta_y + m), y) + w * log(CE(mask_logits, mask_label) + 1)``, ``w`` the
mask weight (1 in the paper); weight decay is the optimizer's. The mask CE may use label
smoothing ``eps`` (Szegedy et al. 2016, "Rethinking the Inception Architecture", sec. 7;
torch's ``label_smoothing``): targets ``1 - eps + eps / K`` and ``eps / K``; 0 is the paper's.
The margin is applied with autograd through it (no ``no_grad`` trick), in the numerically safe
form: ``cos(theta + m)`` is expanded as ``cos*cos(m) - sin*sin(m)`` with ``sin`` clamped away
from 0, and where ``theta + m`` would pass pi (``cos <= cos(pi - m)``) the logit falls back to
``cos - m*sin(m)`` so it keeps decreasing with theta.

For very many identities the class centres can be sharded across ranks: ``gather_rows``
collects every rank's embeddings and labels, each rank scores them against its own centres, and
``sharded_cross_entropy`` computes the softmax cross-entropy over all classes with three
all-reduces of ``(N,)`` vectors instead of gathering ``(N, num_classes)`` logits.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

_SIN_EPS = 1e-6
"""Floor of sin^2(theta): keeps d sin / d cos finite where cos(theta) reaches +-1."""


def apply_margin(
    cosine: torch.Tensor, labels: torch.Tensor, *, margin: float = 0.5, scale: float = 64.0
) -> torch.Tensor:
    """ArcFace logits ``(N, C)`` float32: ``s * cos(theta + m)`` at each row's target column,
    ``s * cos(theta)`` elsewhere. ``labels (N,)`` holds column indices; -1 marks a row whose
    target is not among these columns (another rank's shard)."""
    cosine = cosine.float().clamp(-1.0, 1.0)
    # gather/scatter on every row (rows without a target write their own value back), so the
    # step never waits for the GPU as boolean indexing would
    cols = labels.clamp(min=0)[:, None]
    target = cosine.gather(1, cols)
    sine = torch.sqrt((1.0 - target * target).clamp(min=_SIN_EPS))
    with_margin = target * math.cos(margin) - sine * math.sin(margin)
    threshold = math.cos(math.pi - margin)
    fallback = target - math.sin(math.pi - margin) * margin
    with_margin = torch.where(target > threshold, with_margin, fallback)
    with_margin = torch.where(labels[:, None] >= 0, with_margin, target)
    return cosine.scatter(1, cols, with_margin) * scale


def mask_loss_term(mask_ce: torch.Tensor) -> torch.Tensor:
    """The damped mask term ``log(CE + 1)`` of Multi-Task ArcFace."""
    return torch.log1p(mask_ce)


def multitask_loss(
    arcface_logits: torch.Tensor,
    identities: torch.Tensor,
    mask_logits: torch.Tensor | None,
    mask_labels: torch.Tensor | None,
    *,
    mask_weight: float = 1.0,
    mask_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(total, arcface CE, mask CE)``; without mask logits the mask CE is 0 and not trained.
    ``mask_weight`` multiplies the damped mask term (1: the paper's loss); ``mask_smoothing``
    is the mask CE's label smoothing (0: none, the paper's)."""
    arc = F.cross_entropy(arcface_logits.float(), identities)
    return _combine(arc, mask_logits, mask_labels, mask_weight, mask_smoothing)


def _combine(
    arc: torch.Tensor,
    mask_logits: torch.Tensor | None,
    mask_labels: torch.Tensor | None,
    mask_weight: float = 1.0,
    mask_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if mask_logits is None or mask_labels is None:
        zero = torch.zeros((), device=arc.device)
        return arc, arc.detach(), zero
    mask = F.cross_entropy(mask_logits.float(), mask_labels, label_smoothing=mask_smoothing)
    return arc + mask_weight * mask_loss_term(mask), arc.detach(), mask.detach()


def sharded_multitask_loss(
    local_logits: torch.Tensor,
    local_labels: torch.Tensor,
    mask_logits: torch.Tensor | None,
    mask_labels: torch.Tensor | None,
    group: Any = None,
    *,
    mask_weight: float = 1.0,
    mask_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``multitask_loss`` where ``local_logits (N_all, C_rank)`` are this rank's columns of the
    logits of every rank's embeddings and ``local_labels`` index them (-1: another rank's)."""
    arc = sharded_cross_entropy(local_logits, local_labels, group)
    return _combine(arc, mask_logits, mask_labels, mask_weight, mask_smoothing)


class _ShardedCrossEntropy(torch.autograd.Function):
    """Mean softmax cross-entropy over classes split across ranks by columns.

    Forward: all-reduce the row maxima, the sums of exponentials and the target logits. Backward
    is local: d loss / d logits = (softmax - onehot) / N for this rank's columns, which is the
    exact gradient of the global loss; no gradient is all-reduced here.
    """

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, labels: torch.Tensor, group: Any) -> torch.Tensor:
        logits = logits.float()
        row_max = logits.detach().max(dim=1).values
        dist.all_reduce(row_max, op=dist.ReduceOp.MAX, group=group)
        exp = torch.exp(logits.detach() - row_max[:, None])
        denom = exp.sum(dim=1)
        dist.all_reduce(denom, op=dist.ReduceOp.SUM, group=group)
        owned = labels >= 0
        cols = labels.clamp(min=0)[:, None]
        target = torch.where(owned, logits.detach().gather(1, cols).squeeze(1), 0.0)
        dist.all_reduce(target, op=dist.ReduceOp.SUM, group=group)
        loss = (torch.log(denom) + row_max - target).mean()
        ctx.save_for_backward(exp / denom[:, None], labels)
        return loss

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        prob, labels = ctx.saved_tensors
        onehot = (labels >= 0).to(prob.dtype)[:, None]
        prob.scatter_add_(1, labels.clamp(min=0)[:, None], -onehot)
        return prob * (grad / prob.shape[0]), None, None


def sharded_cross_entropy(
    local_logits: torch.Tensor, local_labels: torch.Tensor, group: Any = None
) -> torch.Tensor:
    """Mean cross-entropy of logits whose columns are split across the ranks of ``group``."""
    return _ShardedCrossEntropy.apply(local_logits, local_labels, group)


class _GatherRows(torch.autograd.Function):
    """All-gather equal-sized row blocks; the backward sums every rank's gradient for this
    rank's rows and multiplies it by ``grad_scale``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, group: Any, grad_scale: float) -> torch.Tensor:
        world = dist.get_world_size(group)
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous(), group=group)
        ctx.group, ctx.grad_scale, ctx.rows = group, grad_scale, x.shape[0]
        ctx.rank = dist.get_rank(group)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        start = ctx.rank * ctx.rows
        return grad[start : start + ctx.rows] * ctx.grad_scale, None, None


def gather_rows(x: torch.Tensor, group: Any = None, grad_scale: float = 1.0) -> torch.Tensor:
    """Every rank's ``x`` (same shape on all ranks) stacked in rank order, differentiable.

    With DistributedDataParallel averaging gradients over ranks, pass ``grad_scale=world_size``
    so that a loss already averaged over all gathered rows gets its exact gradient.
    """
    if not x.requires_grad:
        world = dist.get_world_size(group)
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous(), group=group)
        return torch.cat(parts)
    return _GatherRows.apply(x, group, grad_scale)
