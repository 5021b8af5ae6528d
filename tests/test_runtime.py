"""The torch-free runtime: imports without torch, batch invariance, AUROC equal to the PyTorch path."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from padim_edge.data import load_dataset
from padim_edge.errors import UserError
from padim_edge.evaluate import predict_split
from padim_edge.metrics import image_auroc
from padim_edge.runtime.predictor import Predictor, map_to_frame
from padim_edge.runtime.preprocess import read_image, to_bgr8

BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, _NoTorch())
"""


def test_runtime_runs_where_torch_cannot_be_imported(screw_onnx: Path, mvtec_root: Path) -> None:
    image = mvtec_root / "screw" / "test" / "good" / "000.png"
    code = (
        BLOCK_TORCH
        + f"""
import importlib, json, pkgutil
import padim_edge.runtime
for module in pkgutil.walk_packages(padim_edge.runtime.__path__, "padim_edge.runtime."):
    importlib.import_module(module.name)  # every runtime module, the TensorRT backend included
from padim_edge.runtime.predictor import Predictor
from padim_edge.runtime.preprocess import read_image
try:
    import torch
except ImportError:
    pass
else:
    raise SystemExit("torch was importable")
p = Predictor.open(__import__("pathlib").Path({str(screw_onnx)!r}))
r = p.predict([read_image({str(image)!r})])[0]
print(json.dumps(r.as_dict()))
assert "torch" not in sys.modules
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    expected = Predictor.open(screw_onnx).predict([read_image(image)])[0]
    assert result["score"] == pytest.approx(expected.score, rel=1e-6)
    assert result["verdict"] == expected.verdict


def test_batch_of_one_equals_batch_of_many(screw_onnx: Path, mvtec_root: Path) -> None:
    frames = [read_image(s.path) for s in load_dataset("mvtec", mvtec_root, "screw").test[::20]]
    predictor = Predictor.open(screw_onnx)
    together = predictor.predict(frames)
    alone = [predictor.predict([f])[0] for f in frames]
    for a, b in zip(together, alone):
        assert a.score == pytest.approx(b.score, rel=1e-5)
        np.testing.assert_allclose(a.anomaly_map, b.anomaly_map, rtol=1e-4, atol=1e-4)
        assert a.verdict == b.verdict


def test_runtime_auroc_equals_pytorch_auroc(screw_run: Path, screw_onnx: Path, mvtec_root: Path) -> None:
    test = load_dataset("mvtec", mvtec_root, "screw").test
    predictor = Predictor.open(screw_onnx)
    scores = np.concatenate(
        [
            [r.score for r in predictor.predict([read_image(s.path) for s in test[i : i + 16]])]
            for i in range(0, len(test), 16)
        ]
    )
    reference = predict_split(screw_run, test, show=False)
    labels = np.array([s.label for s in test])
    np.testing.assert_allclose(scores, reference.scores, rtol=1e-4)
    assert image_auroc(labels, scores) == image_auroc(labels, reference.scores)


def test_verdicts_follow_the_threshold(screw_onnx: Path, mvtec_root: Path) -> None:
    frame = read_image(mvtec_root / "screw" / "test" / "good" / "000.png")
    score = Predictor.open(screw_onnx).predict([frame])[0].score
    assert Predictor.open(screw_onnx, threshold=score * 0.5).predict([frame])[0].verdict == "NG"
    low = Predictor.open(screw_onnx, threshold=score * 2).predict([frame])[0]
    assert low.verdict == "OK" and low.normalized == pytest.approx(0.5, rel=1e-5)


def test_map_at_original_resolution(screw_onnx: Path, mvtec_root: Path) -> None:
    frame = read_image(mvtec_root / "screw" / "test" / "good" / "000.png")
    small, full = (Predictor.open(screw_onnx).predict([frame], original_size=s)[0].anomaly_map for s in (False, True))
    assert small.shape == (224, 224) and full.shape == frame.shape[:2]
    assert full.max() == pytest.approx(small.max(), rel=0.05)
    assert map_to_frame(small, 512, 512, 256)[0, 0] == 0.0  # outside the centre crop


def test_model_without_metadata_is_refused(screw_onnx: Path, tmp_path: Path) -> None:
    model = onnx.load(str(screw_onnx))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(UserError, match="no padim-edge metadata"):
        Predictor.open(bare)
    model.metadata_props.add(key="padim_edge", value=json.dumps({"format_version": 99}))
    onnx.save(model, str(bare))
    with pytest.raises(UserError, match="format version 99"):
        Predictor.open(bare)


def test_wrong_channel_count_is_refused() -> None:
    with pytest.raises(UserError, match="channels"):
        to_bgr8(np.zeros((8, 8, 2), np.uint8), "two.png")
