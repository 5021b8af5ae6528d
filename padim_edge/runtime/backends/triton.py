"""A Triton Inference Server as a backend: `run --server URL --model-name NAME` scores frames there.

The model's padim-edge metadata comes from the server (the `padim_edge` entry of the model config's
`parameters`, written by `padim-edge triton-repo` and `padim-edge serve`), so the client needs no model file.
`grpc://host:port` (the default without a scheme) or `http://host:port`; tritonclient is imported lazily.

Outages: a refused connection, a timeout, or an error while the model is not ready raises BackendUnavailable
at once, and for a backoff delay (0.25 s doubling to 4 s) later calls raise it without touching the network.
The next attempt after the delay opens a fresh connection; one success resets the delay.
A request refused while the model is ready is sent once more; refused again, it is a UserError.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import numpy as np

from padim_edge.contract.metadata import parse_metadata
from padim_edge.contract.wire import ANOMALY_MAP, INPUT, PARAMETER_KEY, SCORE
from padim_edge.errors import UserError
from padim_edge.runtime.backends.base import Backend, BackendUnavailable
from padim_edge.runtime.backoff import Backoff

CONNECT_TIMEOUT_S = 1.0
#: gRPC status codes that mean "not there now" rather than "this request is wrong".
TRANSIENT_GRPC = ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.CANCELLED")


def split_url(url: str) -> tuple[str, str]:
    """('grpc' or 'http', 'host:port') from grpc://host:port, http://host:port or host:port (gRPC)."""
    parts = urlsplit(url if "://" in url else f"grpc://{url}")
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        port = None
    if parts.scheme not in ("grpc", "http") or not parts.hostname or not port or parts.path not in ("", "/"):
        raise UserError(f"--server {url}: expected grpc://HOST:PORT or http://HOST:PORT")
    return parts.scheme, parts.netloc


