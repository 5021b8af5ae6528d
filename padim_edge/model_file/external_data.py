"""The external-data files an ONNX model names, each one checked to lie inside the model's own folder.

A model's tensors may live in files beside it (`location` in the tensor's external data). A location that is
absolute, climbs out with `..`, or is a symlink leading elsewhere would let a model file read (and
`triton-repo` copy) any file on the machine: every place that reads or copies a model refuses it first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from padim_edge.errors import UserError

if TYPE_CHECKING:
    import onnx


def external_data_files(model: onnx.ModelProto, path: Path) -> list[Path]:
    """The files `model` (read from `path`, tensors not loaded) keeps its tensors in, sorted; a location
    outside the model's folder (absolute, `..`, or a symlink out of it) is one UserError."""
    import onnx

    locations = {
        entry.value
        for tensor in model.graph.initializer
        if tensor.data_location == onnx.TensorProto.EXTERNAL
        for entry in tensor.external_data
        if entry.key == "location"
    }
    folder = Path(path).parent
    inside = folder.resolve()
    files = []
    for location in sorted(locations):
        resolved = (folder / location).resolve()
        if Path(location).is_absolute() or not resolved.is_relative_to(inside):
            raise UserError(f"{path}: external data location {location!r} lies outside the model's folder (refused)")
        files.append(folder / location)
    return files
