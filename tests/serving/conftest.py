"""Serving tests: a tiny ELPV model (fitted and exported once) and a `padim-edge serve` of it per module,
stopped with SIGTERM at the end, which must leave no tritonserver behind."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import Serve, wait_gone


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """efficientnet_lite0 fitted on 24 ELPV mono cells at 64x96 (not square, as cameras), d=16, exported."""
    pytest.importorskip("pytriton", reason="needs the serve extra: pip install 'padim-edge[serve]'")
    from padim_edge.data import load_dataset
    from padim_edge.export.onnx_graph import export_run
    from padim_edge.fit import FitOptions, fit

    out = tmp_path_factory.mktemp("tiny_run")
    options = FitOptions(d=16, input_size=(64, 96), batch_size=8, show_progress=False)
    fit(load_dataset("elpv", None, "mono", 24), out, options, None)
    export_run(out)
    return out


@pytest.fixture(scope="session")
def tiny_onnx(tiny_run: Path) -> Path:
    return tiny_run / "model.onnx"


@pytest.fixture(scope="session")
def elpv_images() -> list[Path]:
    """Twelve ELPV mono cells (300x300 grayscale PNGs) from the elpv-dataset package."""
    from padim_edge.data import load_dataset

    return [s.path for s in load_dataset("elpv", None, "mono").test[::40][:12]]


@pytest.fixture(scope="module")
def server(tiny_onnx: Path) -> Iterator[Serve]:
    """`padim-edge serve` of the tiny model; SIGTERM at the end must exit 0 and take tritonserver along."""
    running = Serve(tiny_onnx, "tiny", 1).start(120)
    try:
        yield running
    finally:
        code = running.stop(signal.SIGTERM)
        left = wait_gone(running.tritonserver, 30)
    assert code == 0, "".join(running.log[-20:])
    assert running.tritonserver and not left, f"tritonserver {left} outlived serve"
