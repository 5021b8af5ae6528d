"""`padim-edge run`: camera-rate inspection of a camera, network stream, video file or image folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from padim_edge.commands.options import MAX_BATCH, Threads, Threshold
from padim_edge.errors import UserError
from padim_edge.runtime.stream_policy import MAX_RETRIES

RETRY_S = 120.0  # how long `--retry` waits for a Triton server at start
SOURCE_HELP = (
    "Camera index (0), V4L2 device (/dev/video0), video file, rtsp:// or http(s):// URL, "
    "GStreamer pipeline (contains '!'), image folder or glob ('imgs/*.png')."
)


def run(
    source: Annotated[str, typer.Option(help=SOURCE_HELP)],
    model: Annotated[Optional[Path], typer.Option(help="An exported .onnx or a built .engine.")] = None,
    results: Annotated[Optional[Path], typer.Option(help="JSON lines, one per frame ('-' for stdout).")] = None,
    save_ng: Annotated[
        Optional[Path], typer.Option("--save-ng", help="Folder for rejected frames and their heatmap overlays.")
    ] = None,
    overlay_video: Annotated[Optional[Path], typer.Option(help="Write every frame's overlay to this .mp4.")] = None,
    show: Annotated[bool, typer.Option("--show", help="Show the overlays in a window (q or Esc stops).")] = False,
    batch: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH, help="Most frames per inference call (only frames already waiting).")
    ] = 1,
    max_frames: Annotated[Optional[int], typer.Option(min=1, help="Stop after N frames.")] = None,
    threshold: Threshold = None,
    threads: Threads = None,
    provider: Annotated[
        Optional[list[str]], typer.Option(help="onnxruntime execution provider; repeat for a preference list.")
    ] = None,
    cuda_graph: Annotated[
        bool, typer.Option("--cuda-graph", help="TensorRT engines: replay the kernels as one CUDA graph.")
    ] = False,
    max_retries: Annotated[
        int, typer.Option(min=-1, help="Live sources: reconnection attempts per outage before giving up (-1: forever).")
    ] = MAX_RETRIES,
    summary_json: Annotated[Optional[Path], typer.Option(help="Also write the summary as JSON here.")] = None,
    server: Annotated[
        Optional[str], typer.Option(help="Score on this Triton server instead: grpc://HOST:PORT or http://HOST:PORT.")
    ] = None,
    model_name: Annotated[Optional[str], typer.Option(help="--server: the model's name on the server.")] = None,
    retry: Annotated[
        bool, typer.Option("--retry", help=f"--server: wait up to {RETRY_S:.0f} s for the server at start.")
    ] = False,
) -> None:
    """Score every frame of a source through a threaded pipeline; print a latency summary at the end.

    Live sources keep only the newest frames when inference falls behind (dropped frames are counted);
    files, folders and remote video files are processed completely, in order. A live source that stops is
    reconnected with backoff, at most --max-retries times per outage. Ctrl-C or SIGTERM stops cleanly,
    flushing every output. Exit codes (docs/reliability.md): 0; 1 when frames were missed (a backend
    unavailable, a live source lost for good); 2 when inputs could not be read or no frame was scored;
    130 after Ctrl-C.

    With --server, frames are scored on a Triton server (padim-edge serve, or Triton with a repository from
    padim-edge triton-repo). Frames that arrive while it is down are counted as missed (exit code 1), and
    scoring resumes when it is back.
    """
    from padim_edge.commands.scoring import exit_for, score_source
    from padim_edge.contract.files import atomic_write, check_output_file, check_output_folder
    from padim_edge.runtime.backends import open_backend
    from padim_edge.runtime.drift import DriftWatch
    from padim_edge.runtime.model_swap import ModelWatch
    from padim_edge.runtime.predictor import Predictor, check_threshold
    from padim_edge.runtime.sources import open_source
    from padim_edge.runtime.status_line import StatusLine
    from padim_edge.runtime.stream_policy import RetryPolicy
    from padim_edge.sinks.png_files import RejectSaver
    from padim_edge.sinks.text import JsonLines
    from padim_edge.sinks.video import OverlayVideo

    check_threshold(threshold)
    if results is not None and str(results) != "-":
        check_output_file(results, "--results")
    for path, flag in ((overlay_video, "--overlay-video"), (summary_json, "--summary-json")):
        if path is not None:
            check_output_file(path, flag)
    if save_ng:
        check_output_folder(save_ng, "--save-ng")
    if (model is None) == (server is None):
        raise UserError("give either --model or --server")
    status = StatusLine()
    if server:
        from padim_edge.runtime.backends.triton import open_triton

        backend = open_triton(server, model_name, RETRY_S if retry else 0.0)
    else:
        backend = open_backend(model, provider, threads, spinning=False, cuda_graph=cuda_graph)
    watch = None
    try:
        predictor = Predictor(backend, threshold)
        drift = DriftWatch(predictor, status.log)
        if model is not None:  # a replaced model file is swapped in while the source goes on

            def load(path: Path) -> Predictor:
                return Predictor(
                    open_backend(path, provider, threads, spinning=False, cuda_graph=cuda_graph), threshold
                )

            watch = ModelWatch(model, predictor, load, status.log, batch, on_swap=drift.expect)
        stream = open_source(source, log=status.log, policy=RetryPolicy.from_env(max_retries))
        try:
            sinks = [drift]
            if results:
                sinks.append(JsonLines(results))
            if save_ng:
                sinks.append(RejectSaver(save_ng))
            if overlay_video:
                sinks.append(OverlayVideo(overlay_video, stream.fps))
            summary = score_source(
                stream, predictor, sinks, status, batch, max_frames, window=show, on_poll=watch and watch.poll
            )
            summary["drift"] = drift.state()
            if watch:
                summary["model"] = watch.summary()
        finally:
            stream.close()
    finally:
        if watch:
            watch.close()  # the running model and any it replaced
        else:
            backend.close()
    typer.echo(format_summary(summary), err=str(results) == "-")
    if summary_json:
        atomic_write(summary_json, json.dumps(summary, indent=2, allow_nan=False) + "\n")
    exit_for(summary)


def format_summary(summary: dict) -> str:
    """The end-of-run report: counts and rate on one line, then a latency table per stage (ms)."""
    s = summary
    head = (
        f"{s['source']}: {s['frames']} frames, {s['rejected']} rejected, {s['dropped']} dropped, "
        f"{s['corrupt']} corrupt, {s['failed']} unreadable, {s['missed']} missed; "
        f"{s['fps']:.1f} fps over {s['elapsed_s']:.1f} s (stopped: {s['stopped_by']})"
    )
    if s["reconnects"] or s["gap_s"]:
        head += f"\n{s['reconnects']} reconnects, {s['gap_s']:.1f} s without a stream"
    drift = s.get("drift") or {}
    if drift.get("drifting"):
        head += f"\ndrift: recent OK scores {drift['ratio']}x the fit's held-out median (bound {drift['bound']})"
    rows = [f"{'stage (ms)':<20}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}"]
    for name, stat in s["latency_ms"].items():
        cells = ("-" if stat[k] is None else f"{stat[k]:.1f}" for k in ("p50", "p90", "p99", "max"))
        rows.append(f"{name:<20}" + "".join(f"{cell:>9}" for cell in cells))
    return "\n".join([head, f"backend: {s['backend']}, mean batch {s['mean_batch']}", *rows])
