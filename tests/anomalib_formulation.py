"""The oracle of the post-processing tests: a fitted run computed the way anomalib's PaDiM computes it.

Same input (uint8 BGR frames), pre-processing, backbone (its weights and the exporter's Pad fold) and
statistics as the product graph; from the backbone's taps on, anomalib's `PadimModel` (torch_model.py and
anomaly_map.py of anomalib 2.x), reproduced operation by operation:
- embedding (`generate_embedding`): the first tap, then each further tap upsampled (nearest) to its grid and
  concatenated, one `torch.cat` per tap, every channel; then `index_select` of the d kept channels;
- distance (`AnomalyMapGenerator.compute_distance`): mean stored [d, P]; `delta = (x - mean).permute(2, 0, 1)`,
  `(delta @ inv_covariance * delta).sum(2)` with the full inverse covariance [P, d, d]: one batched MatMul
  over positions that reads the statistics once per batch; then `clamp(0).sqrt()`;
- anomaly map: bilinear upsampling to the input size (`up_sample`), then `GaussianBlur2d`: one 2-D
  (4 sigma + 0.5) * 2 + 1 wide Gaussian convolution after reflect padding; score: `amax` over the map.
anomalib has no local pooling: when a configuration pools (`pooling` > 1), each tap is averaged at its own
resolution, all channels, where the product does it, so that the statistics still apply. Scores equal the
product's up to float32 rounding. The inverse is W^T W of the run's whitening factor (float64, then float32).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from padim_edge.model.build import graph_from_run
from padim_edge.model.graph import gaussian_kernel
from padim_edge.model.run_dir import load_run
from padim_edge.model.statistics import block_ids


class AnomalibEmbedding(nn.Module):
    """anomalib's generate_embedding: concatenate every channel of every tap on the first tap's grid, then select."""

    def __init__(self, indices: list[int], pooling: list[int]) -> None:
        super().__init__()
        self.pooling = list(pooling)
        self.register_buffer("idx", torch.tensor(indices, dtype=torch.long))

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        taps = [
            t if k == 1 else F.avg_pool2d(t, k, 1, k // 2, count_include_pad=False) for t, k in zip(taps, self.pooling)
        ]
        embeddings = taps[0]
        for layer_embedding in taps[1:]:
            layer_embedding = F.interpolate(layer_embedding, size=embeddings.shape[-2:], mode="nearest")
            embeddings = torch.cat((embeddings, layer_embedding), 1)
        return torch.index_select(embeddings, 1, self.idx)


class AnomalibDistance(nn.Module):
    """anomalib's compute_distance: [P, N, d] x [P, d, d] with the full inverse covariance."""

    def __init__(self, mean: torch.Tensor, inv_covariance: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.T.contiguous())  # [d, P], as anomalib's MultiVariateGaussian keeps it
        self.register_buffer("inv_covariance", inv_covariance)  # [P, d, d]

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        batch, channel, height, width = embedding.shape
        embedding = embedding.reshape(batch, channel, height * width)
        delta = (embedding - self.mean).permute(2, 0, 1)
        distances = (torch.matmul(delta, self.inv_covariance) * delta).sum(2).permute(1, 0)
        distances = distances.reshape(batch, 1, height, width)
        return distances.clamp(0).sqrt()


class AnomalibMap(nn.Module):
    """anomalib's up_sample (bilinear) and GaussianBlur2d (one 2-D kernel, reflect padding); score = amax."""

    def __init__(self, input_hw: tuple[int, int], sigma: float) -> None:
        super().__init__()
        k = gaussian_kernel(sigma).float()
        self.input_hw, self.radius = input_hw, (k.numel() - 1) // 2
        self.register_buffer("kernel", torch.outer(k, k)[None, None])

    def forward(self, distances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        up = F.interpolate(distances, size=self.input_hw, mode="bilinear", align_corners=False)
        anomaly_map = F.conv2d(F.pad(up, (self.radius,) * 4, mode="reflect"), self.kernel)
        return anomaly_map, torch.amax(anomaly_map, dim=(-2, -1)).flatten()


def factor_per_position(factor: torch.Tensor, grid_hw: tuple[int, int], block: int) -> torch.Tensor:
    """W [T, d, d] -> [P, d, d]: each position gets its tile's W (anomalib keeps one inverse per position)."""
    return factor if block == 1 else factor[block_ids(grid_hw, block)[0]]


class ReferenceGraph(nn.Module):
    """frames [N, H, W, 3] uint8 BGR -> (anomaly_map [N, 1, H, W], score [N]), anomalib's way."""

    def __init__(self, run: Path) -> None:
        super().__init__()
        config, mean, factor = load_run(run)
        product = graph_from_run(config, mean, factor)  # RGB stem: anomalib's graphs take RGB
        w = factor_per_position(factor, product.head.grid_hw, config.cov_block).double()
        self.preprocess, self.backbone = product.preprocess, product.backbone
        self.embed = AnomalibEmbedding(config.channel_indices, config.pooling)
        self.head = AnomalibDistance(mean, (w.transpose(-1, -2) @ w).float())
        self.post = AnomalibMap(config.input_hw, config.sigma)
        self.config = config

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.post(self.head(self.embed(self.backbone(self.preprocess(frames)))))
