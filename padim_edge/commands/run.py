"""`padim-edge run`: camera-rate inspection of a camera, network stream, video file or image folder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from padim_edge.commands import line_options as line
from padim_edge.commands.options import MAX_BATCH, BackendName, Precision, Threads, Threshold
from padim_edge.errors import UserError
from padim_edge.runtime.stream_policy import MAX_RETRIES

if TYPE_CHECKING:
    from padim_edge.live.view import RunView
    from padim_edge.runtime.predictor import Predictor

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
    backend_name: BackendName = "onnxruntime",
    precision: Precision = "f32",
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
    http: Annotated[
        Optional[str],
        typer.Option(
            metavar="HOST:PORT",
            help="Serve a live page, /metrics, /healthz and /readyz here (a bare PORT binds 127.0.0.1); "
            "a bearer token from $PADIM_EDGE_HTTP_TOKEN when set.",
        ),
    ] = None,
    http_linger: Annotated[
        float, typer.Option(min=0, help="--http: keep serving this many seconds after the run ends (Ctrl-C ends it).")
    ] = 0.0,
    camera: line.Camera = "cam0",
    mqtt: line.Mqtt = None,
    mqtt_ca: line.MqttCa = None,
    mqtt_cert: line.MqttCert = None,
    mqtt_key: line.MqttKey = None,
    mqtt_password_file: line.MqttPasswordFile = None,
    mqtt_overlays: line.MqttOverlays = False,
    mqtt_rate: line.MqttRate = 0.0,
    mqtt_summary_s: line.MqttSummary = 60.0,
    webhook: line.Webhook = None,
    webhook_headers: line.WebhookHeaders = None,
    webhook_batch: line.WebhookBatch = 1,
    webhook_timeout_s: line.WebhookTimeout = 5.0,
    webhook_rate: line.WebhookRate = 0.0,
    opcua: line.OpcUa = None,
    modbus_coil: line.ModbusCoil = None,
    modbus_pulse_ms: line.ModbusPulse = 200.0,
    modbus_device: line.ModbusDevice = 1,
    spool: line.Spool = None,
    spool_max_mb: line.SpoolMax = 256.0,
    spool_fsync_s: line.SpoolFsync = 1.0,
    sink_drain_s: line.Drain = 5.0,
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

    Results can also go to the line (docs/integration.md): MQTT, a webhook, an OPC UA server, a Modbus coil.
    MQTT and webhook results that cannot be delivered wait in an on-disk spool and are sent, in order, when
    the receiver is back (or by the next run with the same spool).
    """
    from padim_edge.commands.scoring import exit_for, score_source
    from padim_edge.live.metrics import LineSinkMetrics, ModelHealthMetrics
    from padim_edge.live.server import LiveServer, http_token
    from padim_edge.runtime.backends import open_backend
    from padim_edge.runtime.drift import DriftWatch
    from padim_edge.runtime.model_swap import ModelWatch
    from padim_edge.runtime.predictor import Predictor, check_threshold
    from padim_edge.runtime.sources import open_source
    from padim_edge.runtime.status_line import StatusLine
    from padim_edge.runtime.stream_policy import RetryPolicy
    from padim_edge.sinks.line import LineOptions, open_line_sinks
    from padim_edge.sinks.live import LiveFeed
    from padim_edge.sinks.png_files import RejectSaver
    from padim_edge.sinks.text import JsonLines
    from padim_edge.sinks.video import OverlayVideo
    from padim_edge.storage.atomic import atomic_write
    from padim_edge.storage.output_checks import check_output_file, check_output_folder

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
    if http_linger and not http:
        raise UserError("--http-linger applies to the live server: give --http too")
    line_options = LineOptions(
        camera=camera, mqtt=mqtt, mqtt_ca=mqtt_ca, mqtt_cert=mqtt_cert, mqtt_key=mqtt_key,
        mqtt_password_file=mqtt_password_file, mqtt_overlays=mqtt_overlays, mqtt_rate=mqtt_rate,
        mqtt_summary_s=mqtt_summary_s, webhook=webhook, webhook_headers=webhook_headers, webhook_batch=webhook_batch,
        webhook_timeout_s=webhook_timeout_s, webhook_rate=webhook_rate, opcua=opcua, modbus_coil=modbus_coil,
        modbus_pulse_ms=modbus_pulse_ms, modbus_device=modbus_device, spool=spool, spool_max_mb=spool_max_mb,
        spool_fsync_s=spool_fsync_s, drain_s=sink_drain_s,
    )  # fmt: skip
    line_options.check()
    status = StatusLine()
    live = LiveServer(http, http_token(), status.log) if http else None  # before the model: a port in use fails fast
    watch = backend = None
    try:
        if server:
            from padim_edge.runtime.backends.triton import open_triton

            backend = open_triton(server, model_name, RETRY_S if retry else 0.0)
        else:
            backend = open_backend(model, provider, threads, False, cuda_graph, backend_name, precision)
        predictor = Predictor(backend, threshold)
        drift = DriftWatch(predictor, status.log)
        if model is not None:  # a replaced model file is swapped in while the source goes on

            def load(path: Path) -> Predictor:
                return Predictor(
                    open_backend(path, provider, threads, False, cuda_graph, backend_name, precision), threshold
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
            line_sinks = open_line_sinks(
                line_options, backend, predictor.threshold, results, status.log, lambda: {"drift": drift.state()}
            )
            sinks.extend(line_sinks.values())
            view = None
            if live:
                view = live_view(predictor, model_name or (model.stem if model else ""))
                live.show(view)
                sinks.append(LiveFeed(view))
                stats = {name: sink.stats for name, sink in line_sinks.items()}
                view.metrics.registry.register(LineSinkMetrics(stats))
                view.metrics.registry.register(ModelHealthMetrics(drift.state, watch.summary if watch else None))
            summary = score_source(
                stream,
                predictor,
                sinks,
                status,
                batch,
                max_frames,
                window=show,
                on_start=view.attach if view else None,
                on_poll=watch.poll if watch else None,
            )
            summary["line"] = {name: sink.stats() for name, sink in line_sinks.items()}
            summary["drift"] = drift.state()
            if watch:
                summary["model"] = watch.summary()
        finally:
            stream.close()
        typer.echo(format_summary(summary), err=str(results) == "-")
        if summary_json:
            atomic_write(summary_json, json.dumps(summary, indent=2, allow_nan=False) + "\n")
        if view:
            view.finish(summary["stopped_by"])
            linger(http_linger)
    finally:
        if watch:
            watch.close()  # the running model and any it replaced
        elif backend is not None:
            backend.close()
        if live:
            live.close()
    exit_for(summary)


def live_view(predictor: Predictor, fallback_name: str) -> RunView:
    """The live page's view of this run: the model's name (its category, else `fallback_name`), digest and
    threshold."""
    from padim_edge.live.view import RunView

    info = predictor.backend.info
    return RunView(info.config.category or fallback_name, info.export.graph_sha256, predictor.threshold)


def linger(seconds: float) -> None:
    """Keep the live server up `seconds` after the run (for a last look or scrape); a signal ends it sooner."""
    from padim_edge.commands.scoring import StopSignals

    deadline = time.monotonic() + seconds
    with StopSignals() as signals:
        while not signals.received and time.monotonic() < deadline:
            time.sleep(0.1)


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
    line = [f"{name}: " + ", ".join(f"{k} {v}" for k, v in stats.items()) for name, stats in s.get("line", {}).items()]
    return "\n".join([head, f"backend: {s['backend']}, mean batch {s['mean_batch']}", *line, *rows])
