"""The int8 backbone for onnxruntime CPU (`padim-edge export --int8`), on the real screw run."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from padim_edge.data import iter_batches, load_dataset
from padim_edge.errors import UserError
from padim_edge.export.onnx_graph import read_metadata
from padim_edge.export.quantize import quantize_backbone
from padim_edge.metrics import image_auroc
from padim_edge.runtime.backends.onnxruntime import OnnxRuntimeBackend

# Measured on screw: -0.003 to +0.003 image AUROC with 16 to 64 calibration images (benchmarks/README.md).
MAX_AUROC_DROP = 0.02
FLOAT_ONLY = ("/embed/", "/head/", "/post/")  # the backbone's input Q node reads /preprocess/: expected


@pytest.fixture(scope="module")
def int8_run(screw_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the screw run, exported through the CLI with --int8 (32 calibration images)."""
    run = tmp_path_factory.mktemp("int8_run")
    for name in ("config.json", "statistics.safetensors"):
        shutil.copyfile(screw_run / name, run / name)
    cmd = [sys.executable, "-m", "padim_edge.cli", "export", str(run), "--int8", "--calib-images", "32", "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "model.int8.onnx" in out.stdout
    return run


def _scores(model: Path, samples: list, size: int) -> np.ndarray:
    backend = OnnxRuntimeBackend(model, threads=2)
    return np.concatenate([backend.infer(b.images)[1] for b in iter_batches(samples, 16, size, size)])


def test_int8_loads_and_keeps_the_metadata(int8_run: Path) -> None:
    backend = OnnxRuntimeBackend(int8_run / "model.int8.onnx")
    fp32, int8 = read_metadata(int8_run / "model.onnx"), read_metadata(int8_run / "model.int8.onnx")
    assert int8["export"]["int8_backbone"] is True and "int8_backbone" not in fp32["export"]
    assert {k: v for k, v in int8.items() if k != "export"} == {k: v for k, v in fp32.items() if k != "export"}
    assert backend.info.threshold == pytest.approx(fp32["threshold"])


def test_only_the_backbone_is_quantised(int8_run: Path) -> None:
    model = onnx.load(str(int8_run / "model.int8.onnx"))
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert len(qdq) > 50
    producers = {o: n.name for n in model.graph.node for o in n.output}
    for node in qdq:
        assert not node.name.startswith(FLOAT_ONLY), node.name
        source = producers.get(node.input[0], node.input[0])
        assert not source.startswith(FLOAT_ONLY), (node.name, source)
    inits = {i.name: i for i in model.graph.initializer}
    for name in ("head.mean", "head.factor_t"):
        assert inits[name].data_type == onnx.TensorProto.FLOAT
    ops = {n.op_type for n in model.graph.node if n.name.startswith(("/head/", "/post/"))}
    assert "MatMul" in ops and not ops & {"QLinearMatMul", "MatMulInteger", "QLinearConv", "ConvInteger"}


def test_int8_image_auroc_close_to_fp32(int8_run: Path, mvtec_root: Path) -> None:
    test = load_dataset("mvtec", mvtec_root, "screw").test
    labels = np.array([s.label for s in test])
    size = read_metadata(int8_run / "model.onnx")["input_size"]
    fp32 = image_auroc(labels, _scores(int8_run / "model.onnx", test, size))
    int8 = image_auroc(labels, _scores(int8_run / "model.int8.onnx", test, size))
    assert int8 > fp32 - MAX_AUROC_DROP, (fp32, int8)


def test_rejects_frames_that_are_not_uint8_nhwc(screw_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="uint8"):
        quantize_backbone(screw_onnx, tmp_path / "q.onnx", np.zeros((2, 224, 224, 3), np.float32))
    assert not (tmp_path / "q.onnx").exists()
