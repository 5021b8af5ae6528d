"""MQTT (paho-mqtt): one QoS 1 message per result on PREFIX/<camera>/result, through the disk spool; a
retained PREFIX/<camera>/status (online on connect, offline as the last will and on a clean exit); a
periodic PREFIX/<camera>/summary; optional JPEG overlays of NG frames on PREFIX/<camera>/overlay/<id>."""

from __future__ import annotations

import os
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from padim_edge.errors import UserError
from padim_edge.runtime.predictor import NG
from padim_edge.runtime.results import FrameResult
from padim_edge.sinks.counts import VerdictCounts
from padim_edge.sinks.delivery import Delivery
from padim_edge.sinks.names import MQTT_PASSWORD_ENV, MQTT_USERNAME_ENV
from padim_edge.sinks.payload import PAYLOAD_SCHEMA, Identity, encode
from padim_edge.sinks.spool import Spool
from padim_edge.sinks.urls import split_url

DEFAULT_PREFIX = "padim-edge"
ACK_TIMEOUT_S = 5.0  # a batch not acknowledged (PUBACK) by then is sent again
CONNECT_WAIT_S = 1.0  # at start, how long to wait for the broker before warning and spooling
IN_FLIGHT = 32  # QoS 1 messages awaiting PUBACK at once (one send batch)
KEEPALIVE_S = 10


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to connect; built from the command line by `parse_mqtt`."""

    host: str
    port: int
    prefix: str
    tls: bool
    username: str | None = None
    password: str | None = None
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @property
    def where(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt(
    url: str,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    password_file: Path | None = None,
) -> MqttSettings:
    """`--mqtt mqtt[s]://[USER@]HOST[:PORT][/PREFIX]` and its TLS and credential files; one UserError for
    anything wrong. The password comes from $PADIM_EDGE_MQTT_PASSWORD or --mqtt-password-file, never argv."""
    flag = f"--mqtt {url}"
    parts, port = split_url("--mqtt", url, ("mqtt", "mqtts"), "mqtt[s]://HOST[:PORT]/PREFIX")
    if parts.password is not None:
        raise UserError(f"{flag}: a password on the command line is visible to every user; set ${MQTT_PASSWORD_ENV}")
    if parts.query or parts.fragment:
        raise UserError(f"{flag}: unexpected '?' or '#' (expected mqtt[s]://HOST[:PORT]/PREFIX)")
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    if any(c in prefix for c in "+#\0") or "//" in prefix:
        raise UserError(f"{flag}: prefix {prefix!r} must be plain topic levels (no '+', '#' or empty levels)")
    tls = parts.scheme == "mqtts"
    files = {"--mqtt-ca": ca, "--mqtt-cert": cert, "--mqtt-key": key}
    for name, path in files.items():
        if path is None:
            continue
        if not tls:
            raise UserError(f"{name} {path}: TLS files need an mqtts:// URL")
        if not path.is_file():
            raise UserError(f"{name} {path}: no such file")
    if (cert is None) != (key is None):
        raise UserError("--mqtt-cert and --mqtt-key go together (a client certificate and its key)")
    password = os.environ.get(MQTT_PASSWORD_ENV)
    if password_file is not None:
        try:
            password = password_file.read_text(encoding="utf-8").splitlines()[0]
        except (OSError, UnicodeDecodeError, IndexError):
            raise UserError(f"--mqtt-password-file {password_file}: cannot read a password from it") from None
    username = parts.username or os.environ.get(MQTT_USERNAME_ENV)
    return MqttSettings(parts.hostname, port or (8883 if tls else 1883), prefix, tls, username, password, ca, cert, key)


class MqttTransport:
    """A paho client on its own network thread (it reconnects with backoff); `send` publishes a batch at
    QoS 1 and waits for the broker's PUBACKs."""

    name = "mqtt"
    max_batch = IN_FLIGHT

    def __init__(
        self,
        settings: MqttSettings,
        identity: Identity,
        summary: Callable[[], dict],
        summary_s: float,
        images: deque,
        log: Callable[[str], None],
    ) -> None:
        import paho.mqtt.client as mqtt

        self.settings, self.identity, self._summary, self.summary_s = settings, identity, summary, summary_s
        self._images, self._log = images, log
        base = f"{settings.prefix}/{identity.camera}"
        self.topics = {k: f"{base}/{k}" for k in ("result", "status", "summary", "overlay")}
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"padim-edge-{identity.camera}-{identity.run_id}"
        )
        client.max_inflight_messages_set(IN_FLIGHT)
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            try:
                client.tls_set(
                    ca_certs=str(settings.ca) if settings.ca else None,
                    certfile=str(settings.cert) if settings.cert else None,
                    keyfile=str(settings.key) if settings.key else None,
                )
            except (ssl.SSLError, OSError) as exc:
                raise UserError(f"--mqtt {settings.where}: cannot use the TLS files ({exc})") from None
        client.will_set(self.topics["status"], encode(identity.status(online=False)), qos=1, retain=True)
        client.on_connect = self._connected
        client.reconnect_delay_set(1, 8)
        self.client = client
        self._refused = ""
        client.connect_async(settings.host, settings.port, keepalive=KEEPALIVE_S)
        client.loop_start()
        deadline = time.monotonic() + CONNECT_WAIT_S
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not client.is_connected():
            why = f" ({self._refused})" if self._refused else ""
            log(f"warning: mqtt: {settings.where} does not answer{why}; results are spooled until it does")
        self._next_summary = time.monotonic() + summary_s

    def _connected(self, client: object, _userdata: object, _flags: object, reason: object, _props: object) -> None:
        if getattr(reason, "is_failure", False):
            self._refused = f"refused: {reason}"
            return
        self.client.publish(self.topics["status"], encode(self.identity.status(online=True)), qos=1, retain=True)

    def send(self, records: list[bytes]) -> int:
        if not self.client.is_connected():
            raise ConnectionError(
                f"{self.settings.where}: not connected" + (f", {self._refused}" if self._refused else "")
            )
        infos = [self.client.publish(self.topics["result"], record, qos=1) for record in records]
        deadline = time.monotonic() + ACK_TIMEOUT_S
        for done, info in enumerate(infos):
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):  # not queued: the connection dropped under the batch
                return done
            if not info.is_published():
                return done
        return len(infos)

    def idle(self) -> None:
        """Publish waiting overlays (QoS 0, never spooled) and the summary when it is due."""
        if not self.client.is_connected():
            return
        while self._images:
            result_id, overlay = self._images.popleft()
            ok, jpeg = cv2.imencode(".jpg", overlay, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if ok:
                self.client.publish(f"{self.topics['overlay']}/{result_id}", jpeg.tobytes(), qos=0)
        if time.monotonic() >= self._next_summary:
            self._publish_summary()

    def _publish_summary(self) -> None:
        self._next_summary = time.monotonic() + self.summary_s
        message = {"payload_schema": PAYLOAD_SCHEMA, "camera": self.identity.camera, "run_id": self.identity.run_id}
        self.client.publish(self.topics["summary"], encode({**message, **self._summary()}), qos=1)

    def close(self) -> None:
        """A clean exit: the last summary, then the retained offline status, then disconnect."""
        if self.client.is_connected():
            self._publish_summary()
            info = self.client.publish(
                self.topics["status"], encode(self.identity.status(online=False)), qos=1, retain=True
            )
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()


class MqttSink:
    """The pipeline's MQTT output; `stats()` for the summary and metrics."""

    def __init__(
        self,
        settings: MqttSettings,
        identity: Identity,
        spool: Spool,
        rate: float = 0.0,
        drain_s: float = 5.0,
        summary_s: float = 60.0,
        overlays: bool = False,
        log: Callable[[str], None] | None = None,
        health: Callable[[], dict] | None = None,
    ) -> None:
        log = log or (lambda _message: None)
        self.identity, self.needs_images, self.health = identity, overlays, health
        self.counts = VerdictCounts()
        self._images: deque = deque(maxlen=4)  # newest NG overlays only: images are best effort
        self.transport = MqttTransport(settings, identity, self._summary, summary_s, self._images, log)
        self.delivery = Delivery(self.transport, spool, rate, drain_s, log)

    def _summary(self) -> dict:
        """Verdict counts, and this sink's delivery (its counters renamed apart from the verdicts')."""
        delivery = self.delivery.stats()
        return {
            **self.counts.snapshot(),
            "sent": delivery["sent"],
            "spooled": delivery["spooled"],
            "spool_dropped": delivery["dropped"],
            "failed_sends": delivery["failed"],
            **(self.health() if self.health else {}),
        }

    def wants_overlay(self, result: FrameResult) -> bool:
        return self.needs_images and result.scored and result.verdict == NG

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        self.counts.add(result)
        self.delivery.offer(encode(self.identity.payload(result)))
        if overlay is not None and self.needs_images:
            self._images.append((self.identity.result_id(result), overlay))

    def close(self) -> None:
        self.delivery.close()

    def stats(self) -> dict:
        return self.delivery.stats()
