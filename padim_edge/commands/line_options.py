"""The flags that send results to the line (docs/integration.md), shared by the commands that take them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from padim_edge.sinks.names import MQTT_PASSWORD_ENV, MQTT_USERNAME_ENV, WEBHOOK_MAX_BATCH, WEBHOOK_TOKEN_ENV

PANEL = "Results to the line"

Camera = Annotated[
    str, typer.Option(help="This camera's name in topics, payloads and node ids.", rich_help_panel=PANEL)
]
Mqtt = Annotated[
    Optional[str],
    typer.Option(
        help=f"mqtt[s]://[USER@]HOST[:PORT]/PREFIX: a QoS 1 message per result on PREFIX/<camera>/result "
        f"(password: ${MQTT_PASSWORD_ENV} or --mqtt-password-file; user also ${MQTT_USERNAME_ENV}).",
        rich_help_panel=PANEL,
    ),
]
MqttCa = Annotated[Optional[Path], typer.Option(help="mqtts: CA certificates file.", rich_help_panel=PANEL)]
MqttCert = Annotated[Optional[Path], typer.Option(help="mqtts: client certificate file.", rich_help_panel=PANEL)]
MqttKey = Annotated[Optional[Path], typer.Option(help="mqtts: client key file.", rich_help_panel=PANEL)]
MqttPasswordFile = Annotated[
    Optional[Path], typer.Option(help="A file whose first line is the MQTT password.", rich_help_panel=PANEL)
]
MqttOverlays = Annotated[
    bool,
    typer.Option(
        "--mqtt-overlays",
        help="Also JPEG overlays of NG frames on PREFIX/<camera>/overlay/<id>.",
        rich_help_panel=PANEL,
    ),
]
MqttRate = Annotated[
    float,
    typer.Option(help="Most MQTT results per second (0: no limit); the rest wait in the spool.", rich_help_panel=PANEL),
]
MqttSummary = Annotated[
    float,
    typer.Option("--mqtt-summary-s", help="Seconds between PREFIX/<camera>/summary messages.", rich_help_panel=PANEL),
]
Webhook = Annotated[
    Optional[str],
    typer.Option(
        help=f"http(s)://... : POST each result as JSON (token: ${WEBHOOK_TOKEN_ENV}).", rich_help_panel=PANEL
    ),
]
WebhookHeaders = Annotated[
    Optional[Path], typer.Option(help="A file of 'Name: value' header lines for every POST.", rich_help_panel=PANEL)
]
WebhookBatch = Annotated[
    int, typer.Option(min=1, max=WEBHOOK_MAX_BATCH, help="Results per POST (>1: a JSON array).", rich_help_panel=PANEL)
]
WebhookTimeout = Annotated[
    float, typer.Option("--webhook-timeout-s", help="Seconds before a POST counts as failed.", rich_help_panel=PANEL)
]
WebhookRate = Annotated[
    float,
    typer.Option(
        help="Most webhook results per second (0: no limit); the rest wait in the spool.", rich_help_panel=PANEL
    ),
]
OpcUa = Annotated[
    Optional[str],
    typer.Option(help="opc.tcp://HOST:PORT: serve the latest result and counters over OPC UA.", rich_help_panel=PANEL),
]
ModbusCoil = Annotated[
    Optional[str], typer.Option(help="HOST:PORT:COIL: set this Modbus TCP coil on each NG.", rich_help_panel=PANEL)
]
ModbusPulse = Annotated[
    float, typer.Option(help="How long the coil stays set after an NG, in milliseconds.", rich_help_panel=PANEL)
]
ModbusDevice = Annotated[int, typer.Option(help="The Modbus device (unit) id.", rich_help_panel=PANEL)]
Spool = Annotated[
    Optional[Path],
    typer.Option(
        help="Spool folder for undelivered results (default: spool/ beside --results).", rich_help_panel=PANEL
    ),
]
SpoolMax = Annotated[
    float,
    typer.Option(help="Spool size cap per sink, MB; when full the oldest results are dropped.", rich_help_panel=PANEL),
]
SpoolFsync = Annotated[
    float, typer.Option("--spool-fsync-s", help="Seconds between fsyncs of the spool.", rich_help_panel=PANEL)
]
Drain = Annotated[
    float,
    typer.Option("--sink-drain-s", help="At exit, how long to keep sending spooled results.", rich_help_panel=PANEL),
]
