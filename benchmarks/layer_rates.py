"""`python -m benchmarks.layer_rates`: the default's convolutions one at a time, on two kernel libraries.

Each Conv of the default's exported graph (its shape at batch 1, its attributes, random weights) becomes a
model of its own (Conv + Relu, as onnxruntime fuses them in the graph) and is timed alone on onnxruntime
(MLAS, set up as the product's runtime sets up its own) and on PyTorch's oneDNN convolution (channels-last,
its fastest CPU layout), 2 threads each, median of `--calls` after a warm-up. The rate each kind of
convolution reaches alone, beside the rate it reaches inside the graph (onnxruntime's profiler) and the
fp32 peak the roofline charges every FLOP at, shows whether the batch-1 gap to the roofline comes from the
graph or from the kernels. The table goes to the `layer-rates` section of docs/choices.md, from a clean tree.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from onnx import helper

from benchmarks import configs as cfg
from benchmarks import inputs, machine, models
from benchmarks.choices import DOC
from benchmarks.doc_section import tree_state, write_section_or_exit
from benchmarks.paths import MVTEC
from benchmarks.profile_ops import profile
from benchmarks.roofline import call_times, conv_layers, graph_session
from benchmarks.suite import ceilings
from padim_edge.imaging.geometry import Geometry
from padim_edge.model.run_dir import read_config

SECTION = "layer-rates"
KINDS = ("1x1", "depthwise", "dense 3x3")


def _median_ms(call: Callable[[], object], calls: int) -> float:
    return float(np.median(call_times(call, calls, warmup=20))) * 1e3


def time_alone(layer: dict, threads: int, calls: int) -> dict[str, float]:
    """One layer alone: milliseconds on onnxruntime and on PyTorch (oneDNN, channels-last)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(layer["x"]).astype(np.float32)
    w = (rng.standard_normal(layer["w"]) * 0.05).astype(np.float32)
    b = (rng.standard_normal(layer["w"][0]) * 0.01).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], **layer["attrs"]), helper.make_node("Relu", ["c"], ["y"])]
    session = graph_session(nodes, "x", layer["x"], {"w": w, "b": b}, threads)
    ort_ms = _median_ms(lambda: session.run(None, {"x": x}), calls)
    attrs = layer["attrs"]
    pads, group = attrs.get("pads", [0, 0, 0, 0]), attrs.get("group", 1)
    symmetric = pads[:2] == pads[2:]  # else (the exporter folds TF's stride-2 Pads in) an explicit pad first
    conv = torch.nn.Conv2d(
        layer["x"][1], layer["w"][0], layer["w"][2:], attrs.get("strides", 1), pads[:2] if symmetric else 0,
        groups=group,
    )  # fmt: skip
    conv.weight.data, conv.bias.data = torch.from_numpy(w), torch.from_numpy(b)
    conv = conv.eval().to(memory_format=torch.channels_last)
    frames = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    edges = (pads[1], pads[3], pads[0], pads[2])

    def call() -> torch.Tensor:
        return torch.relu(conv(frames if symmetric else torch.nn.functional.pad(frames, edges)))

    with torch.inference_mode():
        if tuple(call().shape) != session.run(None, {"x": x})[0].shape:
            raise RuntimeError(f"PyTorch and onnxruntime disagree on the output shape of {layer['kind']} {layer['w']}")
        torch_ms = _median_ms(call, calls)
    return {"onnxruntime": ort_ms, "pytorch": torch_ms}


def measure(model: Path, frames: np.ndarray, threads: int, calls: int) -> dict:
    """Per kind: nodes, GFLOP, ms alone on each library, ms in the graph; and the roofline's fp32 peak."""
    torch.set_num_threads(threads)
    by_kind: dict[str, dict] = {}
    for layer in conv_layers(model):
        alone = time_alone(layer, threads, calls)
        entry = by_kind.setdefault(layer["kind"], {"nodes": 0, "gflop": 0.0, "onnxruntime": 0.0, "pytorch": 0.0})
        entry["nodes"] += 1
        entry["gflop"] += 2 * layer["macs"] / 1e9
        for library, ms in alone.items():
            entry[library] += ms
    in_graph = profile(model, frames, threads, warmup=5, calls=calls)
    for kind, entry in by_kind.items():
        entry["in_graph"] = in_graph["by_conv_kind"].get(kind, {}).get("ms_per_call")
    return {
        "by_kind": by_kind,
        "peak_gflops": ceilings(threads)["peak_gflops"],
        "threads": threads,
        "calls": calls,
    }


def markdown(found: dict) -> str:
    """One row per kind, then the total: time and GFLOP/s alone on each library and inside the graph."""

    def cell(ms: float | None, gflop: float) -> str:
        return "-" if ms is None else f"{ms:.2f} ms, {gflop / ms * 1e3:.0f} GFLOP/s"

    lines = [
        "| convolutions | nodes | GFLOP | alone, onnxruntime | alone, PyTorch (oneDNN) | in the graph, onnxruntime |",
        "|---|---|---|---|---|---|",
    ]
    rows = sorted(found["by_kind"].items(), key=lambda kv: -kv[1]["gflop"])
    for kind, e in rows:
        lines.append(
            f"| {kind} | {e['nodes']} | {e['gflop']:.3f} | {cell(e['onnxruntime'], e['gflop'])} | "
            f"{cell(e['pytorch'], e['gflop'])} | {cell(e['in_graph'], e['gflop'])} |"
        )
    total = {k: sum(e[k] or 0.0 for _, e in rows) for k in ("gflop", "onnxruntime", "pytorch", "in_graph")}
    lines.append(
        f"| all | {sum(e['nodes'] for _, e in rows)} | {total['gflop']:.3f} | "
        f"{cell(total['onnxruntime'], total['gflop'])} | {cell(total['pytorch'], total['gflop'])} | "
        f"{cell(total['in_graph'], total['gflop'])} |"
    )
    floor = total["gflop"] / found["peak_gflops"] * 1e3
    lines += [
        "",
        f"Batch 1, {found['threads']} threads, median of {found['calls']} calls per layer. The roofline charges "
        f"these {total['gflop']:.3f} GFLOP at the fp32 peak of {found['peak_gflops']:.0f} GFLOP/s (the best "
        f"large GEMM or 3x3 convolution, measured in the same run): {floor:.2f} ms. A layer timed alone pays what its "
        "library does around one convolution (onnxruntime turns it into and out of its blocked layout), so "
        "alone is slower than in the graph; the two alone columns compare the libraries' kernels on the same "
        "shapes. In the graph the profiler's own overhead is included.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=MVTEC)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--write-doc", action="store_true", help=f"fill the {SECTION} section of docs/choices.md")
    args = parser.parse_args()
    state = tree_state()  # taken before the run: the figures are those of this commit
    run = models.ensure_run(cfg.DEFAULT, args.data_root)
    model = models.ensure_onnx(run)
    config = read_config(run)
    frames = inputs.padim_frames(inputs.screw_frames(args.data_root, 1), Geometry(*config.input_hw, config.resize_mode))
    body = markdown(measure(model, frames[:1], cfg.THREADS, args.calls))
    print(body)
    if args.write_doc:
        m = machine.describe()
        write_section_or_exit(DOC, SECTION, body, state, "python -m benchmarks.layer_rates", machine.summary(m))


if __name__ == "__main__":
    main()
