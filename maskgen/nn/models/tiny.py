"""A tiny residual face network (about 8 M multiply-adds) for CPU tests and quick experiments.

Same input (112x112 RGB), same 7x7 output map and the same two heads as the iresnets, so every
code path of training, checkpoints and evaluation runs on it in seconds.
"""

from __future__ import annotations

import torch
from torch import nn

from maskgen.nn.models.base import FaceNet

TINY_CHANNELS = (16, 32, 64)


class TinyBlock(nn.Module):
    """BN -> strided conv3x3 -> BN -> PReLU -> conv3x3 -> BN, plus a 1x1-conv shortcut."""

    def __init__(self, inplanes: int, planes: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes, 1, stride=2, bias=False), nn.BatchNorm2d(planes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.prelu(self.bn2(self.conv1(self.bn1(x))))
        return self.bn3(self.conv2(out)) + self.downsample(x)


class TinyNet(FaceNet):
    """4x4/4 patch stem (112 -> 28), two residual stages (28 -> 14 -> 7), the shared heads."""

    def __init__(
        self,
        *,
        embedding_size: int = 512,
        dropout: float = 0.4,
        mask_head: bool = True,
        mask_classes: int = 2,
    ) -> None:
        super().__init__()
        c0, c1, c2 = TINY_CHANNELS
        self.conv1 = nn.Conv2d(3, c0, kernel_size=4, stride=4, bias=False)
        self.bn1 = nn.BatchNorm2d(c0)
        self.prelu = nn.PReLU(c0)
        self.layer1 = TinyBlock(c0, c1)
        self.layer2 = TinyBlock(c1, c2)
        self._build_heads(c2, embedding_size, dropout, mask_head, mask_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.layer1(self.prelu(self.bn1(self.conv1(x)))))
