"""Fit PaDiM on good images: stream features into per-position Gaussians, set a threshold, save a run."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from padim_edge import __version__
from padim_edge.contract.schema import FORMAT_VERSION, ModelConfig, SelectionTrial, parse_config
from padim_edge.data import DatasetSplit, Sample, frame_sizes, iter_batches
from padim_edge.data.frame_record import record_frames
from padim_edge.errors import UserError
from padim_edge.imaging.geometry import Geometry, default_input_hw, snap_to_stride
from padim_edge.model.backbones import get_backbone
from padim_edge.model.build import feature_extractor, scoring_graph
from padim_edge.model.channels import RULES, PooledCovariance, channel_count, least_redundant, random_channels
from padim_edge.model.graph import FeatureExtractor, PadimGraph
from padim_edge.model.run_dir import save_run
from padim_edge.model.statistics import StreamingGaussian
from padim_edge.model.sums import Sums
from padim_edge.model.weights import load_backbone
from padim_edge.progress import progress
from padim_edge.versions import package_versions

Log = Callable[[str], None]


@dataclass(kw_only=True)
class FitOptions:
    """Settings of a fit; the defaults and the measurements behind them are in docs/choices.md."""

    backbone: str = "efficientnet_lite0"
    weights: str = "default"
    d: int | None = None
    #: "random" (seeded draw) or "least-redundant" (chosen on the training images; docs/choices.md).
    channels: str = "random"
    layers: tuple[str, ...] | None = None  # None: the backbone's default taps
    pooling: tuple[int, ...] | None = None  # None: the backbone's default for its default taps, else none
    cov_block: int | None = None  # None: the backbone's default
    #: The shorter side (the other follows the training images' aspect ratio), or an explicit (H, W).
    input_size: int | tuple[int, int] = 224
    resize_mode: str = "stretch"
    align: str = "none"
    sigma: float = 4.0
    eps: float | None = None  # None: the backbone's default
    #: Samples' worth of the prior toward the covariance pooled over positions; None: d (docs/choices.md).
    prior_weight: float | None = None
    holdout: float = 0.1
    threshold_quantile: float = 0.99
    batch_size: int = 16
    seed: int = 0
    show_progress: bool = True

    def check(self) -> None:
        """Ranges that can be checked before any image is read."""
        if not 0 <= self.holdout < 1:
            raise UserError(f"--holdout {self.holdout}: must be in [0, 1)")
        if not 0 < self.threshold_quantile <= 1:
            raise UserError(f"--threshold-quantile {self.threshold_quantile}: must be in (0, 1]")
        if self.seed < 0:
            raise UserError(f"--seed {self.seed}: must be 0 or more")
        if self.batch_size < 1:
            raise UserError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.prior_weight is not None and self.prior_weight < 0:
            raise UserError(f"--prior-weight {self.prior_weight}: must be 0 or more")
        if self.channels not in RULES:
            raise UserError(f"--channels {self.channels}: expected one of {', '.join(RULES)}")


def split_holdout(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Seeded split of the good images into (fit, held-out); at least 2 stay in the fit."""
    order = np.random.default_rng(seed).permutation(len(samples))
    n_hold = min(math.ceil(len(samples) * fraction), len(samples) - 2) if fraction > 0 else 0
    if len(samples) - n_hold < 2:
        raise UserError(f"need at least 2 good training images, found {len(samples)}")
    hold = sorted(order[:n_hold].tolist())
    keep = sorted(order[n_hold:].tolist())
    return [samples[i] for i in keep], [samples[i] for i in hold]


def threshold_from_scores(scores: np.ndarray, quantile: float) -> float | None:
    """The image threshold: the `quantile` of held-out good scores (linear interpolation)."""
    return float(np.quantile(scores, quantile)) if scores.size else None


