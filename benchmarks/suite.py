"""The measurements of `make bench`, phase by phase; each returns plain dicts for results/bench.json."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import configs as cfg
from benchmarks import latency, machine, models, probe, roofline, tensorrt
from benchmarks.configs import Config
from benchmarks.latency import log
from benchmarks.paths import CATEGORY, ROOT

ALL_BATCHES = (1, 4, 8, 16)
FEW_BATCHES = (1, 8)
KINDS = {
    "fused": "onnxruntime CPU fp32, fused graph",
    "reference": "onnxruntime CPU fp32, reference formulation",
    "int8": "onnxruntime CPU, int8 backbone",
    "torch": "PyTorch eager (CPU)",
    "tensorrt": "TensorRT fp16",
}


@dataclass
class Model:
    """One row of the latency table: a configuration built one way and run on one backend."""

    config: Config
    kind: str
    path: Path  # the ONNX file (or engine's source), or the run directory for torch
    batches: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.config.name} {self.kind}"


@dataclass
class Options:
    """What a `make bench` run measures and how often."""

    quick: bool
    large: bool
    runs: int
    calib_images: int
    data_root: Path
    pipeline_frames: int

    def batches(self, primary: bool) -> tuple[int, ...]:
        return ALL_BATCHES if primary and not self.quick else FEW_BATCHES


def build_models(options: Options) -> list[Model]:
    """Fit/synthesise, export and quantise what the run measures (cached); the latency table's rows."""
    rows: list[Model] = []
    primary = {cfg.DEFAULT, cfg.R18_224, cfg.R18_256}
    references = set(cfg.reference_configs(options.quick))
    for config in cfg.accuracy_sweep(options.quick) + cfg.speed_only(options.quick, options.large):
        log(f"models: {config.name} ({'fit on screw' if config.real else 'synthetic statistics'})")
        run_dir = models.ensure_run(config, options.data_root)
        batches = options.batches(config in primary)
        rows.append(Model(config, "fused", models.ensure_onnx(run_dir), batches))
        if config in references:
            rows.append(Model(config, "reference", models.ensure_reference(run_dir), batches))
        if config == cfg.DEFAULT:
            int8 = models.ensure_int8(run_dir, options.calib_images, options.data_root)
            rows.append(Model(config, "int8", int8, batches))
        if config in (cfg.DEFAULT, cfg.R18_224):
            rows.append(Model(config, "torch", run_dir, FEW_BATCHES))  # a reference; its big batches take minutes
        if config == cfg.DEFAULT and tensorrt.available() is None:
            rows.append(Model(config, "tensorrt", models.ensure_onnx(run_dir), batches))
    return rows


def ceilings(threads: int = 2) -> dict:
    """fp32 GEMM rate (PyTorch and onnxruntime) and memory bandwidth of this machine, now."""
    log("roofline: GEMM, convolution and bandwidth")
    gemm = {
        "torch": roofline.torch_gemm_gflops(threads),
        "onnxruntime": roofline.ort_gemm_gflops(threads),
        "onnxruntime_conv3x3": roofline.ort_conv_gflops(threads),
    }
    bandwidth = roofline.bandwidth_gbs(threads)
    return {
        "threads": threads,
        "gemm_gflops": gemm,
        "bandwidth_gbs": bandwidth,
        "peak_gflops": max(g["best"] for g in gemm.values()),
        "read_gbs": bandwidth["read_best"],
    }


def memory(rows: list[Model]) -> dict[str, dict]:
    """Load time and peak RSS of each row, each in a fresh process, at its largest batch."""
    found = {}
    for row in rows:
        if row.kind == "tensorrt":
            continue  # device memory: not what a process's RSS shows
        log(f"memory: {row.name}")
        kind = "torch" if row.kind == "torch" else "onnx"
        found[row.name] = probe.measure(kind, row.path, row.config.input_size, max(row.batches))
    return found


