"""An exponential moving average (EMA) of the network's weights: the model a run saves and
validates when ``ema_decay`` is set.

A network's weights at the last step carry the noise of the last batches; their running
average over the final stretch of training is a steadier model (Polyak averaging; timm's
``ModelEmaV3`` and torchvision's reference recipes keep one). The averaging itself is
PyTorch's :class:`torch.optim.swa_utils.AveragedModel` (parameters and buffers, so batch norm's
running statistics are averaged too); this module only chooses the decay per update:
``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, TensorFlow's
``ExponentialMovingAverage(num_updates=n)`` rule, so a short run is not dominated by its
random initial weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_decay_at(decay: float, updates: int) -> float:
    """The decay of update number ``updates`` (0-based): ``min(decay, (1 + n) / (10 + n))``
    (TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``)."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAverage:
    """The EMA of ``network``'s parameters and buffers. ``update(network)`` after each
    optimizer step; ``module`` is the averaged copy (same class, same device, eval it as the
    network). ``decay`` in (0, 1): the weight of the average so far at each update."""

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self._averaged = AveragedModel(network, multi_avg_fn=self._average, use_buffers=True)

    @property
    def module(self) -> nn.Module:
        return self._averaged.module

    def update(self, network: nn.Module) -> None:
        """Fold ``network``'s current weights into the average (the first update copies them)."""
        self._averaged.update_parameters(network)
        self.updates += 1

    def _average(self, averaged: list[torch.Tensor], current: list[torch.Tensor], _: Any) -> None:
        # AveragedModel groups tensors by device and dtype: floats are interpolated, integer
        # buffers (batch norm's num_batches_tracked) take the network's value
        weight = 1.0 - ema_decay_at(self.decay, self.updates)
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, weight)  # as torch's get_ema_multi_avg_fn
        else:
            for mine, theirs in zip(averaged, current, strict=True):
                mine.copy_(theirs)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged network's state dict (CPU tensors), as the network's own would be."""
        return {k: v.detach().cpu() for k, v in self.module.state_dict().items()}

    def load(self, state: dict[str, torch.Tensor], updates: int) -> None:
        """Restore an average saved by :meth:`state_dict` after ``updates`` updates."""
        self.module.load_state_dict(state)
        self.updates = updates
        self._averaged.n_averaged.fill_(updates)
