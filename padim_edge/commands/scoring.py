"""What `predict` and `run` share: one pipeline run to its end under Ctrl-C/SIGTERM handling
(`runtime.stop_signals`), and the exit code its summary calls for."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from padim_edge.errors import UserError
from padim_edge.runtime.stop_signals import StopSignals

if TYPE_CHECKING:
    from collections.abc import Callable

    from padim_edge.runtime.pipeline import Pipeline
    from padim_edge.runtime.predictor import Predictor
    from padim_edge.runtime.sources import Source
    from padim_edge.runtime.status_line import StatusLine
    from padim_edge.sinks.base import Sink


def score_source(
    source: Source,
    predictor: Predictor,
    sinks: list[Sink],
    status: StatusLine,
    batch: int = 1,
    max_frames: int | None = None,
    window: bool = False,
    on_start: Callable[[Pipeline], None] | None = None,
    on_poll: Callable[[Pipeline], None] | None = None,
) -> dict:
    """Run `source` through the pipeline into `sinks` until it ends or a signal stops it; the summary.
    `on_start` is given the pipeline before it starts (the live page reads its counts); `on_poll(pipeline)`
    is called from the poll loop, every 0.25 s (run's model watch)."""
    from padim_edge.runtime.pipeline import Pipeline, PipelineOptions
    from padim_edge.sinks.base import Outputs
    from padim_edge.sinks.window import Window

    if window:
        sinks = [*sinks, Window(lambda: pipeline.request_stop("window closed"), status.log)]
    outputs = Outputs(sinks, predictor.threshold)
    options = PipelineOptions(batch, max_frames, outputs.needs_images)
    pipeline = Pipeline(source, predictor, outputs, options, log=status.log)
    if on_start:
        on_start(pipeline)
    with StopSignals() as signals:

        def poll() -> None:
            if signals.received:
                pipeline.request_stop(signals.received)
            status.update(pipeline.snapshot())
            if on_poll:
                on_poll(pipeline)

        try:
            summary = pipeline.run(poll, interval=0.25)
        finally:
            status.clear()
    summary["signal"] = signals.received
    return summary


def exit_for(summary: dict) -> None:
    """The exit code a run's summary calls for (docs/reliability.md): 130 after Ctrl-C; 2 when inputs could
    not be read (each one already reported on its own `error:` line) or nothing was scored; 1 when frames
    were missed (a backend unavailable, or a live source lost and not regained); otherwise return (0)."""
    if summary["signal"] == "SIGINT":
        raise typer.Exit(130)
    total = summary["frames"] + summary["failed"] + summary["missed"]
    if summary["failed"]:
        typer.echo(f"{summary['failed']} of {total} inputs could not be read (each is reported above)", err=True)
        raise typer.Exit(2)
    if summary["frames"] == 0:
        raise UserError(f"{summary['source']}: no frame was scored ({summary['stopped_by']})")
    if summary["missed"]:
        typer.echo(f"error: {summary['missed']} of {total} frames missed: the backend was unavailable", err=True)
        raise typer.Exit(1)
    if summary["source_lost"]:
        typer.echo(f"error: {summary['source']}: {summary['stopped_by']} after {total} frames", err=True)
        raise typer.Exit(1)