def timings(rows: list[Model], options: Options, frames: dict[Config, np.ndarray]) -> tuple[dict, dict]:
    """All rows timed side by side; returns (summaries per row and batch, conditions during the timing)."""
    entries = {}
    for row in rows:
        if row.kind == "torch":
            run = latency.torch_runner(row.path)
        elif row.kind == "tensorrt":
            run = tensorrt.engine_runner(row.path, max(row.batches))
        else:
            run = latency.ort_runner(latency.open_session(row.path))
        entries[row.name] = latency.Entry(run, frames[row.config], row.batches)
    before, start = machine.busy_seconds(), time.perf_counter()
    by_batch = latency.interleaved(entries, options.runs)
    wall = time.perf_counter() - start
    conditions = {
        "wall_s": round(wall, 1),
        "other_processes_cores": machine.others_load(before, machine.busy_seconds(), wall),
        "other_processes_cores_by_batch": by_batch,
        "load_average_after": machine.describe()["load_average"],
    }
    table = {name: {str(b): latency.summary(t, b) for b, t in e.times.items()} for name, e in entries.items()}
    return table, conditions


def agreement(rows: list[Model], frames: dict[Config, np.ndarray]) -> dict[str, dict]:
    """Each reference and int8 row against the fused graph of its configuration, on the same frames."""
    fused = {r.config: r for r in rows if r.kind == "fused"}
    found = {}
    for row in rows:
        if row.kind not in ("reference", "int8"):
            continue
        x = frames[row.config]
        a_map, a_score = latency.open_session(fused[row.config].path).run(None, {"frames": x})
        b_map, b_score = latency.open_session(row.path).run(None, {"frames": x})
        found[row.name] = {
            "images": len(x),
            "max_score_rel_diff": float(np.abs(a_score - b_score).max() / np.abs(a_score).max()),
            "max_map_rel_diff": float(np.abs(a_map - b_map).max() / np.ptp(a_map)),
        }
    return found


def accuracy(rows: list[Model], data_root: Path) -> dict[str, dict]:
    """Screw metrics of every row whose backbone has ImageNet weights (onnxruntime rows only)."""
    from benchmarks.accuracy import agreement as outputs_agree
    from benchmarks.accuracy import score_split
    from padim_edge.data import load_dataset

    split = load_dataset("mvtec", data_root, CATEGORY)
    found, fused = {}, {}
    for row in rows:
        if not row.config.real or row.kind not in ("fused", "reference", "int8"):
            continue
        log(f"accuracy: {row.name}")
        scored = score_split(row.path, split, row.config.input_size)
        found[row.name] = dict(scored.metrics)
        if row.kind == "fused":
            fused[row.config] = scored
        else:
            found[row.name]["vs_fused"] = outputs_agree(fused[row.config], scored)
    return found


def work(rows: list[Model]) -> dict[str, dict]:
    """FLOPs and statistics bytes per configuration (counted on the fused graph) and per reference graph."""
    found = {}
    for row in rows:
        if row.kind in ("fused", "reference"):
            counted = roofline.graph_work(row.path)
            found[row.name] = {
                **counted,
                "gflop_per_image": round(2 * sum(counted["macs_per_image"].values()) / 1e9, 3),
            }
    return found


def pipeline(model: Path, frames: int, out: Path) -> dict:
    """benchmarks/bench_run.py (padim-edge run's pipeline on a video), when present; its run.json."""
    script = ROOT / "benchmarks" / "bench_run.py"
    if not script.is_file():
        return {"skipped": "benchmarks/bench_run.py not present"}
    log("pipeline: benchmarks/bench_run.py")
    cmd = [sys.executable, str(script), "--model", str(model), "--frames", str(frames), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"skipped": f"bench_run.py failed (exit {done.returncode}): {done.stderr.strip()[-300:]}"}
    return json.loads((out / "run.json").read_text())
