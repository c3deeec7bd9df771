"""One training step and the state it updates: ``Trainer``.

The network (optionally DistributedDataParallel), the ArcFace class centres (all of them, or
this rank's shard), SGD (fused on CUDA, foreach on CPU), the learning-rate schedule and the
fp16 grad scaler; ``Trainer.step`` runs forward, the multi-task loss, backward and the update
without synchronising with the GPU. ``loop.py`` drives it; ``benchmarks/train_throughput.py``
times it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from maskgen.errors import CheckpointError, TrainingError
from maskgen.masks.wear import WEAR_CLASSES
from maskgen.nn.models import create_model
from maskgen.nn.preprocess import preprocess
from maskgen.train.config import TrainConfig
from maskgen.train.distributed import DistContext, all_reduce_sum, gather_rows_to_main
from maskgen.train.ema import WeightAverage
from maskgen.train.heads import ArcFaceHead, shard_range
from maskgen.train.losses import apply_margin, gather_rows, multitask_loss, sharded_multitask_loss

_AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def lr_factor(config: TrainConfig, total_steps: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate before optimizer step ``step`` (0-based)."""
    milestones = np.asarray(config.lr_milestones, dtype=np.int64)
    warmup = config.warmup_steps

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if config.schedule == "step":
            return config.lr_gamma ** int(np.searchsorted(milestones, step, side="right"))
        span = max(total_steps - warmup, 1)
        return max(1.0 - (step - warmup) / span, 0.0) ** config.poly_power

    return factor


def resolve_precision(config: TrainConfig, device: torch.device) -> str:
    if config.precision != "auto":
        return config.precision
    return "bf16" if device.type == "cuda" else "fp32"


