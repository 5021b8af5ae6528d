"""Real receivers for the line sinks' tests: an MQTT broker (Eclipse Mosquitto where installed, else the
amqtt broker from PyPI) that can be killed and restarted, a subscriber, a webhook that fails on purpose,
and a Modbus TCP server that records each coil write."""

from __future__ import annotations

import asyncio
import getpass
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


class Broker:
    """An MQTT broker in its own process on 127.0.0.1. Mosquitto keeps its sessions on disk after every
    change, so a subscriber's session and queued QoS 1 messages survive `kill -9` and a restart."""

    def __init__(self, folder: Path, port: int | None = None, users: dict[str, str] | None = None) -> None:
        """`users`: name -> password, and no anonymous access (Mosquitto only)."""
        self.folder, self.port, self.users = folder, port or free_port(), users or {}
        self.folder.mkdir(parents=True, exist_ok=True)
        self.kind = "mosquitto" if shutil.which("mosquitto") else "amqtt"
        self.process: subprocess.Popen | None = None

    def start(self) -> Broker:
        if self.kind == "mosquitto":
            conf = self.folder / "mosquitto.conf"
            access = "allow_anonymous true\n"
            if self.users:
                passwords = self.folder / "passwords"
                for name, password in self.users.items():
                    create = [] if passwords.exists() else ["-c"]
                    subprocess.run(["mosquitto_passwd", "-b", *create, str(passwords), name, password], check=True)
                passwords.chmod(0o600)
                access = f"allow_anonymous false\npassword_file {passwords}\n"
            conf.write_text(  # `user`: as root, Mosquitto would switch to its own user, who cannot read tmp_path
                f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\n{access}persistence true\n"
                f"persistence_location {self.folder}/\nautosave_interval 1\nautosave_on_changes true\n"
            )
            command = ["mosquitto", "-c", str(conf)]
        else:
            conf = self.folder / "amqtt.yaml"
            conf.write_text(
                f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{self.port}\n"
                "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
            )
            command = [sys.executable, "-c", "from amqtt.scripts.broker_script import main; main()", "-c", str(conf)]
        log = open(self.folder / "broker.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, stdout=log, stderr=log)
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        """SIGKILL: no goodbye to any client."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def close(self) -> None:
        self.kill()


class Subscriber:
    """A paho client with a persistent session (QoS 1) on PREFIX/#; keeps every message it receives."""

    def __init__(self, port: int, topic: str, user: tuple[str, str] | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}", clean_session=False)
        if user:
            self.client.username_pw_set(*user)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_message = self._message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        deadline = time.monotonic() + 10
        while not self.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the SUBACK

    def _message(self, _client: object, _userdata: object, message: object) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, message.retain))

    def results(self) -> list[dict]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/result")]

    def on(self, suffix: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def wait_results(self, count: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(dedup(self.results())) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.results()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def dedup(payloads: list[dict]) -> list[dict]:
    """The first copy of each result id, in arrival order (what a deduplicating receiver keeps)."""
    seen, kept = set(), []
    for payload in payloads:
        if payload["result_id"] not in seen:
            seen.add(payload["result_id"])
            kept.append(payload)
    return kept


class FlakyWebhook:
    """An HTTP endpoint that answers 500 to the first `failures` POSTs; then takes one in but answers it
    only after `stall_s` (longer than the client's timeout: the client sends it again, a duplicate); then
    answers 200. `accepted` keeps every body taken in."""

    def __init__(self, failures: int, stall_s: float) -> None:
        self.failures, self.stall_s = failures, stall_s
        self.requests, self.accepted = 0, []
        self.headers: list[dict] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _WebhookHandler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def payloads(self) -> list[dict]:
        with self.lock:
            out = []
            for body in self.accepted:
                doc = json.loads(body)
                out.extend(doc if isinstance(doc, list) else [doc])
            return out

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _WebhookHandler(BaseHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        hook: FlakyWebhook = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with hook.lock:
            hook.requests += 1
            n = hook.requests
            hook.headers.append(dict(self.headers))
        if n <= hook.failures:
            status = 500
        else:
            status = 200
            with hook.lock:
                hook.accepted.append(body)
            if n == hook.failures + 1:
                time.sleep(hook.stall_s)  # the client has given up by now
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:  # the client went away
            return


class ModbusServer:
    """A pymodbus TCP server on its own thread; `writes` holds (monotonic time, coil, value) for each
    write-coil request it received (traced as the server decodes it)."""

    def __init__(self) -> None:
        from pymodbus.simulator import DataType, SimData, SimDevice

        self.writes: list[tuple[float, int, bool]] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.device = SimDevice(
            1, simdata=[SimData(0, values=[False] * 112, datatype=DataType.BITS)], use_bit_addressing=True
        )
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=20)
        wait_for_port(self.port)

    def _trace(self, sending: bool, pdu: object) -> object:
        if not sending and getattr(pdu, "function_code", None) == 5:  # write single coil
            with self.lock:
                self.writes.append((time.monotonic(), pdu.address, bool(pdu.bits[0])))
        return pdu

    async def _start(self) -> None:
        from pymodbus.server import ModbusTcpServer

        self.server = ModbusTcpServer(self.device, address=("127.0.0.1", self.port), trace_pdu=self._trace)
        asyncio.ensure_future(self.server.serve_forever())

    def coil_writes(self, coil: int) -> list[tuple[float, bool]]:
        with self.lock:
            return [(t, v) for t, a, v in self.writes if a == coil]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
