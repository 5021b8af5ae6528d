"""What `padim-edge serve` was given: an exported .onnx, or a model repository entry (DIR/<name> with
config.pbtxt and numbered version folders), whose name and batching settings it then keeps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from padim_edge.errors import UserError


@dataclass(frozen=True)
class ServedModel:
    """The ONNX file to serve; the entry's settings where there was one (None: not set)."""

    onnx: Path
    name: str | None = None
    max_batch: int | None = None
    queue_delay_us: int | None = None
    instances: int | None = None


def resolve_model(path: Path) -> ServedModel:
    """An .onnx as is; an entry: its latest version's model.onnx, its name, max_batch_size, queue delay and
    CPU instance count."""
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix == ".onnx":
        return ServedModel(path)
    if not (path / "config.pbtxt").is_file():
        raise UserError(f"{path}: expected an .onnx file or a Triton repository entry (a folder with config.pbtxt)")
    config = _parse_config(path / "config.pbtxt")
    if config.platform not in ("", "onnxruntime_onnx"):
        raise UserError(f"{path}: a {config.platform} model; serve runs ONNX entries (use the Triton container)")
    versions = sorted(int(v.name) for v in path.iterdir() if v.name.isdigit() and (v / "model.onnx").is_file())
    if not versions:
        raise UserError(f"{path}: no version folder with a model.onnx (expected {path}/1/model.onnx)")
    batching = config.dynamic_batching if config.HasField("dynamic_batching") else None
    cpu_counts = [g.count for g in config.instance_group if g.count]
    return ServedModel(
        onnx=path / str(versions[-1]) / "model.onnx",
        name=config.name or path.name,
        max_batch=config.max_batch_size or None,
        queue_delay_us=batching.max_queue_delay_microseconds if batching else None,
        instances=sum(cpu_counts) or None,
    )


def _parse_config(path: Path) -> object:
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    try:
        return text_format.Parse(path.read_text(encoding="utf-8"), model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise UserError(f"{path}: not a valid Triton model config ({exc})") from None
