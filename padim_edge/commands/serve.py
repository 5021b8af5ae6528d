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
    """Serve a model over HTTP and gRPC with Triton's dynamic batcher; Ctrl-C or SIGTERM stops it cleanly
    (exit code 130 after Ctrl-C, 0 after SIGTERM, as `run`).

    Clients: `padim-edge run --server grpc://HOST:GRPC_PORT --model-name NAME`, or any KServe v2 client.
    """
    import signal
    import threading

    from padim_edge.serving.pytriton_server import ServeOptions
    from padim_edge.serving.pytriton_server import serve as run_server

    received: list[str] = []

    def stop(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():  # handlers can only be set there
        signal.signal(signal.SIGTERM, stop)
    options = ServeOptions(
        name, host, http_port, grpc_port, metrics_port, max_batch, queue_delay_us, instances, threads
    )
    try:
        # stderr: tritonserver's own log goes to stdout, and lines would interleave
        run_server(model, options, on_ready=lambda line: typer.echo(line + "  (Ctrl-C stops)", err=True))
    except KeyboardInterrupt:
        typer.echo("stopped", err=True)
        raise typer.Exit(0 if received == ["SIGTERM"] else 130) from None
    typer.echo("error: the Triton server exited by itself", err=True)
    raise typer.Exit(1)
