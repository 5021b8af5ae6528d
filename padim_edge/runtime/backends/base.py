"""The interface every inference backend implements (onnxruntime, TensorRT, a Triton server)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from padim_edge.contract.metadata import ModelInfo


class BackendUnavailable(Exception):
    """The backend cannot score frames right now (a server down), but may again later: the frames of this
    call are counted as missed and the pipeline goes on."""


class Backend(ABC):
    """Runs the exported graph: uint8 BGR frames [N, H, W, 3] -> (maps [N, H, W], scores [N]), float32."""

    info: ModelInfo
    #: Smallest batch one call accepts (a TensorRT profile's min): smaller batches are padded up to it.
    min_batch: int = 1
    #: Largest batch one call accepts (a TensorRT profile's max); None when unbounded.
    max_batch: int | None = None

    @abstractmethod
    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score a prepared batch; frames must already be placed on the model's H x W input."""

    def describe(self) -> str:
        """One line naming the backend and its device, for logs and benchmarks."""
        return type(self).__name__

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op for backends without device memory
        """Release device resources (no-op where there are none)."""