class TritonBackend(Backend):
    """Scores frames on a Triton server; the constructor reads the model's config and metadata from it."""

    def __init__(self, url: str, model_name: str, timeout_s: float = 5.0, backoff: Backoff | None = None) -> None:
        self.protocol, self.address = split_url(url)
        self.url, self.model_name, self.timeout_s = url, model_name, timeout_s
        self.backoff = backoff or Backoff()
        self._client, self._client_thread = None, 0
        config = self._model_config()
        parameter = config.get("parameters", {}).get(PARAMETER_KEY, {})
        source = f"{url} model {model_name}"
        self.info = parse_metadata(parameter.get("string_value"), source)
        self.max_batch = int(config.get("max_batch_size", 0)) or None
        inputs = [i.get("name") for i in config.get("input", [])]
        if inputs != [INPUT]:
            raise UserError(f"{source}: expected one input named {INPUT!r}, the server has {inputs}")

    def infer(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.backoff.ready():
            raise BackendUnavailable(f"{self.url}: unavailable, next try in {self.backoff.wait_s():.1f} s")
        result = self._call(lambda client: self._infer(client, frames))
        maps, scores = result.as_numpy(ANOMALY_MAP), result.as_numpy(SCORE)
        return maps[:, 0], scores.reshape(len(frames))

    def describe(self) -> str:
        return f"Triton {self.protocol}://{self.address} model {self.model_name}"

    def close(self) -> None:
        self._drop_client()

    # --- internals ----------------------------------------------------------------------------------------

    def _model_config(self) -> dict:
        """The model's config as a dict, the same over HTTP and gRPC."""

        def fetch(client: object) -> dict:
            if self.protocol == "http":
                return client.get_model_config(self.model_name)
            return client.get_model_config(self.model_name, as_json=True, client_timeout=self.timeout_s)["config"]

        return self._call(fetch)

    def _infer(self, client: object, frames: np.ndarray) -> object:
        module = self._module()
        data = module.InferInput(INPUT, list(frames.shape), "UINT8")
        data.set_data_from_numpy(np.ascontiguousarray(frames))
        outputs = [module.InferRequestedOutput(ANOMALY_MAP), module.InferRequestedOutput(SCORE)]
        if self.protocol == "http":
            return client.infer(self.model_name, [data], outputs=outputs)
        return client.infer(self.model_name, [data], outputs=outputs, client_timeout=self.timeout_s)

    def _call(self, request: Callable[[object], object], retries: int = 1) -> object:
        """Run `request` with the client; outages become BackendUnavailable (and start the backoff), a
        request the server still refuses while the model is ready becomes a UserError. The retry covers a
        restart: a request that reaches the server before the model is loaded fails, and the model may be
        ready by the time we ask."""
        try:
            result = request(self._connect())
        except Exception as exc:  # noqa: BLE001 - tritonclient, gevent and grpc raise many types
            self._drop_client()
            if self._transient(exc):
                self.backoff.failed()
                raise BackendUnavailable(f"{self.url}: server unreachable ({_first_line(exc)})") from None
            if not self._model_ready():
                self.backoff.failed()
                raise BackendUnavailable(
                    f"{self.url}: model {self.model_name!r} not ready on the server ({_first_line(exc)})"
                ) from None
            if retries:
                return self._call(request, retries - 1)
            raise UserError(f"{self.url} model {self.model_name}: {_first_line(exc)}") from None
        self.backoff.succeeded()
        return result

    def _transient(self, exc: Exception) -> bool:
        from tritonclient.utils import InferenceServerException

        if isinstance(exc, InferenceServerException):
            return str(exc.status()) in TRANSIENT_GRPC or "timed out" in str(exc).lower()
        return True  # connection refused or reset, socket timeouts: the server is not there

    def _model_ready(self) -> bool:
        try:
            return bool(self._connect().is_model_ready(self.model_name, **self._timeout()))
        except Exception:  # noqa: BLE001 - any failure to ask means not ready
            self._drop_client()
            return False

    def _timeout(self) -> dict:
        return {} if self.protocol == "http" else {"client_timeout": self.timeout_s}

    def _module(self) -> object:
        try:
            if self.protocol == "http":
                import tritonclient.http as module
            else:
                import tritonclient.grpc as module
        except ImportError:
            raise UserError("--server needs tritonclient: pip install 'padim-edge[serve]'") from None
        return module

    def _connect(self) -> object:
        """The client, opened by this thread (the HTTP client's gevent sockets belong to the thread that
        opened them; the pipeline infers in another thread than the one that connected)."""
        if self._client is not None and self._client_thread != threading.get_ident():
            self._drop_client()
        if self._client is None:
            module = self._module()
            self._client_thread = threading.get_ident()
            if self.protocol == "http":
                self._client = module.InferenceServerClient(
                    self.address, connection_timeout=CONNECT_TIMEOUT_S, network_timeout=self.timeout_s
                )
            else:
                self._client = module.InferenceServerClient(self.address)
        return self._client

    def _drop_client(self) -> None:
        """Close the connection; the next attempt opens a fresh one (a gRPC channel's own reconnect backoff
        grows to minutes, far beyond a restart)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is dropped anyway
                pass


def open_triton(url: str, model_name: str | None, wait_s: float = 0.0, timeout_s: float = 5.0) -> TritonBackend:
    """Connect to the server and read the model's config; while the server or the model is not there, retry
    with backoff for up to `wait_s` seconds, then fail with one line (a UserError)."""
    if not model_name:
        raise UserError("--server needs --model-name (the model's name on the server)")
    deadline, backoff = time.monotonic() + wait_s, Backoff(first_s=0.5, max_s=5.0)
    while True:
        try:
            return TritonBackend(url, model_name, timeout_s)
        except BackendUnavailable as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                hint = f" after waiting {wait_s:.0f} s" if wait_s else " (--retry waits for it)"
                raise UserError(f"{exc}{hint}") from None
            backoff.failed()
            time.sleep(min(backoff.wait_s(), remaining))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
