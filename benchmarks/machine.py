"""The machine a benchmark ran on: CPU, cores, memory, instruction sets, library versions, load."""

from __future__ import annotations

import os
import platform
from importlib.util import find_spec
from pathlib import Path

from padim_edge.config import package_versions

FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile")
PACKAGES = ("padim-edge", "torch", "onnxruntime", "onnxruntime-gpu", "onnx", "numpy", "opencv-python-headless")


def describe() -> dict:
    """CPU model, usable cores, memory, the SIMD flags the kernels care about, versions and the load average."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    import onnxruntime as ort

    return {
        "cpu": info.get("model name", platform.processor() or "?"),
        "cpu_family_model": f"{info.get('cpu family', '?')}/{info.get('model', '?')}",
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpus_online": os.cpu_count(),
        "memory_gib": round(_meminfo_kib("MemTotal") / 2**20, 1),
        "simd": [f for f in FLAGS if f in flags],
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": package_versions(*PACKAGES),
        "onnxruntime_providers": ort.get_available_providers(),
        "tensorrt": "importable" if find_spec("tensorrt") else "absent",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def busy_seconds() -> tuple[float, float]:
    """(CPU seconds all processes have been busy since boot, CPU seconds of this process and its children)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    ours = os.times()
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / tick, ours.user + ours.system + ours.children_user + ours.children_system


def others_load(before: tuple[float, float], after: tuple[float, float], wall_s: float) -> float:
    """Average cores kept busy by other processes between two `busy_seconds` snapshots."""
    return round(max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / wall_s, 2)


def _cpuinfo() -> dict[str, str]:
    path = Path("/proc/cpuinfo")
    info: dict[str, str] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def _meminfo_kib(key: str) -> int:
    path = Path("/proc/meminfo")
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0
