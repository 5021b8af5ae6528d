"""Read an exported ONNX model the one checked way: its graph, its external-data locations (inside its
folder), its tensors, and its graph digest compared with the one in its metadata. The runtime, `triton-repo`
and `build` all read models through here, so a tampered graph with intact metadata is refused everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from padim_edge.contract.metadata import ModelInfo
from padim_edge.errors import UserError
from padim_edge.model_file.digest import graph_digest
from padim_edge.model_file.external_data import external_data_files
from padim_edge.model_file.onnx_io import load_graph, metadata_of

if TYPE_CHECKING:
    import onnx


@dataclass(frozen=True)
class ModelFile:
    """A model read and checked: the graph with its tensors loaded, its metadata, its external-data files."""

    proto: onnx.ModelProto
    info: ModelInfo
    data_files: list[Path]


def read_model(path: Path) -> ModelFile:
    """Load `path` with its tensors and check it as above; every failure is one UserError naming the file."""
    from onnx.external_data_helper import load_external_data_for_model

    path = Path(path)
    proto = load_graph(path)
    files = external_data_files(proto, path)
    info = metadata_of(proto, str(path))
    if files:
        try:
            load_external_data_for_model(proto, str(path.parent))
        except Exception as exc:  # a missing or short data file: onnx raises assorted types
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            raise UserError(f"{path}: its external data cannot be read ({reason})") from None
    check_digest(proto, info, path)
    return ModelFile(proto, info, files)


def check_digest(proto: onnx.ModelProto, info: ModelInfo, path: Path) -> None:
    """Refuse a graph (tensors loaded) whose digest differs from the one its metadata records."""
    if info.export.graph_sha256 and graph_digest(proto) != info.export.graph_sha256:
        raise UserError(f"{path}: the graph does not match the digest in its metadata (altered, or foreign metadata)")
