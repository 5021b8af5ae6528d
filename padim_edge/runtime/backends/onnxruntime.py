"""onnxruntime backend: TensorRT, CUDA or CPU execution providers, whichever are present, in that order.

Before the first frame the model is checked: its metadata (schema and version), its graph digest (a
graph carrying another model's metadata is refused) and its inputs and outputs against the metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from padim_edge.contract.metadata import ModelInfo, check_io, graph_digest, parse_metadata
from padim_edge.contract.names import INPUT, METADATA_KEY, OUTPUTS
from padim_edge.errors import UserError
from padim_edge.runtime.backends.base import Backend

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


def verify_digest(path: Path, info: ModelInfo) -> None:
    """Recompute the graph digest and compare it with the metadata's (models exported before digests
    were recorded carry none and are not checked)."""
    if not info.export.graph_sha256:
        return
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=True)
    except Exception as exc:  # protobuf and onnx raise assorted types for damaged or unsafe files
        raise UserError(f"{path}: cannot read the graph ({str(exc).splitlines()[0][:160]})") from None
    if graph_digest(model) != info.export.graph_sha256:
        raise UserError(f"{path}: the graph does not match the digest in its metadata (altered, or foreign metadata)")


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
        options = ort.SessionOptions()
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
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info = parse_metadata(meta.get(METADATA_KEY), str(path))
        verify_digest(path, self.info)
        check_io(
            self.info,
            [(i.name, _dtype(i.type), list(i.shape)) for i in self.session.get_inputs()],
            [(o.name, _dtype(o.type), list(o.shape)) for o in self.session.get_outputs()],
            str(path),
        )

    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        maps, scores = self.session.run(list(OUTPUTS), {INPUT: frames})
        return maps[:, 0], scores

    def describe(self) -> str:
        return f"onnxruntime {'+'.join(self.session.get_providers())}"


def _dtype(onnx_type: str) -> str:
    """onnxruntime's 'tensor(float)' -> 'float32' (numpy's names)."""
    name = onnx_type.removeprefix("tensor(").removesuffix(")")
    return {"float": "float32", "double": "float64"}.get(name, name)
