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
    """uint8 [N, H, W, 3] BGR -> float [N, 3, H, W] still in BGR order, normalised with the backbone's RGB mean
    and std taken in reverse. The BGR -> RGB flip itself is folded into the stem convolution's weights
    (`fold_bgr_into_stem`), which saves a copy of every frame."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        m, s = torch.tensor(mean).flip(0), torch.tensor(std).flip(0)
        self.register_buffer("scale", (1.0 / (255.0 * s)).view(1, 3, 1, 1))
        self.register_buffer("shift", (-m / s).view(1, 3, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.permute(0, 3, 1, 2).float() * self.scale + self.shift


def fold_bgr_into_stem(backbone: nn.Module) -> None:
    """Reverse the input channels of the backbone's first convolution, in place, so it reads BGR planes."""
    stem = next(m for m in backbone.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        stem.weight.copy_(stem.weight.flip(1))


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

    Takes `mean` [P, d] and the whitening factor W [P, d, d]; bakes in `mean` as [P, 1, d] and W^T (ONNX
    initializers `head.mean` and `head.factor_t`). The exporter may store them as float16 to halve the
    model, with a Cast so the arithmetic stays float32 (squared distances overflow float16).
    """

    def __init__(self, mean: torch.Tensor, factor: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.unsqueeze(1))
        self.register_buffer("factor_t", factor.transpose(-1, -2).contiguous())

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        _, _, h, w = embedding.shape
        x = embedding.flatten(2).permute(2, 0, 1).contiguous()  # [P, N, d]; contiguous: PyTorch bmm is 2-4x faster
        z = torch.matmul(x - self.mean.float(), self.factor_t.float())  # [P, N, d]
        dist = (z * z).sum(-1).sqrt()  # [P, N]
        return dist.transpose(0, 1).reshape(-1, 1, h, w)


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian in float64, radius 4 sigma (scipy.ndimage's default truncation)."""
    radius = int(4 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def upsample_blur_matrix(grid: int, size: int, sigma: float) -> torch.Tensor:
    """K [size, grid]: one axis of bilinear upsampling (half-pixel, as F.interpolate) followed by a reflect-padded
    Gaussian blur, as a matrix. Both steps are linear and separable, so for a [grid, grid] map X the upsampled,
    blurred map is K @ X @ K^T: two small MatMuls instead of Resize, Pad, Conv, Pad, Conv (2x faster on
    onnxruntime CPU at batch 8, docs/choices.md). K is built by pushing the unit vectors through those steps.
    """
    units = torch.eye(grid, dtype=torch.float64).view(grid, 1, grid, 1)
    up = F.interpolate(units, size=(size, 1), mode="bilinear", align_corners=False)
    k = gaussian_kernel(sigma).double()
    r = (k.numel() - 1) // 2
    blurred = F.conv2d(F.pad(up, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return blurred[:, 0, :, 0].T.float().contiguous()


class PostProcess(nn.Module):
    """Bilinear upsample to the input size and Gaussian blur (as K @ map @ K^T); image score = max of the map."""

    def __init__(self, grid: int, size: int, sigma: float) -> None:
        super().__init__()
        self.size = size
        k = upsample_blur_matrix(grid, size, sigma)
        self.register_buffer("k", k)
        self.register_buffer("k_t", k.T.contiguous())

    def forward(self, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        amap = torch.matmul(torch.matmul(self.k, dist), self.k_t)  # [N, 1, size, size]
        return amap, amap.flatten(1).amax(dim=1)


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
