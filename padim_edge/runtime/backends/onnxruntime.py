"""onnxruntime backend: TensorRT, CUDA or CPU execution providers, whichever are present, in that order.

Before a session is created the model is checked (runtime.backends.model_check): its metadata, its graph
digest, its inputs and outputs, and finite tensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from padim_edge.contract.names import INPUT, OUTPUTS
from padim_edge.errors import UserError
from padim_edge.runtime.backends.base import Backend
from padim_edge.runtime.backends.model_check import check_onnx_model

PREFERRED = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
MAX_THREADS = 256


def choose_providers(available: list[str], requested: list[str] | None = None) -> list[str]:
    """Requested providers (each must be available), else the preferred ones that are, in order."""
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise UserError(f"execution provider(s) {', '.join(missing)} not available (have: {', '.join(available)})")
        return list(requested)
    return [p for p in PREFERRED if p in available] or list(available)


class OnnxRuntimeBackend(Backend):
    """Runs a padim-edge ONNX model with onnxruntime."""

    def __init__(
        self,
        path: Path,
        providers: list[str] | None = None,
        threads: int | None = None,
        provider_options: dict[str, dict] | None = None,
        spinning: bool = True,
    ) -> None:
        import onnxruntime as ort

        if threads is not None and not 1 <= threads <= MAX_THREADS:
            raise UserError(f"--threads {threads}: must be between 1 and {MAX_THREADS}")
        self.info = check_onnx_model(path)  # before the session: a bad model fails fast, in one line
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: padim-edge reports problems itself, in one line each
        if threads:
            options.intra_op_num_threads = threads
        if not spinning:  # idle sessions otherwise spin and steal cores from busy ones
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        chosen = choose_providers(ort.get_available_providers(), providers)
        opts = [(provider_options or {}).get(p, {}) for p in chosen]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=chosen, provider_options=opts)
        except Exception as exc:  # onnxruntime raises its own types for a bad file
            raise UserError(f"{path}: onnxruntime cannot load it ({str(exc).splitlines()[0][:200]})") from None

    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        maps, scores = self.session.run(list(OUTPUTS), {INPUT: frames})
        return maps[:, 0], scores

    def describe(self) -> str:
        return f"onnxruntime {'+'.join(self.session.get_providers())}"
