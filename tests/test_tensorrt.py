"""TensorRT build and runtime.

Everything that is not a TensorRT or CUDA call runs here, on a real exported screw model and real images:
the choice of layers kept in fp32, the trtexec line, option checks, calibration batches, the engine record
and its machine check, and the one-line errors without TensorRT or a GPU. The `gpu` tests build real
engines and compare them with onnxruntime; they run only where TensorRT and a CUDA device are found.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from padim_edge.runtime.cuda_binding import open_binding
from padim_edge.runtime.engine_record import EngineRecord, Machine, check_engine, read_record, write_record
from padim_edge.runtime.preprocess import prepare_batch, read_image

from padim_edge.errors import UserError
from padim_edge.export.calibrator import ImageBatcher
from padim_edge.export.tensorrt_build import (
    BuildOptions,
    fp32_layer_names,
    head_matmul,
    inspect_onnx,
    parse_batch,
    trtexec_command,
)
from padim_edge.runtime.backends.ort_tensorrt import ort_tensorrt_options

MVTEC = Path(__file__).resolve().parents[2] / "shared" / "data" / "mvtec"
GOOD = MVTEC / "screw" / "train" / "good"
HERE = Machine("10.3.0", "Orin", "8.7")


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A run fitted on 16 real screw images, exported with float32 and with float16 statistics.

    The graph's structure does not depend on how many images were fitted, so a small fit suffices here.
    """
    if not MVTEC.is_dir():
        pytest.skip(f"real MVTec AD data not found at {MVTEC}")
    from padim_edge.data import load_dataset
    from padim_edge.export.onnx_graph import export_run
    from padim_edge.fit import FitOptions, fit

    root = tmp_path_factory.mktemp("trt_models")
    fit(load_dataset("mvtec", MVTEC, "screw", 16), root / "run", FitOptions(show_progress=False), MVTEC)
    fp32 = export_run(root / "run", root / "model.onnx").path
    fp16 = export_run(root / "run", root / "model16.onnx", fp16_statistics=True).path
    return SimpleNamespace(fp32=fp32, fp16=fp16)


def _load(path: Path):
    import onnx

    return onnx.load(str(path), load_external_data=False)


# --- the layers kept in fp32 ---------------------------------------------------------------------------


def test_fp32_layers_are_the_float_head_and_post_nodes(models: SimpleNamespace) -> None:
    model = _load(models.fp32)
    nodes = {n.name: n for n in model.graph.node}
    names = fp32_layer_names(model)
    picked = [n for n in names if n in nodes]
    weights = [n for n in names if n not in nodes]
    assert {"/head/Sub", "/head/MatMul", "/head/Mul", "/head/ReduceSum", "/head/Sqrt"} <= set(picked)
    assert {"/post/MatMul", "/post/MatMul_1", "/post/ReduceMax"} <= set(picked)
    assert all(n.startswith(("/head/", "/post/")) for n in picked)  # backbone and embedding stay fp16
    assert not {nodes[n].op_type for n in picked} & {"Shape", "Constant", "ConstantOfShape", "Gather", "Unsqueeze"}
    assert weights == ["head.mean", "head.factor_t", "post.k", "post.k_t"]
    producers = {out: n.name for n in model.graph.node for out in n.output}
    assert {producers["anomaly_map"], producers["score"]} <= set(picked)
    assert head_matmul(model).name == "/head/MatMul"


def test_fp32_layers_with_float16_statistics_include_the_casts(models: SimpleNamespace) -> None:
    model = _load(models.fp16)
    names = fp32_layer_names(model)
    assert {"/head/Cast_mean", "/head/Cast_factor_t", "/head/MatMul"} <= set(names)
    assert not {"head.mean_fp16", "head.factor_t_fp16"} & set(names)  # cast up exactly: nothing to pin
    assert head_matmul(model).name == "/head/MatMul"


def test_renamed_head_fails_loudly(models: SimpleNamespace) -> None:
    model = _load(models.fp32)
    for node in model.graph.node:
        node.name = node.name.replace("/head/", "/mahalanobis/")
    with pytest.raises(UserError, match="no Mahalanobis head"):
        fp32_layer_names(model)


