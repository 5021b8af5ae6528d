"""Export a fitted run as one ONNX graph: frames in, anomaly maps and scores out, statistics baked in.

I/O (documented in docs/model-format.md):
- input  `frames`      uint8   [N, H, W, 3]  BGR, HWC, as OpenCV delivers frames (already placed by the
                                             model's resize mode, imaging.geometry)
- output `anomaly_map` float32 [N, 1, H, W]  Mahalanobis distance, upsampled and blurred
- output `score`       float32 [N]           max of the map
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from padim_edge.contract.metadata import ExportFacts, ModelInfo
from padim_edge.contract.names import FACTOR, HEAD, INPUT, MEAN, OUTPUTS
from padim_edge.export.graph_rewrites import fold_pads_into_convs
from padim_edge.model.build import graph_from_run
from padim_edge.model.run_dir import load_run
from padim_edge.model_file.digest import graph_digest
from padim_edge.model_file.onnx_io import set_metadata
from padim_edge.storage.atomic import clean_stale, fsync_folder, staging_prefix
from padim_edge.versions import package_versions

OPSET = 17
PROTOBUF_LIMIT = 2**31 - 1  # one protobuf message; past this the tensors go to external data


@dataclass
class ExportResult:
    """What an export wrote."""

    path: Path
    bytes_on_disk: int
    external_data: Path | None
    statistics_dtype: str


def export_run(
    run_dir: Path,
    out_path: Path | None = None,
    fp16_statistics: bool = False,
    weights: str | None = None,
    external_threshold: int = PROTOBUF_LIMIT,
) -> ExportResult:
    """Export `run_dir` to `out_path` (default RUN_DIR/model.onnx), atomically, and check the result.

    `external_threshold` (bytes of initializers) decides when tensors go to `<name>.data` beside the model;
    it defaults to the 2 GB protobuf limit and can be lowered (tests do).
    """
    config, mean, factor = load_run(run_dir)
    graph = graph_from_run(config, mean, factor, weights=weights, for_export=True)
    out_path = out_path or run_dir / "model.onnx"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out_path.parent)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=staging_prefix(out_path)) as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch_export(graph, config.input_hw, raw)
        model = onnx.load(str(raw), load_external_data=True)
        _name_statistics(model)
        fold_pads_into_convs(model)
        dtype = "float16" if fp16_statistics else "float32"
        if fp16_statistics:
            _store_statistics_fp16(model)
        facts = ExportFacts(
            opset=OPSET,
            statistics_dtype=dtype,
            graph_sha256=graph_digest(model),
            versions=package_versions("torch", "onnx"),
        )
        set_metadata(model, ModelInfo(config, facts))
        model.producer_name, model.producer_version = "padim-edge", config.versions.get("padim-edge", "")
        external = _initializer_bytes(model) > external_threshold
        staged = Path(tmp) / out_path.name
        data_name = out_path.name + ".data"
        if external:
            onnx.save_model(
                model, str(staged), save_as_external_data=True, all_tensors_to_one_file=True, location=data_name
            )
        else:
            onnx.save_model(model, str(staged))
        onnx.checker.check_model(str(staged))  # path-based: works past 2 GB
        data_path = out_path.parent / data_name
        if external:
            os.replace(Path(tmp) / data_name, data_path)
        os.replace(staged, out_path)
        fsync_folder(out_path.parent)
        if not external:
            data_path.unlink(missing_ok=True)  # a stale one from an earlier, larger export
    size = out_path.stat().st_size + (data_path.stat().st_size if external else 0)
    return ExportResult(out_path, size, data_path if external else None, dtype)


def torch_export(graph: torch.nn.Module, input_hw: tuple[int, int], path: Path) -> None:
    """Trace `graph` to ONNX: uint8 frames [batch, H, W, 3] in, the two named outputs out."""
    frames = torch.zeros(1, *input_hw, 3, dtype=torch.uint8)
    axes = {name: {0: "batch"} for name in (INPUT, *OUTPUTS)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on static shapes: the input size is fixed by design
        torch.onnx.export(
            graph,
            (frames,),
            str(path),
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _name_statistics(model: onnx.ModelProto) -> None:
    """Give the baked statistics stable names (the exporter calls them onnx::Sub_NNN): the head's Sub that
    takes the mean [P, 1, d] and its MatMul that takes W^T [T, d, d]."""
    inits = {i.name: i for i in model.graph.initializer}
    for op, rank, new in (("Sub", 3, MEAN), ("MatMul", 3, FACTOR)):
        node, slot = next(
            (n, j)
            for n in model.graph.node
            if n.op_type == op and n.name.startswith(HEAD)
            for j, x in enumerate(n.input)
            if x in inits and len(inits[x].dims) == rank
        )
        old = node.input[slot]
        inits[old].name = new
        for n in model.graph.node:
            n.input[:] = [new if x == old else x for x in n.input]


def _store_statistics_fp16(model: onnx.ModelProto) -> None:
    """Store mean and factor as float16 initializers, cast back to float32 inside the head."""
    for name in (MEAN, FACTOR):
        init = next(i for i in model.graph.initializer if i.name == name)
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), name + "_fp16")
        model.graph.initializer.remove(init)
        model.graph.initializer.append(half)
        cast = onnx.helper.make_node(
            "Cast", [half.name], [name], name=f"/head/Cast_{name.split('.')[1]}", to=onnx.TensorProto.FLOAT
        )
        model.graph.node.insert(0, cast)


def _initializer_bytes(model: onnx.ModelProto) -> int:
    return sum(len(i.raw_data) or i.ByteSize() for i in model.graph.initializer)
