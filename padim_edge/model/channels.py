"""Which d channels of the concatenated taps the model keeps: a seeded random draw (the paper's), or the d
least redundant channels of the training images, which depends on the images only (no seed, no labels).

Either way the model keeps a subset of channels: a gather, the same graph and the same cost at run time.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg.lapack import dpstrf

from padim_edge.contract.architectures import Architecture
from padim_edge.errors import UserError

RULES = ("random", "least-redundant")


def channel_count(arch: Architecture, taps: list[str], d: int | None) -> tuple[int, int]:
    """(d, total channels of `taps`), d defaulting to the architecture's and checked against the total."""
    total = sum(arch.taps[t].channels for t in taps)
    d = min(arch.default_d, total) if d is None else d
    if not 1 <= d <= total:
        raise UserError(f"-d {d}: must be between 1 and {total} (channels in layers {','.join(taps)})")
    return d, total


def random_channels(total: int, d: int, seed: int) -> list[int]:
    """A seeded random subset of d of `total` channels, sorted (the paper's Rd)."""
    return sorted(np.random.default_rng(seed).choice(total, size=d, replace=False).tolist())


class PooledCovariance:
    """The covariance of the channels around each position's own mean, pooled over the positions: the
    variation that per-position Gaussians model. Streamed in float64 from per-position sums and one
    [C, C] sum of outer products, so memory is O(P * C + C^2), not the O(P * C^2) of per-position scatters."""

    def __init__(self, positions: int, channels: int) -> None:
        self.count = 0
        self.sums = torch.zeros(positions, channels, dtype=torch.float64)
        self.outer = torch.zeros(channels, channels, dtype=torch.float64)

    def update(self, features: torch.Tensor) -> None:
        """Add a batch of embeddings shaped [B, P, C]."""
        x = features.to(torch.float64)
        self.count += x.shape[0]
        self.sums += x.sum(dim=0)
        flat = x.reshape(-1, x.shape[-1])
        self.outer.addmm_(flat.T, flat)

    def covariance(self) -> np.ndarray:
        """[C, C]: sum over positions and images of (x - mu_p)(x - mu_p)^T / (P * (N - 1))."""
        if self.count < 2:
            raise ValueError(f"need at least 2 images for a covariance, got {self.count}")
        scatter = self.outer - self.sums.T @ self.sums / self.count
        return (scatter / (self.sums.shape[0] * (self.count - 1))).numpy()


def least_redundant(covariance: np.ndarray, d: int) -> list[int]:
    """The d channels a greedy pivoted Cholesky of the correlation matrix picks first, sorted: each pick is
    the channel with the largest share of its variance not explained linearly by the channels already
    picked. Correlation, not covariance, so that taps of different scales compete on redundancy alone.
    LAPACK's dpstrf does the pivoting (complete greedy order over the full-rank part)."""
    std = np.sqrt(np.diag(covariance))
    if not np.all(std > 0):
        raise UserError(f"{int(np.sum(std <= 0))} channels are constant on the training images: use --channels random")
    _, pivots, _, info = dpstrf(covariance / np.outer(std, std), lower=1)
    if info < 0:
        raise RuntimeError(f"pivoted Cholesky failed (LAPACK info {info})")
    return sorted((pivots[:d] - 1).tolist())  # 1-based; past the rank, the order of dependent channels is arbitrary
