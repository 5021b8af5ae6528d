"""The backbones padim-edge knows: their PyTorch constructors and where their ImageNet weights come from.

Taps, channels and normalisation are described torch-free in `padim_edge.contract.architectures`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from padim_edge.contract.architectures import ARCHITECTURES, Architecture
from padim_edge.errors import UserError
from padim_edge.model.backbones.efficientnet_lite import efficientnet_lite0
from padim_edge.model.backbones.resnet import resnet18, wide_resnet50_2


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone's constructor (given its taps), its description, and its default weights."""

    build: Callable[[tuple[str, ...]], nn.Module]
    arch: Architecture
    url: str | None  # official ImageNet weights, fetched through torch.hub when online
    unused_prefixes: tuple[str, ...]  # checkpoint entries past the truncation point


BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet_lite0": BackboneSpec(
        efficientnet_lite0,
        ARCHITECTURES["efficientnet_lite0"],
        None,
        tuple(f"_blocks.{i}." for i in range(11, 16)) + ("_conv_head.", "_bn1.", "_fc."),
    ),
    "resnet18": BackboneSpec(
        resnet18,
        ARCHITECTURES["resnet18"],
        "https://download.pytorch.org/models/resnet18-f37072fd.pth",
        ("layer4.", "fc."),
    ),
    "wide_resnet50_2": BackboneSpec(
        wide_resnet50_2,
        ARCHITECTURES["wide_resnet50_2"],
        "https://download.pytorch.org/models/wide_resnet50_2-95faca4d.pth",
        ("layer4.", "fc."),
    ),
}


def get_backbone(name: str) -> BackboneSpec:
    """Look a backbone up by name; an unknown name is a UserError listing the known ones."""
    if name not in BACKBONES:
        raise UserError(f"unknown backbone '{name}' (choose from: {', '.join(BACKBONES)})")
    return BACKBONES[name]
