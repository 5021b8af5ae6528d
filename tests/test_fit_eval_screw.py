"""Fit efficientnet_lite0 (real ImageNet weights) on the real MVTec screw data and evaluate it."""

import json
from pathlib import Path

import numpy as np
import pytest

from padim_edge.data import load_dataset
from padim_edge.evaluate import evaluate
from padim_edge.model.run_dir import load_run

# Floors a little under what the defaults measured on this data (see docs/choices.md).
FLOORS = {"image_auroc": 0.83, "pixel_auroc": 0.975, "pro": 0.91}


@pytest.fixture(scope="module")
def screw_metrics(screw_run: Path, mvtec_root: Path) -> dict:
    return evaluate(screw_run, load_dataset("mvtec", mvtec_root, "screw"), screw_run / "eval", show=False)


def test_quality_floors(screw_metrics: dict) -> None:
    for key, floor in FLOORS.items():
        assert screw_metrics[key] > floor, (key, screw_metrics[key])
    assert (screw_metrics["n_good"], screw_metrics["n_defective"]) == (41, 119)


def test_report_files(screw_run: Path, screw_metrics: dict) -> None:
    report = screw_run / "eval"
    assert json.loads((report / "metrics.json").read_text())["image_auroc"] == pytest.approx(
        screw_metrics["image_auroc"]
    )
    for name in ("metrics.md", "roc.png", "pro.png", "overlays.png"):
        assert (report / name).stat().st_size > 0


def test_run_directory_records_the_fit(screw_run: Path) -> None:
    config, mean, factor = load_run(screw_run)
    assert config.n_train + config.n_holdout == 320 and config.n_holdout == 32
    assert config.weights_sha256 and config.weights_source.startswith("package:")
    held = np.array(config.holdout_scores)
    assert config.threshold == pytest.approx(np.quantile(held, 0.99))
    assert mean.shape == (factor.shape[0], config.d) and factor.shape[1:] == (config.d, config.d)
    assert not any(p.suffix in (".pkl", ".pt", ".pth") for p in screw_run.iterdir())
