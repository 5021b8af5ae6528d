"""The little CUDA the TensorRT backend needs (device and pinned memory, async copies, streams, CUDA graphs).

TensorRT's Python API takes raw device pointers and a stream handle and leaves memory to the caller. Two
bindings can provide it behind the same small interface: NVIDIA's cuda-python (`cuda.bindings.runtime`,
prebuilt wheels, the default) and pycuda (common on Jetson images; builds against the local CUDA toolkit).
Both use the device's primary context, the one TensorRT's CUDA runtime calls use, so pointers and
streams are shared with TensorRT. Every call is checked; a missing device is one UserError line.
"""

from __future__ import annotations

import contextlib
import ctypes
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from padim_edge.errors import UserError

BINDINGS = ("auto", "cuda-python", "pycuda")


class CudaError(RuntimeError):
    """A CUDA call failed after the device was opened (a fault, not a user mistake)."""


@dataclass(frozen=True)
class Device:
    """The GPU an engine is built for or runs on."""

    name: str
    compute_capability: str


class CudaBinding(ABC):
    """Device memory, pinned host arrays, streams (as integer handles, what TensorRT takes) and copies.

    The binding owns everything it allocates; `close()` frees it all.
    """

    name: str
    device: Device

    @abstractmethod
    def malloc(self, nbytes: int) -> int:
        """Device memory; returns its address."""

    @abstractmethod
    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A page-locked host array (async copies from pageable memory are silently synchronous)."""

    @abstractmethod
    def stream(self) -> int:
        """A new CUDA stream; returns its handle."""

    @abstractmethod
    def h2d(self, dst: int, src: np.ndarray, stream: int) -> None:
        """Queue a copy of all of `src` (contiguous) to device address `dst`."""

    @abstractmethod
    def d2h(self, dst: np.ndarray, src: int, stream: int) -> None:
        """Queue a copy from device address `src` into all of `dst` (contiguous)."""

    @abstractmethod
    def sync(self, stream: int) -> None:
        """Wait until everything queued on `stream` is done."""

    @abstractmethod
    def close(self) -> None:
        """Free every allocation and stream of this binding (idempotent)."""

    def current(self) -> contextlib.AbstractContextManager:
        """Make this binding's context current in the calling thread, for a block of calls."""
        return contextlib.nullcontext()

    def capture(self, stream: int, enqueue: Callable[[], None]) -> Any:
        """Record what `enqueue` queues on `stream` as an instantiated CUDA graph."""
        raise UserError(f"CUDA graphs need the cuda-python binding, not {self.name}")

    def launch(self, graph: Any, stream: int) -> None:
        """Queue a captured graph on `stream`."""
        raise UserError(f"CUDA graphs need the cuda-python binding, not {self.name}")


def open_binding(name: str = "auto") -> CudaBinding:
    """Open device 0 through `name` ("auto": cuda-python if installed, else pycuda)."""
    if name not in BINDINGS:
        raise UserError(f"CUDA binding {name!r}: expected one of {', '.join(BINDINGS)}")
    if name == "auto" and _cudart() is None:
        try:
            import pycuda  # noqa: F401
        except ImportError:
            raise UserError("no CUDA binding installed: pip install 'padim-edge[tensorrt]' (cuda-python)") from None
        return PycudaBinding()
    return PycudaBinding() if name == "pycuda" else CudaPythonBinding()


def _cudart() -> Any:
    """cuda-python's runtime module (`cuda.bindings.runtime`; `cuda.cudart` before 12.6), or None."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError:
            return None
    return runtime


def _version(code: int) -> str:
    """CUDA's integer versions: 12060 -> "12.6"."""
    return f"{code // 1000}.{code % 1000 // 10}"


