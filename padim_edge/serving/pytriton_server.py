"""`padim-edge serve`: a real Triton Inference Server on this host, through NVIDIA PyTriton.

PyTriton starts the tritonserver binary it bundles (HTTP, gRPC, Prometheus metrics, dynamic batcher) and
binds a Python function as the model; here that function runs padim-edge's torch-free onnxruntime backend,
one session per instance. The model config that clients read carries the padim-edge metadata in
`parameters`, as the repositories written by `padim-edge triton-repo` do.
"""

from __future__ import annotations

import os
import shutil
import socket
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from padim_edge.contract.wire import (
    ANOMALY_MAP,
    INPUT,
    MAX_BATCH,
    PARAMETER_KEY,
    QUEUE_DELAY_US,
    SCORE,
    SCORE_DIMS,
    default_name,
    input_dims,
    map_dims,
)
from padim_edge.errors import UserError
from padim_edge.runtime.backends import Backend, open_backend
from padim_edge.serving.repository_entry import resolve_model
from padim_edge.storage.writer_id import writer_gone, writer_id

#: Seconds between two looks at the stop request and at tritonserver's health.
POLL_S = 0.2
#: Seconds tritonserver waits for in-flight requests when stopping (its default, 30, holds the ports).
EXIT_TIMEOUT_S = 3


@dataclass(frozen=True)
class ServeOptions:
    """Ports and batching; None takes the repository entry's value, else the default."""

    name: str | None = None
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    max_batch: int | None = None
    queue_delay_us: int | None = None
    instances: int | None = None
    threads: int | None = None


def serve(
    model: Path, options: ServeOptions, on_ready: Callable[[str], None], stop_requested: Callable[[], bool]
) -> None:
    """Serve until `stop_requested()` (polled) or until tritonserver exits; always stops it cleanly.

    The model goes into PyTriton's local model store before tritonserver starts, which loads it at start-up:
    with strict readiness, `/v2/health/ready` answers 200 only once the model is loaded and ready.
    """
    found = resolve_model(model)
    check_ports(options.host, (options.http_port, options.grpc_port, options.metrics_port))
    instances = options.instances or found.instances or 1
    backends = [open_backend(found.onnx, threads=options.threads, spinning=False) for _ in range(instances)]
    info = backends[0].info
    name = options.name or found.name or default_name(found.onnx, info)
    for backend in backends:  # first calls allocate: do it before the server accepts requests
        backend.infer(np.zeros((1, *input_dims(info)), np.uint8))
    use_own_libpython()
    from pytriton.exceptions import PyTritonError
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig, TritonLifecyclePolicy

    config = TritonConfig(
        http_address=options.host,
        http_port=options.http_port,
        grpc_address=options.host,
        grpc_port=options.grpc_port,
        metrics_address=options.host,
        metrics_port=options.metrics_port,
        exit_timeout_secs=EXIT_TIMEOUT_S,
        strict_readiness=True,
    )
    delay = options.queue_delay_us if options.queue_delay_us is not None else found.queue_delay_us
    policy = TritonLifecyclePolicy(launch_triton_on_startup=False, local_model_store=True)
    triton = Triton(config=config, workspace=fresh_workspace(), triton_lifecycle_policy=policy)
    try:
        triton.bind(
            model_name=name,
            infer_func=[infer_function(backend) for backend in backends],
            inputs=[Tensor(name=INPUT, dtype=np.uint8, shape=tuple(input_dims(info)))],
            outputs=[
                Tensor(name=ANOMALY_MAP, dtype=np.float32, shape=tuple(map_dims(info))),
                Tensor(name=SCORE, dtype=np.float32, shape=tuple(SCORE_DIMS)),
            ],
            config=ModelConfig(
                max_batch_size=options.max_batch or found.max_batch or MAX_BATCH,
                batcher=DynamicBatcher(max_queue_delay_microseconds=QUEUE_DELAY_US if delay is None else delay),
            ),
            strict=True,
        )
        add_config_parameter(triton, name, PARAMETER_KEY, info.to_json())
        try:
            triton.run()
        except (TimeoutError, PyTritonError) as exc:
            raise UserError(f"the Triton server did not start ({exc}); its log is above") from None
        host = options.host
        on_ready(
            f"serving {name} ({found.onnx}, {instances} instance(s)): grpc://{host}:{options.grpc_port} "
            f"http://{host}:{options.http_port} metrics http://{host}:{options.metrics_port}/metrics"
        )
        while triton.is_alive() and not stop_requested():
            time.sleep(POLL_S)
    finally:
        triton.stop()
        for backend in backends:
            backend.close()


def infer_function(backend: Backend) -> Callable:
    """The function Triton's batcher calls with a whole batch: frames [N, H, W, 3] -> map [N, 1, H, W], score [N, 1]."""
    from pytriton.decorators import batch

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        maps, scores = backend.infer(inputs[INPUT])
        return {ANOMALY_MAP: maps[:, None], SCORE: scores[:, None]}

    return infer


def add_config_parameter(triton: object, model_name: str, key: str, value: str) -> None:
    """Add a `parameters` entry to the model's config and write the config into PyTriton's local model store
    again (tritonserver reads it from there at start-up). PyTriton 0.7.0 has no API for it; the entry joins
    the backend parameters it already writes there (pinned version, tested)."""
    models = [model for model in triton._model_manager.models if model.model_name == model_name]
    if not models:
        raise RuntimeError(f"PyTriton has no bound model {model_name!r} (a PyTriton other than 0.7.0?)")
    for model in models:
        model._get_triton_model_config().backend_parameters[key] = value
        model.generate_model(triton._workspace.model_store_path)


def check_ports(host: str, ports: tuple[int, ...]) -> None:
    """Each port must be free on `host` (tritonserver would fail, and PyTriton wait, on a busy one)."""
    if len(set(ports)) != len(ports):
        raise UserError(f"--http-port, --grpc-port and --metrics-port must differ (got {', '.join(map(str, ports))})")
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise UserError(f"{host}:{port}: cannot listen there ({exc.strerror})") from None


def use_own_libpython() -> None:
    """Point tritonserver's Python backend stub at this interpreter's libpython.

    A Python built with its own shared libpython (pyenv) otherwise has the stub load the system's
    libpython3.X, a different build, and the model fails to start ('_thread.RLock' object has no attribute
    '_recursion_count'). PyTriton starts tritonserver with a copy of os.environ.
    """
    libdir = sysconfig.get_config_var("LIBDIR")
    if not (sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir):
        return
    paths = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    if libdir not in paths:
        os.environ["LD_LIBRARY_PATH"] = os.pathsep.join([libdir, *paths])


def fresh_workspace() -> Path:
    """PyTriton's workspace (tritonserver copy, sockets) for this process: PYTRITON_HOME/padim-edge-HOST-PID.
    Workspaces left by serve processes of this host that died without cleaning up (kill -9) are removed
    first; another host's (a home folder shared over NFS) are left alone."""
    from pytriton.constants import PYTRITON_HOME

    for old in PYTRITON_HOME.glob("padim-edge-*-*"):
        host, _, pid = old.name.removeprefix("padim-edge-").partition("-")
        if pid.isdigit() and writer_gone(host, int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return PYTRITON_HOME / f"padim-edge-{writer_id()}"
