"""Damaged and tampered copies of a real fitted run and of its exported model."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from padim_edge.contract.names import MEAN, METADATA_KEY
from padim_edge.model_file.digest import graph_digest

CONFIG, STATISTICS = "config.json", "statistics.safetensors"


def link_or_copy(source: Path, target: Path) -> Path:
    """A hard link (no copy of a large file) where the file system allows it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def run_copy(
    run: Path, target: Path, config: Any = None, statistics: dict[str, np.ndarray] | bytes | None = None
) -> Path:
    """A copy of fitted run `run`: its config (or `config`, any JSON value), its statistics (or
    `statistics`: tensors saved as safetensors, or raw bytes), hard-linked where unchanged."""
    from safetensors.numpy import save

    target.mkdir(parents=True)
    if config is None:
        shutil.copyfile(run / CONFIG, target / CONFIG)
    else:
        (target / CONFIG).write_text(json.dumps(config))
    if statistics is None:
        link_or_copy(run / STATISTICS, target / STATISTICS)
    else:
        data = statistics if isinstance(statistics, bytes) else save(statistics)
        (target / STATISTICS).write_bytes(data)
    return target


def edited(document: dict, **changes: Any) -> dict:
    """A copy of a JSON document with top-level keys changed (None removes the key)."""
    copy = json.loads(json.dumps(document))
    for key, value in changes.items():
        if value is None:
            copy.pop(key, None)
        else:
            copy[key] = value
    return copy


def metadata_of(model: onnx.ModelProto) -> dict:
    return json.loads(next(p.value for p in model.metadata_props if p.key == METADATA_KEY))


def with_metadata(model: onnx.ModelProto, document: dict | str | None) -> onnx.ModelProto:
    """A copy of `model` carrying `document` as its padim-edge metadata (a str verbatim; None: none)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    del copy.metadata_props[:]
    if document is not None:
        text = document if isinstance(document, str) else json.dumps(document)
        helper.set_model_props(copy, {METADATA_KEY: text})
    return copy


def with_mean(model: onnx.ModelProto, change: Any) -> onnx.ModelProto:
    """A copy of `model` whose baked mean statistics are `change(mean)`, with its digest recomputed: a
    model another fit could have produced (or, with NaN, a broken one that is internally consistent)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    init = next(t for t in copy.graph.initializer if t.name == MEAN)
    init.CopyFrom(numpy_helper.from_array(change(numpy_helper.to_array(init).copy()), MEAN))
    document = metadata_of(copy)
    document["export"]["graph_sha256"] = graph_digest(copy)
    return with_metadata(copy, document)


def foreign_graph(height: int, width: int, dtype: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """A small graph with padim-edge's input and output names but not its computation: `frames`
    [N, height, width, 3] of `dtype` in, `anomaly_map` and `score` out."""
    frames = helper.make_tensor_value_info("frames", dtype, ["N", height, width, 3])
    amap = helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, ["N", 1, height, width])
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])
    nodes = [
        helper.make_node("Cast", ["frames"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["x"], ["m"], keepdims=1, axes=[3]),
        helper.make_node("Transpose", ["m"], ["anomaly_map"], perm=[0, 3, 1, 2]),
        helper.make_node("ReduceMax", ["x"], ["score"], keepdims=0, axes=[1, 2, 3]),
    ]
    graph = helper.make_graph(nodes, "foreign", [frames], [amap, score])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def escaping_external_data(model: onnx.ModelProto, location: str = "../../../../../../etc/hostname") -> onnx.ModelProto:
    """A copy of `model` with one more tensor whose external data lies outside the model's folder (a path
    traversal an ONNX file can attempt)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    tensor = helper.make_tensor("stolen", TensorProto.UINT8, [8], b"\0" * 8, raw=True)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    copy.graph.initializer.append(tensor)
    return copy
