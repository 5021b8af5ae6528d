"""The Mahalanobis head written several ways, timed like the models (one process each, alternating) on
onnxruntime CPU and checked for exactness.

Each variant is a small ONNX graph: embedding [N, d, h, w] in, distance [N, P] out, with the statistics of a
fitted run baked in. Exactness is the largest error relative to a float64 evaluation of
sqrt((x - mu)^T Sigma^-1 (x - mu)) on real embeddings of screw test images.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from benchmarks import inputs
from benchmarks.latency import Job, Plan, alternate, summary
from benchmarks.paths import CACHE
from benchmarks.probe import ort_session

Nodes = list[onnx.NodeProto]


def _flat() -> Nodes:
    """emb [N, d, h, w] -> x [N, d, P]."""
    return [helper.make_node("Reshape", ["emb", "shape_ndp"], ["x"])]


def _to_pnd() -> Nodes:
    return [helper.make_node("Transpose", ["x"], ["x_pnd"], perm=[2, 0, 1])]


def _finish_pn(squared: str) -> Nodes:
    """Squared distances [P, N] -> distances [N, P]."""
    return [
        helper.make_node("Sqrt", [squared], ["dist_pn"]),
        helper.make_node("Transpose", ["dist_pn"], ["dist"], perm=[1, 0]),
    ]


def current() -> Nodes:
    """The product's head: z = (x - mu) @ W^T as one batched MatMul [P,N,d] x [P,d,d], then sum of squares."""
    return [
        *_flat(),
        *_to_pnd(),
        helper.make_node("Sub", ["x_pnd", "mean_p1d"], ["delta"]),
        helper.make_node("MatMul", ["delta", "factor_t"], ["z"]),
        helper.make_node("Mul", ["z", "z"], ["z2"]),
        helper.make_node("ReduceSum", ["z2", "axis_last"], ["sq"], keepdims=0),
        *_finish_pn("sq"),
    ]


def anomalib() -> Nodes:
    """anomalib's compute_distance: delta = (x - mu[d, P]).permute(2, 0, 1), sum(delta @ A * delta, 2),
    transposed back, clamped at 0, square root (A = Sigma^-1, the full inverse)."""
    return [
        *_flat(),
        helper.make_node("Sub", ["x", "mean_dp"], ["x_mu"]),
        helper.make_node("Transpose", ["x_mu"], ["delta"], perm=[2, 0, 1]),
        helper.make_node("MatMul", ["delta", "inverse"], ["y"]),
        helper.make_node("Mul", ["y", "delta"], ["dy"]),
        helper.make_node("ReduceSum", ["dy", "axis_last"], ["sq_pn"], keepdims=0),
        helper.make_node("Transpose", ["sq_pn"], ["sq_np"], perm=[1, 0]),
        helper.make_node("Relu", ["sq_np"], ["sq"]),
        helper.make_node("Sqrt", ["sq"], ["dist"]),
    ]


def einsum_pnd() -> Nodes:
    """The current head with Einsum 'pnd,pde->pne' in place of the MatMul."""
    nodes = current()
    index = next(i for i, n in enumerate(nodes) if n.op_type == "MatMul")
    nodes[index] = helper.make_node("Einsum", ["delta", "factor_t"], ["z"], equation="pnd,pde->pne")
    return nodes


def einsum_native() -> Nodes:
    """No transpose of the embedding: Einsum 'ndp,pde->npe' on [N, d, P] straight from the backbone."""
    return [
        *_flat(),
        helper.make_node("Sub", ["x", "mean_dp"], ["delta"]),
        helper.make_node("Einsum", ["delta", "factor_t"], ["z"], equation="ndp,pde->npe"),
        helper.make_node("Mul", ["z", "z"], ["z2"]),
        helper.make_node("ReduceSum", ["z2", "axis_last"], ["sq"], keepdims=0),
        helper.make_node("Sqrt", ["sq"], ["dist"]),
    ]


def einsum_quadratic() -> Nodes:
    """One three-operand Einsum 'pnd,pde,pne->pn' with the full inverse."""
    return [
        *_flat(),
        *_to_pnd(),
        helper.make_node("Sub", ["x_pnd", "mean_p1d"], ["delta"]),
        helper.make_node("Einsum", ["delta", "inverse", "delta"], ["sq_raw"], equation="pnd,pde,pne->pn"),
        helper.make_node("Relu", ["sq_raw"], ["sq"]),
        *_finish_pn("sq"),
    ]


