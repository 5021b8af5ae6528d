"""OpenVINO backend: the same ONNX model on Intel's CPU runtime (oneDNN kernels), for x86 CPUs without a GPU.

Scores equal onnxruntime's to float32 rounding; which of the two is faster is measured per CPU class by
`python -m benchmarks.cpu_runtimes` (the README's "CPU runtimes"). The model is checked exactly as for
onnxruntime before it is compiled.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from padim_edge.contract.names import INPUT, OUTPUTS
from padim_edge.errors import UserError
from padim_edge.runtime.backends.base import Backend
from padim_edge.runtime.backends.model_check import check_onnx_model

#: OpenVINO's inference precisions padim-edge offers. OpenVINO's own default on CPUs with AMX or AVX-512 BF16
#: is bf16, which moves scores (8 bits of mantissa): padim-edge pins f32 unless bf16 is asked for.
PRECISIONS = ("f32", "bf16")


class OpenVinoBackend(Backend):
    """Runs a padim-edge ONNX model with OpenVINO's CPU plugin, one inference request at a time."""

    def __init__(self, path: Path, threads: int | None = None, precision: str = "f32") -> None:
        if precision not in PRECISIONS:
            raise UserError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
        import openvino as ov  # absent: the CLI names the extra to install (commands/extras.py)

        self.info = check_onnx_model(path)  # before compiling: a bad model fails fast, in one line
        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
            # Pinned threads would fight the pipeline's own threads (decode, pre-processing, sinks) for cores.
            "ENABLE_CPU_PINNING": False,
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        core = ov.Core()
        try:
            compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        except Exception as exc:  # OpenVINO raises RuntimeError with a multi-line C++ trace
            raise UserError(f"{path}: OpenVINO cannot load it ({str(exc).splitlines()[0][:200]})") from None
        self.version = ov.get_version().split("-")[0]
        self.precision = precision
        self._outputs = [compiled.output(name) for name in OUTPUTS]
        self._input = compiled.input(INPUT)
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()  # one request: calls from several threads take turns

    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            found = self._request.infer({self._input: np.ascontiguousarray(frames)})
            maps, scores = (np.array(found[o]) for o in self._outputs)  # copies: the next call reuses the buffers
        return maps[:, 0], scores

    def describe(self) -> str:
        return f"OpenVINO {self.version} CPU {self.precision}"
