"""TensorRT build and runtime, on the session's real cells model and real cell frames.

Everything that is not a TensorRT or CUDA call runs everywhere: the layers kept in fp32, the trtexec line,
option checks, calibration batches, the engine record and its machine check, the one-line errors without
TensorRT or a GPU, and that none of it imports PyTorch. The `gpu` tests build real engines through
`padim-edge build` and score through `padim-edge predict` / `run` and the TensorRT backend, against
onnxruntime; they run only where TensorRT and a CUDA device are found.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_runner import run_cli
from tamper import save

from padim_edge.accel.cuda_binding import open_binding
from padim_edge.accel.tensorrt import TENSORRT_MISSING
from padim_edge.contract.engine_record import EngineRecord, Machine, check_engine, read_record
from padim_edge.engine.build import (
    BuildOptions,
    fp32_layer_names,
    head_matmul,
    inspect_onnx,
    parse_batch,
    trtexec_command,
)
from padim_edge.engine.calibrator import ImageBatcher
from padim_edge.engine.record_file import write_record
from padim_edge.errors import UserError
from padim_edge.imaging.decode import read_image
from padim_edge.imaging.geometry import Geometry
from padim_edge.runtime.backends import open_backend
from padim_edge.runtime.backends.ort_tensorrt import ort_tensorrt_options

HERE = Machine(tensorrt="10.3.0", gpu="Orin", compute_capability="8.7")
SHAPE = "128x256x3"  # the cells model's input


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def fp16_statistics_model(cells_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cells model with its statistics stored as float16, as `export --fp16-statistics` writes them."""
    from padim_edge.export.onnx_graph import _store_statistics_fp16

    model = onnx.load(str(cells_model))
    _store_statistics_fp16(model)
    return save(model, tmp_path_factory.mktemp("fp16") / "model16.onnx")


def _load(path: Path) -> onnx.ModelProto:
    return onnx.load(str(path), load_external_data=False)


# --- the layers kept in fp32 ---------------------------------------------------------------------------


def test_fp32_layers_are_the_float_head_and_post_nodes(cells_model: Path) -> None:
    model = _load(cells_model)
    nodes = {n.name: n for n in model.graph.node}
    names = fp32_layer_names(model)
    picked = [n for n in names if n in nodes]
    weights = [n for n in names if n not in nodes]
    assert {"/head/Sub", "/head/MatMul"} <= set(picked) and any(n.startswith("/post/") for n in picked)
    assert all(n.startswith(("/head/", "/post/")) for n in picked)  # backbone and embedding stay fp16
    assert not {nodes[n].op_type for n in picked} & {"Shape", "Constant", "ConstantOfShape", "Gather", "Unsqueeze"}
    assert weights[:2] == ["head.mean", "head.factor_t"]
    producers = {out: n.name for n in model.graph.node for out in n.output}
    assert {producers["anomaly_map"], producers["score"]} <= set(picked)
    assert head_matmul(model).name == "/head/MatMul"


def test_fp32_layers_with_float16_statistics_include_the_casts(fp16_statistics_model: Path) -> None:
    model = _load(fp16_statistics_model)
    names = fp32_layer_names(model)
    assert {"/head/Cast_mean", "/head/Cast_factor_t", "/head/MatMul"} <= set(names)
    assert not {"head.mean_fp16", "head.factor_t_fp16"} & set(names)  # cast up exactly: nothing to pin
    assert head_matmul(model).name == "/head/MatMul"


def test_renamed_head_fails_loudly(cells_model: Path) -> None:
    model = _load(cells_model)
    for node in model.graph.node:
        node.name = node.name.replace("/head/", "/mahalanobis/")
    with pytest.raises(UserError, match="no Mahalanobis head"):
        fp32_layer_names(model)


def test_head_whose_factor_is_not_baked_in_fails_loudly(cells_model: Path) -> None:
    model = _load(cells_model)
    next(t for t in model.graph.initializer if t.name == "head.factor_t").name = "elsewhere"
    with pytest.raises(UserError, match="no Mahalanobis head"):
        head_matmul(model)


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


