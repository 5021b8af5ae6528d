"""Drift watch on real frames: a 300-frame video of good ELPV cell pairs the model never saw, as recorded, then
brightened and blurred by realistic amounts; `run` warns on the changed ones only."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runner import run_cli
from pairs import side_by_side

FRAMES = 300


@pytest.fixture(scope="module")
def drift_model(cells_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cells model with 40% of its training pairs held out: a steadier reference median than 10% gives."""
    import warnings

    from padim_edge.data import load_dataset
    from padim_edge.export.onnx_graph import export_run
    from padim_edge.fit import FitOptions, fit

    out = tmp_path_factory.mktemp("drift") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cells test set has no pixel masks, by design
        split = load_dataset("folder", cells_root, "cells")
    fit(split, out, FitOptions(input_size=128, holdout=0.4, show_progress=False), cells_root)
    return export_run(out).path


@pytest.fixture(scope="module")
def good_pairs() -> list[np.ndarray]:
    """Pairs of good training cells the cells model was not fitted on (it took the first 64)."""
    from padim_edge.data import load_dataset

    goods = [s.path for s in load_dataset("elpv", None, "mono").train[64:264]]
    return [side_by_side(goods[i], goods[i + 1]) for i in range(0, len(goods) - 1, 2)]


def video(path: Path, frames: list[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 25.0, (600, 300))  # lossless
    for i in range(FRAMES):
        writer.write(frames[i % len(frames)])
    writer.release()
    return path


CHANGES = {  # what each change does to the median OK score is in docs/results.md
    "as recorded": lambda f: f,
    "brighter (+40% gain: a new lamp, a longer exposure)": lambda f: cv2.convertScaleAbs(f, alpha=1.4),
    "blurred (Gaussian sigma 6 px: out of focus)": lambda f: cv2.GaussianBlur(f, (0, 0), 6),
}


def test_changed_frames_trigger_the_drift_watch(drift_model: Path, good_pairs, tmp_path: Path, capfd) -> None:
    states = {}
    for i, (name, change) in enumerate(CHANGES.items()):
        source = video(tmp_path / f"{i}.avi", [change(f) for f in good_pairs])
        summary = tmp_path / f"{i}.json"
        outcome = run_cli(capfd, "run", "--model", drift_model, "--source", source, "--summary-json", summary)
        assert outcome.code == 0, outcome.err
        report = json.loads(summary.read_text())
        states[name] = (report["drift"], report["rejected"], outcome.err.count("warning: drift:"))
    for name, (drift, rejected, warned) in states.items():
        print(
            f"\n{name}: ratio {drift['ratio']} (median of {drift['ok_frames']} OK scores {drift['recent_median']}, "
            f"fit's held-out median {drift['reference']}), {rejected} rejected, {warned} warnings"
        )
    for name, (drift, _rejected, warned) in states.items():
        expected = name != "as recorded"
        assert drift["enabled"] and drift["drifting"] == expected and warned == expected, (name, states)
