"""The deployable PaDiM graph: uint8 BGR frames [N, H, W, 3] in, anomaly maps and image scores out.

Every step a frame needs lives in this one module so that the PyTorch reference and the exported ONNX
graph are the same computation. Sub-modules are named `preprocess`, `backbone`, `embed`, `head` and
`post`; the ONNX exporter prefixes node names with them (`/head/...`, `/post/...`), which is how the
TensorRT builder finds the layers it must keep in fp32.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


class Preprocess(nn.Module):
    """uint8 [N, H, W, 3] BGR -> float [N, 3, H, W], normalised with the backbone's RGB mean and std.

    With `bgr_stem` the channels stay in BGR order and the constants are reversed instead: the backbone's
    first convolution then reads BGR planes (`fold_bgr_into_stem`), which saves a copy of every frame.
    """

    def __init__(self, mean: list[float], std: list[float], bgr_stem: bool = False) -> None:
        super().__init__()
        m, s = torch.tensor(mean), torch.tensor(std)
        if bgr_stem:
            m, s = m.flip(0), s.flip(0)
        self.bgr_stem = bgr_stem
        self.register_buffer("scale", (1.0 / (255.0 * s)).view(1, 3, 1, 1))
        self.register_buffer("shift", (-m / s).view(1, 3, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float()
        if not self.bgr_stem:
            x = x.flip(1)
        return x * self.scale + self.shift


def fold_bgr_into_stem(backbone: nn.Module) -> nn.Module:
    """A copy of `backbone` whose first convolution reads BGR planes (its input channels reversed)."""
    folded = copy.deepcopy(backbone)
    stem = next(m for m in folded.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        stem.weight.copy_(stem.weight.flip(1))
    return folded


class Embedding(nn.Module):
    """Gather the selected channels of each tapped map, average each over its own local window (`pooling`,
    one kernel size per tap; 1: none), upsample (nearest) to the finest tap's grid and concatenate.

    Gathering before upsampling touches d channels at the coarse resolutions instead of all of them; the
    local average is per channel, so gathering first changes nothing but the cost.
    """

    def __init__(self, channels: list[int], indices: list[int], pooling: list[int]) -> None:
        super().__init__()
        self.pooling = list(pooling)
        offset = 0
        for tap, width in enumerate(channels):
            local = [i - offset for i in indices if offset <= i < offset + width]
            self.register_buffer(f"index{tap}", torch.tensor(local, dtype=torch.long))
            offset += width

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        picked = []
        for tap, features in enumerate(taps):
            index = getattr(self, f"index{tap}")
            if index.numel() == 0:
                continue
            if index.numel() < features.shape[1]:  # every channel of a tap (sorted): no gather in the graph
                features = features.index_select(1, index)
            k = self.pooling[tap]
            if k > 1:
                features = F.avg_pool2d(features, k, 1, k // 2, count_include_pad=False)
            picked.append(features)
        size = taps[0].shape[-2:]
        picked = [p if p.shape[-2:] == size else F.interpolate(p, size=size, mode="nearest") for p in picked]
        return torch.cat(picked, dim=1)


class MahalanobisHead(nn.Module):
    """Distance of each position's embedding to its Gaussian: sqrt(||W (x - mu)||^2), one batched MatMul.

    Takes `mean` [P, d] and the whitening factors W [T, d, d]: one per position (`block` 1, T = P), or one
    per `block` x `block` tile of the grid, shared by the tile's positions (T = ceil(h/k) * ceil(w/k)).
    Bakes in the mean and W^T (ONNX initializers `head.mean` and `head.factor_t`), grouped so that one
    MatMul [T, N * k^2, d] x [T, d, d] reads each W once per batch. The exporter may store them as float16
    to halve the model, with a Cast so the arithmetic stays float32 (squared distances overflow float16).
    """

    def __init__(self, mean: torch.Tensor, factor: torch.Tensor, grid_hw: tuple[int, int], block: int = 1) -> None:
        super().__init__()
        h, w = grid_hw
        k = block
        self.grid_hw, self.block, self.tiles_hw = grid_hw, block, (-(-h // k), -(-w // k))
        th, tw = self.tiles_hw
        padded = F.pad(mean.T.reshape(-1, h, w), (0, tw * k - w, 0, th * k - h))  # [d, th*k, tw*k]
        self.register_buffer("mean", padded.flatten(1).T.unsqueeze(1).contiguous())  # [positions, 1, d], raster
        self.register_buffer("factor_t", factor.transpose(-1, -2).contiguous())

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        _, d, h, w = embedding.shape
        k, (th, tw) = self.block, self.tiles_hw
        x = embedding
        if (th * k, tw * k) != (h, w):
            x = F.pad(x, (0, tw * k - w, 0, th * k - h))
        # Position-major in two cheap steps: a 3-D transpose [N, d, P] -> [P, N, d], then whole rows of k x N x d
        # values regrouped by tile. One 6-D permutation instead runs 10x slower in onnxruntime (generic path).
        x = x.flatten(2).permute(2, 0, 1) - self.mean.float()  # [P, N, d]
        if k > 1:
            x = x.reshape(th, k, tw, -1).transpose(1, 2)  # [th, tw, k (y), k (x) * N * d]
        x = x.reshape(th * tw, -1, d)  # [T, k*k*N, d], rows ordered (y, x, image) within a tile
        z = torch.matmul(x, self.factor_t.float())  # [T, k*k*N, d]
        dist = (z * z).sum(-1).sqrt().reshape(th, tw, k, k, -1)
        dist = dist.permute(4, 0, 2, 1, 3).reshape(-1, 1, th * k, tw * k)
        return dist[:, :, :h, :w] if (th * k, tw * k) != (h, w) else dist


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian in float64, radius 4 sigma (scipy.ndimage's default truncation)."""
    radius = int(4 * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def upsample_blur_matrix(grid: int, size: int, sigma: float) -> torch.Tensor:
    """K [size, grid]: one axis of bilinear upsampling (half-pixel, as F.interpolate) followed by a reflect-padded
    Gaussian blur, as a matrix. Both steps are linear and separable, so for a [gh, gw] map X the upsampled,
    blurred map is K_h @ X @ K_w^T: two small MatMuls instead of Resize, Pad, Conv, Pad, Conv (2x faster on
    onnxruntime CPU at batch 8, docs/choices.md). K is built by pushing the unit vectors through those steps.
    """
    units = torch.eye(grid, dtype=torch.float64).view(grid, 1, grid, 1)
    up = F.interpolate(units, size=(size, 1), mode="bilinear", align_corners=False)
    k = gaussian_kernel(sigma)
    r = (k.numel() - 1) // 2
    if r >= size:  # reflect padding needs a kernel narrower than the map
        raise ValueError(f"sigma {sigma} is too large for a {size}-pixel side")
    blurred = F.conv2d(F.pad(up, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return blurred[:, 0, :, 0].T.float().contiguous()


class PostProcess(nn.Module):
    """Bilinear upsample to the input size and Gaussian blur (as K_h @ map @ K_w^T); image score = max of the map."""

    def __init__(self, grid_hw: tuple[int, int], input_hw: tuple[int, int], sigma: float) -> None:
        super().__init__()
        self.input_hw = input_hw
        self.register_buffer("k_h", upsample_blur_matrix(grid_hw[0], input_hw[0], sigma))
        self.register_buffer("k_w_t", upsample_blur_matrix(grid_hw[1], input_hw[1], sigma).T.contiguous())

    def forward(self, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        amap = torch.matmul(torch.matmul(self.k_h, dist), self.k_w_t)  # [N, 1, H, W]
        return amap, amap.flatten(1).amax(dim=1)


class FeatureExtractor(nn.Module):
    """Frames -> the embedding the statistics are fitted on: [N, d, h, w] on the finest tap's grid."""

    def __init__(self, preprocess: Preprocess, backbone: nn.Module, embed: Embedding) -> None:
        super().__init__()
        self.preprocess, self.backbone, self.embed = preprocess, backbone, embed

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.embed(self.backbone(self.preprocess(frames)))

    @torch.inference_mode()
    def grid(self, input_hw: tuple[int, int]) -> tuple[int, int]:
        """The embedding's grid for an H x W input, by running the trunk once (exact for any padding)."""
        frames = torch.zeros(1, *input_hw, 3, dtype=torch.uint8)
        h, w = self(frames).shape[-2:]
        return int(h), int(w)


class PadimGraph(nn.Module):
    """The whole per-frame computation: frames [N, H, W, 3] uint8 BGR -> (anomaly_map [N,1,H,W], score [N])."""

    def __init__(self, features: FeatureExtractor, head: MahalanobisHead, post: PostProcess) -> None:
        super().__init__()
        self.preprocess, self.backbone, self.embed = features.preprocess, features.backbone, features.embed
        self.head, self.post = head, post

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.embed(self.backbone(self.preprocess(frames)))
        return self.post(self.head(embedding))
