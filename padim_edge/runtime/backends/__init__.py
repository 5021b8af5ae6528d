"""Inference backends behind one small interface; `open_backend` picks one from the model file."""

from __future__ import annotations

from pathlib import Path

from padim_edge.errors import UserError
from padim_edge.runtime.backends.base import Backend


def open_backend(
    path: Path, providers: list[str] | None = None, threads: int | None = None, spinning: bool = True
) -> Backend:
    """An onnxruntime backend for `.onnx`, a TensorRT one for `.engine`/`.plan`.

    `spinning=False` stops onnxruntime's idle intra-op threads from busy-waiting: right for pipelines whose
    other threads (decode, pre-processing) need the cores between inferences.
    """
    if not path.is_file():
        raise UserError(f"{path}: no such model file")
    if path.suffix in (".engine", ".plan"):
        from padim_edge.runtime.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(path)
    if path.suffix != ".onnx":
        raise UserError(f"{path}: unknown model type (expected .onnx or .engine)")
    from padim_edge.runtime.backends.onnxruntime import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, providers, threads, spinning=spinning)


__all__ = ["Backend", "open_backend"]