class CudaPythonBinding(CudaBinding):
    """Over cuda-python's runtime API."""

    name = "cuda-python"

    def __init__(self) -> None:
        runtime = _cudart()
        if runtime is None:
            raise UserError("cuda-python is not installed: pip install 'padim-edge[tensorrt]'")
        self.rt = runtime
        self._device_ptrs: list[int] = []
        self._host_ptrs: list[int] = []
        self._streams: list[Any] = []
        self._graphs: list[Any] = []
        err, count = runtime.cudaGetDeviceCount()
        if err != runtime.cudaError_t.cudaSuccess or not count:
            raise UserError(f"no CUDA device ({self._why_no_device(err)}); TensorRT engines need an NVIDIA GPU")
        self._check(runtime.cudaSetDevice(0), "cudaSetDevice")
        props = self._check(runtime.cudaGetDeviceProperties(0), "cudaGetDeviceProperties")
        name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
        self.device = Device(name.rstrip("\0").strip(), f"{props.major}.{props.minor}")

    def _why_no_device(self, err: Any) -> str:
        rt = self.rt
        driver = rt.cudaDriverGetVersion()[1] or 0
        runtime = rt.cudaRuntimeGetVersion()[1] or 0
        if driver == 0:
            return "no NVIDIA driver found"
        if driver < runtime:  # cuda-python 13 needs a CUDA 13 driver; JetPack 6 ships CUDA 12
            return (
                f"the driver supports CUDA {_version(driver)}, this cuda-python needs CUDA {_version(runtime)}: "
                f"pip install 'cuda-python>={driver // 1000},<{driver // 1000 + 1}'"
            )
        return rt.cudaGetErrorName(err)[1].decode() if err != rt.cudaError_t.cudaSuccess else "no device found"

    def _check(self, result: tuple, what: str) -> Any:
        """cuda-python returns (error, *values) and never raises: check the error of every call."""
        err, *values = result
        if err != self.rt.cudaError_t.cudaSuccess:
            raise CudaError(f"{what} failed: {self.rt.cudaGetErrorName(err)[1].decode()}")
        return values[0] if len(values) == 1 else tuple(values) or None

    def malloc(self, nbytes: int) -> int:
        ptr = int(self._check(self.rt.cudaMalloc(nbytes), "cudaMalloc"))
        self._device_ptrs.append(ptr)
        return ptr

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        ptr = int(self._check(self.rt.cudaMallocHost(nbytes), "cudaMallocHost"))
        self._host_ptrs.append(ptr)
        buffer = (ctypes.c_uint8 * nbytes).from_address(ptr)
        return np.frombuffer(buffer, dtype=dtype).reshape(shape)

    def stream(self) -> int:
        stream = self._check(self.rt.cudaStreamCreate(), "cudaStreamCreate")
        self._streams.append(stream)
        return int(stream)

    def h2d(self, dst: int, src: np.ndarray, stream: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check(self.rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, stream), "cudaMemcpyAsync H2D")

    def d2h(self, dst: np.ndarray, src: int, stream: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(self.rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, stream), "cudaMemcpyAsync D2H")

    def sync(self, stream: int) -> None:
        self._check(self.rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def capture(self, stream: int, enqueue: Callable[[], None]) -> Any:
        rt = self.rt
        # Thread-local mode, as trtexec does: other threads' CUDA calls do not break the capture.
        mode = rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        self._check(rt.cudaStreamBeginCapture(stream, mode), "cudaStreamBeginCapture")
        try:
            enqueue()
        finally:
            graph = self._check(rt.cudaStreamEndCapture(stream), "cudaStreamEndCapture")
        try:
            executable = self._check(rt.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        finally:
            self._check(rt.cudaGraphDestroy(graph), "cudaGraphDestroy")  # the executable keeps its own copy
        self._graphs.append(executable)
        return executable

    def launch(self, graph: Any, stream: int) -> None:
        self._check(self.rt.cudaGraphLaunch(graph, stream), "cudaGraphLaunch")

    def close(self) -> None:
        rt = self.rt
        for graph in self._graphs:
            self._check(rt.cudaGraphExecDestroy(graph), "cudaGraphExecDestroy")
        for stream in self._streams:
            self._check(rt.cudaStreamDestroy(stream), "cudaStreamDestroy")
        for ptr in self._device_ptrs:
            self._check(rt.cudaFree(ptr), "cudaFree")
        for ptr in self._host_ptrs:
            self._check(rt.cudaFreeHost(ptr), "cudaFreeHost")
        self._graphs, self._streams, self._device_ptrs, self._host_ptrs = [], [], [], []


class PycudaBinding(CudaBinding):
    """Over pycuda's driver API, on the device's primary context (pycuda.autoinit would create a second one)."""

    name = "pycuda"

    def __init__(self) -> None:
        try:
            import pycuda.driver as driver
        except ImportError:
            raise UserError("pycuda is not installed: pip install pycuda (builds against the CUDA toolkit)") from None
        self.driver = driver
        try:
            driver.init()
            if driver.Device.count() == 0:
                raise UserError("no CUDA device found; TensorRT engines need an NVIDIA GPU")
            device = driver.Device(0)
        except driver.Error as exc:
            reason = str(exc).splitlines()[0]
            raise UserError(f"no CUDA device ({reason}); TensorRT engines need an NVIDIA GPU") from None
        self.context = device.retain_primary_context()
        major, minor = device.compute_capability()
        self.device = Device(device.name(), f"{major}.{minor}")
        self._allocations: list[Any] = []
        self._streams: dict[int, Any] = {}

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        # The driver API needs a current context in each calling thread; the runtime API finds it by itself.
        self.context.push()
        try:
            yield
        finally:
            self.driver.Context.pop()

    def malloc(self, nbytes: int) -> int:
        allocation = self.driver.mem_alloc(nbytes)
        self._allocations.append(allocation)
        return int(allocation)

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        array = self.driver.pagelocked_empty(shape, dtype)
        self._allocations.append(array.base)
        return array

    def stream(self) -> int:
        stream = self.driver.Stream()
        self._streams[stream.handle] = stream
        return stream.handle

    def h2d(self, dst: int, src: np.ndarray, stream: int) -> None:
        self.driver.memcpy_htod_async(dst, src, self._streams[stream])

    def d2h(self, dst: np.ndarray, src: int, stream: int) -> None:
        self.driver.memcpy_dtoh_async(dst, src, self._streams[stream])

    def sync(self, stream: int) -> None:
        self._streams[stream].synchronize()

    def close(self) -> None:
        if not hasattr(self, "context"):
            return
        with self.current():
            for allocation in self._allocations:
                allocation.free()
            self._streams.clear()
        self._allocations = []
        self.context.detach()
        del self.context