def test_trtexec_command_fp16(cells_model: Path) -> None:
    facts = inspect_onnx(cells_model)
    command = trtexec_command(facts, Path("out/cells.engine"), BuildOptions("fp16", (1, 4, 8), 512))
    assert command[:9] == [
        "trtexec",
        f"--onnx={cells_model}",
        "--saveEngine=out/cells.engine",
        f"--minShapes=frames:1x{SHAPE}",
        f"--optShapes=frames:4x{SHAPE}",
        f"--maxShapes=frames:8x{SHAPE}",
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


def test_trtexec_command_fp32_pins_nothing(cells_model: Path) -> None:
    command = trtexec_command(inspect_onnx(cells_model), Path("m.engine"), BuildOptions("fp32"))
    assert not [arg for arg in command if arg.startswith(("--fp16", "--layerPrecisions", "--precisionConstraints"))]


def test_trtexec_command_int8_needs_a_calibration_cache(cells_model: Path, tmp_path: Path) -> None:
    facts = inspect_onnx(cells_model)
    with pytest.raises(UserError, match="trtexec cannot calibrate"):
        trtexec_command(facts, Path("m.engine"), BuildOptions("int8", calib_dir=tmp_path))
    cache = tmp_path / "calib.cache"
    cache.write_bytes(b"TRT-10300-EntropyCalibration2\n")
    command = trtexec_command(facts, Path("m.engine"), BuildOptions("int8", calib_cache=cache))
    assert {"--fp16", "--int8", f"--calib={cache}"} <= set(command)


def test_trtexec_command_dla_and_timing_cache(cells_model: Path) -> None:
    options = BuildOptions("fp16", (2, 2, 2), timing_cache=Path("t.cache"), dla_core=1)
    command = trtexec_command(inspect_onnx(cells_model), Path("m.engine"), options)
    assert {"--timingCacheFile=t.cache", "--useDLACore=1", "--allowGPUFallback"} <= set(command)


def test_cli_print_trtexec(cells_model: Path, capfd) -> None:
    outcome = run_cli(capfd, "build", cells_model, "--batch", "1,4,8", "--print-trtexec")
    assert outcome.code == 0, outcome.err
    command = shlex.split(outcome.out)
    assert command[0] == "trtexec" and f"--optShapes=frames:4x{SHAPE}" in command
    assert "--record-only" in outcome.err


# --- int8 calibration batches ------------------------------------------------------------------------------


def test_calibration_batches_are_the_runtime_preprocessing(cell_frames: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "good"
    folder.mkdir()
    chosen = sorted(cell_frames[:7])
    for path in chosen:
        (folder / f"{path.parent.name}-{path.name}").symlink_to(path)
    (folder / "notes.txt").write_text("not an image")
    geometry = Geometry(128, 256)
    batcher = ImageBatcher(folder, geometry, batch_size=3)
    batches = list(batcher)
    assert len(batches) == len(batcher) == 2  # 7 images: the partial last batch is dropped
    assert all(b.dtype == np.uint8 and b.shape == (3, 128, 256, 3) == batcher.shape for b in batches)
    files = sorted(folder.glob("*.png"))
    for i, batch in enumerate(batches):
        expected = np.stack([geometry.prepare(read_image(p))[0] for p in files[3 * i : 3 * i + 3]])
        np.testing.assert_array_equal(batch, expected)
    assert len({b.tobytes() for b in batches}) == 2


def test_calibration_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        ImageBatcher(tmp_path / "missing", Geometry(128, 256), 4)
    with pytest.raises(UserError, match="fewer than one batch"):
        ImageBatcher(tmp_path, Geometry(128, 256), 4)


# --- the engine record --------------------------------------------------------------------------------------


def _record(engine: Path, metadata: dict | None = None, machine: Machine = HERE) -> EngineRecord:
    engine.write_bytes(b"\0" * 1000)
    return EngineRecord(
        machine=machine,
        precision="fp16",
        input_name="frames",
        profile={"min": [1, 128, 256, 3], "opt": [4, 128, 256, 3], "max": [8, 128, 256, 3]},
        onnx_path="runs/cells/model.onnx",
        onnx_sha256="ab" * 32,
        onnx_metadata=metadata or {"backbone": "efficientnet_lite0"},
        engine_bytes=1000,
        engine_sha256="cd" * 32,
        fp32_layers=["/head/MatMul"],
    )


def test_record_round_trip(tmp_path: Path) -> None:
    engine = tmp_path / "cells.engine"
    record = _record(engine)
    path = write_record(engine, record)
    assert path == tmp_path / "cells.engine.json"
    assert read_record(engine) == record and read_record(engine).max_batch == 8
    assert json.loads(path.read_text())["machine"] == {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"}


def test_missing_record_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="padim-edge build") as info:
        read_record(tmp_path / "cells.engine")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text", ["{", "[]", '{"format_version": 1}', '{"format_version": 2}', '{"format_version": 1, "precision": 8}']
)
def test_malformed_record_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "cells.engine.json").write_text(text)
    with pytest.raises(UserError, match="cells.engine.json"):
        read_record(tmp_path / "cells.engine")


def test_check_engine_accepts_its_own_machine(tmp_path: Path) -> None:
    engine = tmp_path / "cells.engine"
    check_engine(_record(engine), engine, HERE)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"tensorrt": "10.7.0"}, "TensorRT 10.3.0 (here 10.7.0)"),
        ({"gpu": "NVIDIA H100"}, "GPU Orin (here NVIDIA H100)"),
        ({"compute_capability": "9.0"}, "compute capability 8.7 (here 9.0)"),
    ],
)
def test_check_engine_refuses_another_machine(tmp_path: Path, change: dict, expected: str) -> None:
    engine = tmp_path / "cells.engine"
    with pytest.raises(UserError) as info:
        check_engine(_record(engine), engine, HERE.model_copy(update=change))
    message = str(info.value)
    assert expected in message and "rebuild it here with `padim-edge build runs/cells/model.onnx" in message
    assert "\n" not in message


