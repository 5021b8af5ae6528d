"""The torch-free runtime: imports without torch, equals the PyTorch path, refuses what is not its model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from padim_edge.contract.names import METADATA_KEY
from padim_edge.data import load_dataset
from padim_edge.errors import UserError
from padim_edge.evaluate import predict_split
from padim_edge.export.onnx_graph import export_run
from padim_edge.imaging.decode import read_image
from padim_edge.metrics import image_auroc
from padim_edge.runtime.backends import open_backend
from padim_edge.runtime.predictor import NG, OK, Predictor

BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, _NoTorch())
"""


def score(predictor: Predictor, frames: list[np.ndarray]) -> np.ndarray:
    batch = np.stack([predictor.prepare(f)[0] for f in frames])
    return predictor.infer(batch)[1]


def test_runtime_runs_where_torch_cannot_be_imported(cells_model: Path, cell_frames: list[Path]) -> None:
    code = (
        BLOCK_TORCH
        + f"""
import importlib, json, pkgutil
import padim_edge.runtime, padim_edge.contract, padim_edge.imaging, padim_edge.accel, padim_edge.sinks, padim_edge.live
for package in (padim_edge.runtime, padim_edge.contract, padim_edge.imaging, padim_edge.accel, padim_edge.sinks,
                padim_edge.live):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)  # every torch-free module, the TensorRT backend included
from padim_edge.cli import main
code = main(["predict", "--json", "--model", {str(cells_model)!r}, {str(cell_frames[0])!r}])
assert "torch" not in sys.modules
raise SystemExit(code)
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout)
    expected = score(Predictor(open_backend(cells_model)), [read_image(cell_frames[0])])[0]
    assert line["score"] == pytest.approx(float(expected), rel=1e-5)


def test_runtime_scores_equal_the_pytorch_path(cells_run: Path, cells_model: Path, cells_root: Path) -> None:
    test = load_dataset("folder", cells_root, "cells").test
    predictor = Predictor(open_backend(cells_model))
    scores = score(predictor, [read_image(s.path) for s in test])
    reference = predict_split(cells_run, test, show=False)
    labels = np.array([s.label for s in test])
    np.testing.assert_allclose(scores, reference.scores, rtol=1e-4)
    assert image_auroc(labels, scores) == image_auroc(labels, reference.scores) > 0.7


def test_batch_of_one_equals_batch_of_many(cells_model: Path, cell_frames: list[Path]) -> None:
    predictor = Predictor(open_backend(cells_model))
    frames = [read_image(p) for p in cell_frames[::4]]
    together = score(predictor, frames)
    alone = np.concatenate([score(predictor, [f]) for f in frames])
    np.testing.assert_allclose(together, alone, rtol=1e-5)


def test_verdicts_follow_the_threshold(cells_model: Path, cell_frames: list[Path]) -> None:
    frame = read_image(cell_frames[0])
    value = float(score(Predictor(open_backend(cells_model)), [frame])[0])
    predictor = Predictor(open_backend(cells_model), threshold=value * 2)
    assert predictor.judge(value) == (pytest.approx(0.5), OK)
    assert predictor.judge(value * 3)[1] == NG
    for broken in (float("nan"), float("inf")):
        assert predictor.judge(broken) == (None, NG)  # never OK
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UserError, match="--threshold"):
            Predictor(open_backend(cells_model), threshold=bad)


def test_a_graph_carrying_another_models_metadata_is_refused(
    cells_run: Path, cells_model: Path, tmp_path: Path
) -> None:
    other = export_run(cells_run, tmp_path / "half.onnx", fp16_statistics=True).path  # same config, other graph
    model = onnx.load(str(cells_model))
    foreign = {p.key: p.value for p in onnx.load(str(other), load_external_data=False).metadata_props}
    onnx.helper.set_model_props(model, {METADATA_KEY: foreign[METADATA_KEY]})
    onnx.save(model, str(tmp_path / "swapped.onnx"))
    with pytest.raises(UserError, match="does not match the digest in its metadata"):
        open_backend(tmp_path / "swapped.onnx")
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    with pytest.raises(UserError, match="no padim-edge metadata"):
        open_backend(tmp_path / "bare.onnx")
    doc = json.loads(foreign[METADATA_KEY])
    doc["input_width"] = 512  # valid metadata, but not this graph's input
    doc["export"]["graph_sha256"] = ""
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(doc)})
    onnx.save(model, str(tmp_path / "wide.onnx"))
    with pytest.raises(UserError, match="graph input .* do not match its metadata"):
        open_backend(tmp_path / "wide.onnx")


def test_a_format_1_model_keeps_working(cells_root: Path, tmp_path: Path, cell_frames: list[Path]) -> None:
    """A model exported by padim-edge 0.1 (square input, centre crop) carries format-1 metadata."""
    from padim_edge.fit import FitOptions, fit

    run = tmp_path / "square"
    options = FitOptions(input_size=(64, 64), resize_mode="crop", show_progress=False)
    fit(load_dataset("folder", cells_root, "cells", limit=4), run, options)
    path = export_run(run).path
    model = onnx.load(str(path))
    doc = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    export = doc.pop("export")
    for key in ("input_height", "input_width", "resize_mode", "pooling"):
        doc.pop(key)
    doc.update(format_version=1, resize=64, input_size=64, layers=[1, 2, 3])
    doc["export"] = {"opset": export["opset"], "statistics_dtype": "float32", "versions": {}}
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(doc)})
    onnx.save(model, str(tmp_path / "old.onnx"))
    old = Predictor(open_backend(tmp_path / "old.onnx"))
    assert (old.input_hw, old.geometry.mode) == ((64, 64), "crop")
    # 0.1's pre-processing, by hand: the shorter side to 64, then the centre 64x64 (the 600x300 pair's middle)
    frame = read_image(cell_frames[-1])
    resized = cv2.resize(frame, (128, 64), interpolation=cv2.INTER_AREA)
    by_hand = old.backend.infer(resized[None, :, 32:96])[1][0]
    assert score(old, [frame])[0] == pytest.approx(float(by_hand), rel=1e-5)
    stretched = old.backend.infer(cv2.resize(frame, (64, 64), interpolation=cv2.INTER_AREA)[None])[1][0]
    assert abs(stretched - by_hand) > 1e-3 * by_hand  # the frame is wide: the two placements differ
