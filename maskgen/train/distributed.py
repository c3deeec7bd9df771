"""Process-group setup for ``torchrun`` launches (one process per GPU, or CPU processes).

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; with ``WORLD_SIZE > 1`` the
default group is created here (NCCL on CUDA, gloo on CPU) and destroyed by ``close``. A group
the caller already created is used as is and left alone. Nothing happens at import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from maskgen.errors import ConfigError


@dataclass
class DistContext:
    """This process's place in the run. ``classifier_group`` carries the sharded classifier's
    collectives, apart from DistributedDataParallel's gradient buckets."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    classifier_group: Any = None
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a ConfigError."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device: cuda was asked for, but PyTorch sees no CUDA GPU")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(requested_device: str) -> DistContext:
    """Join (or create) the process group described by torchrun's environment variables."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size <= 1:
        return DistContext(device=device)
    owns = not dist.is_initialized()
    if owns:
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, **kwargs)
    group = dist.new_group(list(range(world_size)))
    return DistContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        device=device,
        classifier_group=group,
        owns_group=owns,
    )


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum over ranks (in place; a no-op on one process)."""
    if ctx.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_rows_to_main(
    tensor: torch.Tensor, ctx: DistContext, total_rows: int
) -> torch.Tensor | None:
    """Concatenate every rank's row block (sizes may differ by one) on rank 0, on the CPU;
    None on other ranks."""
    if not ctx.distributed:
        return tensor.detach().cpu()
    rows = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = [torch.zeros_like(rows) for _ in range(ctx.world_size)]
    dist.all_gather(sizes, rows)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.shape[0]] = tensor.detach()
    parts = [torch.empty_like(padded) for _ in range(ctx.world_size)] if ctx.is_main else None
    dist.gather(padded, parts, dst=0)
    if not ctx.is_main:
        return None
    assert parts is not None
    full = torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes, strict=True)]).cpu()
    if full.shape[0] != total_rows:
        raise RuntimeError(f"gathered {full.shape[0]} rows, expected {total_rows}")
    return full


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out
