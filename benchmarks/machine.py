"""The machine a benchmark ran on: CPU, cores, caches, memory, instruction sets, library versions, load."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.util import find_spec
from pathlib import Path

from padim_edge.versions import package_versions

# Every instruction-set flag the kernels (MLAS, oneDNN) choose between; each is reported present or absent.
FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",  # NEON on 64-bit ARM
    "neon",  # NEON on 32-bit ARM
    "asimddp",  # ARM's int8 dot product (what VNNI is on x86)
)
# Named CPU classes, fastest first: the first whose flags are all present names the machine.
CLASSES = (
    ("amx", ("amx_tile", "amx_int8", "avx512_vnni")),
    ("avx512-vnni", ("avx512f", "avx512bw", "avx512vl", "avx512_vnni")),
    ("avx512", ("avx512f", "avx512bw", "avx512vl")),
    ("avx2-vnni", ("avx2", "fma", "avx_vnni")),
    ("avx2", ("avx2", "fma")),
    ("neon-dotprod", ("asimd", "asimddp")),
    ("neon", ("asimd",)),
    ("neon", ("neon",)),
)
PACKAGES = (
    "padim-edge",
    "torch",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnx",
    "numpy",
    "opencv-python-headless",
    "scikit-learn",
)


def describe() -> dict:
    """CPU model, family/model, cores, caches, memory, SIMD flags, versions, load average."""
    import onnxruntime as ort

    info = _cpuinfo()
    flags = set(info.get("flags", info.get("Features", "")).split())  # x86: flags, ARM: Features
    return {
        "cpu": info.get("model name", platform.processor() or "?"),
        "cpu_family_model": f"{info.get('cpu family', '?')}/{info.get('model', '?')}",
        "hypervisor": "hypervisor" in flags,
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpus_online": os.cpu_count(),
        "caches": _caches(),
        "memory_gib": round(_meminfo_kib("MemTotal") / 2**20, 1),
        "memory_available_gib": round(_meminfo_kib("MemAvailable") / 2**20, 1),
        "simd": [f for f in FLAGS if f in flags],
        "simd_absent": [f for f in FLAGS if f not in flags],
        "cpu_class": cpu_class(flags),
        "isa_cap": ort_isa_cap(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": package_versions(*PACKAGES),
        "onnxruntime_providers": ort.get_available_providers(),
        "tensorrt": "importable" if find_spec("tensorrt") else "absent",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def cpu_class(flags: set[str]) -> str:
    """The machine's class by the instruction sets onnxruntime's kernels choose between ("amx", "avx512-vnni",
    "avx512", "avx2-vnni", "avx2", "neon-dotprod", "neon"; "baseline" below them)."""
    return next((name for name, needs in CLASSES if flags.issuperset(needs)), "baseline")


def ort_isa_cap() -> dict:
    """Whether this onnxruntime build can be held to a lower instruction set than the CPU's, and the evidence.

    MLAS (onnxruntime's CPU kernels) picks its kernels from CPUID once per process; a cap would be an
    environment variable or a session option the library reads. The library's own strings are searched for
    every upper-case name mentioning an instruction set: the ones found cap single operators (MoE, attention),
    none caps the convolution and GEMM kernels this model runs on."""
    import re

    import onnxruntime as ort

    folder = Path(ort.__file__).parent / "capi"
    names: set[str] = set()
    pattern = re.compile(rb"\b(?:ORT|MLAS|ONEDNN|DNNL)_[A-Z0-9_]+\b")
    for library in sorted(folder.glob("*.so*")):
        names.update(m.decode() for m in pattern.findall(library.read_bytes()))
    isa = ("AVX", "SSE", "AMX", "VNNI", "ISA", "NEON")
    found = sorted(n for n in names if any(part.startswith(isa) for part in n.split("_")))
    caps = [n for n in found if n in KNOWN_CAPS]
    return {
        "possible": bool(caps),
        "variables": caps,
        "isa_names_in_library": found,
        "why": "onnxruntime reads "
        + (", ".join(caps) if caps else "no variable or session option that caps its convolution and GEMM kernels")
        + f" ({ort.__version__}; every ISA-named variable in its library: {', '.join(found) or 'none'})",
    }


# Variables that would hold MLAS/oneDNN's convolution and GEMM kernels to a lower instruction set, were a build
# to read them (oneDNN's is documented; MLAS has none upstream).
KNOWN_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


def summary(m: dict) -> str:
    """One line naming the machine (for the stamp of a generated section)."""
    cpu = f"{m['cpu']} (family/model {m['cpu_family_model']}, CPU class {m.get('cpu_class', '?')})"
    return f"{cpu}, {m['cores_usable']} cores, {m['memory_gib']} GiB"


def busy_seconds() -> tuple[float, float]:
    """(CPU seconds all processes have been busy since boot, CPU seconds of this process and its children)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    ours = os.times()
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / tick, ours.user + ours.system + ours.children_user + ours.children_system


def others_load(before: tuple[float, float], after: tuple[float, float], wall_s: float) -> float:
    """Average cores kept busy by other processes between two `busy_seconds` snapshots."""
    return round(max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / max(wall_s, 1e-9), 2)


def _caches() -> dict[str, str]:
    """L1d/L2/L3 sizes as lscpu reports them (empty where lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, env={"LC_ALL": "C"}).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    found = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("L1d cache", "L2 cache", "L3 cache"):
            found[key.strip().split()[0]] = value.strip()
    return found


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
