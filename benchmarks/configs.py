"""The configurations `make bench` measures: backbone, input size, d, and where the statistics come from."""

from __future__ import annotations

import math
from dataclasses import dataclass

SHORT = {"efficientnet_lite0": "lite0", "resnet18": "r18", "wide_resnet50_2": "wr50"}


@dataclass(frozen=True)
class Config:
    """One PaDiM model. `real`: ImageNet weights fitted on screw; else random weights, synthetic statistics."""

    backbone: str
    input_size: int
    d: int
    real: bool

    @property
    def name(self) -> str:
        return f"{SHORT[self.backbone]}@{self.input_size}-d{self.d}"

    @property
    def key(self) -> str:
        """Cache folder name (no characters a shell or a filesystem minds)."""
        return self.name.replace("@", "-")

    @property
    def positions(self) -> int:
        return math.ceil(self.input_size / 4) ** 2


DEFAULT = Config("efficientnet_lite0", 224, 100, True)
R18_224 = Config("resnet18", 224, 100, False)
R18_256 = Config("resnet18", 256, 100, False)
WR50_550 = Config("wide_resnet50_2", 224, 550, False)


def accuracy_sweep(quick: bool) -> list[Config]:
    """Fitted on screw (only Lite0 has ImageNet weights here): d at 224, then input size at d=100.

    Lite0 has 176 channels in its three stages, so d=176 (all of them) stands in for d=200.
    """
    if quick:
        return [DEFAULT]
    lite0 = "efficientnet_lite0"
    return [
        Config(lite0, 224, 50, True),
        DEFAULT,
        Config(lite0, 224, 176, True),
        Config(lite0, 256, 100, True),
        Config(lite0, 320, 100, True),
    ]


def speed_only(quick: bool, large: bool) -> list[Config]:
    """Random-weight ResNets (no ImageNet weights here): speed only."""
    if quick:
        return [R18_224]
    configs = [
        R18_224,
        R18_256,
        Config("resnet18", 320, 100, False),
        Config("resnet18", 224, 200, False),
        Config("wide_resnet50_2", 224, 100, False),
    ]
    return configs + ([WR50_550] if large else [])


def reference_configs(quick: bool) -> list[Config]:
    """Configurations also built with the straightforward (reference) formulation."""
    return [DEFAULT] if quick else [DEFAULT, R18_224, R18_256]
