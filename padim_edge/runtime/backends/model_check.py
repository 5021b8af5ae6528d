"""What the runtime checks in an ONNX model before its first frame, each failure one line naming the file:
its metadata (schema, ranges, version), its external data (inside its folder) and graph digest (a graph
carrying another model's metadata is refused; `model_file.read`), its inputs and outputs against the
metadata, and that every float tensor it holds (statistics, weights) is finite.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from padim_edge.contract.metadata import ModelInfo, check_io
from padim_edge.errors import UserError
from padim_edge.model_file.read import read_model

if TYPE_CHECKING:
    import onnx


def check_onnx_model(path: Path) -> ModelInfo:
    """Load `path` (with its external data) and check it as above; returns its metadata."""
    if not path.is_file():
        raise UserError(f"{path}: no such model file")
    checked = read_model(path)
    model, info = checked.proto, checked.info
    initializers = {t.name for t in model.graph.initializer}
    inputs = [_value(v) for v in model.graph.input if v.name not in initializers]
    check_io(info, inputs, [_value(v) for v in model.graph.output], str(path))
    _check_finite(model, path)
    return info


def _value(info: onnx.ValueInfoProto) -> tuple[str, str, list[int | str | None]]:
    """(name, numpy dtype name, dims): a symbolic dimension is its name, an unknown one None."""
    from onnx import helper

    tensor = info.type.tensor_type
    try:
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    except (KeyError, ValueError, TypeError):
        dtype = "unknown"
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]
    return info.name, dtype, dims


def _check_finite(model: onnx.ModelProto, path: Path) -> None:
    """Every float initializer finite: NaN statistics would score every frame NaN."""
    from onnx import numpy_helper

    for tensor in model.graph.initializer:
        array = numpy_helper.to_array(tensor)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise UserError(f"{path}: tensor {tensor.name} holds NaN or infinite values (refit and export the model)")
