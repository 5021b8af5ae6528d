"""Fit PaDiM on good images: stream features into per-position Gaussians, set a threshold, save a run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from padim_edge import __version__
from padim_edge.config import ModelConfig, package_versions
from padim_edge.data import DatasetSplit, Sample, iter_batches
from padim_edge.errors import UserError
from padim_edge.model.backbones import get_backbone
from padim_edge.model.build import assemble, select_channels
from padim_edge.model.graph import MahalanobisHead, PadimGraph
from padim_edge.model.run_dir import save_run
from padim_edge.model.statistics import StreamingGaussian
from padim_edge.model.weights import load_backbone
from padim_edge.progress import progress


@dataclass
class FitOptions:
    """Settings of a fit. All three stages, as the paper; resize 224 without a crop rather than the paper's
    256/224, because the crop cuts off object parts near the border (screw image AUROC 0.850 vs 0.797,
    docs/choices.md)."""

    backbone: str = "efficientnet_lite0"
    weights: str = "default"
    d: int | None = None
    layers: tuple[int, ...] = (1, 2, 3)
    resize: int = 224
    input_size: int = 224
    holdout: float = 0.1
    threshold_quantile: float = 0.99
    batch_size: int = 16
    seed: int = 0
    show_progress: bool = True


def split_holdout(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Seeded split of the good images into (fit, held-out); at least 2 stay in the fit."""
    if not 0 <= fraction < 1:
        raise UserError(f"--holdout {fraction}: must be in [0, 1)")
    order = np.random.default_rng(seed).permutation(len(samples))
    n_hold = min(math.ceil(len(samples) * fraction), len(samples) - 2) if fraction > 0 else 0
    if len(samples) - n_hold < 2:
        raise UserError(f"need at least 2 good training images, found {len(samples)}")
    hold = sorted(order[:n_hold].tolist())
    keep = sorted(order[n_hold:].tolist())
    return [samples[i] for i in keep], [samples[i] for i in hold]


@torch.inference_mode()
def score_samples(
    graph: PadimGraph, samples: list[Sample], resize: int, batch_size: int, label: str, show: bool = True
) -> np.ndarray:
    """Image scores of `samples` through the PyTorch reference graph."""
    scores = []
    batches = iter_batches(samples, batch_size, resize, graph.post.size)
    for batch in progress(batches, math.ceil(len(samples) / batch_size), label, show):
        scores.append(graph(torch.from_numpy(batch.images))[1].numpy())
    return np.concatenate(scores) if scores else np.zeros(0, np.float32)


def threshold_from_scores(scores: np.ndarray, quantile: float) -> float | None:
    """The image threshold: the `quantile` of held-out good scores (linear interpolation)."""
    return float(np.quantile(scores, quantile)) if scores.size else None


@torch.inference_mode()
def fit(split: DatasetSplit, out_dir: Path, options: FitOptions, data_root: Path | None = None) -> ModelConfig:
    """Fit on `split.train`, hold out a fraction for the threshold, and save the run to `out_dir`."""
    spec = get_backbone(options.backbone)
    if options.input_size < 32 or options.resize < options.input_size:
        raise UserError(f"--input-size {options.input_size} / --resize {options.resize}: need 32 <= size <= resize")
    if not 0 < options.threshold_quantile <= 1:
        raise UserError(f"--threshold-quantile {options.threshold_quantile}: must be in (0, 1]")
    fit_set, held_out = split_holdout(split.train, options.holdout, options.seed)
    layers = list(options.layers)
    indices = select_channels(spec, layers, options.d, options.seed)
    backbone, weights = load_backbone(options.backbone, spec, options.weights, options.seed)
    config = ModelConfig(
        backbone=options.backbone,
        weights_source=weights.source,
        weights_sha256=weights.sha256,
        layers=layers,
        channel_indices=indices,
        d=len(indices),
        resize=options.resize,
        input_size=options.input_size,
        mean=list(spec.mean),
        std=list(spec.std),
        seed=options.seed,
        dataset=split.name,
        category=split.category,
        data_root=str(data_root.resolve()) if data_root else "",
        versions={"padim-edge": __version__, **package_versions("torch", "numpy", "opencv-python-headless")},
    )
    placeholder = torch.zeros(1, len(indices))
    graph = assemble(backbone, config, placeholder, torch.zeros(1, len(indices), len(indices)))
    stats = _accumulate(graph, fit_set, options)
    factor = stats.whitening(config.eps)
    mean = stats.mean.float()
    config.n_train = stats.count
    del stats  # the float64 scatter matrix: the largest buffer of the fit
    graph.head = MahalanobisHead(mean, factor)
    held_scores = score_samples(graph, held_out, options.resize, options.batch_size, "threshold", options.show_progress)
    config.n_holdout = int(held_scores.size)
    config.holdout_scores = [round(float(s), 6) for s in held_scores]
    config.threshold = threshold_from_scores(held_scores, options.threshold_quantile)
    config.threshold_rule = (
        f"quantile {options.threshold_quantile} of {held_scores.size} held-out good images' scores"
        if held_scores.size
        else "none: no held-out images (--holdout 0); pass --threshold at run time"
    )
    save_run(out_dir, config, mean, factor)
    return config


def _accumulate(graph: PadimGraph, samples: list[Sample], options: FitOptions) -> StreamingGaussian:
    stats: StreamingGaussian | None = None
    batches = iter_batches(samples, options.batch_size, options.resize, options.input_size)
    total = math.ceil(len(samples) / options.batch_size)
    for batch in progress(batches, total, "fit", options.show_progress):
        emb = graph.embedding(torch.from_numpy(batch.images))  # [B, d, h, w]
        emb = emb.flatten(2).transpose(1, 2)  # [B, P, d]
        if stats is None:
            stats = StreamingGaussian(emb.shape[1], emb.shape[2])
        stats.update(emb)
    if stats is None or stats.count < 2:
        raise UserError(f"need at least 2 readable good training images, got {0 if stats is None else stats.count}")
    return stats