def test_head_whose_factor_is_not_baked_in_fails_loudly(models: SimpleNamespace) -> None:
    model = _load(models.fp32)
    next(t for t in model.graph.initializer if t.name == "head.factor_t").name = "elsewhere"
    with pytest.raises(UserError, match="no Mahalanobis head"):
        head_matmul(model)


def test_foreign_onnx_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g", [x], [y])
    onnx.save(helper.make_model(graph), str(tmp_path / "other.onnx"))
    with pytest.raises(UserError, match="no padim-edge metadata"):
        inspect_onnx(tmp_path / "other.onnx")


# --- options and the trtexec line ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("1,4,8", (1, 4, 8)), ("8", (8, 8, 8)), ("2, 2, 4", (2, 2, 4))])
def test_parse_batch(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_batch(text) == expected


@pytest.mark.parametrize("text", ["0,1,2", "4,2,8", "1,2", "1,2,3,4", "a,b,c", ""])
def test_parse_batch_rejects(text: str) -> None:
    with pytest.raises(UserError, match="--batch"):
        parse_batch(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precision": "fp8"}, "--precision"),
        ({"batch": (2, 1, 4)}, "--batch"),
        ({"workspace_mib": 0}, "--workspace"),
        ({"precision": "fp16", "calib_dir": Path("good")}, "int8 only"),
        ({"precision": "int8"}, "needs --calib"),
        ({"precision": "int8", "calib_cache": Path("/nonexistent.cache")}, "needs --calib"),
        ({"dla_core": -1}, "numbered from 0"),
        ({"precision": "fp32", "dla_core": 0}, "no fp32"),
    ],
)
def test_build_options_reject(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        BuildOptions(**kwargs)


def test_build_options_warn_on_conflicts(tmp_path: Path) -> None:
    cache = tmp_path / "calib.cache"
    cache.write_bytes(b"cache")
    assert BuildOptions().warnings() == []
    assert "fixed shapes" in BuildOptions(batch=(1, 4, 8), dla_core=0).warnings()[0]
    assert BuildOptions(batch=(4, 4, 4), dla_core=0).warnings() == []
    assert "skips the images" in BuildOptions("int8", calib_dir=tmp_path, calib_cache=cache).warnings()[0]


def test_trtexec_command_fp16(models: SimpleNamespace) -> None:
    facts = inspect_onnx(models.fp32)
    command = trtexec_command(facts, Path("out/screw.engine"), BuildOptions("fp16", (1, 4, 8), 512))
    assert command[:9] == [
        "trtexec",
        f"--onnx={models.fp32}",
        "--saveEngine=out/screw.engine",
        "--minShapes=frames:1x224x224x3",
        "--optShapes=frames:4x224x224x3",
        "--maxShapes=frames:8x224x224x3",
        "--memPoolSize=workspace:512M",
        "--noTF32",
        "--fp16",
    ]
    flags = dict(arg.split("=", 1) for arg in command[9:-1])
    assert flags["--precisionConstraints"] == "obey"
    pins = [pair.rsplit(":", 1) for pair in flags["--layerPrecisions"].split(",")]
    assert [name for name, _ in pins] == facts.fp32_layers and {p for _, p in pins} == {"fp32"}
    assert flags["--layerOutputTypes"] == flags["--layerPrecisions"]
    assert command[-1] == "--skipInference" and "--int8" not in command
    assert shlex.split(shlex.join(command)) == command


def test_trtexec_command_fp32_pins_nothing(models: SimpleNamespace) -> None:
    command = trtexec_command(inspect_onnx(models.fp32), Path("m.engine"), BuildOptions("fp32"))
    assert not [arg for arg in command if arg.startswith(("--fp16", "--layerPrecisions", "--precisionConstraints"))]


def test_trtexec_command_int8_needs_a_calibration_cache(models: SimpleNamespace, tmp_path: Path) -> None:
    facts = inspect_onnx(models.fp32)
    with pytest.raises(UserError, match="trtexec cannot calibrate"):
        trtexec_command(facts, Path("m.engine"), BuildOptions("int8", calib_dir=tmp_path))
    cache = tmp_path / "calib.cache"
    cache.write_bytes(b"TRT-10300-EntropyCalibration2\n")
    command = trtexec_command(facts, Path("m.engine"), BuildOptions("int8", calib_cache=cache))
    assert {"--fp16", "--int8", f"--calib={cache}"} <= set(command)


def test_trtexec_command_dla_and_timing_cache(models: SimpleNamespace) -> None:
    options = BuildOptions("fp16", (2, 2, 2), timing_cache=Path("t.cache"), dla_core=1)
    command = trtexec_command(inspect_onnx(models.fp32), Path("m.engine"), options)
    assert {"--timingCacheFile=t.cache", "--useDLACore=1", "--allowGPUFallback"} <= set(command)


# --- int8 calibration batches ------------------------------------------------------------------------------


def test_calibration_batches_are_the_runtime_preprocessing(tmp_path: Path) -> None:
    if not GOOD.is_dir():
        pytest.skip(f"real MVTec AD data not found at {GOOD}")
    folder = tmp_path / "good"
    folder.mkdir()
    chosen = sorted(GOOD.glob("*.png"))[:7]
    for path in chosen:  # links, not copies: the data stays in ../shared
        (folder / path.name).symlink_to(path)
    (folder / "notes.txt").write_text("not an image")
    batcher = ImageBatcher(folder, resize=256, crop=224, batch_size=3)
    batches = list(batcher)
    assert len(batches) == len(batcher) == 2  # 7 images: the partial last batch is dropped
    assert all(b.dtype == np.uint8 and b.shape == (3, 224, 224, 3) == batcher.shape for b in batches)
    for i, batch in enumerate(batches):
        expected = prepare_batch([read_image(p) for p in chosen[3 * i : 3 * i + 3]], 256, 224)
        np.testing.assert_array_equal(batch, expected)
    assert len({b.tobytes() for b in batches}) == 2


def test_calibration_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        ImageBatcher(tmp_path / "missing", 256, 224, 4)
    with pytest.raises(UserError, match="fewer than one batch"):
        ImageBatcher(tmp_path, 256, 224, 4)


# --- the engine record --------------------------------------------------------------------------------------


def _record(engine: Path, metadata: dict | None = None, machine: Machine = HERE) -> EngineRecord:
    engine.write_bytes(b"\0" * 1000)
    return EngineRecord(
        machine=machine,
        precision="fp16",
        input_name="frames",
        profile={"min": [1, 224, 224, 3], "opt": [4, 224, 224, 3], "max": [8, 224, 224, 3]},
        onnx_path="runs/screw/model.onnx",
        onnx_sha256="ab" * 32,
        onnx_metadata=metadata or {"backbone": "efficientnet_lite0"},
        engine_bytes=1000,
        engine_sha256="cd" * 32,
        fp32_layers=["/head/MatMul"],
    )


def test_record_round_trip(tmp_path: Path) -> None:
    engine = tmp_path / "screw.engine"
    record = _record(engine)
    path = write_record(engine, record)
    assert path == tmp_path / "screw.engine.json"
    assert read_record(engine) == record
    assert read_record(engine).max_batch == 8
    assert json.loads(path.read_text())["machine"] == {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"}


def test_missing_record_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="padim-edge build") as info:
        read_record(tmp_path / "screw.engine")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["{", "[]", '{"format_version": 1}', '{"format_version": 2}'])
