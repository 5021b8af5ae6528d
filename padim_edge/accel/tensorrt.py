"""Import TensorRT (10 or newer) with a one-line error when it is absent, and read the machine facts an
engine is tied to."""

from __future__ import annotations

from types import ModuleType

from padim_edge.accel.cuda_binding import CudaBinding
from padim_edge.contract.engine_record import Machine
from padim_edge.errors import UserError

MIN_TENSORRT = 10
TENSORRT_MISSING = (
    "TensorRT's Python package is not installed: on x86_64 `pip install tensorrt-cu12` (NVIDIA's wheels; "
    "tensorrt-cu13 for CUDA 13); on Jetson it comes with JetPack (`sudo apt install python3-libnvinfer`), "
    "so create the venv with `python3 -m venv --system-site-packages`"
)


def import_tensorrt() -> ModuleType:
    """The `tensorrt` module, or a one-line UserError saying how to install it."""
    try:
        import tensorrt
    except ModuleNotFoundError as exc:
        if exc.name != "tensorrt":
            raise UserError(f"TensorRT does not load ({exc}); reinstall it") from None
        raise UserError(TENSORRT_MISSING) from None
    except (ImportError, OSError) as exc:  # the module is there but a library (libnvinfer) is not
        raise UserError(f"TensorRT does not load ({str(exc).splitlines()[0]}); reinstall it") from None
    if int(tensorrt.__version__.split(".")[0]) < MIN_TENSORRT:
        raise UserError(f"TensorRT {tensorrt.__version__} found; padim-edge needs TensorRT {MIN_TENSORRT} or newer")
    return tensorrt


def this_machine(trt: ModuleType, cuda: CudaBinding) -> Machine:
    """The facts an engine is tied to, for this process's TensorRT and GPU 0."""
    return Machine(tensorrt=trt.__version__, gpu=cuda.device.name, compute_capability=cuda.device.compute_capability)
