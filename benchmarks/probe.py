"""Load time and memory of one model in a fresh process, so figures of different models do not mix.

    python -m benchmarks.probe onnx MODEL.onnx --size 224 --batch 16
    python -m benchmarks.probe torch RUN_DIR --size 224 --batch 16

Prints one JSON line: load_s, rss_base_mb (interpreter + runtime libraries), rss_loaded_mb, peak_rss_mb
(high-water mark after three calls at --batch).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.paths import ROOT


def status_mb(key: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MiB."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(key + ":"))
    return round(int(line.split()[1]) / 1024, 1)


def measure(kind: str, target: Path, size: int, batch: int) -> dict:
    """Run this module in a subprocess for one model; its JSON result."""
    cmd = [sys.executable, "-m", "benchmarks.probe", kind, str(target), "--size", str(size), "--batch", str(batch)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("onnx", "torch"))
    parser.add_argument("target", type=Path)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    from benchmarks.latency import open_session, ort_runner, torch_runner

    if args.kind == "torch":
        import torch  # noqa: F401 - counted in the base, like onnxruntime below
    else:
        import onnxruntime  # noqa: F401
    base = status_mb("VmRSS")
    start = time.perf_counter()
    run = torch_runner(args.target) if args.kind == "torch" else ort_runner(open_session(args.target))
    load_s = time.perf_counter() - start
    loaded = status_mb("VmRSS")
    frames = np.random.default_rng(0).integers(0, 256, (args.batch, args.size, args.size, 3), np.uint8)
    for _ in range(3):
        run(frames)
    result = {"load_s": round(load_s, 3), "rss_base_mb": base, "rss_loaded_mb": loaded}
    print(json.dumps({**result, "peak_rss_mb": status_mb("VmHWM"), "batch": args.batch}))


if __name__ == "__main__":
    main()
