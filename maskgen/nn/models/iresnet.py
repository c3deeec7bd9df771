"""insightface's improved ResNet ("iresnet", Duta et al. 2020, as in arcface_torch).

112x112 RGB -> stem (conv 3x3, BN, PReLU) -> four stages of IR blocks with 64/128/256/512
channels, each stage halving the resolution -> 512x7x7 -> the shared heads (``base.FaceNet``).
Parameter names are arcface_torch's, so its ``backbone.pth`` state dicts load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from maskgen.nn.models.base import FaceNet

IRESNET_LAYERS: dict[str, tuple[int, int, int, int]] = {
    "r18": (2, 2, 2, 2),
    "r34": (3, 4, 6, 3),
    "r50": (3, 4, 14, 3),
    "r100": (3, 13, 30, 3),
}
"""IR blocks per stage for each depth."""

STAGE_CHANNELS = (64, 128, 256, 512)


def _conv3x3(inplanes: int, planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """BN -> conv3x3 -> BN -> PReLU -> conv3x3 (strided) -> BN, plus the (projected) input."""

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = _conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv1(self.bn1(x)))
        out = self.bn3(self.conv2(self.prelu(out)))
        return out + shortcut


def _make_stage(inplanes: int, planes: int, blocks: int) -> nn.Sequential:
    """One stage: a strided block with a 1x1-conv + BN shortcut, then ``blocks - 1`` plain ones."""
    downsample = nn.Sequential(
        nn.Conv2d(inplanes, planes, kernel_size=1, stride=2, bias=False),
        nn.BatchNorm2d(planes, eps=1e-5),
    )
    layers = [IBasicBlock(inplanes, planes, stride=2, downsample=downsample)]
    layers += [IBasicBlock(planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class IResNet(FaceNet):
    """``forward(x (N, 3, 112, 112)) -> (embedding (N, E), mask_logits (N, 2) | None)``."""

    def __init__(
        self,
        layers: tuple[int, int, int, int],
        *,
        embedding_size: int = 512,
        dropout: float = 0.4,
        mask_head: bool = True,
        mask_classes: int = 2,
    ) -> None:
        super().__init__()
        self.layers = tuple(layers)
        self.conv1 = _conv3x3(3, STAGE_CHANNELS[0])
        self.bn1 = nn.BatchNorm2d(STAGE_CHANNELS[0], eps=1e-5)
        self.prelu = nn.PReLU(STAGE_CHANNELS[0])
        inplanes = STAGE_CHANNELS[0]
        for index, (planes, blocks) in enumerate(zip(STAGE_CHANNELS, layers, strict=True)):
            setattr(self, f"layer{index + 1}", _make_stage(inplanes, planes, blocks))
            inplanes = planes
        self._build_heads(inplanes, embedding_size, dropout, mask_head, mask_classes)
        _init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _init_weights(module: nn.Module) -> None:
    """arcface_torch's initialisation: convs N(0, 0.1), batch norms at identity."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1.0)
            nn.init.constant_(m.bias, 0.0)


def create_iresnet(
    name: str,
    *,
    embedding_size: int = 512,
    dropout: float = 0.4,
    mask_head: bool = True,
    mask_classes: int = 2,
) -> IResNet:
    return IResNet(
        IRESNET_LAYERS[name],
        embedding_size=embedding_size,
        dropout=dropout,
        mask_head=mask_head,
        mask_classes=mask_classes,
    )
