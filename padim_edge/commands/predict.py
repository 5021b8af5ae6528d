"""`padim-edge predict`: score image files through the same pipeline as `run`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from padim_edge.commands import line_options as line
from padim_edge.commands.options import MAX_BATCH, BackendName, Model, Precision, Threads, Threshold


def predict(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    model: Model,
    threshold: Threshold = None,
    overlay_dir: Annotated[
        Optional[Path], typer.Option(help="Write each image's heatmap overlay here (relative paths kept).")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="Images per inference call.")] = 8,
    threads: Threads = None,
    backend_name: BackendName = "onnxruntime",
    precision: Precision = "f32",
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines (docs/results.md) instead of a table.")] = False,
    camera: line.Camera = "cam0",
    mqtt: line.Mqtt = None,
    mqtt_ca: line.MqttCa = None,
    mqtt_cert: line.MqttCert = None,
    mqtt_key: line.MqttKey = None,
    mqtt_password_file: line.MqttPasswordFile = None,
    mqtt_overlays: line.MqttOverlays = False,
    mqtt_rate: line.MqttRate = 0.0,
    webhook: line.Webhook = None,
    webhook_headers: line.WebhookHeaders = None,
    webhook_batch: line.WebhookBatch = 1,
    webhook_timeout_s: line.WebhookTimeout = 5.0,
    webhook_rate: line.WebhookRate = 0.0,
    spool: line.Spool = None,
    spool_max_mb: line.SpoolMax = 256.0,
    spool_fsync_s: line.SpoolFsync = 1.0,
    sink_drain_s: line.Drain = 5.0,
) -> None:
    """Score images: verdict (OK, NG; ? without threshold), score, normalised score (score / threshold), name.

    Every readable image is scored; each unreadable one gets a line saying why, and the exit code is then 2.
    --mqtt and --webhook also send each result, as `run` does (docs/integration.md); the spool defaults to
    ./padim-edge-spool.
    """
    from padim_edge.commands.scoring import exit_for, score_source
    from padim_edge.runtime.backends import open_backend
    from padim_edge.runtime.predictor import Predictor, check_threshold
    from padim_edge.runtime.sources import ImageFiles, image_inputs
    from padim_edge.runtime.status_line import StatusLine
    from padim_edge.sinks.line import LineOptions, open_line_sinks
    from padim_edge.sinks.png_files import OverlayFolder
    from padim_edge.sinks.text import JsonLines, Table
    from padim_edge.storage.output_checks import check_output_folder

    check_threshold(threshold)
    line_options = LineOptions(
        camera=camera, mqtt=mqtt, mqtt_ca=mqtt_ca, mqtt_cert=mqtt_cert, mqtt_key=mqtt_key,
        mqtt_password_file=mqtt_password_file, mqtt_overlays=mqtt_overlays, mqtt_rate=mqtt_rate, webhook=webhook,
        webhook_headers=webhook_headers, webhook_batch=webhook_batch, webhook_timeout_s=webhook_timeout_s,
        webhook_rate=webhook_rate, spool=spool, spool_max_mb=spool_max_mb, spool_fsync_s=spool_fsync_s,
        drain_s=sink_drain_s,
    )  # fmt: skip
    line_options.check()
    files = image_inputs(inputs)
    if overlay_dir:
        check_output_folder(overlay_dir, "--overlay-dir")
    status = StatusLine()
    backend = open_backend(model, threads=threads, spinning=False, backend=backend_name, precision=precision)
    try:
        predictor = Predictor(backend, threshold)
        sinks = [JsonLines(Path("-")) if as_json else Table()]
        if overlay_dir:
            sinks.append(OverlayFolder(overlay_dir))
        sinks.extend(open_line_sinks(line_options, backend, predictor.threshold, None, status.log).values())
        source = ImageFiles(files, " ".join(map(str, inputs)))
        summary = score_source(source, predictor, sinks, status, batch=batch)
    finally:
        backend.close()
    exit_for(summary)
