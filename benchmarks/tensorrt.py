"""TensorRT, when this machine has it and a GPU: an fp16 engine of a model, timed like the others.

Never runs on the development machines (no GPU, tensorrt does not install there); `available` says why.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path


def available() -> str | None:
    """None when TensorRT and a CUDA device are usable, else the reason they are not."""
    if not find_spec("tensorrt"):
        return "tensorrt is not installed (it cannot be installed on these machines)"
    from padim_edge.accel.cuda_binding import open_binding

    try:
        open_binding().close()
    except Exception as exc:  # no driver, no device, no binding: whichever, say it
        return f"no usable CUDA device ({str(exc).splitlines()[0][:120]})"
    return None


def ensure_engine(model: Path, max_batch: int) -> Path:
    """An fp16 engine for batches 1..max_batch beside `model` (built once); the probe opens it with open_backend."""
    from padim_edge.engine.build import BuildOptions, build_engine

    engine = model.with_suffix(f".fp16-b{max_batch}.engine")
    if not engine.is_file():
        build_engine(model, engine, BuildOptions("fp16", (1, 1, max_batch)))
    return engine
