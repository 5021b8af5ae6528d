"""A Triton Inference Server model repository for an exported model, to serve with the official server.

    REPOSITORY/<name>/config.pbtxt + 1/model.onnx            platform onnxruntime_onnx (CPU or GPU)
    REPOSITORY/<name>_trt/config.pbtxt + 1/model.plan        platform tensorrt_plan, where MODEL.engine and
                                                              its record (padim-edge build) lie beside MODEL

Each config: the uint8 `frames` input [H, W, 3], both outputs, dynamic batching with a queue delay, an
instance group, a zero-frame warm-up, and the model's padim-edge metadata in `parameters` (so a client
knows the input size and threshold without the model file). Torch-free; reads the ONNX file with `onnx`,
checked as the runtime checks it (`model_file.read`): a graph that does not match its digest, or external
data outside the model's folder, is refused before anything is copied.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from padim_edge.contract.engine_record import read_record, record_path
from padim_edge.contract.metadata import ModelInfo, document_metadata
from padim_edge.contract.wire import (
    ANOMALY_MAP,
    INPUT,
    MAX_BATCH,
    PARAMETER_KEY,
    QUEUE_DELAY_US,
    SCORE,
    SCORE_DIMS,
    default_name,
    input_dims,
    map_dims,
)
from padim_edge.errors import UserError
from padim_edge.model_file.read import read_model
from padim_edge.serving.pbtxt import Enum, Map, to_pbtxt
from padim_edge.storage.atomic import staged_folder

#: Graph I/O the configs describe: name -> ONNX element type (2 = uint8, 1 = float32).
GRAPH_IO = {INPUT: 2, ANOMALY_MAP: 1, SCORE: 1}
TRT_WORKSPACE_BYTES = 1 << 30


@dataclass(frozen=True)
class RepositoryOptions:
    """`name`: default the model's category (else the file's stem); `gpu`: KIND_GPU instances for the ONNX
    model; `ort_tensorrt`: onnxruntime's TensorRT accelerator on it (fp32: fp16 overflows the head)."""

    name: str | None = None
    max_batch: int = MAX_BATCH
    queue_delay_us: int = QUEUE_DELAY_US
    instances: int = 1
    gpu: bool = False
    ort_tensorrt: bool = False


def write_repository(model: Path, repository: Path, options: RepositoryOptions = RepositoryOptions()) -> list[Path]:
    """Write (replacing) the model's entries in `repository`; returns the entry folders written."""
    if options.max_batch < 1 or options.instances < 1 or options.queue_delay_us < 0:
        raise UserError("--max-batch and --instances must be at least 1, --queue-delay-us at least 0")
    info, data_files = read_onnx(model)
    text = info.to_json()
    name = options.name or default_name(model, info)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise UserError(f"model name {name!r}: use letters, digits, '_', '.' and '-'")
    files = {model: "model.onnx", **{path: path.name for path in data_files}}
    written = [_write_entry(repository / name, onnx_config(name, info, text, options), files)]
    engine = model.with_suffix(".engine")
    if engine.is_file() and record_path(engine).is_file():
        record = read_record(engine)
        plan_info = document_metadata(record.onnx_metadata, str(record_path(engine)))
        config = plan_config(f"{name}_trt", plan_info, plan_info.to_json(), record.max_batch, options)
        written.append(_write_entry(repository / f"{name}_trt", config, {engine: "model.plan"}))
    return written


def read_onnx(model: Path) -> tuple[ModelInfo, list[Path]]:
    """(padim-edge metadata, external data files) of an exported ONNX file: its external data inside its
    folder, its graph digest and its I/O checked."""
    checked = read_model(model)
    graph = checked.proto.graph
    found = {v.name: v.type.tensor_type.elem_type for v in (*graph.input, *graph.output)}
    wrong = [name for name, elem in GRAPH_IO.items() if found.get(name) != elem]
    if wrong:
        raise UserError(f"{model}: not a padim-edge graph (missing or mistyped {', '.join(wrong)})")
    return checked.info, checked.data_files


def onnx_config(name: str, info: ModelInfo, metadata: str, options: RepositoryOptions) -> dict:
    """config.pbtxt of the ONNX model, for Triton's onnxruntime backend."""
    gpu = options.gpu or options.ort_tensorrt
    config = _config(name, "onnxruntime_onnx", info, metadata, options.max_batch, options, gpu)
    if options.ort_tensorrt:
        accelerator = {
            "name": "tensorrt",
            "parameters": Map(precision_mode="FP32", max_workspace_size_bytes=str(TRT_WORKSPACE_BYTES)),
        }
        config["optimization"] = {"execution_accelerators": {"gpu_execution_accelerator": [accelerator]}}
    return config


def plan_config(name: str, info: ModelInfo, metadata: str, max_batch: int, options: RepositoryOptions) -> dict:
    """config.pbtxt of a TensorRT engine: its profile's largest batch is the config's max_batch_size."""
    return _config(name, "tensorrt_plan", info, metadata, max_batch, options, gpu=True)


def _config(
    name: str, platform: str, info: ModelInfo, metadata: str, max_batch: int, options: RepositoryOptions, gpu: bool
) -> dict:
    frames = {"name": INPUT, "data_type": Enum("TYPE_UINT8"), "dims": input_dims(info)}
    warmup_input = {"data_type": Enum("TYPE_UINT8"), "dims": input_dims(info), "zero_data": True}
    return {
        "name": name,
        "platform": platform,
        "max_batch_size": max_batch,
        "input": [frames],
        "output": [
            {"name": ANOMALY_MAP, "data_type": Enum("TYPE_FP32"), "dims": map_dims(info)},
            {"name": SCORE, "data_type": Enum("TYPE_FP32"), "dims": SCORE_DIMS, "reshape": {"shape": []}},
        ],
        "dynamic_batching": {"max_queue_delay_microseconds": options.queue_delay_us},
        "instance_group": [{"count": options.instances, "kind": Enum("KIND_GPU" if gpu else "KIND_CPU")}],
        "model_warmup": [{"name": "zero_frame", "batch_size": 1, "inputs": Map({INPUT: warmup_input})}],
        "parameters": Map({PARAMETER_KEY: {"string_value": metadata}}),
    }


def _write_entry(entry: Path, config: dict, files: dict[Path, str]) -> Path:
    """Build the entry in a staging folder swapped in whole, so a polling server never sees half of it."""
    with staged_folder(entry) as stage:
        (stage / "1").mkdir()
        (stage / "config.pbtxt").write_text(to_pbtxt(config), encoding="utf-8")
        for source, target in files.items():
            shutil.copyfile(source, stage / "1" / target)
        stage.chmod(0o755)
    return entry