def test_malformed_record_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "screw.engine.json").write_text(text)
    with pytest.raises(UserError, match="screw.engine.json"):
        read_record(tmp_path / "screw.engine")


def test_check_engine_accepts_its_own_machine(tmp_path: Path) -> None:
    engine = tmp_path / "screw.engine"
    check_engine(_record(engine), engine, HERE)


@pytest.mark.parametrize(
    ("here", "expected"),
    [
        (replace(HERE, tensorrt="10.7.0"), "TensorRT 10.3.0 (here 10.7.0)"),
        (replace(HERE, gpu="NVIDIA H100"), "GPU Orin (here NVIDIA H100)"),
        (replace(HERE, compute_capability="9.0"), "compute capability 8.7 (here 9.0)"),
    ],
)
def test_check_engine_refuses_another_machine(tmp_path: Path, here: Machine, expected: str) -> None:
    engine = tmp_path / "screw.engine"
    with pytest.raises(UserError) as info:
        check_engine(_record(engine), engine, here)
    message = str(info.value)
    assert expected in message and "rebuild it here with `padim-edge build runs/screw/model.onnx" in message
    assert "\n" not in message


def test_check_engine_refuses_a_record_of_another_engine(tmp_path: Path) -> None:
    engine = tmp_path / "screw.engine"
    record = _record(engine)
    engine.write_bytes(b"\0" * 999)
    with pytest.raises(UserError, match="999 bytes, its record says 1000"):
        check_engine(record, engine, HERE)


