"""The deployable PaDiM graph: uint8 BGR frames in, anomaly maps and image scores out.

Every step a frame needs lives in this one module so that the PyTorch reference and the exported ONNX
graph are the same computation. Sub-modules are named `preprocess`, `backbone`, `embed`, `head` and
`post`; the ONNX exporter prefixes node names with them (`/head/...`, `/post/...`), which is how the
TensorRT builder finds the layers it must keep in fp32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Preprocess(nn.Module):
    """uint8 [N, H, W, 3] BGR -> float [N, 3, H, W] RGB, normalised with the backbone's mean and std."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        m, s = torch.tensor(mean), torch.tensor(std)
        self.register_buffer("scale", (1.0 / (255.0 * s)).view(1, 3, 1, 1))
        self.register_buffer("shift", (-m / s).view(1, 3, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        rgb = frames.flip(-1).permute(0, 3, 1, 2).float()
        return rgb * self.scale + self.shift


class Embedding(nn.Module):
    """Gather the selected channels of each tapped stage, then upsample (nearest) to the finest grid.

    Gathering before upsampling touches d channels at the coarse resolutions instead of all of them.
    """

    def __init__(self, layers: list[int], channels: tuple[int, ...], indices: list[int]) -> None:
        super().__init__()
        self.layers = layers
        offset = 0
        for layer in layers:
            width = channels[layer - 1]
            local = [i - offset for i in indices if offset <= i < offset + width]
            self.register_buffer(f"index{layer}", torch.tensor(local, dtype=torch.long))
            offset += width

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        picked = [stages[layer - 1].index_select(1, getattr(self, f"index{layer}")) for layer in self.layers]
        size = picked[0].shape[-2:]
        picked = [p if p.shape[-2:] == size else F.interpolate(p, size=size, mode="nearest") for p in picked]
        return torch.cat(picked, dim=1)


class MahalanobisHead(nn.Module):
    """Distance of each position's embedding to its Gaussian: sqrt(||W (x - mu)||^2), one batched MatMul.

    `mean` [P, 1, d] and `factor_t` = W^T [P, d, d] are baked in (ONNX initializers `head.mean` and
    `head.factor_t`); the exporter may store them as float16 to halve the model, with a Cast so the
    arithmetic stays float32 (squared distances overflow float16).
    """

    def __init__(self, mean: torch.Tensor, factor_t: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.unsqueeze(1))
        self.register_buffer("factor_t", factor_t)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        _, _, h, w = embedding.shape
        x = embedding.flatten(2).permute(2, 0, 1)  # [P, N, d]
        z = torch.matmul(x - self.mean.float(), self.factor_t.float())  # [P, N, d]
        dist = (z * z).sum(-1).sqrt()  # [P, N]
        return dist.transpose(0, 1).reshape(-1, 1, h, w)


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian, radius 4 sigma (scipy.ndimage's default truncation)."""
    radius = int(4 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).float()


class PostProcess(nn.Module):
    """Bilinear upsample to the input size, separable Gaussian blur (reflect padding), max as score."""

    def __init__(self, size: int, sigma: float) -> None:
        super().__init__()
        self.size = size
        k = gaussian_kernel(sigma)
        self.radius = (k.numel() - 1) // 2
        self.register_buffer("kx", k.view(1, 1, 1, -1))
        self.register_buffer("ky", k.view(1, 1, -1, 1))

    def forward(self, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        up = F.interpolate(dist, size=(self.size, self.size), mode="bilinear", align_corners=False)
        r = self.radius
        blurred = F.conv2d(F.pad(up, (r, r, 0, 0), mode="reflect"), self.kx)
        blurred = F.conv2d(F.pad(blurred, (0, 0, r, r), mode="reflect"), self.ky)
        return blurred, blurred.flatten(1).amax(dim=1)


class PadimGraph(nn.Module):
    """The whole per-frame computation: frames [N, S, S, 3] uint8 BGR -> (anomaly_map [N,1,S,S], score [N])."""

    def __init__(
        self,
        backbone: nn.Module,
        preprocess: Preprocess,
        embed: Embedding,
        head: MahalanobisHead,
        post: PostProcess,
    ) -> None:
        super().__init__()
        self.preprocess, self.backbone, self.embed, self.head, self.post = preprocess, backbone, embed, head, post

    def embedding(self, frames: torch.Tensor) -> torch.Tensor:
        """Selected, upsampled features [N, d, h, w]: what the statistics are fitted on."""
        return self.embed(self.backbone(self.preprocess(frames)))

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.post(self.head(self.embedding(frames)))


def grid_size(input_size: int) -> int:
    """Side of the stride-4 feature grid for a square input (TF-same and ResNet stems agree)."""
    return math.ceil(input_size / 4)