def fit(
    split: DatasetSplit,
    out_dir: Path,
    options: FitOptions,
    data_root: Path | None = None,
    selection: list[SelectionTrial] | None = None,
    selection_rule: str = "",
) -> ModelConfig:
    """Fit on `split.train`, hold out a fraction for the threshold, and save the run to `out_dir` (with the
    trials of `fit --select` that chose these options, when given)."""
    options.check()
    spec = get_backbone(options.backbone)
    fit_set, held_out = split_holdout(split.train, options.holdout, options.seed)
    layers = list(options.layers or spec.arch.default_taps)
    unknown = [t for t in layers if t not in spec.arch.taps]
    if unknown:
        raise UserError(
            f"--layers {','.join(layers)}: {unknown} not among {options.backbone}'s {', '.join(spec.arch.taps)}"
        )
    d, total = channel_count(spec.arch, layers, options.d)
    pooling = options.pooling or (spec.arch.default_pooling if options.layers is None else (1,) * len(layers))
    if len(pooling) == 1:
        pooling = pooling * len(layers)
    if len(pooling) != len(layers):
        raise UserError(f"--pooling {','.join(map(str, pooling))}: one kernel size, or one per layer ({len(layers)})")
    size = options.input_size
    asked = size if isinstance(size, tuple) else default_input_hw(frame_sizes(fit_set), size)
    deepest = max(layers, key=lambda tap: spec.arch.taps[tap].stride)
    stride = spec.arch.taps[deepest].stride
    input_hw = snap_to_stride(asked, stride)
    if input_hw != asked:
        warnings.warn(
            f"--input-size: {asked[0]}x{asked[1]} rounded to {input_hw[0]}x{input_hw[1]}, multiples of "
            f"{options.backbone}'s stride {stride} at {deepest} (its feature grids line up only then)",
            stacklevel=2,
        )
    backbone, weights = load_backbone(options.backbone, spec, options.weights, tuple(layers), options.seed)
    settings = dict(
        format_version=FORMAT_VERSION,
        backbone=options.backbone,
        weights_source=weights.source,
        weights_sha256=weights.sha256,
        layers=layers,
        pooling=list(pooling),
        cov_block=spec.arch.default_cov_block if options.cov_block is None else options.cov_block,
        channel_indices=list(range(total)),
        d=total,
        input_height=input_hw[0],
        input_width=input_hw[1],
        resize_mode=options.resize_mode,
        align=options.align,
        mean=list(spec.arch.mean),
        std=list(spec.arch.std),
        sigma=options.sigma,
        eps=spec.arch.default_eps if options.eps is None else options.eps,
        seed=options.seed,
        dataset=split.name,
        category=split.category,
        data_root=str(data_root.resolve()) if data_root else "",
        versions={"padim-edge": __version__, **package_versions("torch", "numpy", "opencv-python-headless")},
    )
    geometry = Geometry.of(parse_config(settings, "fit options"))
    if d == total:  # every channel (the default taps): nothing to choose, no seed
        indices = list(range(total))
    elif options.channels == "random":
        indices = random_channels(total, d, options.seed)
    else:  # on every training image, held-out ones too: the choice depends on the images, not on the seed
        every = feature_extractor(parse_config(settings, "fit options"), backbone)
        indices = least_redundant(_pooled_covariance(every, split.train, geometry, options), d)
    prior = float(d) if options.prior_weight is None else options.prior_weight
    config = parse_config({**settings, "channel_indices": indices, "d": d, "prior_weight": prior}, "fit options")
    config.frame_sizes, config.frame_layout = record_frames(fit_set)
    features = feature_extractor(config, backbone)
    grid = features.grid(config.input_hw)
    stats = accumulate(features, fit_set, geometry, options, StreamingGaussian(grid[0] * grid[1], config.d))
    if stats.count < 2:
        raise UserError(f"need at least 2 readable good training images, got {stats.count}")
    held = np.zeros(0, np.float32)
    if held_out:
        whitening = Sums.pooled(stats, grid, config.cov_block).whitening(config.eps, config.prior_weight)
        held = score_then_add(
            scoring_graph(features, config, stats.mean.float(), whitening), held_out, geometry, stats, options
        )
    sums = Sums.pooled(stats, grid, config.cov_block)  # the held-out images have joined the statistics
    config.n_train, config.n_holdout = stats.count, int(held.size)
    config.holdout_scores = [round(float(s), 6) for s in held]
    config.threshold_quantile = options.threshold_quantile
    config.selection, config.selection_rule = selection or [], selection_rule
    config.threshold = threshold_from_scores(held, options.threshold_quantile)
    config.threshold_rule = (
        f"quantile {options.threshold_quantile} of {held.size} held-out good images' scores, each taken before "
        "the image joined the statistics"
        if held.size
        else "none: no held-out images (--holdout 0); pass --threshold at run time"
    )
    save_run(out_dir, config, sums.mean.float(), sums.whitening(config.eps, config.prior_weight), sums)
    return config


@torch.inference_mode()
def score_then_add(
    graph: PadimGraph, samples: list[Sample], geometry: Geometry, stats: StreamingGaussian, options: FitOptions
) -> np.ndarray:
    """Score each held-out image with the statistics of the others, then add it to them: the threshold comes
    from images the model had not seen, and the final statistics use every good image."""
    scores = []
    batches = iter_batches(samples, options.batch_size, geometry)
    for batch in progress(batches, math.ceil(len(samples) / options.batch_size), "threshold", options.show_progress):
        embedding = graph.embed(graph.backbone(graph.preprocess(torch.from_numpy(batch.images))))
        amap, score = graph.post(graph.head(embedding))
        pairs = zip(batch.placements, amap[:, 0].numpy(), score.numpy())
        scores.append(np.array([p.image_score(m, s) for p, m, s in pairs], np.float32))  # as the runtime scores
        stats.update(embedding.flatten(2).transpose(1, 2))
    return np.concatenate(scores) if scores else np.zeros(0, np.float32)


@torch.inference_mode()
def _pooled_covariance(
    features: FeatureExtractor, samples: list[Sample], geometry: Geometry, options: FitOptions
) -> np.ndarray:
    """The covariance of every channel around each position's mean, pooled over positions (model.channels)."""
    pooled: PooledCovariance | None = None
    batches = iter_batches(samples, options.batch_size, geometry)
    for batch in progress(batches, math.ceil(len(samples) / options.batch_size), "channels", options.show_progress):
        emb = features(torch.from_numpy(batch.images)).flatten(2).transpose(1, 2)  # [B, P, C]
        if pooled is None:
            pooled = PooledCovariance(emb.shape[1], emb.shape[2])
        pooled.update(emb)
    if pooled is None or pooled.count < 2:
        raise UserError(f"need at least 2 readable good training images, got {0 if pooled is None else pooled.count}")
    return pooled.covariance()


@torch.inference_mode()
def accumulate(
    features: FeatureExtractor,
    samples: list[Sample],
    geometry: Geometry,
    options: FitOptions,
    stats: StreamingGaussian,
    label: str = "fit",
) -> StreamingGaussian:
    """Stream the samples' embeddings into `stats` (unreadable images are skipped with a warning)."""
    batches = iter_batches(samples, options.batch_size, geometry)
    total = math.ceil(len(samples) / options.batch_size)
    for batch in progress(batches, total, label, options.show_progress):
        emb = features(torch.from_numpy(batch.images))  # [B, d, h, w]
        stats.update(emb.flatten(2).transpose(1, 2))  # [B, P, d]
    return stats
