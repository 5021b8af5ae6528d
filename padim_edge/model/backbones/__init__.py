"""The backbones padim-edge knows: their constructors, channels, normalisation and default weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from padim_edge.errors import UserError
from padim_edge.model.backbones.efficientnet_lite import efficientnet_lite0
from padim_edge.model.backbones.resnet import resnet18, wide_resnet50_2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """What padim-edge needs to know about a backbone."""

    build: Callable[[], nn.Module]
    channels: tuple[int, int, int]  # per tapped stage, strides 4/8/16
    default_d: int
    mean: tuple[float, float, float]  # RGB normalisation
    std: tuple[float, float, float]
    url: str | None  # official ImageNet weights, fetched through torch.hub when online
    unused_prefixes: tuple[str, ...]  # checkpoint entries past the truncation point


BACKBONES: dict[str, BackboneSpec] = {
    # d = 100 for Lite0 was chosen by measurement on MVTec screw (docs/choices.md).
    "efficientnet_lite0": BackboneSpec(
        efficientnet_lite0,
        (24, 40, 112),
        100,
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        None,
        tuple(f"_blocks.{i}." for i in range(11, 16)) + ("_conv_head.", "_bn1.", "_fc."),
    ),
    "resnet18": BackboneSpec(
        resnet18,
        (64, 128, 256),
        100,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "https://download.pytorch.org/models/resnet18-f37072fd.pth",
        ("layer4.", "fc."),
    ),
    "wide_resnet50_2": BackboneSpec(
        wide_resnet50_2,
        (256, 512, 1024),
        550,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "https://download.pytorch.org/models/wide_resnet50_2-95faca4d.pth",
        ("layer4.", "fc."),
    ),
}


def get_backbone(name: str) -> BackboneSpec:
    """Look a backbone up by name; an unknown name is a UserError listing the known ones."""
    if name not in BACKBONES:
        raise UserError(f"unknown backbone '{name}' (choose from: {', '.join(BACKBONES)})")
    return BACKBONES[name]
