"""Every configuration `make bench` measures, and how often: a change of the product's default is one edit here.

`DEFAULT` mirrors `padim-edge fit`'s defaults (the report says when the two drift apart); the sweeps vary one
field of it at a time, so they follow it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from padim_edge.contract.architectures import ARCHITECTURES

SHORT = {"efficientnet_lite0": "lite0", "resnet18": "r18", "wide_resnet50_2": "wr50"}


@dataclass(frozen=True)
class Config:
    """One PaDiM model. `real`: ImageNet weights fitted on the data; otherwise random weights and synthetic
    statistics (the arithmetic, hence the speed, is the same; the accuracy means nothing)."""

    backbone: str
    size: int | tuple[int, int]  # the shorter side (the other follows the training images), or (H, W)
    d: int
    real: bool
    layers: tuple[str, ...] | None = None  # None: the backbone's default taps
    pooling: tuple[int, ...] | None = None  # None: the backbone's default (fit's rule)
    resize_mode: str = "stretch"
    cov_block: int | None = None  # None: the backbone's default
    prior_weight: float | None = None  # None: fit's default (d)

    @property
    def taps(self) -> tuple[str, ...]:
        return self.layers or ARCHITECTURES[self.backbone].default_taps

    @property
    def pooling_sizes(self) -> tuple[int, ...]:
        """The local average per tap that fit applies for this configuration."""
        if self.pooling:
            return self.pooling * len(self.taps) if len(self.pooling) == 1 else self.pooling
        return ARCHITECTURES[self.backbone].default_pooling if self.layers is None else (1,) * len(self.taps)

    @property
    def tile(self) -> int:
        """The covariance tile side that fit uses for this configuration."""
        return self.cov_block or ARCHITECTURES[self.backbone].default_cov_block

    @property
    def name(self) -> str:
        size = self.size if isinstance(self.size, int) else f"{self.size[0]}x{self.size[1]}"
        name = f"{SHORT[self.backbone]}@{size}-d{self.d}"
        if self.layers:
            name += "-" + "+".join(self.layers)
        if self.pooling:
            name += "-pool" + ",".join(map(str, self.pooling_sizes))
        if self.cov_block:
            name += f"-tile{self.cov_block}"
        if self.prior_weight is not None:
            name += f"-prior{self.prior_weight:g}"
        return name + ("" if self.resize_mode == "stretch" else f"-{self.resize_mode}")

    @property
    def key(self) -> str:
        """Cache folder name (no characters a shell or a filesystem minds)."""
        return re.sub(r"[^A-Za-z0-9._-]", "-", self.name)

    @property
    def square_hw(self) -> tuple[int, int]:
        """The input H x W of a synthetic run (no images to take an aspect ratio from)."""
        return (self.size, self.size) if isinstance(self.size, int) else self.size

    def fit_options(self, **changes: object):
        """The `padim_edge.fit.FitOptions` of this configuration."""
        from padim_edge.fit import FitOptions

        settings = dict(
            backbone=self.backbone,
            d=self.d,
            layers=self.layers,
            pooling=self.pooling,
            cov_block=self.cov_block,
            prior_weight=self.prior_weight,
            input_size=self.size,
            resize_mode=self.resize_mode,
            show_progress=False,
        )
        return FitOptions(**{**settings, **changes})


DEFAULT = Config("efficientnet_lite0", 224, 152, True)
#: padim-edge 0.2's default: three taps (stride 4, 8, 16), 100 of their 176 channels drawn at random, no prior.
PREVIOUS = Config(
    "efficientnet_lite0", 224, 100, True, ("blocks.2", "blocks.4", "blocks.10"), (3, 1, 1), prior_weight=0.0
)
R18_224 = Config("resnet18", 224, 100, False)
R18_256 = Config("resnet18", 256, 100, False)  # anomalib's resnet18 default, at its export size (issue 13)
WR50_550 = Config("wide_resnet50_2", 224, 550, False)

# Datasets the default is fitted and scored on (MVTec AD layout under --data-root, ELPV from its package).
DATASETS = (("mvtec", "screw"), ("mvtec", "bottle"), ("mvtec", "tire"), ("elpv", "mono"))
QUICK_DATASETS = (("mvtec", "screw"),)

# Timing (benchmarks/latency.py): per model, `ROUNDS` fresh processes, the models alternating; in each,
# `WARMUP` untimed then `CALLS` timed calls per batch size.
ROUNDS, CALLS, WARMUP = 3, 40, 5
QUICK_ROUNDS, QUICK_CALLS, QUICK_WARMUP = 2, 10, 2
CURVE_BATCHES = (1, 4, 8, 16)  # the default: the latency curve
BATCHES = (1, 8)  # every other model
THREADS = 2  # onnxruntime intra-op threads (and PyTorch's), spinning off
SMALL_CPU_THREADS = 1  # the small-CPU row: the default at batch 1 on one core, as on a Jetson's or a gateway's
CAMERA_FPS = 30  # the camera rate the small-CPU row is held to

FIT_SCALING = (25, 50, 100, 200, 320)
QUICK_FIT_SCALING = (25, 50)
CALIB_IMAGES, QUICK_CALIB_IMAGES = 64, 16
PIPELINE_FRAMES, QUICK_PIPELINE_FRAMES = 300, 60
QUICK_TEST_IMAGES = 40  # --quick scores a subset of each test split (goods and defects in proportion)


def accuracy_sweep(quick: bool) -> list[Config]:
    """Fitted on screw (only Lite0 has ImageNet weights here): 0.1's and 0.2's features, fewer channels, the
    input size and a covariance per position, around the default (which keeps every channel of its taps).
    """
    if quick:
        return [DEFAULT]
    return [
        replace(PREVIOUS, pooling=(1,), cov_block=1),  # padim-edge 0.1's graph: no average, a covariance per position
        PREVIOUS,  # padim-edge 0.2's default
        replace(DEFAULT, d=100),
        DEFAULT,
        replace(DEFAULT, size=256),
        replace(DEFAULT, size=320),
        replace(DEFAULT, cov_block=1),  # one covariance per position
    ]


def speed_only(quick: bool, large: bool) -> list[Config]:
    """Random-weight ResNets (no ImageNet weights here): speed only. The wider sweep only with --large."""
    if quick:
        return [R18_224]
    wider = [replace(R18_224, size=320), replace(R18_224, d=200), replace(WR50_550, d=100), WR50_550]
    return [R18_224, R18_256] + (wider if large else [])


def default_drift() -> list[str]:
    """Fields where `DEFAULT` differs from `padim-edge fit`'s defaults (empty when they agree)."""
    from padim_edge.fit import FitOptions

    fit = FitOptions()
    arch = ARCHITECTURES[fit.backbone]
    theirs = {
        "backbone": fit.backbone,
        "d": fit.d or arch.default_d,
        "taps": tuple(fit.layers or arch.default_taps),
        "pooling": fit.pooling,
        "size": fit.input_size,
        "resize_mode": fit.resize_mode,
        "cov_block": fit.cov_block or arch.default_cov_block,
    }
    ours = {**{k: getattr(DEFAULT, k) for k in theirs}, "cov_block": DEFAULT.tile}
    return [f"{k}: benchmarks {ours[k]!r}, padim-edge fit {theirs[k]!r}" for k in theirs if ours[k] != theirs[k]]
