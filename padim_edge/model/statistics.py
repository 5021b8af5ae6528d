"""Per-position Gaussian statistics, accumulated batch by batch in float64.

Memory is O(P * d^2) whatever the number of images: each batch's mean and scatter are merged into the
running ones with Chan et al.'s pairwise update, which stays accurate where the one-pass
E[xx^T] - mu mu^T formula would cancel.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class StreamingGaussian:
    """Running mean and scatter matrix for P independent d-dimensional Gaussians."""

    def __init__(self, positions: int, dim: int) -> None:
        self.count = 0
        self.mean = torch.zeros(positions, dim, dtype=torch.float64)
        self.scatter = torch.zeros(positions, dim, dim, dtype=torch.float64)

    def update(self, features: torch.Tensor) -> None:
        """Add a batch of embeddings shaped [B, P, d]."""
        x = features.to(torch.float64).transpose(0, 1)  # [P, B, d]
        n_b = x.shape[1]
        mean_b = x.mean(dim=1)
        centred = x - mean_b[:, None, :]
        delta = mean_b - self.mean
        total = self.count + n_b
        # In place: one [P, d, d] buffer whatever d (Wide-ResNet at d=550 holds 7.6 GB of it).
        self.scatter.baddbmm_(centred.transpose(1, 2), centred)
        self.scatter.baddbmm_(delta[:, :, None], delta[:, None, :], alpha=self.count * n_b / total)
        self.mean += delta * (n_b / total)
        self.count = total

    def covariance(self, eps: float = 0.01, positions: slice = slice(None)) -> torch.Tensor:
        """Unbiased covariance (1/(N-1)) plus eps * I, float64 [P, d, d] (or of the given positions only)."""
        if self.count < 2:
            raise ValueError(f"need at least 2 images for a covariance, got {self.count}")
        eye = torch.eye(self.mean.shape[1], dtype=torch.float64)
        return self.scatter[positions] / (self.count - 1) + eps * eye


def block_ids(grid_hw: tuple[int, int], block: int) -> tuple[torch.Tensor, int]:
    """The tile of each grid position (row-major) and the number of tiles."""
    h, w = grid_hw
    tiles_w = -(-w // block)
    rows = torch.arange(h).div(block, rounding_mode="floor")[:, None]
    cols = torch.arange(w).div(block, rounding_mode="floor")[None, :]
    return (rows * tiles_w + cols).flatten(), -(-h // block) * tiles_w


def whiten_chunks(covariance: Callable[[slice], torch.Tensor], count: int, dim: int, chunk: int = 256) -> torch.Tensor:
    """The float32 whitening factors of `count` covariances, `chunk` at a time, each checked: the float64
    temporaries stay small next to the scatter itself (Wide-ResNet-50-2 at d=550: 7.6 GB scatter, 3.8 GB
    result, ~0.6 GB per chunk)."""
    factor = torch.empty(count, dim, dim, dtype=torch.float32)
    for start in range(0, count, chunk):
        part = covariance(slice(start, start + chunk))
        w = whitening_factor(part)
        check_whitening(part, w)
        factor[start : start + chunk] = w
    return factor


def check_whitening(covariance: torch.Tensor, factor: torch.Tensor, samples: int = 4) -> None:
    """W Sigma W^T must be I; checked on a spread of positions (some CPUs' batched LAPACK misbehaves)."""
    idx = torch.linspace(0, covariance.shape[0] - 1, min(samples, covariance.shape[0])).long()
    w = factor[idx]
    err = (w @ covariance[idx] @ w.transpose(-1, -2) - torch.eye(w.shape[-1], dtype=w.dtype)).abs().max()
    if not err < 1e-6:
        raise RuntimeError(f"inverse covariance check failed: max |W S W^T - I| = {float(err):.3g}")


def whitening_factor(covariance: torch.Tensor) -> torch.Tensor:
    """W with W^T W = Sigma^-1, so the squared Mahalanobis distance is ||W (x - mu)||^2.

    Computed as the inverse of the lower Cholesky factor C of Sigma (Sigma = C C^T, W = C^-1) in float64:
    batched torch.linalg.inv is unreliable on some CPUs (see docs/choices.md), the triangular solve is not,
    and ||W v||^2 cannot go negative the way v^T A v can under rounding.
    """
    chol = torch.linalg.cholesky(covariance.to(torch.float64))
    eye = torch.eye(chol.shape[-1], dtype=torch.float64).expand_as(chol)
    return torch.linalg.solve_triangular(chol, eye, upper=False)
