"""The straightforward PaDiM graph, built here to show what the fused product graph buys.

Same pre-processing, backbone (weights and export rewrites) and statistics as a fitted run, but the rest
computed the way the paper's code and most re-implementations do it:
- embed: upsample every channel of every stage to the finest grid (nearest), concatenate, then select d;
- head: the full inverse covariance A = W^T W, (x - mu)^T A (x - mu), per image: a broadcast MatMul
  [N, P, 1, d] x [P, d, d] that reads the P*d*d statistics once per image instead of once per batch;
- post: bilinear upsample, then one 33x33 2-D Gaussian convolution (reflect padding) instead of two 1-D ones.
Its scores equal the product's up to float32 rounding.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from padim_edge.export.graph_rewrites import fold_pads_into_convs
from padim_edge.export.onnx_graph import torch_export
from padim_edge.model.build import graph_from_run
from padim_edge.model.graph import gaussian_kernel
from padim_edge.model.run_dir import load_run


class ConcatThenSelect(nn.Module):
    """Upsample all channels of all stages, concatenate, then keep the selected d."""

    def __init__(self, indices: list[int]) -> None:
        super().__init__()
        self.register_buffer("index", torch.tensor(indices, dtype=torch.long))

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        size = stages[0].shape[-2:]
        upsampled = [s if s.shape[-2:] == size else F.interpolate(s, size=size, mode="nearest") for s in stages]
        return torch.cat(upsampled, dim=1).index_select(1, self.index)


class PerImageInverseHead(nn.Module):
    """sqrt((x - mu)^T A (x - mu)) with the full inverse A, the statistics read once per image."""

    def __init__(self, mean: torch.Tensor, inverse: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.unsqueeze(1))  # [P, 1, d]
        self.register_buffer("inverse", inverse)  # [P, d, d]

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        n, _, h, w = embedding.shape
        delta = embedding.flatten(2).transpose(1, 2).unsqueeze(2) - self.mean  # [N, P, 1, d]
        squared = (torch.matmul(delta, self.inverse) * delta).sum(-1)  # [N, P, 1]
        return squared.clamp_min(0).sqrt().reshape(n, 1, h, w)


class Blur2d(nn.Module):
    """Bilinear upsample, one 2-D Gaussian convolution (reflect padding), max as score."""

    def __init__(self, size: int, sigma: float) -> None:
        super().__init__()
        k = gaussian_kernel(sigma).float()
        self.size, self.radius = size, (k.numel() - 1) // 2
        self.register_buffer("kernel", torch.outer(k, k)[None, None])

    def forward(self, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        up = F.interpolate(dist, size=(self.size, self.size), mode="bilinear", align_corners=False)
        blurred = F.conv2d(F.pad(up, (self.radius,) * 4, mode="reflect"), self.kernel)
        return blurred, blurred.flatten(1).amax(dim=1)


class ReferenceGraph(nn.Module):
    """frames [N, S, S, 3] uint8 BGR -> (anomaly_map [N, 1, S, S], score [N]), the straightforward way."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        config, mean, factor = load_run(run_dir)
        product = graph_from_run(config, mean, factor)
        w = factor.double()
        self.preprocess, self.backbone = product.preprocess, product.backbone
        self.embed = ConcatThenSelect(config.channel_indices)
        self.head = PerImageInverseHead(mean, (w.transpose(-1, -2) @ w).float())
        self.post = Blur2d(config.input_size, config.sigma)
        self.input_size = config.input_size

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.post(self.head(self.embed(self.backbone(self.preprocess(frames)))))


def export_reference(run_dir: Path, out_path: Path) -> Path:
    """Export the reference graph of `run_dir` (legacy exporter, opset 17, dynamic batch), metadata copied."""
    graph = ReferenceGraph(run_dir).eval()
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch_export(graph, graph.input_size, raw)  # the product's exporter settings
        model = onnx.load(str(raw))
        fold_pads_into_convs(model)  # the product's export rewrite: both graphs get it, the comparison is fair
        product = onnx.load(str(run_dir / "model.onnx"), load_external_data=False)
        onnx.helper.set_model_props(model, {p.key: p.value for p in product.metadata_props})
        onnx.save_model(model, str(out_path))
    return out_path
