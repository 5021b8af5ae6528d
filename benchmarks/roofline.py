"""This machine's ceilings (fp32 GEMM/conv rate, memory bandwidth), measured in the same run, and each graph's work.

The roofline floor of one call on a batch of B images is the time the machine cannot beat, phase by phase:
backbone and post-processing at the GEMM rate (compute-bound), plus the head, which must read its P*d*d
statistics once per batch and so takes max(head FLOPs / GEMM rate, statistics bytes / read bandwidth).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from padim_edge.contract.names import BACKBONE, EMBED, HEAD, POST, PREPROCESS

PARTS = (PREPROCESS, BACKBONE, EMBED, HEAD, POST)

GEMM_N = 2048
STREAM_BYTES = 1 << 29  # 512 MiB: far past the last-level cache


def torch_gemm_gflops(threads: int, runs: int = 10) -> dict[str, float]:
    """fp32 GEMM 2048^3 with PyTorch (oneDNN/MKL): best and median GFLOP/s over `runs`."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(GEMM_N, GEMM_N), torch.randn(GEMM_N, GEMM_N)
    return _rate(lambda: torch.mm(a, b), 2 * GEMM_N**3, runs)


def graph_session(nodes: list[onnx.NodeProto], x: str, shape: list[int], weights: dict[str, np.ndarray], threads: int):
    """An onnxruntime session (benchmarks.probe.ort_session) on `nodes` alone: float32 input `x` of `shape`,
    the `weights` as initializers, output `y`."""
    from benchmarks.probe import ort_session

    graph = onnx.helper.make_graph(
        nodes,
        "probe",
        [onnx.helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, shape)],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    return ort_session(model.SerializeToString(), threads)


def ort_gemm_gflops(threads: int, runs: int = 10) -> dict[str, float]:
    """fp32 GEMM 2048^3 through onnxruntime's MatMul (MLAS, the kernels that run the graphs)."""
    b = np.random.default_rng(0).standard_normal((GEMM_N, GEMM_N), np.float32)
    matmul = onnx.helper.make_node("MatMul", ["a", "b"], ["y"])
    session = graph_session([matmul], "a", [GEMM_N, GEMM_N], {"b": b}, threads)
    a = np.random.default_rng(1).standard_normal((GEMM_N, GEMM_N), np.float32)
    return _rate(lambda: session.run(None, {"a": a}), 2 * GEMM_N**3, runs)


def ort_conv_gflops(threads: int, runs: int = 10) -> dict[str, float]:
    """fp32 3x3 convolution, 256 -> 256 channels at 56x56, batch 4, through onnxruntime (its NCHWc kernels beat
    its SGEMM on this CPU, so the roofline's peak must count them)."""
    n, c, hw = 4, 256, 56
    w = np.random.default_rng(0).standard_normal((c, c, 3, 3), np.float32) * 0.01
    conv = onnx.helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    session = graph_session([conv], "x", [n, c, hw, hw], {"w": w}, threads)
    frames = np.random.default_rng(1).standard_normal((n, c, hw, hw), np.float32)
    return _rate(lambda: session.run(None, {"x": frames}), 2 * n * c * hw * hw * c * 9, runs)


def bandwidth_gbs(threads: int, runs: int = 10) -> dict[str, float]:
    """Memory bandwidth with `threads` threads: read (a sum over 512 MiB) and copy (read + write bytes)."""
    import torch

    torch.set_num_threads(threads)
    src = torch.ones(STREAM_BYTES // 4)
    dst = torch.empty_like(src)
    read = _rate(lambda: src.sum(), STREAM_BYTES, runs)
    copy = _rate(lambda: dst.copy_(src), 2 * STREAM_BYTES, runs)
    return {
        "read_best": read["best"],
        "read_median": read["median"],
        "copy_best": copy["best"],
        "copy_median": copy["median"],
    }


def call_times(call, runs: int, warmup: int = 1) -> list[float]:
    """Seconds of each of `runs` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _rate(call, work: float, runs: int) -> dict[str, float]:
    times = call_times(call, runs)
    return {"best": work / min(times) / 1e9, "median": work / float(np.median(times)) / 1e9}


def shapes_at_batch_1(path: Path) -> tuple[onnx.ModelProto, dict[str, list[int]]]:
    """The model (without external data) and every tensor's shape at batch 1."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = onnx.load(str(path), load_external_data=False)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in inferred.graph.value_info}
    shapes.update({v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in inferred.graph.output})
    shapes.update({i.name: list(i.dims) for i in model.graph.initializer})
    return model, shapes


def conv_layers(path: Path) -> list[dict]:
    """Every Conv of the graph in order: its kind (`depthwise`, `1x1`, `dense KxK`), input and weight shapes,
    attributes and MACs, at batch 1."""
    model, shapes = shapes_at_batch_1(path)
    layers = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        weight = shapes[node.input[1]]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        group = attrs.get("group", 1)
        kind = "depthwise" if group > 1 else "1x1" if weight[2:] == [1, 1] else f"dense {weight[2]}x{weight[3]}"
        layers.append(
            {"kind": kind, "x": shapes[node.input[0]], "w": weight, "attrs": attrs, "macs": _macs(node, shapes)}
        )
    return layers


def conv_kinds(path: Path) -> list[tuple[str, int]]:
    """Every Conv of the graph in order: its kind and MACs per image."""
    return [(layer["kind"], layer["macs"]) for layer in conv_layers(path)]


def graph_work(path: Path) -> dict:
    """MACs per image of Conv/MatMul/Gemm by graph part (the node-name prefixes of padim_edge.contract.names:
    `/backbone/`, `/head/`, ...) and the bytes of the head's statistics.

    Shapes come from onnxruntime's symbolic shape inference at batch 1 (onnx's own stops at the dynamic Pads).
    """
    model, shapes = shapes_at_batch_1(path)
    inits = {i.name: i for i in model.graph.initializer}
    macs: Counter[str] = Counter()
    head_bytes = 0
    for node in model.graph.node:
        part = next((p.strip("/") for p in PARTS if node.name.startswith(p)), "other")
        macs[part] += _macs(node, shapes)
        if part == HEAD.strip("/"):
            head_bytes += sum(_nbytes(inits[i]) for i in node.input if i in inits)
    return {"macs_per_image": dict(macs), "statistics_bytes": head_bytes}


def _macs(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int:
    if node.op_type == "Conv":
        weight = shapes[node.input[1]]
        return int(np.prod(shapes[node.output[0]])) * int(np.prod(weight[1:]))
    if node.op_type in ("MatMul", "Gemm"):
        return int(np.prod(shapes[node.output[0]])) * shapes[node.input[0]][-1]
    return 0


def _nbytes(init: onnx.TensorProto) -> int:
    return int(np.prod(init.dims)) * onnx.helper.tensor_dtype_to_np_dtype(init.data_type).itemsize


def floor_ms(work: dict, batch: int, gemm_gflops: float, read_gbs: float) -> float:
    """The roofline floor of one call on `batch` images, in milliseconds."""
    macs = work["macs_per_image"]
    compute = 2 * batch * sum(v for k, v in macs.items() if k != "head") / (gemm_gflops * 1e9)
    head = max(2 * batch * macs.get("head", 0) / (gemm_gflops * 1e9), work["statistics_bytes"] / (read_gbs * 1e9))
    return 1e3 * (compute + head)
