"""Letterbox bars never decide a frame's score: it is the maximum of the map over the cells that show the
frame, in the runtime, in `eval` and in the threshold `fit` sets. A model fitted with `--resize-mode
letterbox` on wide frames (two ELPV cells side by side) is given square frames (one cell), which it places
between black bars where its statistics saw cells: the bar cells hold the map's maximum."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli

from padim_edge.data import load_dataset
from padim_edge.evaluate import predict_split
from padim_edge.export.onnx_graph import export_run
from padim_edge.fit import FitOptions, fit
from padim_edge.imaging.decode import read_image
from padim_edge.runtime.backends import open_backend
from padim_edge.runtime.predictor import Predictor


@pytest.fixture(scope="module")
def letterbox_run(cells_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("letterbox") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cells test set has no pixel masks, by design
        split = load_dataset("folder", cells_root, "cells", limit=16)
    fit(split, run, FitOptions(input_size=64, resize_mode="letterbox", show_progress=False), cells_root)
    export_run(run)
    return run


def test_bar_cells_never_decide_the_score(letterbox_run: Path, capfd: pytest.CaptureFixture):
    cells = load_dataset("elpv", None, "mono").test[::40][:6]  # 300x300: bars 32 wide each side
    model = letterbox_run / "model.onnx"
    predictor = Predictor(open_backend(model))
    assert predictor.input_hw == (64, 128)
    tensors, placements = zip(*(predictor.prepare(read_image(s.path)) for s in cells))
    assert all(p.view == (slice(0, 64), slice(32, 96)) for p in placements)
    maps, whole_map = predictor.infer(np.stack(tensors))
    in_frame = maps[:, :, 32:96].reshape(len(cells), -1).max(axis=1)
    assert (whole_map > in_frame * 1.001).all(), "the bars should hold the maximum here, or this proves nothing"

    outcome = run_cli(capfd, "predict", "--model", model, "--json", *[s.path for s in cells])
    assert outcome.code == 0, outcome.err
    scores = np.array([json.loads(line)["score"] for line in outcome.out.splitlines()])
    np.testing.assert_allclose(scores, in_frame, rtol=1e-5)  # the runtime: the frame's cells only
    reference = predict_split(letterbox_run, cells, show=False)
    np.testing.assert_allclose(reference.scores, in_frame, rtol=1e-4)  # eval (PyTorch) scores the same way
