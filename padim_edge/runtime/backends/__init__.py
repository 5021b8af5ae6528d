"""Inference backends behind one small interface; `open_backend` picks one from the model file."""

from __future__ import annotations

from pathlib import Path

from padim_edge.errors import UserError
from padim_edge.runtime.backends.base import Backend, BackendUnavailable

MODEL_SUFFIXES = (".onnx", ".engine", ".plan")
#: Runtimes that run an `.onnx` model (`--backend`); `.engine`/`.plan` files always run on TensorRT.
ONNX_BACKENDS = ("onnxruntime", "openvino")


def open_backend(
    path: Path,
    providers: list[str] | None = None,
    threads: int | None = None,
    spinning: bool = True,
    cuda_graph: bool = False,
    backend: str = "onnxruntime",
    precision: str = "f32",
) -> Backend:
    """An onnxruntime (or, with `backend="openvino"`, an OpenVINO) backend for `.onnx`, a TensorRT one for
    `.engine`/`.plan` (`cuda_graph`: replay the engine's kernels as one captured CUDA graph, TensorRT only).
    `precision` is OpenVINO's inference precision (f32, or bf16 on CPUs that have it).

    `spinning=False` stops onnxruntime's idle intra-op threads from busy-waiting: right for pipelines whose
    other threads (decode, pre-processing) need the cores between inferences. Where onnxruntime's TensorRT
    provider is used, its engine and timing caches go to `.ort-trt-cache/<graph digest>-fp32/` beside the model.
    """
    if not path.is_file():
        raise UserError(f"{path}: no such model file")
    if path.suffix in (".engine", ".plan"):
        if backend != "onnxruntime":
            raise UserError(f"--backend {backend}: {path.name} is a TensorRT engine, which only TensorRT runs")
        from padim_edge.runtime.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(path, cuda_graph=cuda_graph)
    if cuda_graph:
        raise UserError("--cuda-graph applies to TensorRT engines (.engine), not to .onnx models")
    if path.suffix != ".onnx":
        raise UserError(f"{path}: unknown model type (expected {', '.join(MODEL_SUFFIXES)})")
    if backend not in ONNX_BACKENDS:
        raise UserError(f"--backend {backend}: expected one of {', '.join(ONNX_BACKENDS)}")
    if backend == "openvino":
        if providers:
            raise UserError("--provider selects onnxruntime's execution providers: not with --backend openvino")
        from padim_edge.runtime.backends.openvino import OpenVinoBackend

        return OpenVinoBackend(path, threads, precision)
    if precision != "f32":
        raise UserError(
            f"--precision {precision} applies to --backend openvino (onnxruntime runs the graph as exported)"
        )
    import onnxruntime as ort

    from padim_edge.runtime.backends.onnxruntime import OnnxRuntimeBackend, choose_providers
    from padim_edge.runtime.backends.ort_tensorrt import PROVIDER, ort_tensorrt_cache, ort_tensorrt_options

    chosen = choose_providers(ort.get_available_providers(), providers)
    options = None
    if PROVIDER in chosen:
        from padim_edge.model_file.onnx_io import read_onnx_metadata

        info = read_onnx_metadata(path)
        options = ort_tensorrt_options(ort_tensorrt_cache(path, info), info.input_hw)
    return OnnxRuntimeBackend(path, chosen, threads, options, spinning=spinning)


__all__ = ["Backend", "BackendUnavailable", "open_backend"]
