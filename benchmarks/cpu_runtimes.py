"""The default model on both CPU runtimes padim-edge offers, against anomalib's own exports on the same runtimes,
per CPU class, with the roofline and where the batch-1 time goes.

    python -m benchmarks.cpu_runtimes [--rounds 3] [--calls 40] [--write-doc]

Rows, each model timed alone in fresh processes that take turns (benchmarks/latency.py, as in `make bench`):
the default configuration's exported graph on onnxruntime (`padim`) and on OpenVINO (`padim-openvino`: the
product's `--backend openvino`; `padim-openvino-bf16` where the CPU has bfloat16), anomalib's R18 and Lite0
exports (benchmarks/peer) on both runtimes, and the default on one thread (a small CPU).

CPU classes: OpenVINO's kernels (oneDNN) can be held to a lower instruction set (`ONEDNN_MAX_CPU_ISA`), so
its rows are also timed as on an AVX2-only CPU where this one is newer; onnxruntime's cannot
(`machine.ort_isa_cap`), so its rows are this CPU's class only. Every ratio names its class. A model's
"best" is its faster runtime at that class: each side in its strongest honest form.

Writes results/cpu_runtimes.json; `--write-doc` fills the `cpu-runtimes` section of the README (clean tree).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks import configs as cfg
from benchmarks import inputs, machine, models, peer
from benchmarks.doc_section import DirtyTree, tree_state, write_section
from benchmarks.latency import Job, Plan, alternate, log, summary
from benchmarks.paths import MVTEC, PEER, RESULTS, ROOT
from benchmarks.profile_ops import profile
from benchmarks.roofline import floor_ms, graph_work
from benchmarks.suite import ceilings
from padim_edge.imaging.geometry import Geometry
from padim_edge.model.run_dir import read_config
from padim_edge.storage.atomic import atomic_write

README, SECTION = ROOT / "README.md", "cpu-runtimes"
BATCHES = (1, 8)
FRAMES = 16
# oneDNN's names for the classes OpenVINO can be held to; fp32 kernels differ only between AVX2 and AVX-512.
ONEDNN_ISA = {"avx2": "AVX2"}
OURS, R18, LITE0 = "padim-edge default", peer.ROLES["padim_resnet18"], peer.ROLES["padim_lite0"]


def build_jobs(data_root: Path, has_bf16: bool, native: str) -> list[Job]:
    """The rows, in the order they take turns."""
    run = models.ensure_run(cfg.DEFAULT, data_root)
    onnx_path = models.ensure_onnx(run)
    frames = inputs.screw_frames(data_root, FRAMES)
    config = read_config(run)
    ours_x = inputs.save(inputs.padim_frames(frames, Geometry(*config.input_hw, config.resize_mode)), "cpu-rt-ours")
    exports = {e.role: e for e in peer.find(PEER) if e.check() is None}
    classes = [native] + [c for c in ONEDNN_ISA if c != native and native not in ("avx2", "baseline")]
    jobs = [Job(f"{OURS} | onnxruntime | {native}", "padim", onnx_path, ours_x, BATCHES)]
    for cls in classes:
        env = {} if cls == native else {"ONEDNN_MAX_CPU_ISA": ONEDNN_ISA[cls]}
        jobs.append(Job(f"{OURS} | openvino | {cls}", "padim-openvino", onnx_path, ours_x, BATCHES, env=env))
    if has_bf16:
        jobs.append(Job(f"{OURS} | openvino bf16 | {native}", "padim-openvino-bf16", onnx_path, ours_x, BATCHES))
    for role in (R18, LITE0):
        export = exports.get(role)
        if export is None:
            log(f"{role}: not found under {PEER} ({peer.HOW_TO_BUILD})")
            continue
        x = inputs.save(inputs.float_rgb(frames, *export.input_hw), f"cpu-rt-{export.input_hw[0]}")
        jobs.append(Job(f"{role} | onnxruntime | {native}", "onnx", export.onnx, x, BATCHES))
        for cls in classes:
            env = {} if cls == native else {"ONEDNN_MAX_CPU_ISA": ONEDNN_ISA[cls]}
            jobs.append(Job(f"{role} | openvino | {cls}", "onnx-openvino", export.onnx, x, BATCHES, env=env))
    one = cfg.SMALL_CPU_THREADS
    jobs.append(Job(f"{OURS} | onnxruntime, {one} thread | {native}", "padim", onnx_path, ours_x, (1,), one))
    jobs.append(Job(f"{OURS} | openvino, {one} thread | {native}", "padim-openvino", onnx_path, ours_x, (1,), one))
    return jobs


def ratio_rows(latency: dict[str, dict], classes: list[str]) -> list[dict]:
    """Per class and batch: ours against each export, runtime by runtime and best against best."""
    rows = []
    for cls in classes:
        for batch in map(str, BATCHES):
            ms = {
                (model, runtime): latency.get(f"{model} | {runtime} | {cls}", {}).get(batch, {}).get("per_image_ms")
                for model in (OURS, R18, LITE0)
                for runtime in ("onnxruntime", "openvino")
            }
            best = {m: min((v for (k, _), v in ms.items() if k == m and v), default=None) for m in (OURS, R18, LITE0)}
            for peer_name in (R18, LITE0):
                row = {"class": cls, "batch": batch, "peer": peer_name}
                for runtime in ("onnxruntime", "openvino"):
                    a, b = ms[peer_name, runtime], ms[OURS, runtime]
                    row[runtime] = round(a / b, 2) if a and b else None
                a, b = best[peer_name], best[OURS]
                row["best"] = round(a / b, 2) if a and b else None
                rows.append(row)
    return rows


def doc(results: dict) -> list[str]:
    """The README section: latencies, ratios per class, roofline, where the batch-1 time goes."""
    m, latency = results["machine"], results["latency"]
    lines = [
        f"CPU class of this machine: **{m['cpu_class']}** (SIMD present: {', '.join(m['simd'])}). "
        f"{results['threads']} threads unless a row says otherwise; OpenVINO rows capped to a lower class run "
        "with `ONEDNN_MAX_CPU_ISA` (onnxruntime has no such cap).",
        "",
        "| model | runtime | CPU class | b1 median / p99 ms | b8 ms per image |",
        "|---|---|---|---|---|",
    ]
    for name, by_batch in latency.items():
        model, runtime, cls = name.split(" | ")
        b1, b8 = by_batch.get("1"), by_batch.get("8")
        cells = [model, runtime, cls, f"{b1['median_ms']:.2f} / {b1['p99_ms']:.2f}" if b1 else "-"]
        cells.append(f"{b8['per_image_ms']:.2f}" if b8 else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per image, how many times faster the padim-edge default is (each model on the runtime named, or each on its "
        "faster one):",
        "",
        "| CPU class | batch | against | both on onnxruntime | both on OpenVINO | best against best |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["ratios"]:
        cells = [r["class"], r["batch"], r["peer"]] + [
            f"{r[k]:.2f}x" if r[k] else "-" for k in ("onnxruntime", "openvino", "best")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    roof = results["roofline"]
    lines += [
        "",
        f"Roofline floor of the default (fp32 peak {roof['peak_gflops']:.0f} GFLOP/s, the best of onnxruntime's and "
        f"PyTorch's GEMM and onnxruntime's 3x3 convolution; read bandwidth {roof['read_gbs']:.1f} GB/s):",
        "",
        "| runtime | batch | floor ms | measured ms | x floor |",
        "|---|---|---|---|---|",
    ]
    for r in roof["rows"]:
        lines.append(
            f"| {r['runtime']} | {r['batch']} | {r['floor_ms']:.2f} | {r['measured_ms']:.2f} | {r['x_floor']:.2f} |"
        )
    prof = results["profile_b1"]
    lines += [
        "",
        f"Where onnxruntime's batch-1 time goes (its profiler, {prof['calls']} calls; run {prof['run_median_ms']:.2f} "
        "ms):",
        "",
        "| stage | ms per call | share |",
        "|---|---|---|",
    ]
    for stage, f in prof["by_stage"].items():
        lines.append(f"| {stage} | {f['ms_per_call']:.3f} | {100 * f['share']:.1f}% |")
    lines += [
        "",
        "| convolution kind | nodes | ms per call | GFLOP per call | GFLOP/s reached |",
        "|---|---|---|---|---|",
    ]
    for kind, f in prof["by_conv_kind"].items():
        cells = [kind, str(f["nodes"]), f"{f['ms_per_call']:.3f}", f"{f['gflop_per_call']:.3f}", f"{f['gflops']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def roofline_rows(latency: dict, work: dict, ceil: dict, native: str) -> list[dict]:
    rows = []
    for runtime in ("onnxruntime", "openvino"):
        for batch, figures in latency.get(f"{OURS} | {runtime} | {native}", {}).items():
            floor = floor_ms(work, int(batch), ceil["peak_gflops"], ceil["read_gbs"])
            rows.append(
                {
                    "runtime": runtime,
                    "batch": batch,
                    "floor_ms": floor,
                    "measured_ms": figures["median_ms"],
                    "x_floor": figures["median_ms"] / floor,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=MVTEC)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--write-doc", action="store_true", help=f"fill the {SECTION} section of README.md")
    args = parser.parse_args()
    state = tree_state()
    m = machine.describe()
    has_bf16 = bool({"avx512_bf16", "amx_bf16"} & set(m["simd"]))
    jobs = build_jobs(args.data_root, has_bf16, m["cpu_class"])
    plan = Plan(rounds=args.rounds, calls=args.calls, warmup=5, threads=cfg.THREADS)
    alternate(jobs, plan, "cpu runtimes")
    latency = {j.name: summary(j) for j in jobs}
    ceil = ceilings(cfg.THREADS)
    ours = jobs[0]
    log("profile: onnxruntime, batch 1")
    found_profile = profile(ours.target, np.load(ours.inputs)[:1], cfg.THREADS, warmup=5, calls=args.calls)
    classes = list(dict.fromkeys(name.split(" | ")[2] for name in latency))
    results = {
        "machine": m,
        "threads": cfg.THREADS,
        "plan": vars(plan),
        "latency": latency,
        "ratios": ratio_rows(latency, classes),
        "roofline": {
            "peak_gflops": ceil["peak_gflops"],
            "read_gbs": ceil["read_gbs"],
            "rows": roofline_rows(latency, graph_work(ours.target), ceil, m["cpu_class"]),
        },
        "profile_b1": found_profile,
        "tree": state.describe(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write(RESULTS / "cpu_runtimes.json", json.dumps(results, indent=1) + "\n")
    body = "\n".join(doc(results))
    print(body)
    if args.write_doc:
        try:
            write_section(README, SECTION, body, state, "python -m benchmarks.cpu_runtimes", machine.summary(m))
        except DirtyTree as exc:
            log(f"not written: {exc}")


if __name__ == "__main__":
    main()
