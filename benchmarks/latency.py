"""Latency by alternating fresh processes: every model is timed alone in its own process, the models taking
turns (A, B, C, A, B, C, ...) for several rounds.

Interleaving sessions call by call in one process biases the ratio: the short model pays for the long
one's cache and thread wake-ups (issue 13 saw 14 ms become 24 ms). One process per model and round keeps
each model's caches and threads its own; alternating the processes spreads slow spells of the machine
over every model alike. Per batch size: the median of the rounds' medians; p90 and p99 over every timed
call of every round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.paths import ROOT


def log(message: str) -> None:
    """Progress on stderr, time-stamped."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Job:
    """One model to time: how the probe loads it (`padim`, `onnx`, `torch`), its input file, its batch sizes."""

    name: str
    kind: str
    target: Path
    inputs: Path
    batches: tuple[int, ...]
    threads: int | None = None  # None: the plan's
    env: dict[str, str] = field(default_factory=dict)  # extra environment of its processes (an ISA cap)
    rounds: list[dict] = field(default_factory=list)  # the probe's JSON, one per round


@dataclass(frozen=True)
class Plan:
    """How often: `rounds` processes per model, each `warmup` untimed and `calls` timed calls per batch size."""

    rounds: int
    calls: int
    warmup: int
    threads: int


def probe(job: Job, plan: Plan) -> dict:
    """One fresh process timing `job` (benchmarks/probe.py); its JSON result."""
    cmd = [sys.executable, "-m", "benchmarks.probe", job.kind, str(job.target), "--inputs", str(job.inputs)]
    cmd += ["--batches", ",".join(map(str, job.batches)), "--warmup", str(plan.warmup), "--calls", str(plan.calls)]
    cmd += ["--threads", str(job.threads or plan.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **job.env})
    if done.returncode != 0:
        raise RuntimeError(f"probe of {job.name} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def alternate(jobs: list[Job], plan: Plan, label: str = "latency") -> None:
    """Fill every job's `rounds`: round by round, one process per job, in list order."""
    for number in range(plan.rounds):
        log(f"{label}: round {number + 1}/{plan.rounds}, {len(jobs)} models, one process each")
        for job in jobs:
            job.rounds.append(probe(job, plan))


def summary(job: Job) -> dict[str, dict]:
    """Per batch size: median of the round medians, p90/p99 over all calls, per-image and throughput figures."""
    found = {}
    for batch in job.batches:
        per_round = [r["times_ms"][str(batch)] for r in job.rounds]
        medians = [float(np.median(t)) for t in per_round]
        median = float(np.median(medians))
        p90, p99 = (float(v) for v in np.percentile(np.concatenate(per_round), (90, 99)))
        found[str(batch)] = {
            "calls": sum(len(t) for t in per_round),
            "rounds": len(per_round),
            "round_medians_ms": [round(m, 3) for m in medians],
            "median_ms": round(median, 3),
            "p90_ms": round(p90, 3),
            "p99_ms": round(p99, 3),
            "per_image_ms": round(median / batch, 3),
            "images_per_s": round(1e3 * batch / median, 2),
            "others_cores_max": max(r["others_cores"][str(batch)] for r in job.rounds),
        }
    return found


def memory(job: Job) -> dict:
    """Load time and memory from the job's first process."""
    first = job.rounds[0]
    keys = ("load_s", "rss_base_mb", "rss_loaded_mb", "peak_rss_mb")
    return {**{k: first[k] for k in keys}, "batch": max(job.batches)}
