"""The sufficient statistics a run keeps so that new good images can be added later without a refit.

Per covariance (a grid position, or a k x k tile of them) the scatter matrix M = sum (x - mu)(x - mu)^T, each
position around its own mean, with the per-position means and the image count, all in float64. Two sets
of sums merge exactly (Chan, Golub and LeVeque, 1979):

    n = n_a + n_b,   mu = mu_a + (mu_b - mu_a) n_b / n,   M = M_a + M_b + (mu_b - mu_a)(mu_b - mu_a)^T n_a n_b / n

(for a tile, the last term is summed over its positions), and the whitening follows from each tile's
covariance (M + k G) / (m (n - 1) + k) + eps I, m the tile's position count, G the covariance pooled over every
position and k the prior's weight in samples (0: none). Stored as `sums.safetensors` (never a pickle).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from padim_edge.errors import UserError
from padim_edge.model.statistics import StreamingGaussian, block_ids, whiten_chunks

SUMS = "sums.safetensors"


@dataclass
class Sums:
    """count images; mean float64 [P, d]; scatter float64 [T, d, d], one per tile of `block` x `block`
    positions of the `grid` (T = P for block 1)."""

    count: int
    mean: torch.Tensor
    scatter: torch.Tensor
    grid: tuple[int, int]
    block: int

    @classmethod
    def pooled(cls, stats: StreamingGaussian, grid: tuple[int, int], block: int) -> Sums:
        """A streaming fit's per-position sums, pooled per tile (shared, not copied, for block 1)."""
        if block == 1:
            return cls(stats.count, stats.mean, stats.scatter, grid, block)
        ids, tiles = block_ids(grid, block)
        scatter = torch.zeros(tiles, *stats.scatter.shape[1:], dtype=torch.float64).index_add_(0, ids, stats.scatter)
        return cls(stats.count, stats.mean, scatter, grid, block)

    def merge(self, other: Sums, chunk: int = 256) -> Sums:
        """These sums and `other`'s, as if every image had been streamed at once (neither is changed)."""
        if (other.grid, other.block, other.mean.shape) != (self.grid, self.block, self.mean.shape):
            raise ValueError("sums of different grids or tiles cannot be merged")
        if other.count == 0:
            return self
        total = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / total)
        scatter = self.scatter + other.scatter
        ids, _ = block_ids(self.grid, self.block)
        weight = self.count * other.count / total
        for start in range(0, delta.shape[0], chunk):  # chunks: a [P, d, d] temporary is 7.6 GB at d=550
            part = delta[start : start + chunk]
            scatter.index_add_(0, ids[start : start + chunk], part[:, :, None] * part[:, None, :], alpha=weight)
        return Sums(total, mean, scatter, self.grid, self.block)

    def covariance(
        self, eps: float, prior: float = 0.0, tiles: slice = slice(None), pooled: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Each tile's covariance plus eps * I (float64): its positions' scatters over their m (n - 1) samples,
        pulled toward the covariance pooled over every position by a prior worth `prior` samples (a conjugate
        normal-inverse-Wishart prior: the pull fades as images are added, and an update keeps it exact).
        `pooled`: that covariance when already computed (whitening's chunks share it)."""
        if self.count < 2:
            raise ValueError(f"need at least 2 images for a covariance, got {self.count}")
        samples = self._members()[tiles, None, None] * (self.count - 1)
        eye = torch.eye(self.mean.shape[1], dtype=torch.float64)
        if prior == 0:
            return self.scatter[tiles] / samples + eps * eye
        pooled = self.pooled_covariance() if pooled is None else pooled
        return (self.scatter[tiles] + prior * pooled) / (samples + prior) + eps * eye

    def pooled_covariance(self) -> torch.Tensor:
        """The covariance of every position around its own mean, pooled over the grid (float64 [d, d])."""
        return self.scatter.sum(0) / (self._members().sum() * (self.count - 1))

    def whitening(self, eps: float, prior: float = 0.0) -> torch.Tensor:
        """The float32 whitening factor W of every tile's covariance (statistics.whitening_factor), checked."""
        pooled = self.pooled_covariance() if prior else None  # once, not per chunk
        return whiten_chunks(
            lambda part: self.covariance(eps, prior, part, pooled), self.scatter.shape[0], self.mean.shape[1]
        )

    def _members(self) -> torch.Tensor:
        """The number of grid positions in each tile (float64 [T]; edge tiles hold fewer)."""
        ids, count = block_ids(self.grid, self.block)
        return torch.bincount(ids, minlength=count).to(torch.float64)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "count": torch.tensor([self.count], dtype=torch.int64),
            "mean": self.mean.contiguous(),
            "scatter": self.scatter.contiguous(),
        }

    def layout(self) -> dict[str, str]:
        return {"format": "padim-edge-sums", "grid": f"{self.grid[0]}x{self.grid[1]}", "block": str(self.block)}

    def digest(self) -> str:
        """sha256 over the layout and the bytes of count, mean and scatter."""
        digest = hashlib.sha256(repr(sorted(self.layout().items())).encode())
        for tensor in self.tensors().values():
            digest.update(tensor.numpy().tobytes())
        return digest.hexdigest()

    def encode(self) -> bytes:
        return save(self.tensors(), metadata=self.layout())


def read_sums(path: Path, expected_sha256: str, d: int) -> Sums:
    """The sums a run keeps, checked against the digest in its config; anything wrong is one UserError."""
    try:
        with safe_open(str(path), framework="pt") as f:
            layout = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 - safe_open is no dict
        grid = tuple(int(x) for x in layout["grid"].split("x"))
        block = int(layout["block"])
        sums = Sums(int(tensors["count"][0]), tensors["mean"], tensors["scatter"], (grid[0], grid[1]), block)
    except (SafetensorError, OSError, ValueError, KeyError, IndexError) as exc:
        raise UserError(f"{path}: not a readable sums file ({str(exc).splitlines()[0][:120]})") from None
    if sums.mean.dtype != torch.float64 or sums.mean.shape[1:] != (d,) or sums.scatter.shape[1:] != (d, d):
        raise UserError(f"{path}: sums shaped {list(sums.mean.shape)}, {list(sums.scatter.shape)}; expected d = {d}")
    if sums.digest() != expected_sha256:
        raise UserError(f"{path}: checksum does not match config.json (file changed or corrupt)")
    return sums