def factor_left() -> Nodes:
    """z^T = W @ (x - mu)^T: MatMul [P,d,d] x [P,d,N], the batch as the GEMM's columns."""
    return [
        *_flat(),
        helper.make_node("Transpose", ["x"], ["x_pdn"], perm=[2, 1, 0]),
        helper.make_node("Sub", ["x_pdn", "mean_pd1"], ["delta"]),
        helper.make_node("MatMul", ["factor", "delta"], ["z"]),
        helper.make_node("Mul", ["z", "z"], ["z2"]),
        helper.make_node("ReduceSum", ["z2", "axis_mid"], ["sq"], keepdims=0),
        *_finish_pn("sq"),
    ]


VARIANTS: dict[str, Callable[[], Nodes]] = {
    "product: (x-mu) @ W^T, MatMul [P,N,d]x[P,d,d]": current,
    "anomalib: sum((x-mu) * ((x-mu) @ A)), mean [d,P]": anomalib,
    "Einsum pnd,pde->pne (factor)": einsum_pnd,
    "Einsum ndp,pde->npe (factor, no transpose)": einsum_native,
    "Einsum pnd,pde,pne->pn (inverse, one op)": einsum_quadratic,
    "W @ (x-mu)^T, MatMul [P,d,d]x[P,d,N]": factor_left,
}


def build(nodes: Nodes, mean: np.ndarray, factor: np.ndarray, grid: tuple[int, int]) -> onnx.ModelProto:
    """A standalone ONNX head; only the initializers its nodes use are kept."""
    p, d = mean.shape
    w = factor.astype(np.float64)
    tensors = {
        "mean_p1d": mean[:, None, :],
        "mean_dp": np.ascontiguousarray(mean.T),
        "mean_pd1": mean[:, :, None],
        "factor": factor,
        "factor_t": np.ascontiguousarray(factor.transpose(0, 2, 1)),
        "inverse": (w.transpose(0, 2, 1) @ w).astype(np.float32),
        "shape_ndp": np.array([0, d, p], np.int64),
        "axis_last": np.array([-1], np.int64),
        "axis_mid": np.array([1], np.int64),
    }
    used = {i for n in nodes for i in n.input}
    inits = [
        numpy_helper.from_array(np.ascontiguousarray(v, np.float32 if v.dtype != np.int64 else np.int64), k)
        for k, v in tensors.items()
        if k in used
    ]
    emb = helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["N", d, *grid])
    dist = helper.make_tensor_value_info("dist", TensorProto.FLOAT, ["N", p])
    graph = helper.make_graph(nodes, "head", [emb], [dist], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def reference(emb: np.ndarray, mean: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """float64 distances [N, P]."""
    n, d = emb.shape[:2]
    x = emb.reshape(n, d, -1).transpose(2, 0, 1).astype(np.float64) - mean[:, None, :]
    z = np.einsum("pnd,ped->pne", x, factor.astype(np.float64))
    return np.sqrt((z * z).sum(-1)).T


def measure(run: Path, frames: np.ndarray, plan: Plan, batches: tuple[int, ...] = (1, 8)) -> dict:
    """Time every variant at each batch size on real embeddings of `frames` (uint8, the run's input);
    exactness against float64. The variants keep one W per position: a tiled run's W is given to each of
    its tile's positions (the same distances, the traffic of `--cov-block 1`)."""
    import torch

    from benchmarks.reference_graph import factor_per_position
    from padim_edge.model.build import graph_from_run
    from padim_edge.model.run_dir import load_run

    config, mean_t, factor_t = load_run(run)
    graph = graph_from_run(config, mean_t, factor_t)
    factor_t = factor_per_position(factor_t, graph.head.grid_hw, config.cov_block)
    with torch.inference_mode():
        emb = graph.embed(graph.backbone(graph.preprocess(torch.from_numpy(frames)))).numpy()
    mean, factor = mean_t.numpy(), factor_t.numpy()
    expected = reference(emb, mean, factor)
    folder = CACHE / "heads"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    emb_file = inputs.save(emb, "head-embeddings")
    jobs, exactness = [], {}
    try:
        for number, (name, make) in enumerate(VARIANTS.items()):
            path = folder / f"head{number}.onnx"
            onnx.save_model(build(make(), mean, factor, emb.shape[-2:]), str(path))
            out = ort_session(path, plan.threads).run(None, {"emb": emb})[0]
            exactness[name] = float(np.abs(out - expected).max() / np.abs(expected).max())
            jobs.append(Job(name, "onnx", path, emb_file, batches))
        alternate(jobs, plan, "head formulations")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "positions": int(mean.shape[0]),
        "d": int(mean.shape[1]),
        "statistics_mb": round(factor.nbytes / 1e6, 1),
        "variants": {job.name: {"max_rel_error": exactness[job.name], **summary(job)} for job in jobs},
    }