# --- without TensorRT or a GPU -----------------------------------------------------------------------------

needs_no_tensorrt = pytest.mark.skipif(_importable("tensorrt"), reason="TensorRT is installed here")


@needs_no_tensorrt
def test_import_tensorrt_says_how_to_install_it() -> None:
    from padim_edge.runtime.backends.tensorrt import import_tensorrt

    with pytest.raises(UserError) as info:
        import_tensorrt()
    message = str(info.value)
    assert "pip install tensorrt-cu12" in message and "JetPack" in message and "--system-site-packages" in message
    assert "\n" not in message


@needs_no_tensorrt
def test_engine_without_tensorrt_fails_in_one_line(models: SimpleNamespace, tmp_path: Path) -> None:
    from padim_edge.runtime.backends import open_backend
    from padim_edge.runtime.backends.tensorrt import TENSORRT_MISSING

    engine = tmp_path / "screw.engine"
    metadata = inspect_onnx(models.fp32).metadata
    write_record(engine, _record(engine, metadata))
    with pytest.raises(UserError) as info:
        open_backend(engine)
    assert str(info.value) == TENSORRT_MISSING


def test_engine_without_record_is_refused(tmp_path: Path) -> None:
    from padim_edge.runtime.backends import open_backend

    (tmp_path / "screw.plan").write_bytes(b"engine")
    with pytest.raises(UserError, match="no engine record screw.plan.json"):
        open_backend(tmp_path / "screw.plan")


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "padim_edge.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


