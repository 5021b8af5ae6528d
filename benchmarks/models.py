"""Fitted runs and exported models of each configuration, cached under results/cache/ between runs.

A cached artifact is rebuilt when the sources it depends on change (a sha256 over them is kept beside it).
Real configurations are fitted on a dataset; speed-only ones get random backbone weights and synthetic
statistics (a random lower-triangular whitening factor): the arithmetic is the same.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import torch

from benchmarks.configs import Config
from benchmarks.paths import CACHE, CATEGORY, ROOT
from padim_edge.contract.schema import ModelConfig
from padim_edge.model.run_dir import is_fitted, save_run
from padim_edge.storage.atomic import atomic_write
from padim_edge.versions import package_versions

PACKAGE = ROOT / "padim_edge"
# What a fitted run depends on; anything else changing re-exports the models but keeps the (minutes-long) fits.
FIT_SOURCES = ("fit.py", "model", "data", "imaging", "contract")
Dataset = tuple[str, str]  # (kind, category) as padim_edge.data.load_dataset takes them
SCREW: Dataset = ("mvtec", CATEGORY)


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
    return _stamp([PACKAGE])


def run_dir(config: Config, dataset: Dataset = SCREW, seed: int = 0) -> Path:
    name = config.key if dataset == SCREW else f"{config.key}--{dataset[0]}-{dataset[1]}"
    return CACHE / (name if seed == 0 else f"{name}--seed{seed}")


def ensure_run(config: Config, data_root: Path, dataset: Dataset = SCREW, seed: int = 0) -> Path:
    """The fitted (or synthetic) run directory of `config` on `dataset`, fitted with `seed` (the channels
    picked, the hold-out)."""
    folder = run_dir(config, dataset, seed)
    stamp = fit_stamp()
    if is_fitted(folder) and _fresh(folder, "config.json", stamp):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    if config.real:
        from padim_edge.data import load_dataset
        from padim_edge.fit import fit

        kind, category = dataset
        root = None if kind == "elpv" else data_root
        fit(load_dataset(kind, root, category), folder, config.fit_options(seed=seed), root)
    else:
        synthetic_run(config, folder)
    _mark(folder, "config.json", stamp)
    return folder


def synthetic_run(config: Config, folder: Path, seed: int = 0) -> None:
    """A run with random weights and random but valid statistics (W lower triangular, unit diagonal)."""
    from padim_edge.model.backbones import get_backbone
    from padim_edge.model.build import feature_extractor, select_channels
    from padim_edge.model.weights import RANDOM, load_backbone

    spec = get_backbone(config.backbone)
    taps = list(config.taps)
    height, width = config.square_hw
    model_config = ModelConfig(
        backbone=config.backbone,
        weights_source=RANDOM,
        weights_sha256=None,
        layers=taps,
        pooling=list(config.pooling_sizes),
        cov_block=config.tile,
        eps=spec.arch.default_eps,
        channel_indices=select_channels(spec.arch, taps, config.d, seed),
        d=config.d,
        input_height=height,
        input_width=width,
        resize_mode=config.resize_mode,
        mean=list(spec.arch.mean),
        std=list(spec.arch.std),
        seed=seed,
        dataset="synthetic",
        threshold_rule="none: synthetic statistics (speed only)",
        versions=package_versions("torch", "numpy"),
    )
    backbone, _ = load_backbone(config.backbone, spec, RANDOM, tuple(taps), seed)
    grid_h, grid_w = feature_extractor(model_config, backbone).grid(model_config.input_hw)
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn(grid_h * grid_w, config.d, generator=generator)
    tiles = -(-grid_h // config.tile) * -(-grid_w // config.tile)
    factor = torch.randn(tiles, config.d, config.d, generator=generator)
    factor.mul_(0.3 / math.sqrt(config.d)).tril_().diagonal(dim1=-2, dim2=-1).add_(1.0)
    save_run(folder, model_config, mean, factor)


def ensure_onnx(run: Path) -> Path:
    """The product graph of a run (padim-edge export), float32 statistics."""
    stamp = export_stamp()
    if not _fresh(run, "model.onnx", stamp):
        from padim_edge.export.onnx_graph import export_run

        export_run(run)
        _mark(run, "model.onnx", stamp)
    return run / "model.onnx"


def ensure_int8(run: Path, images: int, data_root: Path) -> Path:
    """The run's model with an int8 backbone, calibrated on `images` good training images."""
    stamp = export_stamp() + f"-{images}"
    if not _fresh(run, "model.int8.onnx", stamp):
        from padim_edge.export.quantize import good_training_frames, quantize_backbone
        from padim_edge.model.run_dir import read_config

        frames = good_training_frames(read_config(run), images, data_root)
        quantize_backbone(ensure_onnx(run), run / "model.int8.onnx", frames)
        _mark(run, "model.int8.onnx", stamp)
    return run / "model.int8.onnx"


def size_on_disk(model: Path) -> int:
    """Bytes of a model file plus its external data, when any."""
    data = model.with_name(model.name + ".data")
    return model.stat().st_size + (data.stat().st_size if data.is_file() else 0)
