"""Fit and export on real images: the run directory, the ONNX graph, parity with PyTorch, storage options."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load_file, save_file
from tamper import save, with_mean

from padim_edge.cli import main
from padim_edge.contract.names import FACTOR, INPUT, MEAN, OUTPUTS
from padim_edge.data import iter_batches, load_dataset
from padim_edge.errors import UserError
from padim_edge.evaluate import predict_split
from padim_edge.export.onnx_graph import export_run
from padim_edge.fit import FitOptions, fit
from padim_edge.imaging.geometry import Geometry
from padim_edge.model.run_dir import load_run, statistics_digest
from padim_edge.model_file.onnx_io import read_onnx_metadata
from padim_edge.runtime.backends.onnxruntime import OnnxRuntimeBackend
from padim_edge.verify import check_parity


def cell_samples(cells_root: Path) -> list:
    return load_dataset("folder", cells_root, "cells").test


def test_the_run_follows_the_frames_aspect_ratio(cells_run: Path) -> None:
    config, mean, factor = load_run(cells_run)
    assert config.input_hw == (128, 256)  # 600x300 pairs, shorter side 128
    assert config.n_train == 32 and config.n_holdout == 4 and config.threshold > 0  # held out, then added
    # the default taps' grid is stride 8 (16 x 32), every channel (d = 152), one W per 2x2 tile
    assert mean.shape == (16 * 32, 152) and factor.shape == (8 * 16, 152, 152)


def test_graph_interface(cells_model: Path) -> None:
    model = onnx.load(str(cells_model), load_external_data=False)
    (inp,) = model.graph.input
    assert inp.name == INPUT and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 128, 256, 3]
    assert [o.name for o in model.graph.output] == list(OUTPUTS)
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    assert inits[FACTOR] == [128, 152, 152] and inits[MEAN] == [512, 1, 152]
    assert not any(n.op_type == "Pad" for n in model.graph.node)  # TF-same pads folded into the Convs
    onnx.checker.check_model(str(cells_model))


def test_verify_passes_the_export_and_fails_another_graph(cells_run: Path, cells_model: Path, tmp_path: Path) -> None:
    """The `verify` command (the runtime's parity with PyTorch on every test frame is test_runtime.py's):
    exit 0 on the run's own export, exit 1 on a consistent model whose statistics are not the run's."""
    assert main(["verify", str(cells_run), "--images", "4"]) == 0
    other = save(with_mean(onnx.load(str(cells_model)), lambda m: m + 0.5), tmp_path / "other.onnx")
    assert main(["verify", str(cells_run), "--model", str(other), "--images", "4"]) == 1


def test_evaluation_maps_cover_the_original_frames(cells_run: Path, cells_model: Path, cells_root: Path) -> None:
    """Each map placed back is the model's whole map stretched over the whole frame: checked against the
    exported graph's own map resized by OpenCV (an oracle independent of the placement's affine matrix)."""
    samples = cell_samples(cells_root)[::5]
    pred = predict_split(cells_run, samples, show=False)
    assert [m.shape for m in pred.maps] == [f.shape[:2] for f in pred.frames] == [(300, 600)] * len(samples)
    geometry, backend = Geometry.of(pred.config), OnnxRuntimeBackend(cells_model)
    for frame, placed in zip(pred.frames, pred.maps):
        model_map = backend.infer(geometry.prepare(frame)[0][None])[0][0]
        expected = cv2.resize(model_map, (600, 300), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(placed, expected, rtol=0, atol=0.02 * float(expected.max()))


def test_external_data_writes_loads_and_runs(
    cells_run: Path, cells_model: Path, tmp_path: Path, cells_root: Path
) -> None:
    result = export_run(cells_run, tmp_path / "big.onnx", external_threshold=1 << 20)
    assert result.external_data == tmp_path / "big.onnx.data"
    assert result.external_data.stat().st_size > 10e6 and result.path.stat().st_size < 5e6
    frames = next(iter_batches(cell_samples(cells_root), 4, Geometry(128, 256))).images
    maps_ext, scores_ext = OnnxRuntimeBackend(result.path).infer(frames)
    maps, scores = OnnxRuntimeBackend(cells_model).infer(frames)
    np.testing.assert_array_equal(scores_ext, scores)
    np.testing.assert_array_equal(maps_ext, maps)


def test_fp16_statistics_halve_the_model(cells_run: Path, cells_model: Path, tmp_path: Path, cells_root: Path) -> None:
    half = export_run(cells_run, tmp_path / "half.onnx", fp16_statistics=True)
    _, mean, factor = load_run(cells_run)
    statistics_bytes = 4 * (mean.numel() + factor.numel())
    assert cells_model.stat().st_size - half.bytes_on_disk > 0.49 * statistics_bytes
    assert read_onnx_metadata(half.path).export.statistics_dtype == "float16"
    parity = check_parity(cells_run, half.path, cell_samples(cells_root), tolerance=1e-3)
    assert parity.same_ranking and parity.relative_map_diff < 1e-3, parity


def test_resnet18_with_random_weights_and_shared_covariances_exports_with_parity(
    tmp_path: Path, cells_root: Path
) -> None:
    split = load_dataset("folder", cells_root, "cells", limit=6)
    options = FitOptions(backbone="resnet18", weights="random", input_size=64, cov_block=3, show_progress=False)
    config = fit(split, tmp_path / "r18", options)
    assert config.weights_source == "random" and config.weights_sha256 is None and config.input_hw == (64, 128)
    _, mean, factor = load_run(tmp_path / "r18")
    assert mean.shape[0] == 16 * 32 and factor.shape[0] == 6 * 11  # one per 3x3 tile, edge tiles smaller
    parity = check_parity(tmp_path / "r18", export_run(tmp_path / "r18").path, split.test)
    assert parity.ok, parity


def test_an_input_size_off_the_backbone_stride_is_rounded_and_said(
    tmp_path: Path, cells_root: Path, capfd: pytest.CaptureFixture
) -> None:
    """225x301 would give stride-8/16 grids of 29x38 and 15x19, which do not line up: the fit takes the nearest
    multiples of 16 and says so in one warning line."""
    out = tmp_path / "odd"
    args = ["fit", "--dataset", "folder", "--data-root", cells_root, "--category", "cells", "--limit", "4"]
    code = main([*map(str, args), "--input-size", "225x301", "--out", str(out), "-q"])
    err = capfd.readouterr().err
    assert code == 0, err
    config, mean, _ = load_run(out)
    assert config.input_hw == (224, 304) and mean.shape[0] == (224 // 8) * (304 // 8)
    said = [line for line in err.splitlines() if "--input-size" in line]
    assert said == [
        "warning: --input-size: 225x301 rounded to 224x304, multiples of efficientnet_lite0's stride 16 at blocks.10 "
        "(its feature grids line up only then)"
    ]


def test_non_finite_statistics_are_refused_at_load_and_export(cells_run: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    tensors = load_file(str(cells_run / "statistics.safetensors"))
    tensors["factor"][3, 0, 0] = float("nan")
    save_file(tensors, str(broken / "statistics.safetensors"))
    config = json.loads((cells_run / "config.json").read_text())
    config["statistics_sha256"] = statistics_digest(tensors["mean"], tensors["factor"])
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="factor holds NaN or infinite values"):
        load_run(broken)
    with pytest.raises(UserError, match="NaN or infinite"):
        export_run(broken)


def test_a_refit_with_other_settings_replaces_the_run_whole(cells_root: Path, tmp_path: Path) -> None:
    split = load_dataset("folder", cells_root, "cells", limit=4)
    run = tmp_path / "run"
    fit(split, run, FitOptions(input_size=64, show_progress=False))
    (run / "model.onnx").write_bytes(b"stale")  # an export of the previous fit
    fit(split, run, FitOptions(input_size=(64, 64), resize_mode="letterbox", show_progress=False))
    config, _, _ = load_run(run)
    assert (config.input_hw, config.resize_mode) == ((64, 64), "letterbox")
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "statistics.safetensors", "sums.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging left behind


def test_statistics_are_the_float64_fit_of_the_embeddings(cells_run: Path, cells_root: Path) -> None:
    """The saved statistics are those of every training embedding, the held-out ones included (an
    independent numpy computation)."""
    from padim_edge.model.build import feature_extractor, load_run_backbone
    from padim_edge.model.statistics import block_ids

    config, mean, factor = load_run(cells_run)
    train = load_dataset("folder", cells_root, "cells").train
    features = feature_extractor(config, load_run_backbone(config))
    with torch.inference_mode():
        embeddings = [
            features(torch.from_numpy(b.images)).flatten(2).transpose(1, 2).double().numpy()
            for b in iter_batches(train, 8, Geometry(*config.input_hw))
        ]
    x = np.concatenate(embeddings)  # [N, P, d]
    np.testing.assert_allclose(mean.numpy(), x.mean(0), rtol=1e-4, atol=1e-4)
    grid = features.grid(config.input_hw)
    members = (block_ids(grid, config.cov_block)[0] == 100).numpy()
    centred = x - x.mean(0)  # each position around its own mean, then pooled over the tile and over the grid
    tile = np.einsum("npi,npj->ij", centred[:, members], centred[:, members])
    pooled = np.einsum("npi,npj->ij", centred, centred) / (x.shape[1] * (len(x) - 1))
    assert config.prior_weight == config.d  # the default prior: worth d samples
    samples = members.sum() * (len(x) - 1)
    cov = (tile + config.prior_weight * pooled) / (samples + config.prior_weight) + config.eps * np.eye(config.d)
    w = factor[100].double().numpy()
    np.testing.assert_allclose(w @ cov @ w.T, np.eye(config.d), atol=1e-3)
