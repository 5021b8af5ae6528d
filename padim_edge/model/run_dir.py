"""A fitted model on disk: `config.json`, `statistics.safetensors` (mean and whitening factors) and
`sums.safetensors` (the float64 sums an update merges into, model.sums).

No backbone weights are stored: they are reloaded from the recorded source and checked by sha256. A fit
stages the whole folder and swaps it in at once (storage.atomic.staged_folder): a killed fit leaves the
previous run as it was.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from padim_edge.contract.schema import ModelConfig, parse_config
from padim_edge.errors import UserError
from padim_edge.model.sums import SUMS, Sums, read_sums
from padim_edge.storage.atomic import atomic_write, staged_folder

CONFIG = "config.json"
STATISTICS = "statistics.safetensors"


def statistics_digest(mean: torch.Tensor, factor: torch.Tensor) -> str:
    """sha256 over the float32 bytes of the statistics, independent of the file format."""
    digest = hashlib.sha256()
    for t in (mean, factor):
        digest.update(t.detach().to(torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_statistics(mean: torch.Tensor, factor: torch.Tensor, d: int, source: str) -> None:
    """Shapes [P, d] and [T, d, d] (T = P, or fewer where tiles share a covariance), every value finite;
    else one UserError naming `source`."""
    if mean.ndim != 2 or mean.shape[1] != d or factor.ndim != 3 or factor.shape[1:] != (d, d):
        raise UserError(
            f"{source}: statistics shaped mean {list(mean.shape)}, factor {list(factor.shape)}; "
            f"expected [P, {d}] and [T, {d}, {d}]"
        )
    for name, tensor in (("mean", mean), ("factor", factor)):
        if not bool(torch.isfinite(tensor).all()):
            raise UserError(f"{source}: the statistics' {name} holds NaN or infinite values (refit the model)")


def save_run(
    out_dir: Path, config: ModelConfig, mean: torch.Tensor, factor: torch.Tensor, sums: Sums | None = None
) -> None:
    """Write config, statistics and (when given) the sums into a staged folder that replaces `out_dir` whole."""
    tensors = {"mean": mean.to(torch.float32).contiguous(), "factor": factor.to(torch.float32).contiguous()}
    check_statistics(tensors["mean"], tensors["factor"], config.d, str(out_dir))
    config.statistics_sha256 = statistics_digest(tensors["mean"], tensors["factor"])
    config.sums_sha256 = sums.digest() if sums is not None else ""
    with staged_folder(out_dir) as stage:
        atomic_write(stage / STATISTICS, save(tensors, metadata={"format": "padim-edge"}))
        if sums is not None:
            atomic_write(stage / SUMS, sums.encode())
        atomic_write(stage / CONFIG, config.to_json())


def is_fitted(run_dir: Path) -> bool:
    return (run_dir / CONFIG).is_file() and (run_dir / STATISTICS).is_file()


def read_config(run_dir: Path) -> ModelConfig:
    """The run's validated config.json."""
    if not is_fitted(run_dir):
        raise UserError(f"{run_dir}: not a fitted run (expected {CONFIG} and {STATISTICS}; run padim-edge fit)")
    path = run_dir / CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: invalid JSON ({exc})") from None
    return parse_config(data, str(path))


def load_run(run_dir: Path) -> tuple[ModelConfig, torch.Tensor, torch.Tensor]:
    """Read a run directory: (config, mean [P, d], whitening factor W [P, d, d]), all checked."""
    config = read_config(run_dir)
    path = run_dir / STATISTICS
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable statistics file ({str(exc).splitlines()[0][:120]})") from None
    if set(tensors) != {"mean", "factor"}:
        raise UserError(f"{path}: expected tensors mean and factor, found {sorted(tensors)}")
    mean, factor = tensors["mean"].float(), tensors["factor"].float()
    check_statistics(mean, factor, config.d, str(path))
    if statistics_digest(mean, factor) != config.statistics_sha256:
        raise UserError(f"{path}: checksum does not match {CONFIG} (file changed or corrupt)")
    return config, mean, factor


def load_sums(run_dir: Path, config: ModelConfig) -> Sums:
    """The run's float64 sums; a run fitted before they were kept is told, in one line, to refit once."""
    if not config.sums_sha256 or not (run_dir / SUMS).is_file():
        raise UserError(
            f"{run_dir}: fitted before padim-edge kept the sums an update needs ({SUMS}); "
            "refit it once with padim-edge fit, then update it"
        )
    return read_sums(run_dir / SUMS, config.sums_sha256, config.d)
