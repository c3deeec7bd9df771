"""Settings ``maskgen train`` chooses for the data and the machine when they are not given.

- ``batch_size``: the paper's 512, halved until an epoch holds at least
  :data:`MIN_BATCHES_PER_EPOCH` batches (a 294-image set gets 64, not a refusal), kept a
  multiple of the process count.
- ``workers`` (loader processes per training process): the cores this process may use, shared
  among the processes on this node, less one for the training step itself; at most
  :data:`MAX_WORKERS`.
- ``threads`` (torch's intra-op threads, CPU training only): the cores left beside the automatic
  number of workers, at least 1, whatever ``workers`` is given: the thread count changes the
  order of floating-point sums, so it must not change when a run is resumed with other
  ``--workers``. On CUDA torch's own choice stands.

torch's OpenMP threads spin while they wait for work; on a CPU shared with loader workers or
other jobs they take cycles from them. ``maskgen train`` therefore sets ``OMP_WAIT_POLICY=PASSIVE``
before torch loads (:func:`passive_openmp`) unless the environment says otherwise; see the README
(Performance) for the measured effect.

This module imports no torch.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from maskgen.errors import TrainingError
from maskgen.train.config import TrainConfig
from maskgen.words import count_of

PAPER_BATCH = 512
"""The paper's total batch (Montero et al.), the automatic batch's upper bound."""

MIN_BATCHES_PER_EPOCH = 4
"""An automatic batch leaves at least this many batches per epoch."""

MIN_LOCAL_BATCH = 2
"""Images per process and step at least: the embedding head's batch normalisation cannot
normalise one sample (PyTorch's BatchNorm1d refuses a batch of one while training)."""

MAX_WORKERS = 8
"""The most loader processes chosen automatically per training process."""


@dataclass(frozen=True)
class AutoChoice:
    """What was chosen (None: given, or left to torch) and a line saying why."""

    config: TrainConfig
    notes: tuple[str, ...]


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def resolve_auto(
    config: TrainConfig,
    *,
    num_samples: int,
    world_size: int = 1,
    local_world_size: int = 1,
    device_type: str = "cpu",
    cores: int | None = None,
) -> AutoChoice:
    """``config`` with ``batch_size``, ``workers`` and (on CPU) ``threads`` chosen where they
    are None, and a note per choice. TrainingError where no batch fits ``num_samples``."""
    cores = available_cores() if cores is None else cores
    per_process = max(1, cores // max(local_world_size, 1))
    changes: dict[str, int] = {}
    notes = []
    if config.batch_size is None:
        batch = auto_batch_size(num_samples, world_size)
        changes["batch_size"] = batch
        notes.append(
            f"batch_size {batch} (the paper's {PAPER_BATCH}, halved until the {num_samples} "
            f"images make at least {MIN_BATCHES_PER_EPOCH} batches an epoch)"
            if batch < PAPER_BATCH
            else f"batch_size {batch} (the paper's)"
        )
    auto_workers = min(MAX_WORKERS, per_process - 1)
    if config.workers is None:
        changes["workers"] = auto_workers
        notes.append(
            f"workers {auto_workers} ({count_of(per_process, 'core')} for this process, one kept "
            "for training)"
        )
    if config.threads is None and device_type == "cpu":
        threads = max(1, per_process - auto_workers)
        changes["threads"] = threads
        notes.append(
            f"threads {threads} (torch intra-op threads: the cores beside "
            f"{count_of(auto_workers, 'automatic worker')})"
        )
    return AutoChoice(dataclasses.replace(config, **changes), tuple(notes))


def auto_batch_size(num_samples: int, world_size: int = 1) -> int:
    """:data:`PAPER_BATCH`, halved while an epoch of ``num_samples`` would hold fewer than
    :data:`MIN_BATCHES_PER_EPOCH` batches, never below :data:`MIN_LOCAL_BATCH` samples a
    process; TrainingError where even that does not fit."""
    smallest = MIN_LOCAL_BATCH * world_size
    if num_samples < smallest:
        each = "" if world_size == 1 else f" for each of the {world_size} processes"
        raise TrainingError(
            f"{count_of(num_samples, 'image')} cannot fill a batch of {MIN_LOCAL_BATCH} "
            f"images{each} (batch normalisation needs {MIN_LOCAL_BATCH})"
        )
    batch = PAPER_BATCH
    while batch > smallest and num_samples < MIN_BATCHES_PER_EPOCH * batch:
        batch //= 2
    batch = max(batch, smallest)
    return batch - batch % world_size


def passive_openmp() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep instead of spinning) unless
    the environment sets it; True if set here. Only works before torch is first imported."""
    if "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
