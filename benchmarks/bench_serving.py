"""Benchmark serving: one `padim-edge serve` (Triton through PyTriton) and 1, 4, 8 `padim-edge run --server`
clients on a video of real frames, beside as many in-process `padim-edge run --model` on the same cores; the
server killed with kill -9 mid-run and restarted; a 10,000-request soak with the server's memory sampled.

    python -m benchmarks.bench_serving [--model runs/.../model.onnx] [--clients 1,4,8] [--soak 10000]

Without --model it fits and exports the default model (benchmarks.configs.DEFAULT) with padim-edge's own
commands on the MVTec screw images (../shared/data/mvtec), or on the ELPV mono cells where those are absent,
into runs/bench-serving-<category>. Writes benchmarks/results/serving.json and serving.md, and the figures
section of docs/serving.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks import machine
from benchmarks.doc_section import DirtyTree, tree_state
from benchmarks.paced_client import PacedClient
from benchmarks.serving_report import markdown, update_doc
from padim_edge.storage.atomic import atomic_write
from tests.procs import CLI, Serve, count_lines, metrics, proc_stat, run_client, wait_gone

ROOT = Path(__file__).resolve().parents[1]
MVTEC = ROOT.parent / "shared" / "data" / "mvtec"
RESULTS = ROOT / "benchmarks" / "results"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def default_model() -> tuple[Path, list[Path]]:
    """(model, frame images): lite0 defaults fitted on screw (or ELPV mono) with the CLI, cached in runs/."""
    screw = sorted((MVTEC / "screw" / "test").glob("*/*.png"))
    if screw:
        run, fit = ROOT / "runs" / "bench-serving-screw", ["--data-root", str(MVTEC), "--category", "screw"]
        images = screw
    else:
        from padim_edge.data import load_dataset

        run, fit = ROOT / "runs" / "bench-serving-mono", ["--dataset", "elpv", "--category", "mono"]
        images = [s.path for s in load_dataset("elpv", None, "mono").test]
    if not (run / "model.onnx").is_file():
        log(f"fitting and exporting {run.name} (padim-edge fit + export)")
        subprocess.run([*CLI, "fit", *fit, "--out", str(run), "-q"], check=True)
        subprocess.run([*CLI, "export", str(run), "-q"], check=True)
    return run / "model.onnx", images


def write_video(path: Path, images: list[Path], unique: int, frames: int, size: tuple[int, int]) -> None:
    """`unique` real images (evenly picked from the sorted list) at size (h, w), cycled to `frames` frames,
    mp4v at 30 fps."""
    picked = [images[round(i * (len(images) - 1) / max(unique - 1, 1))] for i in range(unique)]
    tiles = [cv2.resize(cv2.imread(str(p)), size[::-1], interpolation=cv2.INTER_AREA) for p in picked]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, size[::-1])
    for i in range(frames):
        writer.write(tiles[i % len(tiles)])
    writer.release()


class CpuMeter:
    """Cores kept busy by other processes (not serve's tree, not our waited clients) over a phase."""

    def __init__(self, serve: Serve | None) -> None:
        self.serve = serve
        self.start = self._now()

    def _now(self) -> tuple[float, float, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = children.ru_utime + children.ru_stime + (self.serve.cpu_s() if self.serve else 0.0)
        return machine.busy_seconds()[0], ours, time.perf_counter()

    def others(self) -> float:
        end = self._now()
        wall = end[2] - self.start[2]
        return round(max(0.0, (end[0] - self.start[0]) - (end[1] - self.start[1])) / wall, 2)


def clients_phase(video: Path, frames: int, n: int, backend: list[str], tmp: Path, tag: str, serve: Serve | None):
    """n concurrent `padim-edge run`; aggregate fps while all n are scoring, pooled latency, per-client counts."""
    meter = CpuMeter(serve)
    outs = [tmp / f"{tag}-{n}-{i}" for i in range(n)]
    for out in outs:
        out.with_suffix(".jsonl").unlink(missing_ok=True)
    procs = [run_client(video, out, backend) for out in outs]
    t0 = t1 = lines0 = lines1 = None
    while any(p.poll() is None for p in procs):
        counts = [count_lines(out.with_suffix(".jsonl")) for out in outs]
        now = time.perf_counter()
        if t0 is None and all(counts):
            t0, lines0 = now, sum(counts)
        if t0 is not None and t1 is None and any(p.poll() is not None for p in procs):
            t1, lines1 = now, sum(counts)
        time.sleep(0.05)
    for p, out in zip(procs, outs):
        if p.wait() != 0:
            raise SystemExit(f"{tag} client {out.name} failed: {p.stderr.read()[-2000:]}")
    summaries = [json.loads(out.with_suffix(".json").read_text()) for out in outs]
    latency = [
        json.loads(line)["latency_ms"]
        for out in outs
        for line in out.with_suffix(".jsonl").read_text().splitlines()
        if '"verdict"' in line
    ]
    infer = [s["latency_ms"]["infer"] for s in summaries]
    if t1 is None or t0 is None or t1 <= t0:  # a client ended before the last one started: whole-run rate
        fps, window = round(sum(s["fps"] for s in summaries), 1), None
    else:
        fps, window = round((lines1 - lines0) / (t1 - t0), 1), round(t1 - t0, 1)
    return {
        "clients": n,
        "fps_total": fps,
        "window_s": window,
        "fps_per_client": [s["fps"] for s in summaries],
        "e2e_ms": {"p50": _pct(latency, 50), "p99": _pct(latency, 99)},
        "infer_ms": {"p50_median": _median([i["p50"] for i in infer]), "p99_max": max(i["p99"] for i in infer)},
        "frames": [s["frames"] for s in summaries],
        "missed": [s["missed"] for s in summaries],
        "expected_frames": frames,
        "others_cores_busy": meter.others(),
    }


def serving_phase(serve: Serve, video: Path, frames: int, n: int, tmp: Path) -> dict:
    before = metrics(serve.metrics_url, serve.name)
    result = clients_phase(video, frames, n, ["--server", serve.grpc, "--model-name", serve.name], tmp, "serve", serve)
    after = metrics(serve.metrics_url, serve.name)
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    executions = max(delta.get("nv_inference_exec_count", 0.0), 1.0)
    requests = max(delta.get("nv_inference_request_success", 0.0), 1.0)
    result["triton"] = {
        "inferences": int(delta.get("nv_inference_count", 0)),
        "executions": int(delta.get("nv_inference_exec_count", 0)),
        "mean_batch": round(delta.get("nv_inference_count", 0.0) / executions, 2),
        "queue_ms_per_request": round(delta.get("nv_inference_queue_duration_us", 0.0) / requests / 1e3, 2),
        "compute_ms_per_batch": round(delta.get("nv_inference_compute_infer_duration_us", 0.0) / executions / 1e3, 2),
    }
    return result


def kill_phase(serve: Serve, video: Path, frames: int, n: int, fps: float) -> dict:
    """n cameras paced at `fps` on the video; kill -9 serve once all are scoring, restart it on the same ports."""
    clients = [PacedClient(serve.grpc, serve.name, video, fps) for _ in range(n)]
    for client in clients:
        client.start()
    while not all(len(c.sink.scored) >= 3 * fps for c in clients):
        time.sleep(0.05)
    killed_at = time.perf_counter()
    below = serve.kill()
    left = wait_gone(below, 60)
    gone_s = time.perf_counter() - killed_at
    serve.start()
    outage_s = time.perf_counter() - killed_at
    results = [client.result() for client in clients]
    for r in results:
        r["every_frame_accounted"] = r["scored"] + r["missed"] == frames
    return {
        "clients": results,
        "camera_fps": fps,
        "video_frames": frames,
        "orphans_after_kill": left,
        "server_processes_gone_s": round(gone_s, 1),
        "outage_s": round(outage_s, 1),
        "restart_s": round(serve.started_s, 1),
    }


def soak_phase(serve: Serve, image: np.ndarray, requests: int, threads: int) -> dict:
    """`requests` single-frame gRPC requests from `threads` threads; RSS of the server processes sampled."""
    import tritonclient.grpc as grpc

    pids = serve.tree()
    samples: dict[str, list[float]] = {name: [] for name in pids}
    done = threading.Event()
    counter = {"sent": 0, "errors": 0}
    lock = threading.Lock()

    def sample() -> None:
        while not done.wait(0.5):
            for name, pid in pids.items():
                stat = proc_stat(pid)
                if stat:
                    samples[name].append(round(stat[3], 1))

    def worker() -> None:
        client = grpc.InferenceServerClient(serve.grpc.removeprefix("grpc://"))
        data = grpc.InferInput("frames", [1, *image.shape], "UINT8")
        data.set_data_from_numpy(image[None])
        while True:
            with lock:
                if counter["sent"] >= requests:
                    return
                counter["sent"] += 1
            try:
                client.infer(serve.name, [data])
            except Exception:  # noqa: BLE001 - counted; the soak goes on
                with lock:
                    counter["errors"] += 1

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return {
        "requests": requests,
        "errors": counter["errors"],
        "threads": threads,
        "seconds": round(elapsed, 1),
        "requests_per_s": round(requests / elapsed, 1),
        "rss_mb": {
            name: {"start": s[0], "end": s[-1], "max": max(s), "samples": len(s)} for name, s in samples.items() if s
        },
    }


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def _median(values: list[float]) -> float:
    return round(float(np.median(values)), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="An exported .onnx (default: fit + export, see above).")
    parser.add_argument("--images", type=int, default=200, help="Distinct real frames in the videos.")
    parser.add_argument("--loops", type=int, default=3, help="Times the load video cycles through them.")
    parser.add_argument("--camera-fps", type=float, default=10.0, help="Rate of the cameras in the kill -9 run.")
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--kill-clients", type=int, default=4)
    parser.add_argument("--soak", type=int, default=10_000, help="Requests in the soak (0: skip).")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    state = tree_state()  # taken before the run: the figures are those of this commit
    cores = len(os.sched_getaffinity(0))
    if args.model:
        model, images = args.model, sorted((MVTEC / "screw" / "test").glob("*/*.png"))
    else:
        model, images = default_model()
    if not images:
        from padim_edge.data import load_dataset

        images = [s.path for s in load_dataset("elpv", None, "mono").test]
    from padim_edge.contract.wire import default_name
    from padim_edge.runtime.backends import open_backend

    info = open_backend(model).info
    height, width = info.input_hw
    native = cv2.imread(str(images[0])).shape[0]
    size = (native, round(native * width / height))  # the camera's height, the model's aspect
    report: dict = {
        "machine": {**machine.describe(), "shared": "yes: other sessions' processes run here"},
        "commit": state.describe(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "model": {"path": str(model), "backbone": info.config.backbone, "input": list(info.input_hw)},
        "cores": cores,
    }
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        load_video, load_frames = tmp / "load.mp4", args.images * args.loops
        write_video(load_video, images, args.images, load_frames, size)
        report["video"] = {
            "source": os.path.commonpath([str(p) for p in images]),
            "distinct_frames": args.images,
            "size_hw": list(size),
            "load_frames": load_frames,
        }
        serve = Serve(model, default_name(model, info), threads=cores).start()
        report["serve"] = {"threads": cores, "instances": 1, "start_s": round(serve.started_s, 1)}
        log(f"serve ready in {serve.started_s:.1f} s: {serve.grpc}")
        try:
            report["load"] = []
            for n in (int(c) for c in args.clients.split(",")):
                log(f"{n} client(s) against serve")
                served = serving_phase(serve, load_video, load_frames, n, tmp)
                threads = max(1, cores // n)
                log(f"{n} in-process run(s), {threads} thread(s) each")
                local = clients_phase(
                    load_video, load_frames, n, ["--model", str(model), "--threads", str(threads)], tmp, "local", None
                )
                local["threads_each"] = threads
                report["load"].append({"clients": n, "served": served, "in_process": local})
            log(f"kill -9 with {args.kill_clients} clients")
            report["kill"] = kill_phase(serve, load_video, load_frames, args.kill_clients, args.camera_fps)
            if args.soak:
                log(f"soak: {args.soak} requests")
                frame = cv2.resize(cv2.imread(str(images[0])), info.input_hw[::-1], interpolation=cv2.INTER_AREA)
                report["soak"] = soak_phase(serve, frame, args.soak, threads=4)
        finally:
            below = list(serve.tree().values())[1:] if serve.process and serve.process.poll() is None else []
            code = serve.stop()
            report["shutdown"] = {"exit_code": code, "orphans": wait_gone(below, 30)}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "serving.json", json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    atomic_write(args.out / "serving.md", text)
    try:
        update_doc(text, state, machine.summary(machine.describe()))
    except DirtyTree as exc:
        print(f"not written to docs/serving.md: {exc}", file=sys.stderr)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