@needs_no_tensorrt
def test_cli_build_without_tensorrt(models: SimpleNamespace, tmp_path: Path) -> None:
    result = _cli("build", str(models.fp32), "--out", str(tmp_path / "screw.engine"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: TensorRT's Python package is not installed")
    assert result.stderr.count("\n") == 1 and not list(tmp_path.iterdir())


def test_cli_print_trtexec_needs_no_tensorrt(models: SimpleNamespace) -> None:
    result = _cli("build", str(models.fp32), "--batch", "1,4,8", "--print-trtexec")
    assert result.returncode == 0, result.stderr
    command = shlex.split(result.stdout)
    assert command[0] == "trtexec" and "--optShapes=frames:4x224x224x3" in command
    assert "--record-only" in result.stderr


def test_cuda_python_reports_a_missing_device_in_one_line() -> None:
    if not _importable("cuda.bindings"):
        pytest.skip("cuda-python is not installed")
    try:
        open_binding("cuda-python").close()
    except UserError as exc:
        assert str(exc).startswith("no CUDA device (") and "\n" not in str(exc)
    else:
        pytest.skip("a CUDA device is present")


def test_binding_errors() -> None:
    with pytest.raises(UserError, match="expected one of auto, cuda-python, pycuda"):
        open_binding("cupy")
    if not _importable("pycuda"):
        with pytest.raises(UserError, match="pycuda is not installed"):
            open_binding("pycuda")


def test_tensorrt_path_is_torch_free() -> None:
    modules = [
        "padim_edge.runtime.backends.tensorrt",
        "padim_edge.runtime.backends.ort_tensorrt",
        "padim_edge.export.tensorrt_build",
        "padim_edge.export.calibrator",
        "padim_edge.commands.build",
    ]
    code = f"import sys; import {', '.join(modules)}; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_ort_tensorrt_provider_options(tmp_path: Path) -> None:
    options = ort_tensorrt_options(tmp_path / "trt-cache", 224, (1, 4, 8), fp16=False, workspace_mib=256)
    trt = options["TensorrtExecutionProvider"]
    assert (tmp_path / "trt-cache").is_dir()
    assert trt["trt_fp16_enable"] == "False" and trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == str(tmp_path / "trt-cache")
    assert trt["trt_timing_cache_enable"] == "True"
    assert trt["trt_profile_opt_shapes"] == "frames:4x224x224x3"
    assert trt["trt_max_workspace_size"] == str(256 << 20)


# --- on a GPU with TensorRT: real builds, real runs, parity with onnxruntime ----------------------------


def _gpu_missing() -> str | None:
    if not _importable("tensorrt"):
        return "TensorRT is not installed"
    try:
        open_binding().close()
    except UserError as exc:
        return str(exc)
    return None


GPU_MISSING = _gpu_missing()
gpu = pytest.mark.skipif(GPU_MISSING is not None, reason=f"needs TensorRT and a CUDA GPU: {GPU_MISSING}")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


@pytest.fixture(scope="module")
def screw_frames(screw_onnx: Path) -> np.ndarray:
    """48 real screw test images (good and defective, spread over the sorted list), prepared for the model."""
    from padim_edge.data import load_dataset

    info = inspect_onnx(screw_onnx).metadata
    test = load_dataset("mvtec", MVTEC, "screw").test
    picked = test[:: max(1, len(test) // 48)][:48]
    return prepare_batch([read_image(s.path) for s in picked], info["resize"], info["input_size"])


@pytest.fixture(scope="module")
def reference(screw_onnx: Path, screw_frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """onnxruntime CPU: the fp32 reference maps and scores."""
    from padim_edge.runtime.backends.onnxruntime import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(screw_onnx, ["CPUExecutionProvider"])
    outs = [backend.infer(screw_frames[i : i + 8]) for i in range(0, len(screw_frames), 8)]
    return np.concatenate([m for m, _ in outs]), np.concatenate([s for _, s in outs])


@pytest.fixture(scope="module")
def engines(screw_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    from padim_edge.export.tensorrt_build import build_engine

    root = tmp_path_factory.mktemp("engines")
    built = {}
    for precision in ("fp32", "fp16"):
        built[precision] = root / f"screw-{precision}.engine"
        build_engine(screw_onnx, built[precision], BuildOptions(precision, (1, 4, 8), timing_cache=root / "t.cache"))
    return SimpleNamespace(**built)


def _run(backend, frames: np.ndarray, sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Run `frames` in the given batch sizes, cycling, to exercise partial and full batches."""
    maps, scores, start, i = [], [], 0, 0
    while start < len(frames):
        chunk = frames[start : start + sizes[i % len(sizes)]]
        m, s = backend.infer(chunk)
        maps.append(m)
        scores.append(s)
        start, i = start + len(chunk), i + 1
    return np.concatenate(maps), np.concatenate(scores)


@pytest.mark.gpu
@gpu
def test_fp32_engine_matches_onnxruntime(engines: SimpleNamespace, screw_frames: np.ndarray, reference) -> None:
    from padim_edge.runtime.backends.tensorrt import TensorRTBackend

    backend = TensorRTBackend(engines.fp32)
    try:
        assert backend.max_batch == 8 and "fp32" in backend.describe()
        maps, scores = _run(backend, screw_frames, (8, 3, 1, 5))
    finally:
        backend.close()
    ref_maps, ref_scores = reference
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-3)
    relative = np.abs(maps - ref_maps).max(axis=(1, 2)) / np.abs(ref_maps).max(axis=(1, 2))
    assert relative.max() <= 1e-3


@pytest.mark.gpu
@gpu
def test_fp16_engine_keeps_the_head_fp32_and_the_ranking(
    engines: SimpleNamespace, screw_frames: np.ndarray, reference
) -> None:
    from padim_edge.runtime.backends.tensorrt import TensorRTBackend

    record = read_record(engines.fp16)
    assert any(name.startswith("/head/MatMul") for name in record.fp32_layers)
    backend = TensorRTBackend(engines.fp16)
    try:
        maps, scores = _run(backend, screw_frames, (8,))
    finally:
        backend.close()
    assert np.isfinite(maps).all() and np.isfinite(scores).all()  # an fp16 head overflows to inf
    assert _spearman(scores, reference[1]) >= 0.99


@pytest.mark.gpu
@gpu
def test_cuda_graph_gives_the_same_results(engines: SimpleNamespace, screw_frames: np.ndarray) -> None:
    from padim_edge.runtime.backends.tensorrt import TensorRTBackend

    plain = TensorRTBackend(engines.fp32)
    graphed = TensorRTBackend(engines.fp32, cuda_graph=True)
    try:
        assert graphed.max_batch == 4  # the profile's opt batch
        for n in (4, 3, 1):
            for a, b in zip(plain.infer(screw_frames[:n]), graphed.infer(screw_frames[:n]), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        with pytest.raises(UserError, match="outside the engine's range"):
            graphed.infer(screw_frames[:5])
    finally:
        plain.close()
        graphed.close()


@pytest.mark.gpu
@gpu
def test_bad_batches_and_foreign_records_are_refused(engines: SimpleNamespace, tmp_path: Path) -> None:
    from padim_edge.runtime.backends.tensorrt import TensorRTBackend

    backend = TensorRTBackend(engines.fp32)
    try:
        with pytest.raises(UserError, match="outside the engine's range"):
            backend.infer(np.zeros((9, 224, 224, 3), np.uint8))
        with pytest.raises(UserError, match="expected uint8 frames"):
            backend.infer(np.zeros((1, 224, 224, 3), np.float32))
    finally:
        backend.close()
    engine = tmp_path / "copy.engine"
    shutil.copyfile(engines.fp32, engine)
    record = read_record(engines.fp32)
    write_record(engine, replace(record, machine=replace(record.machine, tensorrt="9.9.9")))
    with pytest.raises(UserError, match="TensorRT 9.9.9 .* rebuild it here with `padim-edge build"):
        TensorRTBackend(engine)


@pytest.mark.gpu
@gpu
def test_int8_calibrates_on_good_images_and_reuses_the_cache(
    screw_onnx: Path, tmp_path: Path, screw_frames: np.ndarray, reference
) -> None:
    from padim_edge.export.tensorrt_build import build_engine
    from padim_edge.runtime.backends.tensorrt import TensorRTBackend

    cache = tmp_path / "calib.cache"
    build_engine(screw_onnx, tmp_path / "a.engine", BuildOptions("int8", (1, 8, 8), calib_dir=GOOD, calib_cache=cache))
    assert cache.stat().st_size > 0
    build_engine(screw_onnx, tmp_path / "b.engine", BuildOptions("int8", (1, 8, 8), calib_cache=cache))
    backend = TensorRTBackend(tmp_path / "b.engine")
    try:
        maps, scores = _run(backend, screw_frames, (8,))
    finally:
        backend.close()
    assert np.isfinite(maps).all()
    assert _spearman(scores, reference[1]) >= 0.9


@pytest.mark.gpu
@gpu
def test_pycuda_binding_gives_the_same_results(engines: SimpleNamespace, screw_frames: np.ndarray) -> None:
    if not _importable("pycuda"):
        pytest.skip("pycuda is not installed")
    from padim_edge.runtime.backends.tensorrt import TensorRTBackend

    results = []
    for binding in ("cuda-python", "pycuda"):
        backend = TensorRTBackend(engines.fp32, binding=binding)
        try:
            results.append(backend.infer(screw_frames[:5]))
        finally:
            backend.close()
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
@gpu
def test_onnxruntime_tensorrt_provider(screw_onnx: Path, tmp_path: Path, screw_frames: np.ndarray, reference) -> None:
    import onnxruntime as ort

    from padim_edge.runtime.backends.onnxruntime import OnnxRuntimeBackend

    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime has no TensorRT execution provider")
    options = ort_tensorrt_options(tmp_path / "cache", 224, (1, 8, 8))
    providers = ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    backend = OnnxRuntimeBackend(screw_onnx, providers, provider_options=options)
    maps, scores = _run(backend, screw_frames, (8,))
    assert any((tmp_path / "cache").iterdir())  # the engine cache that makes the next start fast
    # The provider leaves TF32 to TensorRT's default, so allow more than the fp32 engine's 1e-3.
    np.testing.assert_allclose(scores, reference[1], rtol=1e-2)