class Trainer:
    """The network, the ArcFace head, the optimizer, scheduler and grad scaler, and one
    training step. Reused by ``benchmarks/train_throughput.py``."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        num_classes: int,
        mask_head: bool,
        ctx: DistContext,
        total_steps: int,
    ) -> None:
        self.config = config
        self.ctx = ctx
        self.device = ctx.device
        self.num_classes = num_classes
        self.precision = resolve_precision(config, self.device)
        self.autocast_dtype = _AUTOCAST[self.precision]
        self.channels_last = (
            config.channels_last if config.channels_last is not None else self.device.type == "cuda"
        )
        self.sharded = config.sharded_classifier and ctx.distributed
        self.network = create_model(
            config.network,
            embedding_size=config.embedding_size,
            dropout=config.dropout,
            mask_head=mask_head,
            mask_classes=len(WEAR_CLASSES) if config.wear_classes else 2,
        )
        start, stop = (
            shard_range(num_classes, ctx.rank, ctx.world_size) if self.sharded else (0, num_classes)
        )
        if stop <= start:
            raise TrainingError(
                f"sharded classifier: {num_classes} identities for {ctx.world_size} ranks leave "
                f"rank {ctx.rank} without any"
            )
        self.head = ArcFaceHead(
            num_classes, config.embedding_size, seed=config.seed, start=start, stop=stop
        )
        self.network.to(self.device)
        if self.channels_last:
            self.network.to(memory_format=torch.channels_last)
        self.head.to(self.device)
        self.model: nn.Module = self.network
        self.head_module: nn.Module = self.head
        params = [p for p in self.network.parameters() if p.requires_grad] + [self.head.weight]
        self._head_index = len(params) - 1
        kernel = {"fused": True} if self.device.type == "cuda" else {"foreach": True}
        self._kernel = kernel
        self.optimizer = torch.optim.SGD(
            params,
            lr=config.effective_lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            **kernel,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_factor(config, total_steps)
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.last_lr = config.effective_lr
        self.average = (
            WeightAverage(self.network, config.ema_decay) if config.ema_decay is not None else None
        )

    @property
    def inference_network(self) -> nn.Module:
        """The network a run validates and saves: the weights' moving average with
        ``ema_decay``, else the network being trained."""
        return self.average.module if self.average is not None else self.network

    def wrap_distributed(self) -> None:
        """Wrap in DistributedDataParallel (after any weights are loaded)."""
        if not self.ctx.distributed:
            return
        ids = [self.device] if self.device.type == "cuda" else None
        self.model = DistributedDataParallel(self.network, device_ids=ids)
        if not self.sharded:
            self.head_module = DistributedDataParallel(self.head, device_ids=ids)

    def step(
        self, images: torch.Tensor, identities: torch.Tensor, mask_labels: torch.Tensor
    ) -> torch.Tensor:
        """One optimizer step on a batch of ``(B, 112, 112, 3)`` uint8 images; returns the
        ``(6,)`` device tensor (loss, arcface CE, mask CE, count of mask-head argmax equal to
        the label (the wear class with ``wear_classes``), non-finite, count of masked/unmasked
        decisions right) without synchronising. ``mask_labels``: 0/1, or wear classes 0-4.

        With ``clip_grad_norm`` the network's gradients (not the class centres') are scaled
        to that total L2 norm at most before the update, as arcface_torch clips its
        backbone's."""
        x = preprocess(images, device=self.device, channels_last=self.channels_last)
        ids = identities.to(self.device, non_blocking=True)
        masks = mask_labels.to(self.device, non_blocking=True)
        with torch.autocast(
            self.device.type,
            dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None,
        ):
            embeddings, mask_logits = self.model(x)
        loss, arc, mask = self._loss(embeddings, ids, mask_logits, masks)
        self.last_lr = float(self.optimizer.param_groups[0]["lr"])
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients (no-op unless fp16)
            torch.nn.utils.clip_grad_norm_(
                self.network.parameters(), self.config.clip_grad_norm, foreach=True
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with warnings.catch_warnings():
            # GradScaler skips steps with overflowing fp16 gradients by design; the scheduler
            # then warns that it stepped before the optimizer.
            warnings.filterwarnings(
                "ignore", message="Detected call of `lr_scheduler.step", category=UserWarning
            )
            self.scheduler.step()
        if self.average is not None:
            self.average.update(self.network)
        loss = loss.detach()
        if mask_logits is not None:
            predicted = mask_logits.detach().argmax(dim=1)
            correct = (predicted == masks).sum().float()
            masked_right = ((predicted > 0) == (masks > 0)).sum().float()
        else:
            correct = masked_right = torch.zeros((), device=self.device)
        nonfinite = (~torch.isfinite(loss)).float()
        return torch.stack([loss, arc, mask, correct, nonfinite, masked_right])

    def _loss(
        self,
        embeddings: torch.Tensor,
        ids: torch.Tensor,
        mask_logits: torch.Tensor | None,
        masks: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        margin, scale = self.config.margin, self.config.scale
        mask_labels = masks if mask_logits is not None else None
        if not self.sharded:
            logits = apply_margin(self.head_module(embeddings), ids, margin=margin, scale=scale)
            return multitask_loss(
                logits,
                ids,
                mask_logits,
                mask_labels,
                mask_weight=self.config.mask_weight,
                mask_smoothing=self.config.mask_smoothing,
            )
        group = self.ctx.classifier_group
        every = gather_rows(embeddings.float(), group, grad_scale=float(self.ctx.world_size))
        every_ids = gather_rows(ids, group)
        start, stop = self.head.start, self.head.stop
        owned = (every_ids >= start) & (every_ids < stop)
        local = torch.where(owned, every_ids - start, torch.full_like(every_ids, -1))
        logits = apply_margin(self.head(every), local, margin=margin, scale=scale)
        return sharded_multitask_loss(
            logits,
            local,
            mask_logits,
            mask_labels,
            group,
            mask_weight=self.config.mask_weight,
            mask_smoothing=self.config.mask_smoothing,
        )

    def parameters_finite(self) -> bool:
        """Whether every weight is finite on every rank (checked before each save)."""
        bad = torch.zeros((), device=self.device)
        averaged = self.average.module.parameters() if self.average is not None else ()
        for p in [*self.network.parameters(), *averaged, self.head.weight]:
            bad += (~torch.isfinite(p.detach())).any().float()
        return all_reduce_sum(bad, self.ctx).item() == 0

    def state_for_checkpoint(self) -> dict[str, Any] | None:
        """Model (with ``ema_decay``: the average as ``model``, the trained weights as
        ``train_model``), whole class centres, optimizer (with the centres' whole momentum),
        scheduler and scaler states on rank 0 (None elsewhere). Every rank must call it."""
        weight = self._whole_rows(self.head.weight)
        optimizer = self.optimizer.state_dict()
        head_state = optimizer["state"].get(self._head_index)
        if head_state is not None and head_state.get("momentum_buffer") is not None:
            buffer = self._whole_rows(head_state["momentum_buffer"])
            optimizer["state"] = {
                **optimizer["state"],
                self._head_index: {**head_state, "momentum_buffer": buffer},
            }
        if not self.ctx.is_main:
            return None
        trained = {k: v.detach().cpu() for k, v in self.network.state_dict().items()}
        models = {"model": trained}
        if self.average is not None:
            models = {"model": self.average.state_dict(), "train_model": trained}
        return {
            **models,
            "arcface": {"weight": weight},
            "optimizer": optimizer,
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def _whole_rows(self, rows: torch.Tensor) -> torch.Tensor | None:
        """All classes' rows of a per-class tensor, on rank 0 (gathered when sharded)."""
        if self.sharded:
            return gather_rows_to_main(rows, self.ctx, self.num_classes)
        return rows.detach().cpu()

    def load_checkpoint_state(self, ckpt: dict[str, Any], path: Path) -> None:
        """Restore what ``state_for_checkpoint`` saved, taking this rank's rows of the centres."""
        weight = ckpt["arcface"].get("weight")
        if weight is None or tuple(weight.shape) != (self.num_classes, self.config.embedding_size):
            shape = None if weight is None else tuple(weight.shape)
            raise CheckpointError(
                f"{path}: class centres of shape {shape}, this run needs "
                f"({self.num_classes}, {self.config.embedding_size}): another dataset?"
            )
        self.network.load_state_dict(ckpt.get("train_model", ckpt["model"]))
        if self.average is not None and "train_model" in ckpt:
            self.average.load(ckpt["model"], updates=int(ckpt["step"]))
        start, stop = self.head.start, self.head.stop
        with torch.no_grad():
            self.head.weight.copy_(weight[start:stop])
        optimizer = ckpt["optimizer"]
        head_state = optimizer["state"].get(self._head_index)
        if head_state is not None and head_state.get("momentum_buffer") is not None:
            rows = head_state["momentum_buffer"][start:stop]
            optimizer = {
                **optimizer,
                "state": {
                    **optimizer["state"],
                    self._head_index: {**head_state, "momentum_buffer": rows},
                },
            }
        self.optimizer.load_state_dict(optimizer)
        for group in self.optimizer.param_groups:
            group["fused"] = self._kernel.get("fused", False)
            group["foreach"] = self._kernel.get("foreach", False)
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler.is_enabled() and ckpt["scaler"]:
            self.scaler.load_state_dict(ckpt["scaler"])
