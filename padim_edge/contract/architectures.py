"""What the contract needs to know of each backbone, without torch: its feature taps and normalisation.

A tap is a module output the embedding can read, named as in the backbone's state dict (torchvision's
`layer1`..`layer3` for ResNets, `blocks.N` for EfficientNet-Lite0), with its channel count and stride.
`padim_edge.model.backbones` pairs each entry with a PyTorch constructor.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Tap:
    """One feature map the embedding can read."""

    channels: int
    stride: int


@dataclass(frozen=True)
class Architecture:
    """A backbone's taps (in forward order), its defaults (taps, d, local average per tap, covariance eps,
    covariance tile), and its RGB input normalisation. `default_d` caps d when `-d` is not given (d is then
    the taps' channel count, if smaller). Lite0's defaults were chosen on every dataset at hand
    (docs/choices.md); the ResNets' are the paper's, which cannot be measured here (no ImageNet weights)."""

    taps: dict[str, Tap]
    default_taps: tuple[str, ...]
    default_d: int
    default_pooling: tuple[int, ...]
    default_eps: float
    default_cov_block: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


# EfficientNet-Lite0 blocks 0..10 (the trunk stops after the stride-16 stage).
_LITE0_BLOCKS = (
    (16, 2),
    (24, 4),
    (24, 4),
    (40, 8),
    (40, 8),
    (80, 16),
    (80, 16),
    (80, 16),
    (112, 16),
    (112, 16),
    (112, 16),
)

ARCHITECTURES: dict[str, Architecture] = {
    "efficientnet_lite0": Architecture(
        taps={f"blocks.{i}": Tap(c, s) for i, (c, s) in enumerate(_LITE0_BLOCKS)},
        default_taps=("blocks.4", "blocks.10"),
        default_d=152,  # every channel of the two default taps (40 + 112): no random draw
        default_pooling=(3, 1),
        default_eps=1.0,
        default_cov_block=2,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    ),
    "resnet18": Architecture(
        taps={"layer1": Tap(64, 4), "layer2": Tap(128, 8), "layer3": Tap(256, 16)},
        default_taps=("layer1", "layer2", "layer3"),
        default_d=100,
        default_pooling=(1, 1, 1),
        default_eps=0.01,
        default_cov_block=1,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    ),
    "wide_resnet50_2": Architecture(
        taps={"layer1": Tap(256, 4), "layer2": Tap(512, 8), "layer3": Tap(1024, 16)},
        default_taps=("layer1", "layer2", "layer3"),
        default_d=550,
        default_pooling=(1, 1, 1),
        default_eps=0.01,
        default_cov_block=1,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    ),
}


def tap_channels(backbone: str, taps: list[str] | tuple[str, ...]) -> int:
    """Channels of the concatenated taps."""
    arch = ARCHITECTURES[backbone]
    return sum(arch.taps[t].channels for t in taps)
