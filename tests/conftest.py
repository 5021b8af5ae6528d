"""Shared fixtures: the real MVTec screw data and a model fitted and exported on it once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_MVTEC = Path(__file__).resolve().parents[2] / "shared" / "data" / "mvtec"


@pytest.fixture(scope="session")
def mvtec_root() -> Path:
    """The real MVTec AD data in ../shared/data/mvtec beside the repo; skips the test when absent."""
    if not SHARED_MVTEC.is_dir():
        pytest.skip(f"real MVTec AD data not found at {SHARED_MVTEC}")
    return SHARED_MVTEC


@pytest.fixture(scope="session")
def screw_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """efficientnet_lite0 (real ImageNet weights) fitted on all screw training images with the defaults."""
    if not SHARED_MVTEC.is_dir():
        pytest.skip(f"real MVTec AD data not found at {SHARED_MVTEC}")
    from padim_edge.data import load_dataset
    from padim_edge.fit import FitOptions, fit

    out = tmp_path_factory.mktemp("screw_run")
    fit(load_dataset("mvtec", SHARED_MVTEC, "screw"), out, FitOptions(show_progress=False), SHARED_MVTEC)
    return out


@pytest.fixture(scope="session")
def screw_onnx(screw_run: Path) -> Path:
    """The screw run exported to ONNX (float32 statistics)."""
    from padim_edge.export.onnx_graph import export_run

    return export_run(screw_run).path
