"""One model measured alone in a fresh process: load time, memory, and the latency of its calls.

    python -m benchmarks.probe KIND TARGET --inputs X.npy --batches 1,8 --warmup 5 --calls 40

KIND: `padim` (a padim-edge model through the product's runtime, `open_backend`), `onnx` (any ONNX graph,
fed through its first input, e.g. anomalib's exports), `torch` (a run directory in PyTorch eager); the
`-openvino` kinds run the same file on OpenVINO's CPU plugin in float32 (`padim-openvino` through the
product's `--backend openvino`), `padim-openvino-bf16` in bfloat16. Inputs:
the first B rows of the array for batch B. Prints one JSON line: load_s, rss_base_mb (interpreter and
runtime libraries), rss_loaded_mb, peak_rss_mb (high-water mark after every call), and per batch size the
call times in milliseconds and the cores other processes kept busy while they were taken.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.machine import busy_seconds, others_load

Runner = Callable[[np.ndarray], object]
KINDS = ("padim", "padim-openvino", "padim-openvino-bf16", "onnx", "onnx-openvino", "torch")


def status_mb(key: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MiB."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(key + ":"))
    return round(int(line.split()[1]) / 1024, 1)


def ort_session(model: Path | bytes, threads: int):
    """A plain onnxruntime CPU session set up as the product's backend sets up its own: `threads` intra-op
    threads, idle threads not spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # not the warnings about unused shape constants
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def runner(kind: str, target: Path, threads: int) -> Runner:
    """How to call the model of `kind` at `target` on one input batch."""
    if kind == "padim":
        from padim_edge.runtime.backends import open_backend

        return open_backend(target, ["CPUExecutionProvider"], threads, spinning=False).infer
    if kind.startswith("padim-openvino"):
        from padim_edge.runtime.backends import open_backend

        precision = "bf16" if kind.endswith("bf16") else "f32"
        return open_backend(target, threads=threads, backend="openvino", precision=precision).infer
    if kind == "onnx":
        session = ort_session(target, threads)
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})
    if kind == "onnx-openvino":
        return openvino_runner(target, threads)
    import torch

    from padim_edge.model.build import graph_from_run
    from padim_edge.model.run_dir import load_run

    torch.set_num_threads(threads)
    graph = graph_from_run(*load_run(target))

    def run(frames: np.ndarray) -> object:
        with torch.inference_mode():
            return graph(torch.from_numpy(frames))

    return run


def openvino_runner(model: Path, threads: int) -> Runner:
    """Any ONNX graph on OpenVINO's CPU plugin, set up as the product's OpenVINO backend sets up its own."""
    import openvino as ov

    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False}
    core = ov.Core()
    request = core.compile_model(core.read_model(str(model)), "CPU", {**config, "INFERENCE_NUM_THREADS": threads})
    request = request.create_infer_request()
    return lambda x: request.infer([x])


def time_calls(run: Runner, x: np.ndarray, warmup: int, calls: int) -> tuple[list[float], float]:
    """`warmup` untimed calls, then `calls` timed ones: (milliseconds per call, other processes' cores)."""
    for _ in range(warmup):
        run(x)
    times = []
    before, began = busy_seconds(), time.perf_counter()
    for _ in range(calls):
        start = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - start) * 1e3)
    return times, others_load(before, busy_seconds(), time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("target", type=Path)
    parser.add_argument("--inputs", type=Path, required=True)
    parser.add_argument("--batches", default="1")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.kind == "torch":
        import torch  # noqa: F401 - counted in the base, like onnxruntime below
    elif "openvino" in args.kind:
        import openvino  # noqa: F401
    else:
        import onnxruntime  # noqa: F401
    inputs = np.load(args.inputs, allow_pickle=False)
    base = status_mb("VmRSS")
    start = time.perf_counter()
    run = runner(args.kind, args.target, args.threads)
    load_s = time.perf_counter() - start
    loaded = status_mb("VmRSS")
    times, others = {}, {}
    for batch in (int(b) for b in args.batches.split(",")):
        x = np.ascontiguousarray(np.resize(inputs, (batch, *inputs.shape[1:])))
        times[str(batch)], others[str(batch)] = time_calls(run, x, args.warmup, args.calls)
    result = {"load_s": round(load_s, 3), "rss_base_mb": base, "rss_loaded_mb": loaded}
    print(json.dumps({**result, "peak_rss_mb": status_mb("VmHWM"), "times_ms": times, "others_cores": others}))


if __name__ == "__main__":
    main()
