"""The exported ONNX graph: parity with PyTorch, metadata, external data, float16 statistics."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from padim_edge.data import iter_batches, load_dataset
from padim_edge.export.onnx_graph import INPUT, OUTPUTS, export_run, read_metadata
from padim_edge.fit import FitOptions, fit
from padim_edge.runtime.backends.onnxruntime import OnnxRuntimeBackend
from padim_edge.verify import check_parity


def some_test_images(mvtec_root: Path, every: int = 5) -> list:
    return load_dataset("mvtec", mvtec_root, "screw").test[::every]


def test_graph_interface(screw_onnx: Path) -> None:
    model = onnx.load(str(screw_onnx), load_external_data=False)
    assert model.opset_import[0].version >= 17
    (inp,) = model.graph.input
    assert inp.name == INPUT and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 224, 224, 3]
    assert [o.name for o in model.graph.output] == list(OUTPUTS)
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    assert inits["head.factor_t"][1:] == [100, 100] and inits["head.mean"][1:] == [1, 100]
    onnx.checker.check_model(str(screw_onnx))


def test_metadata_and_info(screw_run: Path, screw_onnx: Path) -> None:
    meta = read_metadata(screw_onnx)
    run_config = json.loads((screw_run / "config.json").read_text())
    for key in (
        "format_version",
        "backbone",
        "weights_sha256",
        "layers",
        "d",
        "input_size",
        "mean",
        "std",
        "resize",
        "threshold",
        "dataset",
        "category",
        "n_train",
        "versions",
        "statistics_sha256",
    ):
        assert meta[key] == run_config[key], key
    out = subprocess.run(
        [sys.executable, "-m", "padim_edge.cli", "info", str(screw_onnx)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout)["threshold"] == pytest.approx(run_config["threshold"])


def test_parity_lite0_real_weights(screw_run: Path, screw_onnx: Path, mvtec_root: Path) -> None:
    parity = check_parity(screw_run, screw_onnx, some_test_images(mvtec_root))
    assert parity.ok and parity.images == 32, parity
    assert parity.relative_map_diff < 1e-4 and parity.same_ranking


def test_parity_resnet18_random_weights(tmp_path: Path, mvtec_root: Path) -> None:
    split = load_dataset("mvtec", mvtec_root, "screw", limit=12)
    options = FitOptions(backbone="resnet18", weights="random", show_progress=False)
    config = fit(split, tmp_path, options)
    assert config.weights_source == "random" and config.weights_sha256 is None
    model = export_run(tmp_path).path
    parity = check_parity(tmp_path, model, split.test)
    assert parity.ok, parity


def test_verify_command_passes(screw_run: Path, screw_onnx: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "padim_edge.cli", "verify", str(screw_run), "--images", "8"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ok"] is True


def test_external_data_writes_loads_and_runs(
    screw_run: Path, screw_onnx: Path, tmp_path: Path, mvtec_root: Path
) -> None:
    result = export_run(screw_run, tmp_path / "big.onnx", external_threshold=1 << 20)
    assert result.external_data == tmp_path / "big.onnx.data"
    assert result.external_data.stat().st_size > 100e6 and result.path.stat().st_size < 5e6
    frames = next(iter_batches(some_test_images(mvtec_root, 20), 8, 256, 224)).images
    maps_ext, scores_ext = OnnxRuntimeBackend(result.path).infer(frames)
    maps, scores = OnnxRuntimeBackend(screw_onnx).infer(frames)
    np.testing.assert_array_equal(scores_ext, scores)
    np.testing.assert_array_equal(maps_ext, maps)


def test_fp16_statistics_halve_the_model(screw_run: Path, screw_onnx: Path, tmp_path: Path, mvtec_root: Path) -> None:
    half = export_run(screw_run, tmp_path / "half.onnx", fp16_statistics=True)
    assert half.bytes_on_disk < 0.55 * screw_onnx.stat().st_size
    assert read_metadata(half.path)["export"]["statistics_dtype"] == "float16"
    parity = check_parity(screw_run, half.path, some_test_images(mvtec_root), tolerance=1e-3)
    assert parity.same_ranking and parity.relative_map_diff < 1e-3, parity
