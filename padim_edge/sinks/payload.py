"""The message every network sink sends for a result (docs/integration.md): the result's JSON line
(docs/results.md) inside an envelope naming the result id, the camera and the model."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from padim_edge.errors import UserError
from padim_edge.runtime.backends.base import Backend
from padim_edge.runtime.results import FrameResult

PAYLOAD_SCHEMA = 1
_CAMERA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # one MQTT topic level, an OPC UA name part


def check_camera(name: str) -> str:
    """`--camera`: 1-64 letters, digits, '.', '_' or '-' (it becomes a topic level and a node name)."""
    if not _CAMERA.match(name):
        raise UserError(f"--camera {name!r}: use 1-64 letters, digits, '.', '_' or '-' (no '/', '+', '#', spaces)")
    return name


def new_run_id() -> str:
    """A run id unique across runs and restarts: the UTC start time and 48 random bits."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(6)


@dataclass(frozen=True)
class Identity:
    """Who produced the results: camera, model (name and graph digest), threshold, and this run's id."""

    camera: str
    model_name: str
    model_digest: str
    threshold: float | None
    run_id: str

    @classmethod
    def of(cls, backend: Backend, camera: str, threshold: float | None) -> Identity:
        """Read the model's name and digest from the backend's metadata at start (the status message's
        model); each result's payload names the model that scored it (`model_digest`, after a swap)."""
        config = backend.info.config
        name = config.category or config.backbone
        return cls(check_camera(camera), name, backend.info.export.graph_sha256, threshold, new_run_id())

    def result_id(self, result: FrameResult) -> str:
        """Unique across runs and restarts: the run id and the frame's index in the run."""
        return f"{self.run_id}-{result.frame.index:08d}"

    def payload(self, result: FrameResult) -> dict:
        return {
            "payload_schema": PAYLOAD_SCHEMA,
            "result_id": self.result_id(result),
            "camera": self.camera,
            "model": {"name": self.model_name, "digest": result.model_digest or self.model_digest},
            "created": utc_now(),
            "result": result.as_json(),
        }

    def status(self, online: bool) -> dict:
        """The retained status message: online with the model and threshold, or offline."""
        state = {"payload_schema": PAYLOAD_SCHEMA, "camera": self.camera, "state": "online" if online else "offline"}
        if online:
            state.update(
                run_id=self.run_id,
                model={"name": self.model_name, "digest": self.model_digest},
                threshold=self.threshold,
                since=utc_now(),
            )
        return state


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-12-05T08:15:00.123Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(message: dict) -> bytes:
    """Compact JSON on one line (a spool record never contains a newline)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
