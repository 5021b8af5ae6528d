"""The interface every inference backend implements (onnxruntime, TensorRT, a Triton server)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from padim_edge.runtime.model_info import ModelInfo


class BackendUnavailable(Exception):
    """The backend cannot score now (a remote server is down or restarting); later calls may succeed."""


class Backend(ABC):
    """Runs the exported graph: uint8 BGR frames [N, S, S, 3] -> (maps [N, S, S], scores [N]), float32."""

    info: ModelInfo
    #: Largest batch one call accepts (a TensorRT profile's max); None when unbounded.
    max_batch: int | None = None

    @abstractmethod
    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score a prepared batch; frames must already be resized/cropped to the model's input size."""

    def describe(self) -> str:
        """One line naming the backend and its device, for logs and benchmarks."""
        return type(self).__name__

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op for backends without device memory
        """Release device resources (no-op where there are none)."""
