"""Reading and writing an ONNX file's graph and its padim-edge metadata (`contract.metadata`), tensors not
loaded; `model_file.read` adds the checks every model read must pass."""

from __future__ import annotations

from pathlib import Path

import onnx

from padim_edge.contract.metadata import ModelInfo, parse_metadata
from padim_edge.contract.names import METADATA_KEY
from padim_edge.errors import UserError


def read_onnx_metadata(path: Path) -> ModelInfo:
    """The metadata of an ONNX file, read without loading its tensors."""
    return metadata_of(load_graph(path), str(path))


def load_graph(path: Path) -> onnx.ModelProto:
    """An ONNX file's graph without its tensors; anything unreadable is one UserError."""
    if not Path(path).is_file():
        raise UserError(f"{path}: no such ONNX model")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise UserError(f"{path}: not an ONNX model ({type(exc).__name__})") from None


def metadata_of(model: onnx.ModelProto, source: str) -> ModelInfo:
    """The padim-edge metadata document of a loaded ONNX model."""
    props = {p.key: p.value for p in model.metadata_props}
    return parse_metadata(props.get(METADATA_KEY), source)


def set_metadata(model: onnx.ModelProto, info: ModelInfo) -> None:
    """Write `info` as the model's padim-edge metadata (other metadata entries are kept)."""
    props = {p.key: p.value for p in model.metadata_props}
    props[METADATA_KEY] = info.to_json()
    onnx.helper.set_model_props(model, props)
