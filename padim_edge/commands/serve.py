"""`padim-edge serve`: a Triton Inference Server for one model on this host (NVIDIA PyTriton)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def serve(
    model: Annotated[Path, typer.Argument(help="An exported .onnx, or a repository entry from triton-repo.")],
    name: Annotated[
        Optional[str], typer.Option(help="Model name on the server (default: the entry's, else the category).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    http_port: Annotated[int, typer.Option(help="HTTP (KServe v2) port.")] = 8000,
    grpc_port: Annotated[int, typer.Option(help="gRPC (KServe v2) port.")] = 8001,
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics port (/metrics).")] = 8002,
    max_batch: Annotated[
        Optional[int], typer.Option(min=1, help="Largest batch the dynamic batcher forms (8).")
    ] = None,
    queue_delay_us: Annotated[
        Optional[int], typer.Option(min=0, help="How long a request waits for others to join its batch (2000).")
    ] = None,
    instances: Annotated[Optional[int], typer.Option(min=1, help="Model instances (onnxruntime sessions) (1).")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="onnxruntime intra-op threads per instance.")] = None,
) -> None:
    """Serve a model over HTTP and gRPC with Triton's dynamic batcher. The server reports ready once the model
    is loaded. Ctrl-C (SIGINT, also in a background job) or SIGTERM stops it cleanly: exit code 130 after
    SIGINT, 0 after SIGTERM, as `run`; further signals while it stops are ignored.

    Clients: `padim-edge run --server grpc://HOST:GRPC_PORT --model-name NAME`, or any KServe v2 client.
    """
    from padim_edge.runtime.stop_signals import StopSignals
    from padim_edge.serving.pytriton_server import ServeOptions
    from padim_edge.serving.pytriton_server import serve as run_server

    options = ServeOptions(
        name, host, http_port, grpc_port, metrics_port, max_batch, queue_delay_us, instances, threads
    )

    def ready(line: str) -> None:  # stderr: tritonserver's own log goes to stdout, and lines would interleave
        typer.echo(line + "  (Ctrl-C stops)", err=True)

    with StopSignals() as signals:
        run_server(model, options, on_ready=ready, stop_requested=lambda: bool(signals.received))
    if signals.received:
        typer.echo(f"stopped ({signals.received})", err=True)
        raise typer.Exit(signals.exit_code)
    typer.echo("error: the Triton server exited by itself", err=True)
    raise typer.Exit(1)
