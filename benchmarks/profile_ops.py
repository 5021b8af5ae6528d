"""Where the time of one model goes: onnxruntime's own profiler, per operator, at each batch size.

    python -m benchmarks.profile_ops MODEL.onnx --inputs X.npy --batches 1,8 --calls 40 [--threads 2] [--json OUT]

One fresh session per batch size, set up as the product's runtime sets up its own (`open_backend`: the given
intra-op threads, idle threads not spinning), with onnxruntime's profiling on: `--warmup` untimed calls, then
`--calls` profiled ones. The profile's node events are summed by operator type (after onnxruntime's graph
optimisations, so fused nodes appear under their fused names, e.g. `FusedConv`) and by the graph's stage (the
node-name prefix: `/preprocess/`, `/backbone/`, `/embed/`, `/head/`, `/post/`). Prints a markdown table per
batch size: milliseconds per call and the share of the summed node time; `--json` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from padim_edge.storage.atomic import atomic_write

TOP = 12  # operator rows per table


def profile(model: Path, frames: np.ndarray, threads: int, warmup: int, calls: int) -> dict:
    """One session on `frames` (one batch): per operator type and per stage, ms per call over `calls` calls."""
    import onnxruntime as ort

    from padim_edge.contract.names import INPUT

    with tempfile.TemporaryDirectory(prefix="padim-profile-") as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        for _ in range(warmup):
            session.run(None, {INPUT: frames})
        for _ in range(calls):
            session.run(None, {INPUT: frames})
        events = json.loads(Path(session.end_profiling()).read_text())
    # The profile holds the warm-up calls too: only node events from the first timed call on count.
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    timed = runs[warmup:]
    start = min(e["ts"] for e in timed)
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start]
    convs = [e for e in nodes if e["args"].get("op_name") in ("Conv", "FusedConv")]
    by_op: dict[str, float] = defaultdict(float)
    by_stage: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for event in nodes:
        op = event["args"].get("op_name", "?")
        name = event["name"].removesuffix("_kernel_time")
        by_op[op] += event["dur"]
        count[op] += 1
        by_stage[_stage(name)] += event["dur"]
    total = sum(by_op.values())
    by_conv_kind = _by_conv_kind(model, convs, len(timed), len(frames))
    run_ms = float(np.median([e["dur"] for e in timed])) / 1e3
    return {
        "batch": len(frames),
        "calls": len(timed),
        "run_median_ms": round(run_ms, 3),
        "nodes_ms_per_call": round(total / 1e3 / len(timed), 3),
        "by_op": {
            op: {
                "ms_per_call": round(us / 1e3 / len(timed), 3),
                "share": round(us / total, 4),
                "nodes": count[op] // len(timed),
            }
            for op, us in sorted(by_op.items(), key=lambda kv: -kv[1])
        },
        "by_stage": {
            stage: {"ms_per_call": round(us / 1e3 / len(timed), 3), "share": round(us / total, 4)}
            for stage, us in sorted(by_stage.items(), key=lambda kv: -kv[1])
        },
        "by_conv_kind": by_conv_kind,
    }


def _by_conv_kind(model: Path, events: list[dict], calls: int, batch: int) -> dict[str, dict]:
    """Convolution time by kind (depthwise, 1x1, dense) and the rate each kind reaches: GFLOP/s.

    onnxruntime renames the Conv nodes it fuses or moves to its NCHWc layout, but runs them in graph order, so
    the n-th Conv event of a call is the graph's n-th Conv."""
    from benchmarks.roofline import conv_kinds

    kinds = conv_kinds(model)
    per_call = len(events) // calls
    if per_call != len(kinds):  # a graph whose convolutions onnxruntime merged: no per-kind figures
        return {}
    found: dict[str, dict] = {}
    for index, event in enumerate(events):
        kind, macs = kinds[index % per_call]
        entry = found.setdefault(kind, {"nodes": 0, "us": 0.0, "gflop": 0.0})
        entry["us"] += event["dur"]
        if index < per_call:
            entry["nodes"] += 1
            entry["gflop"] += 2 * macs * batch / 1e9
    return {
        kind: {
            "nodes": e["nodes"],
            "ms_per_call": round(e["us"] / 1e3 / calls, 3),
            "gflop_per_call": round(e["gflop"], 4),
            "gflops": round(e["gflop"] / (e["us"] / 1e6 / calls), 1),
        }
        for kind, e in sorted(found.items(), key=lambda kv: -kv[1]["us"])
    }


def _stage(node: str) -> str:
    """The graph stage a node belongs to: its name's first path component (fused nodes keep their first
    node's name), else `other`."""
    parts = node.split("/")
    return parts[1] if node.startswith("/") and len(parts) > 2 else "other"


def table(found: dict) -> list[str]:
    """The markdown table of one batch size's profile: the top operators, then the stages."""
    lines = [
        f"Batch {found['batch']}: run {found['run_median_ms']:.2f} ms per call (median of {found['calls']}), "
        f"{found['nodes_ms_per_call']:.2f} ms of it in nodes.",
        "",
        "| operator | nodes | ms per call | share |",
        "|---|---|---|---|",
    ]
    for op, f in list(found["by_op"].items())[:TOP]:
        lines.append(f"| {op} | {f['nodes']} | {f['ms_per_call']:.3f} | {100 * f['share']:.1f}% |")
    lines += ["", "| stage | ms per call | share |", "|---|---|---|"]
    for stage, f in found["by_stage"].items():
        lines.append(f"| {stage} | {f['ms_per_call']:.3f} | {100 * f['share']:.1f}% |")
    if found["by_conv_kind"]:
        lines += [
            "",
            "| convolution kind | nodes | ms per call | GFLOP per call | GFLOP/s reached |",
            "|---|---|---|---|---|",
        ]
        for kind, f in found["by_conv_kind"].items():
            lines.append(
                f"| {kind} | {f['nodes']} | {f['ms_per_call']:.3f} | {f['gflop_per_call']:.3f} | {f['gflops']:.0f} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--inputs", type=Path, required=True, help="uint8 frames [N, H, W, 3] (.npy)")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    inputs = np.load(args.inputs, allow_pickle=False)
    found = []
    for batch in (int(b) for b in args.batches.split(",")):
        x = np.ascontiguousarray(np.resize(inputs, (batch, *inputs.shape[1:])))
        found.append(profile(args.model, x, args.threads, args.warmup, args.calls))
        print("\n".join(table(found[-1])) + "\n", flush=True)
    if args.json:
        atomic_write(args.json, json.dumps(found, indent=1) + "\n")


if __name__ == "__main__":
    main()