def test_check_engine_refuses_a_record_of_another_engine(tmp_path: Path) -> None:
    engine = tmp_path / "cells.engine"
    record = _record(engine)
    engine.write_bytes(b"\0" * 999)
    with pytest.raises(UserError, match="999 bytes, its record says 1000"):
        check_engine(record, engine, HERE)


# --- without TensorRT or a GPU -----------------------------------------------------------------------------

needs_no_tensorrt = pytest.mark.skipif(_importable("tensorrt"), reason="TensorRT is installed here")


@needs_no_tensorrt
def test_engine_without_tensorrt_fails_in_one_line(cells_model: Path, tmp_path: Path) -> None:
    engine = tmp_path / "cells.engine"
    write_record(engine, _record(engine, inspect_onnx(cells_model).metadata))
    with pytest.raises(UserError) as info:
        open_backend(engine)
    assert str(info.value) == TENSORRT_MISSING and "JetPack" in TENSORRT_MISSING and "\n" not in TENSORRT_MISSING


@needs_no_tensorrt
def test_cli_build_without_tensorrt(cells_model: Path, tmp_path: Path, capfd) -> None:
    outcome = run_cli(capfd, "build", cells_model, "--out", tmp_path / "cells.engine")
    assert outcome.code == 2 and outcome.err == f"error: {TENSORRT_MISSING}\n" and not list(tmp_path.iterdir())


def test_cuda_python_reports_a_missing_device_in_one_line() -> None:
    """Whether a device is there is decided without the code under test (the NVIDIA driver's device nodes),
    so a binding that wrongly opens, or fails some other way, fails the test instead of skipping it."""
    if not _importable("cuda.bindings"):
        pytest.skip("cuda-python is not installed")
    if list(Path("/dev").glob("nvidia[0-9]*")) or Path("/dev/nvhost-ctrl-gpu").exists():  # a GPU, or Jetson's
        pytest.skip("an NVIDIA device is present")
    with pytest.raises(UserError) as info:
        open_binding("cuda-python").close()
    assert str(info.value).startswith("no CUDA device (") and "\n" not in str(info.value)


def test_binding_errors() -> None:
    with pytest.raises(UserError, match="expected one of auto, cuda-python, pycuda"):
        open_binding("cupy")
    if not _importable("pycuda"):
        with pytest.raises(UserError, match="pycuda is not installed"):
            open_binding("pycuda")


