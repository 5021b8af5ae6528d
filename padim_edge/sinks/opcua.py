"""OPC UA (asyncua): a server that PLCs and SCADA clients poll for the latest result and the counters.

The variables are shaped after the result of the Machine Vision companion specification (OPC 40100):
ResultId, IsPartial, ResultState, CreationTime, ProcessingTimes, and the verdict and score as the result
content. PLCs poll, so the server holds the latest result, not a history, and nothing is spooled. The node
ids are fixed strings in namespace `urn:padim-edge` (docs/integration.md lists them).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import numpy as np
from asyncua import Server, ua

from padim_edge.errors import UserError
from padim_edge.runtime.predictor import NG, OK
from padim_edge.runtime.results import FrameResult
from padim_edge.sinks.counts import VerdictCounts
from padim_edge.sinks.payload import Identity
from padim_edge.sinks.urls import split_url

NAMESPACE = "urn:padim-edge"
START_TIMEOUT_S = 30.0
RESULT_STATE = {OK: 1, NG: 2}  # 0: no verdict (no threshold); -1: the frame could not be scored

_V = ua.VariantType
#: Every variable and its OPC UA type, by browse path below Objects/PadimEdge/<camera>.
TYPES = {
    "Result.ResultId": _V.String,
    "Result.IsPartial": _V.Boolean,
    "Result.ResultState": _V.Int32,
    "Result.CreationTime": _V.DateTime,
    "Result.ProcessingTimes.StartTime": _V.DateTime,
    "Result.ProcessingTimes.EndTime": _V.DateTime,
    "Result.ProcessingTimes.AcquisitionDuration": _V.Double,
    "Result.ProcessingTimes.ProcessingDuration": _V.Double,
    "Result.ResultContent.Verdict": _V.String,
    "Result.ResultContent.Score": _V.Double,
    "Result.ResultContent.NormalizedScore": _V.Double,
    "Result.ResultContent.FrameIndex": _V.Int64,
    "Counters.OkCount": _V.UInt64,
    "Counters.NgCount": _V.UInt64,
    "Counters.FailedCount": _V.UInt64,
    "Counters.DroppedCount": _V.UInt64,
    "Model.Name": _V.String,
    "Model.Digest": _V.String,
    "Model.Threshold": _V.Double,
    "Model.RunId": _V.String,
}
_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)  # OPC UA's DateTime zero: no result yet
DEFAULTS = {
    _V.String: "",
    _V.Boolean: False,
    _V.Int32: 0,
    _V.Int64: -1,
    _V.UInt64: 0,
    _V.Double: math.nan,
    _V.DateTime: _EPOCH,
}


def parse_opcua(url: str) -> tuple[str, int]:
    """`--opcua opc.tcp://HOST:PORT` (the address to listen on): (host, port)."""
    parts, port = split_url("--opcua", url, ("opc.tcp",), "opc.tcp://HOST:PORT, 0.0.0.0 for every interface")
    return parts.hostname, port or 4840


def node_ids(camera: str) -> dict[str, str]:
    """The string node id of every variable, by browse path below Objects/PadimEdge/<camera>."""
    return {name: f"PadimEdge.{camera}.{name}" for name in TYPES}


class OpcUaSink:
    """An asyncua server on its own thread and event loop; `write` only hands it the latest result."""

    needs_images = False

    def __init__(self, url: str, identity: Identity, log: Callable[[str], None] | None = None) -> None:
        self.url, self.identity = url, identity
        self.host, self.port = parse_opcua(url)
        self._log = log or (lambda _message: None)
        self.counts = VerdictCounts()
        self.updates = 0  # results written into the address space
        self._latest: dict | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        logging.getLogger("asyncua").setLevel(logging.ERROR)  # its per-connection chatter is not ours to print
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), name="sink-opcua", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise UserError(f"--opcua {url}: the server did not start within {START_TIMEOUT_S:.0f} s")
        if self._error is not None:
            raise UserError(f"--opcua {url}: cannot listen there ({self._error})") from None

    def wants_overlay(self, result: FrameResult) -> bool:
        return False

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        self.counts.add(result)
        end = datetime.now(timezone.utc)
        values = {
            "Result.ResultId": self.identity.result_id(result),
            "Result.ResultState": RESULT_STATE.get(result.verdict, 0) if result.scored else -1,
            "Result.CreationTime": end,
            "Result.ProcessingTimes.StartTime": end
            - timedelta(seconds=max(0.0, result.output_in - result.frame.captured)),
            "Result.ProcessingTimes.EndTime": end,
            "Result.ProcessingTimes.AcquisitionDuration": result.frame.read_s * 1e3,
            "Result.ProcessingTimes.ProcessingDuration": result.latency_s * 1e3 if result.scored else math.nan,
            "Result.ResultContent.Verdict": result.verdict or "",
            "Result.ResultContent.Score": result.score,
            "Result.ResultContent.NormalizedScore": math.nan if result.normalized is None else result.normalized,
            "Result.ResultContent.FrameIndex": result.frame.index,
        }
        counts = self.counts.snapshot()
        values.update(
            {
                "Counters.OkCount": counts["ok"],
                "Counters.NgCount": counts["ng"],
                "Counters.FailedCount": counts["failed"],
                "Counters.DroppedCount": counts["dropped"],
            }
        )
        with self._lock:
            self._latest = values
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def close(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def stats(self) -> dict:
        return {**self.counts.snapshot(), "updates": self.updates}

    # --- the server thread --------------------------------------------------------------------------------------

    async def _serve(self) -> None:
        try:
            server = Server()
            await server.init()
            server.set_endpoint(f"opc.tcp://{self.host}:{self.port}/")
            server.set_server_name("padim-edge")
            nodes = await self._build(server)
            await server.start()
        except Exception as exc:  # a port in use, a host that is not ours: reported by __init__
            self._error = exc
            self._ready.set()
            return
        self._loop, self._wake, self._stop = asyncio.get_running_loop(), asyncio.Event(), asyncio.Event()
        self._ready.set()
        try:
            while not self._stop.is_set():
                waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._stop.wait())]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                self._wake.clear()
                with self._lock:
                    values, self._latest = self._latest, None
                if values:  # back to back in the server loop, so a client's single Read sees one result
                    for name, value in values.items():
                        await server.write_attribute_value(
                            nodes[name].nodeid, ua.DataValue(ua.Variant(value, TYPES[name]))
                        )
                    self.updates += 1
        finally:
            await server.stop()

    async def _build(self, server: object) -> dict:
        """Objects/PadimEdge/<camera>/{Result/{ProcessingTimes,ResultContent}, Counters, Model}: the variables."""
        ns = await server.register_namespace(NAMESPACE)
        root = await server.nodes.objects.add_object(f"ns={ns};s=PadimEdge", "PadimEdge")
        camera = await root.add_object(f"ns={ns};s=PadimEdge.{self.identity.camera}", self.identity.camera)
        folders: dict[str, object] = {"": camera}
        initial = {
            "Model.Name": self.identity.model_name,
            "Model.Digest": self.identity.model_digest,
            "Model.Threshold": math.nan if self.identity.threshold is None else self.identity.threshold,
            "Model.RunId": self.identity.run_id,
            "Result.IsPartial": False,
        }
        nodes = {}
        for name, node_id in node_ids(self.identity.camera).items():
            *path, leaf = name.split(".")
            parent = folders[""]
            for depth in range(len(path)):
                key = ".".join(path[: depth + 1])
                if key not in folders:
                    folders[key] = await parent.add_object(
                        f"ns={ns};s=PadimEdge.{self.identity.camera}.{key}", path[depth]
                    )
                parent = folders[key]
            value = initial.get(name, DEFAULTS[TYPES[name]])
            nodes[name] = await parent.add_variable(f"ns={ns};s={node_id}", leaf, value, TYPES[name])
        return nodes
