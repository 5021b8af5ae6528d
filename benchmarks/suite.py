"""The measurements of `make bench`, phase by phase; each returns plain dicts for results/bench.json."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import configs as cfg
from benchmarks import inputs, latency, models, peer, roofline, tensorrt
from benchmarks.configs import Config
from benchmarks.latency import Job, Plan, log
from benchmarks.paths import ROOT
from padim_edge.imaging.geometry import Geometry
from padim_edge.model.run_dir import read_config

KINDS = {
    "fused": "onnxruntime CPU fp32, product graph",
    "one-thread": f"onnxruntime CPU fp32, product graph, {cfg.SMALL_CPU_THREADS} thread",
    "int8": "onnxruntime CPU, int8 backbone",
    "torch": "PyTorch eager (CPU)",
    "tensorrt": "TensorRT fp16",
    "anomalib": "onnxruntime CPU fp32, anomalib's own ONNX export",
}
FRAMES = 16  # distinct test images behind every timing input


@dataclass
class Model:
    """One row of the latency table: a configuration built one way, or one of anomalib's exports."""

    name: str
    kind: str
    path: Path  # the model file, or the run directory for torch
    batches: tuple[int, ...]
    config: Config | None = None
    run: Path | None = None
    export: peer.PeerModel | None = None
    threads: int | None = None  # None: the run's

    @property
    def probe_kind(self) -> str:
        return {"torch": "torch", "anomalib": "onnx"}.get(self.kind, "padim")


@dataclass
class Options:
    """What a `make bench` run measures and how often."""

    quick: bool
    large: bool
    plan: Plan
    calib_images: int
    data_root: Path
    pipeline_frames: int
    peer_dir: Path
    datasets: tuple[tuple[str, str], ...]
    fit_counts: tuple[int, ...]
    test_limit: int | None = None  # at most this many test images per dataset (a subset for --quick)
    inputs: dict[str, Path] = field(default_factory=dict)

    def batches(self, curve: bool) -> tuple[int, ...]:
        return cfg.CURVE_BATCHES if curve and not self.quick else cfg.BATCHES


def build_models(options: Options) -> tuple[list[Model], dict]:
    """Fit/synthesise, export and quantise what the run measures (cached), and find anomalib's exports.

    Returns the latency table's rows, in the order they alternate (each model next to what it is compared
    with), and what was found of the anomalib exports."""
    rows: list[Model] = []
    for config in cfg.accuracy_sweep(options.quick) + cfg.speed_only(options.quick, options.large):
        log(f"models: {config.name} ({'fit on screw' if config.real else 'synthetic statistics'})")
        run = models.ensure_run(config, options.data_root)
        batches = options.batches(config == cfg.DEFAULT)
        fused = models.ensure_onnx(run)
        rows.append(Model(f"{config.name} fused", "fused", fused, batches, config, run))
        if config == cfg.DEFAULT:
            one = cfg.SMALL_CPU_THREADS
            rows.append(Model(f"{config.name} {one}-thread", "one-thread", fused, (1,), config, run, threads=one))
            rows += _peer_rows(options)
            int8 = models.ensure_int8(run, options.calib_images, options.data_root)
            rows.append(Model(f"{config.name} int8", "int8", int8, cfg.BATCHES, config, run))
            rows.append(Model(f"{config.name} torch", "torch", run, cfg.BATCHES, config, run))
            if tensorrt.available() is None:
                engine = tensorrt.ensure_engine(fused, max(batches))
                rows.append(Model(f"{config.name} tensorrt", "tensorrt", engine, batches, config, run))
    return rows, peer.summary(options.peer_dir, cfg.BATCHES)


def _peer_rows(options: Options) -> list[Model]:
    rows = []
    for export in peer.find(options.peer_dir):
        if export.check() is None and export.batches(cfg.BATCHES):
            rows.append(Model(export.role, "anomalib", export.onnx, export.batches(cfg.BATCHES), export=export))
    return rows


def prepare_inputs(rows: list[Model], data_root: Path) -> dict[str, Path]:
    """One .npy input per input format (the same screw test images), keyed by row name."""
    frames = inputs.screw_frames(data_root, FRAMES)
    files: dict[str, Path] = {}
    by_row = {}
    for row in rows:
        if row.export is not None:
            height, width = row.export.input_hw
            key = f"rgb01-{height}x{width}"
            if key not in files:
                files[key] = inputs.save(inputs.float_rgb(frames, height, width), key)
        else:
            config = read_config(row.run)
            key = f"bgr-{config.input_height}x{config.input_width}-{config.resize_mode}"
            if key not in files:
                geometry = Geometry(*config.input_hw, config.resize_mode)
                files[key] = inputs.save(inputs.padim_frames(frames, geometry), key)
        by_row[row.name] = files[key]
    return by_row