def test_runtime_and_tensorrt_paths_are_torch_free() -> None:
    """A fresh interpreter (the point of this subprocess): importing them must not import PyTorch."""
    modules = [
        "padim_edge.cli",
        "padim_edge.commands.predict",
        "padim_edge.commands.run",
        "padim_edge.commands.build",
        "padim_edge.runtime.pipeline",
        "padim_edge.runtime.backends.onnxruntime",
        "padim_edge.runtime.backends.tensorrt",
        "padim_edge.runtime.backends.ort_tensorrt",
        "padim_edge.engine.build",
        "padim_edge.engine.calibrator",
    ]
    code = f"import sys; import {', '.join(modules)}; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_ort_tensorrt_provider_options(tmp_path: Path) -> None:
    options = ort_tensorrt_options(tmp_path / "trt-cache", (128, 256), (1, 4, 8), fp16=False, workspace_mib=256)
    trt = options["TensorrtExecutionProvider"]
    assert (tmp_path / "trt-cache").is_dir()
    assert trt["trt_fp16_enable"] == "False" and trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == trt["trt_timing_cache_path"] == str(tmp_path / "trt-cache")
    assert trt["trt_profile_min_shapes"] == f"frames:1x{SHAPE}" and trt["trt_profile_max_shapes"] == f"frames:8x{SHAPE}"
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


def _predict(capfd, model: Path, frames: list[Path]) -> np.ndarray:
    outcome = run_cli(capfd, "predict", "--model", model, "--json", "--batch", 8, *frames)
    assert outcome.code == 0, outcome.err
    return np.array([json.loads(line)["score"] for line in outcome.out.splitlines()])


