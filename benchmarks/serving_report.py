"""benchmarks/results/serving.md from serving.json, and its copy in docs/serving.md's figures section."""

from __future__ import annotations

import math
from pathlib import Path

from benchmarks.doc_section import TreeState, write_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "serving.md"
SECTION = "serving-figures"
CAMERA_FPS = (5, 10, 30)


def markdown(r: dict) -> str:
    """The tables: load (served and in-process), cameras per server, kill -9, soak, shutdown."""
    m, v, s = r["machine"], r["video"], r["serve"]
    lines = [
        "# Serving benchmark: `padim-edge serve` (Triton) against in-process `padim-edge run`",
        "",
        f"Measured by `python -m benchmarks.bench_serving` on {r['date']} ({r['commit']}): "
        f"{m['cpu']} (CPU class {m.get('cpu_class', '?')}), {r['cores']} usable cores, {m['memory_gib']} GiB; "
        f"SIMD {', '.join(m['simd'])}. "
        "The `others` column is how many cores other processes on this shared machine kept busy in each phase "
        f"(out of {r['cores']}); where it is well above 0, the figures are lower bounds of what these cores do alone.",
        "",
        f"Model: {r['model']['backbone']} at {r['model']['input'][0]}x{r['model']['input'][1]} "
        f"(`{Path(r['model']['path']).name}`). Video: {v['distinct_frames']} real frames from `{v['source']}` at "
        f"{v['size_hw'][0]}x{v['size_hw'][1]}, mp4v, cycled to {v['load_frames']} frames per client. Every client "
        "is a `padim-edge run --source video.mp4 --batch 1` process; served ones add `--server grpc://... "
        f"--model-name ...`. Server: one `padim-edge serve`, 1 instance, {s['threads']} onnxruntime threads, "
        f"dynamic batcher up to 8 frames with a 2 ms queue delay (started in {s['start_s']} s). In-process: "
        "`--model model.onnx --threads T`, T = cores / clients (at least 1).",
        "",
        "## Load",
        "",
        "| clients | mode | frames/s, all clients | per client min-max | end-to-end p50 / p99 ms | infer p50 / p99 ms "
        "| Triton batch (mean) | queue ms / request | frames scored | others |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["load"]:
        local = f"in-process, {row['in_process']['threads_each']} thr"
        for mode, x in (("serve", row["served"]), (local, row["in_process"])):
            triton, e2e, infer, per = x.get("triton"), x["e2e_ms"], x["infer_ms"], x["fps_per_client"]
            scored = "all" if all(f == x["expected_frames"] for f in x["frames"]) else str(x["frames"])
            lines.append(
                f"| {row['clients']} | {mode} | {x['fps_total']} | {min(per)}-{max(per)} "
                f"| {e2e['p50']} / {e2e['p99']} | {infer['p50_median']} / {infer['p99_max']} "
                f"| {triton['mean_batch'] if triton else '-'} | {triton['queue_ms_per_request'] if triton else '-'} "
                f"| {scored} | {x['others_cores_busy']} |"
            )
    lines += [
        "",
        "frames/s, all clients: frames scored per second while every client was scoring (from their JSON lines). "
        "End to end: capture to verdict, pooled over every frame of every client; a file is read ahead as fast as "
        "the pipeline takes it, so this includes the wait in the pipeline's queues. infer: the call that scored the "
        "frame (for `serve`, the gRPC round trip including Triton's queue), median of the clients' p50, largest p99. "
        "Triton batch: inferences / executions from Triton's metrics (nv_inference_count / nv_inference_exec_count).",
        "",
        "## Cameras per server",
        "",
        *_cameras(r),
        "",
        "## kill -9 of the server mid-run, then a restart",
        "",
        *_kill(r["kill"]),
    ]
    if r.get("soak"):
        lines += ["", "## Soak", "", *_soak(r["soak"])]
    sd = r["shutdown"]
    lines += [
        "",
        f"Shutdown at the end: SIGTERM, exit code {sd['exit_code']}, "
        f"{'no process left behind' if not sd['orphans'] else 'left behind: ' + str(sd['orphans'])}.",
    ]
    return "\n".join(lines) + "\n"


def _cameras(r: dict) -> list[str]:
    best = max(r["load"], key=lambda row: row["served"]["fps_total"])
    x = best["served"]
    held = max(row["clients"] for row in r["load"] if all(m == 0 for m in row["served"]["missed"]))
    per = ", ".join(f"{math.floor(x['fps_total'] / fps)} at {fps} fps" for fps in CAMERA_FPS)
    return [
        f"One server held {held} concurrent clients with every frame scored (none missed). Its best total was "
        f"{x['fps_total']} frames/s (at {best['clients']} clients, infer p99 {x['infer_ms']['p99_max']} ms), "
        f"which is enough for {per} on these cores, with the cameras' decoding on other machines.",
    ]


def _kill(k: dict) -> list[str]:
    lines = [
        f"{len(k['clients'])} cameras, each the `run --server` pipeline (Pipeline + TritonBackend, in the benchmark "
        f"process) on the {k['video_frames']}-frame video released at {k['camera_fps']:g} fps. serve's Python "
        "process was killed with SIGKILL once every camera was scoring; tritonserver and its backend stub were gone "
        f"{k['server_processes_gone_s']} s later (orphans: {k['orphans_after_kill'] or 'none'}), and the restarted "
        f"serve was ready {k['outage_s']} s after the kill (its start: {k['restart_s']} s).",
        "",
        "| camera | frames scored | frames missed | scored after the restart | scored + missed = video |",
        "|---|---|---|---|---|",
    ]
    for i, c in enumerate(k["clients"]):
        lines.append(
            f"| {i} | {c['scored']} | {c['missed']} | {c['scored_after_restart']} "
            f"| {'yes' if c['every_frame_accounted'] else 'NO'} |"
        )
    lines += [
        "",
        "While the server is down each client fails fast (BackendUnavailable) and backs off (0.25 s doubling to 4 s): "
        "the frames of the outage, and of the backoff wait after it, are counted as missed; then scoring resumes.",
    ]
    return lines


def _soak(s: dict) -> list[str]:
    lines = [
        f"{s['requests']} single-frame gRPC requests from {s['threads']} threads in {s['seconds']} s "
        f"({s['requests_per_s']} requests/s, {s['errors']} errors). Resident memory, sampled every 0.5 s:",
        "",
        "| process | start MB | end MB | max MB |",
        "|---|---|---|---|",
    ]
    for name, rss in s["rss_mb"].items():
        lines.append(f"| {name} | {rss['start']} | {rss['end']} | {rss['max']} |")
    return lines


def update_doc(text: str, state: TreeState, machine: str, doc: Path = DOC) -> None:
    """Put the tables into docs/serving.md's figures section (headings one level down); DirtyTree if not clean."""
    body = "\n".join(
        line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in text.splitlines()[2:]
    )
    write_section(doc, SECTION, body, state, "make bench-serving", machine)