def ceilings(threads: int) -> dict:
    """fp32 GEMM/convolution rate (PyTorch and onnxruntime) and memory bandwidth of this machine, now."""
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


def timings(rows: list[Model], options: Options) -> tuple[dict, dict]:
    """Every row timed by alternating fresh processes; (latency per row and batch, load time and memory per row)."""
    jobs = [Job(r.name, r.probe_kind, r.path, options.inputs[r.name], r.batches, r.threads) for r in rows]
    latency.alternate(jobs, options.plan)
    return {j.name: latency.summary(j) for j in jobs}, {j.name: latency.memory(j) for j in jobs}


def agreement(rows: list[Model], options: Options) -> dict[str, dict]:
    """Each int8 row against its configuration's fused graph, on the timing inputs."""
    from benchmarks.probe import runner

    fused = {r.config: r for r in rows if r.kind == "fused"}
    found = {}
    for row in rows:
        if row.kind != "int8":
            continue
        x = np.load(options.inputs[row.name], allow_pickle=False)
        threads = options.plan.threads
        a_map, a_score = runner("padim", fused[row.config].path, threads)(x)
        b_map, b_score = runner("padim", row.path, threads)(x)
        found[row.name] = {
            "images": len(x),
            "max_score_rel_diff": float(np.abs(a_score - b_score).max() / np.abs(a_score).max()),
            "max_map_rel_diff": float(np.abs(a_map - b_map).max() / np.ptp(a_map)),
        }
    return found


def accuracy(rows: list[Model], options: Options) -> tuple[dict[str, dict], dict[str, dict]]:
    """Screw metrics of every row with ImageNet weights (fused through predict_split, the others through the
    runtime), and the default's metrics on every dataset."""
    from benchmarks.accuracy import score_onnx, score_run
    from padim_edge.data import load_dataset

    def test_split(kind: str, category: str) -> list:
        root = None if kind == "elpv" else options.data_root
        return load_dataset(kind, root, category, limit=options.test_limit).test

    screw = test_split(*models.SCREW)
    by_row = {}
    for row in rows:
        if row.config is None or not row.config.real or row.kind not in ("fused", "int8"):
            continue
        log(f"accuracy: {row.name}")
        if row.kind == "fused":
            by_row[row.name] = score_run(row.run, screw)
        else:
            by_row[row.name] = score_onnx(row.path, screw, options.plan.threads)
    by_dataset = {}
    for dataset in options.datasets:
        run = models.ensure_run(cfg.DEFAULT, options.data_root, dataset)
        if dataset == models.SCREW:
            metrics = by_row[f"{cfg.DEFAULT.name} fused"]
        else:
            log(f"accuracy: {cfg.DEFAULT.name} on {'/'.join(dataset)}")
            metrics = score_run(run, test_split(*dataset))
        config = read_config(run)
        by_dataset["/".join(dataset)] = {**metrics, "input_hw": list(config.input_hw), "n_train": config.n_train}
    return by_row, by_dataset


def work(rows: list[Model]) -> dict[str, dict]:
    """FLOPs and statistics bytes of every fused graph."""
    found = {}
    for row in rows:
        if row.kind == "fused":
            counted = roofline.graph_work(row.path)
            found[row.name] = {
                **counted,
                "gflop_per_image": round(2 * sum(counted["macs_per_image"].values()) / 1e9, 3),
            }
    return found


def profile(row: Model, options: Options, out: Path) -> list[dict]:
    """onnxruntime's per-operator profile of `row` at batch 1 and 8 (benchmarks/profile_ops.py, a fresh process)."""
    log(f"profile: {row.name}")
    found = out / "profile.json"
    cmd = [sys.executable, "-m", "benchmarks.profile_ops", str(row.path), "--inputs", str(options.inputs[row.name])]
    cmd += ["--batches", ",".join(map(str, cfg.BATCHES)), "--threads", str(options.plan.threads), "--json", str(found)]
    cmd += ["--calls", str(options.plan.calls), "--warmup", str(options.plan.warmup)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"profile of {row.name} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return json.loads(found.read_text())


def pipeline(model: Path, frames: int, out: Path) -> dict:
    """benchmarks/bench_run.py (padim-edge run's pipeline on a video), its run.json."""
    log("pipeline: benchmarks/bench_run.py")
    cmd = [sys.executable, "-m", "benchmarks.bench_run", "--model", str(model), "--frames", str(frames)]
    done = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"skipped": f"bench_run.py failed (exit {done.returncode}): {done.stderr.strip()[-300:]}"}
    return json.loads((out / "run.json").read_text())