@pytest.fixture(scope="module")
def engines(cells_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """fp32 and fp16 engines of the cells model, built by `padim-edge build`."""
    from padim_edge.cli import main

    root = tmp_path_factory.mktemp("engines")
    built = {}
    for precision in ("fp32", "fp16"):
        built[precision] = root / f"cells-{precision}.engine"
        args = [cells_model, "--out", built[precision], "--precision", precision, "--batch", "1,4,8"]
        assert main(["build", *map(str, args), "--timing-cache", str(root / "t.cache")]) == 0
    return built


@pytest.mark.gpu
@gpu
def test_fp32_engine_matches_onnxruntime(engines: dict, cells_model: Path, cell_frames: list[Path], capfd) -> None:
    reference = _predict(capfd, cells_model, cell_frames)
    np.testing.assert_allclose(_predict(capfd, engines["fp32"], cell_frames), reference, rtol=1e-3)
    backend = open_backend(engines["fp32"])
    try:
        geometry = Geometry(*backend.info.input_hw)
        frames = np.stack([geometry.prepare(read_image(p))[0] for p in cell_frames])
        maps = np.concatenate([backend.infer(frames[i : i + n])[0] for i, n in ((0, 8), (8, 3), (11, 1), (12, 8))])
    finally:
        backend.close()
    reference_maps = open_backend(cells_model).infer(frames)[0]
    relative = np.abs(maps - reference_maps).max(axis=(1, 2)) / np.abs(reference_maps).max(axis=(1, 2))
    assert relative.max() <= 1e-3


@pytest.mark.gpu
@gpu
def test_fp16_engine_keeps_the_head_fp32_and_the_ranking(
    engines: dict, cells_model: Path, cell_frames: list[Path], capfd
) -> None:
    assert any(name.startswith("/head/MatMul") for name in read_record(engines["fp16"]).fp32_layers)
    scores = _predict(capfd, engines["fp16"], cell_frames)
    assert np.isfinite(scores).all()  # an fp16 head overflows to inf
    assert _spearman(scores, _predict(capfd, cells_model, cell_frames)) >= 0.99


@pytest.mark.gpu
@gpu
def test_cuda_graph_gives_the_same_results(engines: dict, cell_frames: list[Path]) -> None:
    from padim_edge.runtime.backends.tensorrt import TensorRTBackend

    plain = TensorRTBackend(engines["fp32"])
    graphed = TensorRTBackend(engines["fp32"], cuda_graph=True)
    try:
        geometry = Geometry(*plain.info.input_hw)
        frames = np.stack([geometry.prepare(read_image(p))[0] for p in cell_frames[:5]])
        assert graphed.max_batch == 4  # the profile's opt batch
        for n in (4, 3, 1):
            for a, b in zip(plain.infer(frames[:n]), graphed.infer(frames[:n]), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        with pytest.raises(UserError, match="outside the engine's range"):
            graphed.infer(frames[:5])
    finally:
        plain.close()
        graphed.close()


@pytest.mark.gpu
@gpu
def test_bad_batches_and_foreign_records_are_refused(engines: dict, tmp_path: Path, capfd) -> None:
    from padim_edge.runtime.backends.tensorrt import TensorRTBackend

    backend = TensorRTBackend(engines["fp32"])
    try:
        with pytest.raises(UserError, match="outside the engine's range"):
            backend.infer(np.zeros((9, 128, 256, 3), np.uint8))
        with pytest.raises(UserError, match="expected uint8 frames"):
            backend.infer(np.zeros((1, 128, 256, 3), np.float32))
    finally:
        backend.close()
    engine = tmp_path / "copy.engine"
    engine.write_bytes(engines["fp32"].read_bytes())
    record = read_record(engines["fp32"])
    write_record(engine, record.model_copy(update={"machine": record.machine.model_copy(update={"tensorrt": "9.9.9"})}))
    outcome = run_cli(capfd, "info", engine)
    assert outcome.code == 2 and "TensorRT 9.9.9" in outcome.errors[0] and "rebuild it here" in outcome.errors[0]


@pytest.mark.gpu
@gpu
def test_int8_calibrates_on_good_images_and_reuses_the_cache(
    cells_model: Path, cells_root: Path, cell_frames: list[Path], tmp_path: Path, capfd
) -> None:
    cache = tmp_path / "calib.cache"
    good = cells_root / "cells" / "good"
    args = ["build", cells_model, "--precision", "int8", "--batch", "1,8,8", "--calib-cache", cache]
    assert run_cli(capfd, *args, "--out", tmp_path / "a.engine", "--calib", good).code == 0
    assert cache.stat().st_size > 0
    assert run_cli(capfd, *args, "--out", tmp_path / "b.engine").code == 0
    scores = _predict(capfd, tmp_path / "b.engine", cell_frames)
    assert np.isfinite(scores).all() and _spearman(scores, _predict(capfd, cells_model, cell_frames)) >= 0.9


@pytest.mark.gpu
@gpu
def test_pycuda_binding_gives_the_same_results(engines: dict, cell_frames: list[Path]) -> None:
    if not _importable("pycuda"):
        pytest.skip("pycuda is not installed")
    from padim_edge.runtime.backends.tensorrt import TensorRTBackend

    results = []
    for binding in ("cuda-python", "pycuda"):
        backend = TensorRTBackend(engines["fp32"], binding=binding)
        try:
            geometry = Geometry(*backend.info.input_hw)
            results.append(backend.infer(np.stack([geometry.prepare(read_image(p))[0] for p in cell_frames[:5]])))
        finally:
            backend.close()
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
@gpu
def test_onnxruntime_tensorrt_provider(cells_model: Path, cells_root: Path, cell_frames: list[Path], capfd) -> None:
    import onnxruntime as ort

    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime has no TensorRT execution provider")
    folder = cells_root / "cells" / "test" / "good"
    providers = ["--provider", "TensorrtExecutionProvider", "--provider", "CUDAExecutionProvider"]
    outcome = run_cli(capfd, "run", "--model", cells_model, "--source", folder, "--results", "-", *providers)
    assert outcome.code == 0, outcome.err
    scores = np.array([json.loads(line)["score"] for line in outcome.out.splitlines()])
    assert any((cells_model.parent / ".ort-trt-cache").iterdir())  # the engine cache that makes the next start fast
    # The provider leaves TF32 to TensorRT's default, so allow more than the fp32 engine's 1e-3.
    np.testing.assert_allclose(scores, _predict(capfd, cells_model, sorted(folder.iterdir())), rtol=1e-2)
