"""Fit time and peak memory against the number of training images, each fit in a fresh process.

    python -m benchmarks.fit_scaling N DATA_ROOT OUT_DIR   (one fit; prints a JSON line)

The statistics stream (running mean and scatter per position), so peak memory should stay flat as N grows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.configs import DEFAULT
from benchmarks.paths import CATEGORY, ROOT
from benchmarks.probe import status_mb


def measure(counts: tuple[int, ...], data_root: Path, work: Path, progress: Callable[[str], None] = print) -> list:
    """One subprocess fit per N (the default configuration, no hold-out)."""
    results = []
    for n in counts:
        progress(f"fit scaling: N={n}")
        cmd = [sys.executable, "-m", "benchmarks.fit_scaling", str(n), str(data_root), str(work / f"fit-{n}")]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            raise RuntimeError(f"fit of N={n} failed (exit {out.returncode}): {out.stderr.strip()[-500:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def main() -> None:
    n, data_root, out_dir = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    from padim_edge.data import load_dataset
    from padim_edge.fit import fit

    split = load_dataset("mvtec", data_root, CATEGORY, limit=n)
    options = DEFAULT.fit_options(holdout=0.0)
    base = status_mb("VmRSS")
    start = time.perf_counter()
    config = fit(split, out_dir, options, data_root)
    wall = time.perf_counter() - start
    peak = status_mb("VmHWM")
    print(json.dumps({"n": config.n_train, "fit_s": round(wall, 2), "rss_base_mb": base, "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
