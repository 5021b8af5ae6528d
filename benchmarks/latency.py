"""Latency of several models measured side by side: interleaved runs in one process, spinning off.

Every model is warmed up at each batch size, then the models take turns, one call each, `runs` times, so
a load spike from another process hits all of them alike and the ratios stay meaningful.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

import numpy as np

Runner = Callable[[np.ndarray], object]
WARMUP = 5


def log(message: str) -> None:
    """Progress on stderr, time-stamped."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def open_session(model: Path | bytes, threads: int = 2):
    """An onnxruntime CPU session whose idle threads do not spin (they would steal the cores of the others)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # not the warnings about unused shape constants
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def ort_runner(session) -> Runner:
    name = session.get_inputs()[0].name
    return lambda frames: session.run(None, {name: frames})


def torch_runner(run_dir: Path, threads: int = 2) -> Runner:
    """The PyTorch eager reference graph of a run (padim_edge.model.build.graph_from_run)."""
    import torch

    from padim_edge.model.build import graph_from_run
    from padim_edge.model.run_dir import load_run

    torch.set_num_threads(threads)
    graph = graph_from_run(*load_run(run_dir))

    def run(frames: np.ndarray) -> object:
        with torch.inference_mode():
            return graph(torch.from_numpy(frames))

    return run


@dataclass
class Entry:
    """One model to time: how to call it, its input frames, and the batch sizes it is timed at."""

    run: Runner
    frames: np.ndarray
    batches: tuple[int, ...]
    times: dict[int, list[float]] = field(default_factory=dict)


def interleaved(entries: dict[str, Entry], runs: int, progress: Callable[[str], None] = log) -> dict[str, float]:
    """Fill each entry's `times[batch]` (seconds per call), the entries taking turns call by call.

    Returns, per batch size, the cores other processes kept busy while it was timed (0 on a quiet machine).
    """
    from benchmarks.machine import busy_seconds, others_load

    busy = {}
    for batch in sorted({b for e in entries.values() for b in e.batches}):
        active = {name: e for name, e in entries.items() if batch in e.batches}
        inputs = {name: np.ascontiguousarray(_batch_of(e.frames, batch)) for name, e in active.items()}
        for name, e in active.items():
            for _ in range(WARMUP):
                e.run(inputs[name])
            e.times[batch] = []
        progress(f"latency: batch {batch}, {len(active)} models x {runs} runs")
        before, began = busy_seconds(), perf_counter()
        for _ in range(runs):
            for name, e in active.items():
                start = perf_counter()
                e.run(inputs[name])
                e.times[batch].append(perf_counter() - start)
        busy[str(batch)] = others_load(before, busy_seconds(), perf_counter() - began)
    return busy


def _batch_of(frames: np.ndarray, batch: int) -> np.ndarray:
    reps = -(-batch // len(frames))
    return np.concatenate([frames] * reps)[:batch]


def summary(times: list[float], batch: int) -> dict[str, float]:
    """Per-call median/p90/p99 and per-image figures, milliseconds and images per second."""
    ms = np.asarray(times) * 1e3
    median, p90, p99 = (float(v) for v in np.percentile(ms, (50, 90, 99)))
    return {
        "runs": len(ms),
        "median_ms": round(median, 3),
        "p90_ms": round(p90, 3),
        "p99_ms": round(p99, 3),
        "per_image_ms": round(median / batch, 3),
        "images_per_s": round(1e3 * batch / median, 2),
    }
