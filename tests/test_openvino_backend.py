"""`--backend openvino`: the exported model on OpenVINO's CPU runtime gives onnxruntime's scores, through
the same checks and the same CLI; bad combinations are one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_runner import run_cli

from padim_edge.errors import UserError
from padim_edge.imaging.decode import read_image
from padim_edge.runtime.backends import open_backend
from padim_edge.runtime.predictor import Predictor

pytest.importorskip("openvino", reason="the openvino package is not installed (pip install 'padim-edge[openvino]')")


def _frames(predictor: Predictor, paths: list[Path]) -> np.ndarray:
    return np.stack([predictor.prepare(read_image(p))[0] for p in paths])


def test_openvino_scores_and_maps_equal_onnxruntime(cells_model: Path, cell_frames: list[Path]) -> None:
    ort_backend = open_backend(cells_model, threads=2)
    ov_backend = open_backend(cells_model, threads=2, backend="openvino")
    frames = _frames(Predictor(ort_backend), cell_frames[::2])
    want_maps, want_scores = ort_backend.infer(frames)
    got_maps, got_scores = ov_backend.infer(frames)
    assert got_maps.shape == want_maps.shape and got_scores.shape == want_scores.shape
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-4)
    assert np.abs(got_maps - want_maps).max() <= 1e-4 * np.abs(want_maps).max()
    alone = np.concatenate([ov_backend.infer(frames[i : i + 1])[1] for i in range(3)])  # batch 1 then 3: dynamic
    np.testing.assert_allclose(alone, got_scores[:3], rtol=1e-5)
    assert ov_backend.describe().startswith("OpenVINO") and ov_backend.describe().endswith("f32")
    assert Predictor(ov_backend).digest == Predictor(ort_backend).digest


def test_bf16_moves_scores_a_little_and_only_when_asked(cells_model: Path, cell_frames: list[Path]) -> None:
    """OpenVINO's own default on CPUs with bfloat16 is bf16; padim-edge pins f32 unless bf16 is asked for."""
    f32 = open_backend(cells_model, threads=2, backend="openvino")
    frames = _frames(Predictor(f32), cell_frames[:4])
    bf16 = open_backend(cells_model, threads=2, backend="openvino", precision="bf16")
    exact, rounded = f32.infer(frames)[1], bf16.infer(frames)[1]
    assert np.all(np.abs(rounded - exact) <= 0.1 * exact)  # same model, coarser arithmetic where the CPU has it


def test_openvino_refuses_what_onnxruntime_refuses(cells_model: Path, tmp_path: Path) -> None:
    model = onnx.load(str(cells_model))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    with pytest.raises(UserError, match="no padim-edge metadata"):
        open_backend(tmp_path / "bare.onnx", backend="openvino")


def test_cli_backend_flags(capfd: pytest.CaptureFixture, cells_model: Path, cell_frames: list[Path]) -> None:
    found = run_cli(capfd, "info", cells_model, "--backend", "openvino")
    assert found.code == 0, found.err
    assert json.loads(found.out)["checked"].startswith("OpenVINO")
    by_ov = run_cli(capfd, "predict", "--json", "--model", cells_model, "--backend", "openvino", cell_frames[0])
    by_ort = run_cli(capfd, "predict", "--json", "--model", cells_model, cell_frames[0])
    assert by_ov.code == by_ort.code == 0, by_ov.err
    assert json.loads(by_ov.out)["score"] == pytest.approx(json.loads(by_ort.out)["score"], rel=1e-4)
    bad = (
        (("--backend", "tflite"), "--backend tflite: expected one of onnxruntime, openvino"),
        (("--precision", "bf16"), "--precision bf16 applies to --backend openvino"),
        (("--backend", "openvino", "--precision", "fp8"), "--precision fp8: expected one of f32, bf16"),
    )
    for flags, message in bad:
        found = run_cli(capfd, "predict", "--model", cells_model, *flags, cell_frames[0])
        assert found.code == 2 and len(found.errors) == 1 and message in found.errors[0], found.err
        assert "Traceback" not in found.err
