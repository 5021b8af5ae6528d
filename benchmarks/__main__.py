"""`make bench` = `python -m benchmarks`: every figure of benchmarks/README.md, written to benchmarks/results/.

python -m benchmarks            # the full run (about 20 minutes on 2 cores, less with a warm cache)
python -m benchmarks --quick    # a smoke test: default model and resnet18@224 only, few runs
"""

from __future__ import annotations

import os

# PyTorch's OpenMP threads must sleep, not spin, between calls: they share the cores with onnxruntime's.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks import configs as cfg  # noqa: E402
from benchmarks import head_formulations, machine, models, report, suite, targets, tensorrt  # noqa: E402
from benchmarks.fit_scaling import measure as fit_scaling  # noqa: E402
from benchmarks.latency import WARMUP  # noqa: E402
from benchmarks.paths import CACHE, CATEGORY, MVTEC, RESULTS, ROOT  # noqa: E402
from padim_edge.config import atomic_write  # noqa: E402


def parse() -> tuple[suite.Options, Path, bool]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smoke test: two configurations, 10 runs, N=25,50.")
    parser.add_argument("--large", action="store_true", help="Also wide_resnet50_2 at d=550 (3.8 GB statistics).")
    parser.add_argument("--runs", type=int, help="Timed runs per figure (default 50, quick 10).")
    parser.add_argument("--calib-images", type=int, help="int8 calibration images (default 64, quick 16).")
    parser.add_argument("--data-root", type=Path, default=MVTEC, help=f"MVTec AD root (default {MVTEC}).")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Results folder.")
    parser.add_argument("--fresh", action="store_true", help="Delete the cache of fitted runs and models first.")
    args = parser.parse_args()
    quick = args.quick
    options = suite.Options(
        quick=quick,
        large=args.large,
        runs=args.runs or (10 if quick else 50),
        calib_images=args.calib_images or (16 if quick else 64),
        data_root=args.data_root,
        pipeline_frames=60 if quick else 300,
    )
    return options, args.out, args.fresh


def main() -> None:
    options, out, fresh = parse()
    if not (options.data_root / CATEGORY).is_dir():
        raise SystemExit(f"MVTec AD screw not found under {options.data_root}: pass --data-root (never copy it here)")
    if fresh:
        shutil.rmtree(CACHE, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    r: dict = {"machine": machine.describe()}
    suite.log(f"machine: {r['machine']['cpu']}, load average {r['machine']['load_average']}")
    r["roofline"] = suite.ceilings()
    rows = suite.build_models(options)
    frames = {c: models.test_frames(c, options.data_root, 16) for c in {row.config for row in rows}}
    r["models"] = {
        row.name: {"config": asdict(row.config), "kind": row.kind, "path": str(row.path), "size_mb": _size_mb(row)}
        for row in rows
    }
    r["work"] = suite.work(rows)
    r["memory"] = suite.memory(rows)
    r["latency"], r["timing_conditions"] = suite.timings(rows, options, frames)
    r["agreement"] = suite.agreement(rows, frames)
    suite.log("head formulations")
    heads_frames = models.test_frames(cfg.DEFAULT, options.data_root, 8)
    r["heads"] = head_formulations.measure(models.cache_dir(cfg.DEFAULT), heads_frames, options.runs)
    r["accuracy"] = suite.accuracy(rows, options.data_root)
    counts = (25, 50) if options.quick else (25, 50, 100, 200, 320)
    r["fit_scaling"] = fit_scaling(counts, options.data_root, CACHE / "fit-scaling", suite.log)
    default_onnx = next(row.path for row in rows if row.config == cfg.DEFAULT and row.kind == "fused")
    r["pipeline"] = suite.pipeline(default_onnx, options.pipeline_frames, out)
    r["roofline_rows"] = targets.roofline_rows(r)
    r["targets"] = targets.targets(r)
    r["int8"] = targets.int8_trade(r)
    r["not_measured"] = not_measured(options)
    r["settings"] = {
        **asdict(options),
        "data_root": str(options.data_root),
        "warmup": WARMUP,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "code": source_state(),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    atomic_write(out / "bench.json", json.dumps(r, indent=1) + "\n")
    report.write(r, out)
    suite.log(f"done in {r['settings']['wall_s']:.0f} s: {out / 'bench.md'}")


def _size_mb(row: suite.Model) -> float | None:
    return None if row.kind == "torch" else round(models.size_on_disk(row.path) / 1e6, 1)


def source_state() -> dict:
    """The commit measured, whether the tree had changes, and a digest of the sources the models come from."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.strip())
    return {"commit": head or "?", "uncommitted_changes": dirty, "sources_sha256": models.export_stamp()[:16]}


def not_measured(options: suite.Options) -> list[str]:
    """What this run could not measure, and why."""
    missing = [
        "Accuracy of resnet18 and wide_resnet50_2: no ImageNet weights for them on this machine (no registry "
        "package ships them, no internet); their rows use random weights and synthetic statistics, speed only.",
        "wide_resnet50_2 fits: at d=550 the float64 scatter matrix is 7.6 GB (plus 3.8 GB of float32 result, "
        "whitened in chunks of positions); that fits in 24 GiB, but without ImageNet weights a fit means nothing, "
        "so it is not run.",
    ]
    if not options.large:
        missing.append(
            f"{cfg.WR50_550.name}: 3.8 GB of statistics (ONNX external data), several copies of them while "
            "synthesising and exporting; not run by default (--large includes it)."
        )
    why = tensorrt.available()
    if why:
        missing.append(f"TensorRT: {why}.")
    return missing


if __name__ == "__main__":
    main()
