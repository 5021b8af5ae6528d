"""TensorRT backend: runs an engine built by `padim-edge build`, without torch and without onnxruntime.

Buffers are allocated once, for the profile's largest batch: a pinned host array and a device buffer per
I/O tensor, bound by name with `set_tensor_address`. A call copies the frames in, runs `execute_async_v3`
on the backend's stream and copies the results out, asynchronously, then waits once. With `cuda_graph`
the engine's kernels are captured once as a CUDA graph at the profile's opt batch (smaller batches are
padded to it), which saves the per-kernel launch cost that dominates small batches on Jetson CPUs.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from padim_edge.accel.cuda_binding import open_binding
from padim_edge.accel.tensorrt import import_tensorrt, this_machine
from padim_edge.contract.engine_record import EngineRecord, check_engine, read_record
from padim_edge.contract.metadata import document_metadata
from padim_edge.errors import UserError
from padim_edge.runtime.backends.base import Backend


class TensorRTBackend(Backend):
    """Runs a padim-edge TensorRT engine; `binding` is "auto", "cuda-python" or "pycuda"."""

    def __init__(self, path: Path, binding: str = "auto", cuda_graph: bool = False) -> None:
        self.path = path
        self.record: EngineRecord = read_record(path)  # before anything heavy: a foreign engine fails fast
        self.info = document_metadata(self.record.onnx_metadata, str(path))
        trt = import_tensorrt()
        self.cuda = open_binding(binding)
        self._graph = None
        try:
            check_engine(self.record, path, this_machine(trt, self.cuda))
            with self.cuda.current():
                self._load(trt, path)
                self.min_batch, self.max_batch = self._profile[0], self._profile[2]
                if cuda_graph:
                    self._capture()
        except BaseException:
            self.close()
            raise

    def _load(self, trt: ModuleType, path: Path) -> None:
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise UserError(f"{path}: TensorRT could not deserialise the engine (see its messages above)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = list(self.info.export.outputs)  # anomaly_map, score
        if inputs != [self.record.input_name] or sorted(set(names) - set(inputs)) != sorted(outputs):
            raise UserError(f"{path}: engine tensors {names} are not those of a padim-edge model")
        self.input_name, self.output_names = inputs[0], outputs
        self._profile = [shape[0] for shape in self.engine.get_tensor_profile_shape(self.input_name, 0)]
        self.context.set_input_shape(self.input_name, (self._profile[2], *self.info.input_hw, 3))
        self._host: dict[str, np.ndarray] = {}
        self._device: dict[str, int] = {}
        for name in names:  # sized once, for the profile's max batch
            shape = tuple(self.context.get_tensor_shape(name))
            self._host[name] = self.cuda.pinned(shape, np.dtype(trt.nptype(self.engine.get_tensor_dtype(name))))
            self._device[name] = self.cuda.malloc(self._host[name].nbytes)
            self.context.set_tensor_address(name, self._device[name])
        self._batch = self._profile[2]  # the batch the context's input shape is set to
        self.stream = self.cuda.stream()

    def _enqueue(self) -> None:
        if not self.context.execute_async_v3(self.stream):
            raise RuntimeError(f"{self.path}: TensorRT failed to enqueue the engine (see its messages above)")

    def _capture(self) -> None:
        """Capture the kernels once, at the profile's opt batch."""
        self._set_batch(self._profile[1])
        self._enqueue()  # TensorRT's docs: run once after a shape change before capturing
        self.cuda.sync(self.stream)
        self._graph = self.cuda.capture(self.stream, self._enqueue)
        self.min_batch = 1  # smaller batches are padded to the captured one here
        self.max_batch = self._batch

    def _set_batch(self, n: int) -> None:
        if n != self._batch:
            self.context.set_input_shape(self.input_name, (n, *self.info.input_hw, 3))
            self._batch = n

    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(frames)
        h, w = self.info.input_hw
        if frames.dtype != np.uint8 or frames.shape[1:] != (h, w, 3):
            raise UserError(f"expected uint8 frames [N, {h}, {w}, 3], got {frames.dtype} {list(frames.shape)}")
        if not self.min_batch <= n <= self.max_batch:  # the Predictor pads and splits batches into this range
            raise UserError(f"{self.path}: batch {n} outside the engine's range {self.min_batch}..{self.max_batch}")
        batch = self._batch if self._graph is not None else n  # a graph runs its fixed batch, padded
        host_in = self._host[self.input_name]
        with self.cuda.current():
            host_in[:n] = frames
            self.cuda.h2d(self._device[self.input_name], host_in[:batch], self.stream)
            if self._graph is not None:
                self.cuda.launch(self._graph, self.stream)
            else:
                self._set_batch(n)
                self._enqueue()
            for name in self.output_names:
                self.cuda.d2h(self._host[name][:batch], self._device[name], self.stream)
            self.cuda.sync(self.stream)
        maps, scores = (self._host[name][:n] for name in self.output_names)
        return maps[:, 0].copy(), scores.copy()

    def describe(self) -> str:
        machine = self.record.machine
        graph = ", CUDA graph" if self._graph is not None else ""
        return (
            f"TensorRT {machine.tensorrt} {self.record.precision} on {machine.gpu} "
            f"(sm {machine.compute_capability}, {self.cuda.name}{graph})"
        )

    def close(self) -> None:
        # The context and engine go first: TensorRT may still hold the buffers the binding frees.
        for attr in ("context", "engine"):
            if hasattr(self, attr):
                delattr(self, attr)
        if hasattr(self, "cuda"):
            self.cuda.close()
