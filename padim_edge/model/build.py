"""Assemble the PyTorch graphs of a model: the feature extractor that fit uses, and the full scoring graph
of a fitted run (for evaluation, parity checks and export)."""

from __future__ import annotations

import torch
from torch import nn

from padim_edge.contract.architectures import Architecture
from padim_edge.contract.schema import ModelConfig
from padim_edge.errors import UserError
from padim_edge.model.backbones import get_backbone
from padim_edge.model.channels import channel_count, random_channels
from padim_edge.model.graph import (
    Embedding,
    FeatureExtractor,
    MahalanobisHead,
    PadimGraph,
    PostProcess,
    Preprocess,
    fold_bgr_into_stem,
)
from padim_edge.model.weights import load_backbone


def select_channels(arch: Architecture, taps: list[str], d: int | None, seed: int) -> list[int]:
    """A seeded random subset of d channels over the concatenated taps, sorted (the paper's Rd)."""
    d, total = channel_count(arch, taps, d)
    return random_channels(total, d, seed)


def feature_extractor(config: ModelConfig, backbone: nn.Module, bgr_stem: bool = False) -> FeatureExtractor:
    """Pre-processing, backbone and embedding of `config` around a loaded `backbone`."""
    arch = get_backbone(config.backbone).arch
    channels = [arch.taps[t].channels for t in config.layers]
    embed = Embedding(channels, config.channel_indices, config.pooling)
    return FeatureExtractor(Preprocess(config.mean, config.std, bgr_stem), backbone, embed).eval()


def scoring_graph(
    features: FeatureExtractor, config: ModelConfig, mean: torch.Tensor, factor: torch.Tensor
) -> PadimGraph:
    """The full graph: `features`, the Mahalanobis head on (mean, factor), upsampling, blur and score."""
    grid = features.grid(config.input_hw)
    k = config.cov_block
    tiles = -(-grid[0] // k) * -(-grid[1] // k)
    if mean.shape[0] != grid[0] * grid[1] or factor.shape[0] != tiles:
        raise UserError(
            f"statistics for {mean.shape[0]} positions and {factor.shape[0]} covariances do not fit a "
            f"{grid[0]}x{grid[1]} feature grid with {k}x{k} tiles (the run's files do not belong together)"
        )
    post = PostProcess(grid, config.input_hw, config.sigma)
    return PadimGraph(features, MahalanobisHead(mean, factor, grid, k), post).eval()


def graph_from_run(
    config: ModelConfig,
    mean: torch.Tensor,
    factor: torch.Tensor,
    weights: str | None = None,
    for_export: bool = False,
) -> PadimGraph:
    """Reload the backbone named in a run's config (checking its checksum) and assemble the graph.

    `weights` overrides the recorded source, for a checkpoint that has moved since the fit. `for_export`
    folds the BGR -> RGB flip into the stem convolution (the deployed graph reads BGR planes directly).
    """
    backbone = load_run_backbone(config, weights)
    if for_export:
        backbone = fold_bgr_into_stem(backbone)
    return scoring_graph(feature_extractor(config, backbone, bgr_stem=for_export), config, mean, factor)


def load_run_backbone(config: ModelConfig, weights: str | None = None) -> nn.Module:
    """The backbone of a fitted run, with the weights it was fitted with (sha256 checked)."""
    spec = get_backbone(config.backbone)
    source = weights or _weights_arg(config)
    backbone, info = load_backbone(config.backbone, spec, source, tuple(config.layers), config.seed)
    if info.sha256 != config.weights_sha256:
        raise UserError(
            f"backbone weights {info.source} have sha256 {info.sha256}, the run was fitted with "
            f"{config.weights_sha256}: refit or supply the same file with --weights"
        )
    return backbone


def _weights_arg(config: ModelConfig) -> str:
    source = config.weights_source
    return "default" if source.startswith(("package:", "https://")) else source
