"""Fitted runs and exported models for each configuration, cached under results/cache/ between runs.

A cached artifact is rebuilt when the sources it depends on change (a sha256 over them is kept beside it).
Real configurations are fitted on the screw training images; speed-only ones get random backbone weights
and synthetic statistics (a random lower-triangular whitening factor): the arithmetic is the same.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import torch

from benchmarks.configs import Config
from benchmarks.paths import CACHE, CATEGORY, ROOT
from padim_edge.config import ModelConfig, atomic_write, package_versions
from padim_edge.model.backbones import get_backbone
from padim_edge.model.build import select_channels
from padim_edge.model.run_dir import is_fitted, save_run

PACKAGE = ROOT / "padim_edge"
# What a fitted run depends on; anything else changing re-exports the models but keeps the (minutes-long) fits.
FIT_SOURCES = ("fit.py", "model/statistics.py", "model/graph.py", "model/backbones", "data/batches.py")


def _stamp(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for root in paths for p in ([root] if root.is_file() else root.rglob("*.py"))):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _fresh(folder: Path, name: str, stamp: str) -> bool:
    """True when `folder` holds `name` built from sources with this stamp."""
    record = folder / f".{name}.stamp"
    return (folder / name).is_file() and record.is_file() and record.read_text() == stamp


def _mark(folder: Path, name: str, stamp: str) -> None:
    atomic_write(folder / f".{name}.stamp", stamp)


def fit_stamp() -> str:
    return _stamp([PACKAGE / p for p in FIT_SOURCES])


def export_stamp() -> str:
    return _stamp([PACKAGE, ROOT / "benchmarks" / "reference_graph.py"])


def cache_dir(config: Config) -> Path:
    return CACHE / config.key


def ensure_run(config: Config, data_root: Path) -> Path:
    """The fitted (or synthetic) run directory of `config`."""
    folder = cache_dir(config)
    stamp = fit_stamp()
    if is_fitted(folder) and _fresh(folder, "config.json", stamp):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    if config.real:
        from padim_edge.data import load_dataset
        from padim_edge.fit import FitOptions, fit

        size = config.input_size
        options = FitOptions(config.backbone, d=config.d, resize=size, input_size=size, show_progress=False)
        fit(load_dataset("mvtec", data_root, CATEGORY), folder, options, data_root)
    else:
        synthetic_run(config, folder)
    _mark(folder, "config.json", stamp)
    return folder


def synthetic_run(config: Config, folder: Path, seed: int = 0) -> None:
    """A run with random weights and random but valid statistics (W lower triangular, unit diagonal)."""
    spec = get_backbone(config.backbone)
    indices = select_channels(spec, [1, 2, 3], config.d, seed)
    model_config = ModelConfig(
        backbone=config.backbone,
        weights_source="random",
        weights_sha256=None,
        layers=[1, 2, 3],
        channel_indices=indices,
        d=config.d,
        resize=config.input_size,
        input_size=config.input_size,
        mean=list(spec.mean),
        std=list(spec.std),
        seed=seed,
        dataset="synthetic",
        threshold_rule="none: synthetic statistics (speed only)",
        versions=package_versions("torch", "numpy"),
    )
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn(config.positions, config.d, generator=generator)
    factor = torch.randn(config.positions, config.d, config.d, generator=generator)
    factor.mul_(0.3 / math.sqrt(config.d)).tril_().diagonal(dim1=-2, dim2=-1).add_(1.0)
    save_run(folder, model_config, mean, factor)


def ensure_onnx(run_dir: Path) -> Path:
    """The product graph of a run (padim-edge export), float32 statistics."""
    stamp = export_stamp()
    if not _fresh(run_dir, "model.onnx", stamp):
        from padim_edge.export.onnx_graph import export_run

        export_run(run_dir)
        _mark(run_dir, "model.onnx", stamp)
    return run_dir / "model.onnx"


def ensure_reference(run_dir: Path) -> Path:
    """The straightforward PaDiM graph of a run (benchmarks/reference_graph.py)."""
    stamp = export_stamp()
    if not _fresh(run_dir, "reference.onnx", stamp):
        from benchmarks.reference_graph import export_reference

        ensure_onnx(run_dir)  # its metadata is copied
        export_reference(run_dir, run_dir / "reference.onnx")
        _mark(run_dir, "reference.onnx", stamp)
    return run_dir / "reference.onnx"


def ensure_int8(run_dir: Path, images: int, data_root: Path) -> Path:
    """The run's model with an int8 backbone, calibrated on `images` good training images."""
    stamp = export_stamp() + f"-{images}"
    if not _fresh(run_dir, "model.int8.onnx", stamp):
        from padim_edge.export.quantize import good_training_frames, quantize_backbone
        from padim_edge.model.run_dir import load_run

        config, _, _ = load_run(run_dir)
        frames = good_training_frames(config, images, data_root)
        quantize_backbone(ensure_onnx(run_dir), run_dir / "model.int8.onnx", frames)
        _mark(run_dir, "model.int8.onnx", stamp)
    return run_dir / "model.int8.onnx"


def size_on_disk(model: Path) -> int:
    """Bytes of a model file plus its external data, when any."""
    data = model.with_name(model.name + ".data")
    return model.stat().st_size + (data.stat().st_size if data.exists() else 0)


def test_frames(config: Config, data_root: Path, count: int) -> np.ndarray:
    """`count` screw test images prepared at the config's size (random frames when the data is absent)."""
    if not (data_root / CATEGORY).is_dir():
        return np.random.default_rng(0).integers(0, 256, (count, config.input_size, config.input_size, 3), np.uint8)
    from padim_edge.data import iter_batches, load_dataset

    samples = load_dataset("mvtec", data_root, CATEGORY).test
    picked = [samples[round(i * (len(samples) - 1) / max(count - 1, 1))] for i in range(count)]
    return next(iter_batches(picked, count, config.input_size, config.input_size)).images
