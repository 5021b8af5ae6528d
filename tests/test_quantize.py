"""The int8 backbone for onnxruntime CPU (`padim-edge export --int8`): the session's cells model, quantised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_runner import run_cli

from padim_edge.contract.names import FACTOR, MEAN
from padim_edge.data import iter_batches, load_dataset
from padim_edge.errors import UserError
from padim_edge.export.quantize import good_training_frames, quantize_backbone
from padim_edge.imaging.geometry import Geometry
from padim_edge.metrics import image_auroc
from padim_edge.model.run_dir import read_config
from padim_edge.model_file.onnx_io import read_onnx_metadata
from padim_edge.runtime.backends.onnxruntime import OnnxRuntimeBackend

FLOAT_ONLY = ("/embed/", "/head/", "/post/")  # the backbone's input Q node reads /preprocess/: expected
# int8 costs some accuracy (make bench reports it per dataset); these bounds catch a broken quantisation, such as
# full-range weights on a CPU without VNNI (rank correlation about 0.8 here), not that cost.
MAX_AUROC_DROP = 0.05
MIN_RANK_CORRELATION = 0.9


@pytest.fixture(scope="module")
def int8_model(cells_model: Path, cells_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cells model with its backbone quantised, calibrated on 16 good training frames."""
    frames = good_training_frames(read_config(cells_run), 16)
    out = tmp_path_factory.mktemp("int8") / "model.int8.onnx"
    result = quantize_backbone(cells_model, out, frames)
    assert result.path == out and result.calibration_images == 16 and result.quantised_nodes > 20
    return out


def _scores(model: Path, cells_root: Path) -> tuple[np.ndarray, np.ndarray]:
    backend = OnnxRuntimeBackend(model, threads=2)
    test = load_dataset("folder", cells_root, "cells").test
    geometry = Geometry(*backend.info.input_hw, backend.info.config.resize_mode)
    scores = np.concatenate([backend.infer(b.images)[1] for b in iter_batches(test, 8, geometry)])
    return np.array([s.label for s in test]), scores


def test_int8_keeps_the_metadata_and_its_own_digest(int8_model: Path, cells_model: Path) -> None:
    fp32, int8 = read_onnx_metadata(cells_model), read_onnx_metadata(int8_model)
    assert (fp32.export.backbone_precision, int8.export.backbone_precision) == ("float32", "int8")
    assert int8.config == fp32.config and int8.export.graph_sha256 != fp32.export.graph_sha256
    assert OnnxRuntimeBackend(int8_model).info.threshold == pytest.approx(fp32.threshold)  # digest checked


def test_only_the_backbone_is_quantised(int8_model: Path) -> None:
    model = onnx.load(str(int8_model))
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert len(qdq) > 50
    producers = {o: n.name for n in model.graph.node for o in n.output}
    for node in qdq:
        assert not node.name.startswith(FLOAT_ONLY), node.name
        source = producers.get(node.input[0], node.input[0])
        assert not source.startswith(FLOAT_ONLY), (node.name, source)
    inits = {i.name: i for i in model.graph.initializer}
    assert inits[MEAN].data_type == inits[FACTOR].data_type == onnx.TensorProto.FLOAT
    ops = {n.op_type for n in model.graph.node if n.name.startswith(("/head/", "/post/"))}
    assert "MatMul" in ops and not ops & {"QLinearMatMul", "MatMulInteger", "QLinearConv", "ConvInteger"}


def test_int8_ranks_the_cells_like_fp32(int8_model: Path, cells_model: Path, cells_root: Path) -> None:
    labels, fp32 = _scores(cells_model, cells_root)
    _, int8 = _scores(int8_model, cells_root)
    assert image_auroc(labels, int8) > image_auroc(labels, fp32) - MAX_AUROC_DROP
    ranks = [np.argsort(np.argsort(s)) for s in (fp32, int8)]
    assert np.corrcoef(*ranks)[0, 1] > MIN_RANK_CORRELATION and np.isfinite(int8).all()


def test_rejects_frames_that_are_not_uint8_nhwc(cells_model: Path, tmp_path: Path) -> None:
    for frames in (np.zeros((2, 128, 256, 3), np.float32), np.zeros((0, 128, 256, 3), np.uint8)):
        with pytest.raises(UserError, match="uint8"):
            quantize_backbone(cells_model, tmp_path / "q.onnx", frames)
    assert not any(tmp_path.iterdir())


def test_int8_model_predicts_quietly(int8_model: Path, cell_frames: list[Path], capfd) -> None:
    """onnxruntime's notes on the quantised graph's leftover constants stay out of the user's stderr."""
    outcome = run_cli(capfd, "predict", "--model", int8_model, cell_frames[0])
    assert outcome.code == 0 and outcome.err == "" and outcome.out.split()[0] in ("OK", "NG")
