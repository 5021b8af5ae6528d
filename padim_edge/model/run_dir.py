"""A fitted model on disk: `config.json` plus `statistics.safetensors` (mean and whitening factor).

No backbone weights are stored: they are reloaded from the recorded source and checked by sha256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from padim_edge.config import ModelConfig, atomic_write
from padim_edge.errors import UserError

CONFIG = "config.json"
STATISTICS = "statistics.safetensors"


def statistics_digest(mean: torch.Tensor, factor: torch.Tensor) -> str:
    """sha256 over the float32 bytes of the statistics, independent of the file format."""
    digest = hashlib.sha256()
    for t in (mean, factor):
        digest.update(t.detach().to(torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_run(out_dir: Path, config: ModelConfig, mean: torch.Tensor, factor: torch.Tensor) -> None:
    """Write statistics then config, each atomically (the config last: it marks the run complete)."""
    tensors = {"mean": mean.to(torch.float32).contiguous(), "factor": factor.to(torch.float32).contiguous()}
    config.statistics_sha256 = statistics_digest(tensors["mean"], tensors["factor"])
    atomic_write(out_dir / STATISTICS, save(tensors, metadata={"format": "padim-edge"}))
    atomic_write(out_dir / CONFIG, config.to_json())


def is_fitted(run_dir: Path) -> bool:
    return (run_dir / CONFIG).is_file() and (run_dir / STATISTICS).is_file()


def load_run(run_dir: Path) -> tuple[ModelConfig, torch.Tensor, torch.Tensor]:
    """Read a run directory: (config, mean [P, d], whitening factor W [P, d, d])."""
    if not is_fitted(run_dir):
        raise UserError(f"{run_dir}: not a fitted run (expected {CONFIG} and {STATISTICS}; run padim-edge fit)")
    try:
        data = json.loads((run_dir / CONFIG).read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{run_dir / CONFIG}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    config = ModelConfig.from_dict(data, str(run_dir / CONFIG))
    tensors = load_file(str(run_dir / STATISTICS))
    mean, factor = tensors["mean"], tensors["factor"]
    if statistics_digest(mean, factor) != config.statistics_sha256:
        raise UserError(f"{run_dir / STATISTICS}: checksum does not match {CONFIG} (file changed or corrupt)")
    return config, mean, factor
