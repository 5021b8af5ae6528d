"""Assemble a PadimGraph from a backbone choice or from a fitted run's config and statistics."""

from __future__ import annotations

import numpy as np
import torch

from padim_edge.config import ModelConfig
from padim_edge.errors import UserError
from padim_edge.model.backbones import BackboneSpec, get_backbone
from padim_edge.model.graph import (
    Embedding,
    MahalanobisHead,
    PadimGraph,
    PostProcess,
    Preprocess,
    fold_bgr_into_stem,
    grid_size,
)
from padim_edge.model.weights import load_backbone


def select_channels(spec: BackboneSpec, layers: list[int], d: int | None, seed: int) -> list[int]:
    """A seeded random subset of d channels over the concatenated stages, sorted (the paper's Rd)."""
    if not layers or any(layer not in (1, 2, 3) for layer in layers) or sorted(set(layers)) != layers:
        raise UserError(f"--layers {','.join(map(str, layers))}: expected an increasing subset of 1,2,3")
    total = sum(spec.channels[layer - 1] for layer in layers)
    d = spec.default_d if d is None else d
    if not 1 <= d <= total:
        raise UserError(f"-d {d}: must be between 1 and {total} (channels in layers {layers})")
    return sorted(np.random.default_rng(seed).choice(total, size=d, replace=False).tolist())


def assemble(backbone: torch.nn.Module, config: ModelConfig, mean: torch.Tensor, factor: torch.Tensor) -> PadimGraph:
    """Wire the pieces around a freshly loaded backbone (its stem is changed to read BGR: assemble it once);
    `factor` is W (lower triangular), stored transposed for the head's MatMul."""
    spec = get_backbone(config.backbone)
    fold_bgr_into_stem(backbone)
    return PadimGraph(
        backbone,
        Preprocess(config.mean, config.std),
        Embedding(config.layers, spec.channels, config.channel_indices),
        MahalanobisHead(mean, factor),
        PostProcess(grid_size(config.input_size), config.input_size, config.sigma),
    ).eval()


def graph_from_run(
    config: ModelConfig,
    mean: torch.Tensor,
    factor: torch.Tensor,
    weights: str | None = None,
) -> PadimGraph:
    """Reload the backbone named in a run's config (checking its checksum) and assemble the graph.

    `weights` overrides the recorded source, for a checkpoint that has moved since the fit.
    """
    spec = get_backbone(config.backbone)
    weights = weights or _weights_arg(config)
    backbone, info = load_backbone(config.backbone, spec, weights, config.seed)
    if info.sha256 != config.weights_sha256:
        raise UserError(
            f"backbone weights {info.source} have sha256 {info.sha256}, the run was fitted with "
            f"{config.weights_sha256}: refit or supply the same file with --weights"
        )
    return assemble(backbone, config, mean, factor)


def _weights_arg(config: ModelConfig) -> str:
    source = config.weights_source
    return "default" if source.startswith(("package:", "https://")) else source
