"""ResNet-18 and Wide-ResNet-50-2 truncated after layer3, with torchvision's state-dict key names.

Written here rather than imported from torchvision, which does not install beside torch 2.13 on these
machines; the module names match torchvision's, so its checkpoints load with strict=True once the unused
`layer4.*` and `fc.*` entries are dropped.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    """ResNet-18/34 block: two 3x3 convolutions."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, width: int = 64) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(cin, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """ResNet-50 style block (1x1, 3x3, 1x1); `width` widens the 3x3 (64 -> 128 for Wide-ResNet-50-2)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, width: int = 64) -> None:
        super().__init__()
        inner = int(planes * width / 64)
        self.conv1 = nn.Conv2d(cin, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = _conv3x3(inner, inner, stride)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = nn.Conv2d(inner, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNetTrunk(nn.Module):
    """Stem and layer1-3 of a torchvision ResNet; forward returns the outputs of the tapped layers
    (`layer1`..`layer3`), in order, and stops after the last one."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        depths: tuple[int, int, int],
        taps: tuple[str, ...],
        width: int = 64,
    ):
        super().__init__()
        self.taps = tuple(taps)
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        stages = []
        for i, (planes, depth) in enumerate(zip((64, 128, 256), depths)):
            blocks = []
            for j in range(depth):
                blocks.append(block(cin, planes, 2 if (i > 0 and j == 0) else 1, width))
                cin = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        taps = []
        for name in ("layer1", "layer2", "layer3"):
            x = getattr(self, name)(x)
            if name in self.taps:
                taps.append(x)
                if len(taps) == len(self.taps):
                    break
        return taps


def resnet18(taps: tuple[str, ...]) -> ResNetTrunk:
    """ResNet-18 through layer3: 64/128/256 channels at strides 4/8/16."""
    return ResNetTrunk(BasicBlock, (2, 2, 2), taps)


def wide_resnet50_2(taps: tuple[str, ...]) -> ResNetTrunk:
    """Wide-ResNet-50-2 through layer3: 256/512/1024 channels at strides 4/8/16."""
    return ResNetTrunk(Bottleneck, (3, 4, 6), taps, width=128)
