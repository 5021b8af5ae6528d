"""`padim-edge run`: camera-rate inspection of a camera, network stream, video file or image folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from padim_edge.runtime.backends import Backend

#: How long `--retry` waits for the Triton server at start.
RETRY_S = 120.0
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
        int, typer.Option(min=1, help="Most frames per inference call (only frames already waiting).")
    ] = 1,
    max_frames: Annotated[Optional[int], typer.Option(min=1, help="Stop after N frames.")] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Override the model's threshold.")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="onnxruntime intra-op threads.")] = None,
    provider: Annotated[
        Optional[list[str]], typer.Option(help="onnxruntime execution provider; repeat for a preference list.")
    ] = None,
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
    files and folders are processed completely, in order. Ctrl-C or SIGTERM stops cleanly, flushing every
    output; the exit code is then 130 after Ctrl-C (like an interrupted shell command) and 0 after SIGTERM
    (a service being stopped). A second Ctrl-C aborts at once.

    With --server, frames are scored on a Triton server (padim-edge serve, or Triton with a repository from
    padim-edge triton-repo). Frames scored while it is down are counted as missed, and scoring resumes
    when it is back.
    """
    from padim_edge.config import atomic_write
    from padim_edge.runtime.outputs import Outputs, StatusLine, Window
    from padim_edge.runtime.pipeline import Pipeline, PipelineOptions
    from padim_edge.runtime.predictor import Predictor
    from padim_edge.runtime.sources import open_source

    status = StatusLine()
    predictor = Predictor(_open_backend(model, provider, threads, server, model_name, retry), threshold)
    stream = open_source(source, log=status.log)
    try:
        window = Window(lambda: pipeline.request_stop("window closed"), status.log) if show else None
        outputs = Outputs(predictor.resize, predictor.threshold, results, save_ng, overlay_video, stream.fps, window)
        pipeline = Pipeline(stream, predictor, outputs, PipelineOptions(batch, max_frames, outputs.needs_images))
        with _StopSignals() as signals:

            def poll() -> None:
                if signals.received:
                    pipeline.request_stop(signals.received)
                status.update(pipeline.snapshot())

            try:
                summary = pipeline.run(poll, interval=0.25)
            finally:
                status.clear()
    finally:
        stream.close()
        predictor.backend.close()
    text = format_summary(summary)
    typer.echo(text, err=str(results) == "-")
    if summary_json:
        atomic_write(summary_json, json.dumps(summary, indent=2) + "\n")
    if signals.received == "SIGINT":
        raise typer.Exit(130)


def _open_backend(
    model: Path | None,
    providers: list[str] | None,
    threads: int | None,
    server: str | None = None,
    model_name: str | None = None,
    retry: bool = False,
) -> Backend:
    """onnxruntime without spinning threads: idle intra-op threads otherwise spin between frames and take the
    cores that decode and pre-processing need (measured: 30 vs 27 fps, p99 53 vs 91 ms, benchmarks/bench_run.py).
    With `server`, the Triton client instead."""
    from padim_edge.errors import UserError
    from padim_edge.runtime.backends import open_backend

    if (model is None) == (server is None):
        raise UserError("give either --model or --server")
    if server:
        from padim_edge.runtime.backends.triton import open_triton

        return open_triton(server, model_name, RETRY_S if retry else 0.0)
    return open_backend(model, providers, threads, spinning=False)


class _StopSignals:
    """SIGINT/SIGTERM set `received` (no locks: safe in a handler); a second one aborts at once."""

    def __init__(self) -> None:
        self.received = ""
        self._previous: dict = {}

    def _handle(self, signum: int, _frame: object) -> None:
        import signal

        if self.received:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def __enter__(self) -> _StopSignals:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *_exc: object) -> None:
        import signal

        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def format_summary(summary: dict) -> str:
    """The end-of-run report: counts and rate on one line, then a latency table per stage (ms)."""
    s = summary
    missed = f"{s['missed']} missed (server unavailable), " if s.get("missed") else ""
    head = (
        f"{s['source']}: {s['frames']} frames, {s['rejected']} rejected, {s['dropped']} dropped, {missed}"
        f"{s['corrupt']} corrupt; {s['fps']:.1f} fps over {s['elapsed_s']:.1f} s (stopped: {s['stopped_by']})"
    )
    if s["reconnects"] or s["gap_s"]:
        head += f"\n{s['reconnects']} reconnects, {s['gap_s']:.1f} s without a stream"
    rows = [f"{'stage (ms)':<20}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}"]
    for name, stat in s["latency_ms"].items():
        rows.append(f"{name:<20}" + "".join(f"{stat[k]:>9.1f}" for k in ("p50", "p90", "p99", "max")))
    return "\n".join([head, f"backend: {s['backend']}, mean batch {s['mean_batch']}", *rows])
