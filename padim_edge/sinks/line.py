"""The sinks that send results to the line (MQTT, webhook, OPC UA, a PLC coil), checked and opened from
the command line's settings before the first frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from padim_edge.errors import UserError
from padim_edge.runtime.backends.base import Backend
from padim_edge.sinks.payload import Identity, check_camera

MB = 1 << 20


@dataclass
class LineOptions:
    """What `run` was asked to send where; `check()` validates it all before anything starts."""

    camera: str = "cam0"
    mqtt: str | None = None
    mqtt_ca: Path | None = None
    mqtt_cert: Path | None = None
    mqtt_key: Path | None = None
    mqtt_password_file: Path | None = None
    mqtt_overlays: bool = False
    mqtt_rate: float = 0.0
    mqtt_summary_s: float = 60.0
    webhook: str | None = None
    webhook_headers: Path | None = None
    webhook_batch: int = 1
    webhook_timeout_s: float = 5.0
    webhook_rate: float = 0.0
    opcua: str | None = None
    modbus_coil: str | None = None
    modbus_pulse_ms: float = 200.0
    modbus_device: int = 1
    spool: Path | None = None
    spool_max_mb: float = 256.0
    spool_fsync_s: float = 1.0
    drain_s: float = 5.0

    @property
    def any(self) -> bool:
        return any((self.mqtt, self.webhook, self.opcua, self.modbus_coil))

    def check(self) -> None:
        """Every flag, parsed and checked, so that a mistake is one `error:` line before the first frame.
        Each sink's module (and its client library) is imported only when that sink is asked for."""
        check_camera(self.camera)
        for flag, value, low in (
            ("--mqtt-rate", self.mqtt_rate, 0.0),
            ("--webhook-rate", self.webhook_rate, 0.0),
            ("--mqtt-summary-s", self.mqtt_summary_s, 1.0),
            ("--spool-max-mb", self.spool_max_mb, 0.001),
            ("--spool-fsync-s", self.spool_fsync_s, 0.0),
            ("--sink-drain-s", self.drain_s, 0.0),
        ):
            if not value >= low:
                raise UserError(f"{flag} {value:g}: expected a number >= {low:g}")
        if self.mqtt:
            from padim_edge.sinks.mqtt import parse_mqtt

            parse_mqtt(self.mqtt, self.mqtt_ca, self.mqtt_cert, self.mqtt_key, self.mqtt_password_file)
        elif any((self.mqtt_ca, self.mqtt_cert, self.mqtt_key, self.mqtt_password_file, self.mqtt_overlays)):
            raise UserError("--mqtt-ca, --mqtt-cert, --mqtt-key, --mqtt-password-file and --mqtt-overlays need --mqtt")
        if self.webhook:
            from padim_edge.sinks.webhook import parse_webhook

            parse_webhook(self.webhook, self.webhook_headers, self.webhook_batch, self.webhook_timeout_s)
        elif self.webhook_headers:
            raise UserError("--webhook-headers needs --webhook")
        if self.opcua:
            from padim_edge.sinks.opcua import parse_opcua

            parse_opcua(self.opcua)
        if self.modbus_coil:
            from padim_edge.sinks.modbus_coil import parse_coil

            parse_coil(self.modbus_coil, self.modbus_pulse_ms, self.modbus_device)

    def spool_root(self, results: Path | None) -> Path:
        """`--spool`, else `spool/` beside the --results file, else ./padim-edge-spool."""
        if self.spool is not None:
            return self.spool
        if results is not None and str(results) != "-":
            return results.parent / "spool"
        return Path("padim-edge-spool")


def open_line_sinks(
    options: LineOptions,
    backend: Backend,
    threshold: float | None,
    results: Path | None,
    log: Callable[[str], None],
    health: Callable[[], dict] | None = None,
) -> dict[str, object]:
    """Open every requested sink (each network client on its own threads); a sink that fails to open closes
    the ones already opened. Each store-and-forward sink has its own spool, `<spool root>/<kind>-<camera>`.
    Keyed by kind (mqtt, webhook, opcua, modbus); each has `stats()` for the summary and metrics. `health`:
    extra fields for MQTT's periodic summary (run's drift watch)."""
    from padim_edge.sinks.spool import Spool

    if not options.any:
        return {}
    identity = Identity.of(backend, options.camera, threshold)
    spool_root = options.spool_root(results)

    def spool(kind: str) -> Spool:
        folder = spool_root / f"{kind}-{identity.camera}"
        return Spool(folder, int(options.spool_max_mb * MB), options.spool_fsync_s, log)

    sinks: dict = {}
    try:
        if options.mqtt:
            from padim_edge.sinks.mqtt import MqttSink, parse_mqtt

            o = options
            settings = parse_mqtt(o.mqtt, o.mqtt_ca, o.mqtt_cert, o.mqtt_key, o.mqtt_password_file)
            spooled = spool("mqtt")
            sinks["mqtt"] = MqttSink(
                settings, identity, spooled, o.mqtt_rate, o.drain_s, o.mqtt_summary_s, o.mqtt_overlays, log, health
            )
        if options.webhook:
            from padim_edge.sinks.webhook import WebhookSink, parse_webhook

            o = options
            settings = parse_webhook(o.webhook, o.webhook_headers, o.webhook_batch, o.webhook_timeout_s)
            sinks["webhook"] = WebhookSink(settings, identity, spool("webhook"), o.webhook_rate, o.drain_s, log)
        if options.opcua:
            from padim_edge.sinks.opcua import OpcUaSink

            sinks["opcua"] = OpcUaSink(options.opcua, identity, log)
        if options.modbus_coil:
            from padim_edge.sinks.modbus_coil import ModbusCoilSink, parse_coil

            target = parse_coil(options.modbus_coil, options.modbus_pulse_ms, options.modbus_device)
            sinks["modbus"] = ModbusCoilSink(target, log)
    except BaseException:
        for sink in sinks.values():
            sink.close()
        raise
    return sinks
