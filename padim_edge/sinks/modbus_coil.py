"""A PLC reject signal over Modbus TCP (pymodbus): set a coil on each NG verdict and reset it after a pulse.

A reject pulse that comes late would reject the wrong part, so nothing is queued or retried: an NG whose
coil cannot be set within one pulse of its verdict (the PLC unreachable, a write refused) is counted in
`missed` and logged, and the client reconnects for the next one. An NG that comes while the coil is still
set extends the pulse.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from padim_edge.errors import UserError
from padim_edge.runtime.backoff import Backoff
from padim_edge.runtime.predictor import NG
from padim_edge.runtime.results import FrameResult

CONNECT_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class CoilTarget:
    host: str
    port: int
    coil: int
    device_id: int = 1
    pulse_s: float = 0.2


def parse_coil(spec: str, pulse_ms: float, device_id: int) -> CoilTarget:
    """`--modbus-coil HOST:PORT:COIL` (COIL 0-65535, the protocol's address, not 00001-style numbering)."""
    host, _, rest = spec.rpartition(":")
    host, _, port_text = host.rpartition(":")
    flag = f"--modbus-coil {spec}"
    if not host or not port_text or not rest:
        raise UserError(f"{flag}: expected HOST:PORT:COIL, e.g. 192.168.0.10:502:0")
    host = host.strip("[]")  # [::1]:502:0
    if not (port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise UserError(f"{flag}: bad port {port_text!r} (expected 1-65535)")
    if not (rest.isdigit() and 0 <= int(rest) <= 65535):
        raise UserError(f"{flag}: coil {rest!r} out of range (expected 0-65535)")
    if not 1 <= pulse_ms <= 60_000:
        raise UserError(f"--modbus-pulse-ms {pulse_ms:g}: expected 1-60000")
    if not 0 <= device_id <= 255:
        raise UserError(f"--modbus-device {device_id}: expected 0-255")
    return CoilTarget(host, int(port_text), int(rest), device_id, pulse_ms / 1e3)


class ModbusCoilSink:
    """The coil's own thread does every Modbus call; `write` only notes the time of an NG verdict."""

    needs_images = False

    def __init__(self, target: CoilTarget, log: Callable[[str], None] | None = None) -> None:
        from pymodbus.client import ModbusTcpClient

        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # its own lines would repeat ours
        self.target = target
        self._log = log or (lambda _message: None)
        self.client = ModbusTcpClient(target.host, port=target.port, timeout=CONNECT_TIMEOUT_S, retries=0)
        self.pulses = self.missed = 0  # coil set; NG verdicts that could not set it in time
        self._ng_at: float | None = None  # the newest NG verdict not yet signalled
        self._cond = threading.Condition()
        self._closing = False
        self._backoff = Backoff(first_s=0.5, max_s=5.0)
        self._outage = False
        if not self.client.connect():
            self._down(f"{self._where} does not answer at start")
        self._thread = threading.Thread(target=self._run, name="sink-modbus", daemon=True)
        self._thread.start()

    @property
    def _where(self) -> str:
        return f"{self.target.host}:{self.target.port} coil {self.target.coil}"

    def wants_overlay(self, result: FrameResult) -> bool:
        return False

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        if result.scored and result.verdict == NG:
            with self._cond:  # NGs closer than the coil's thread can act on share one pulse
                self._ng_at = time.monotonic()
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        self.client.close()

    def stats(self) -> dict:
        return {"pulses": self.pulses, "missed": self.missed}

    # --- the coil's thread --------------------------------------------------------------------------------------

    def _run(self) -> None:
        reset_at: float | None = None  # when the coil, now set, goes back to 0
        while True:
            with self._cond:
                timeout = None if reset_at is None else max(0.0, reset_at - time.monotonic())
                self._cond.wait_for(lambda: self._ng_at is not None or self._closing, timeout=timeout)
                ng_at, self._ng_at, closing = self._ng_at, None, self._closing
            now = time.monotonic()
            if ng_at is not None and reset_at is not None:
                reset_at = now + self.target.pulse_s  # the coil is still set: the pulse goes on
            elif ng_at is not None:
                if now - ng_at > self.target.pulse_s or not self._write(True):
                    self.missed += 1
                    self._log(f"warning: modbus: an NG verdict did not reach {self._where} in time (missed)")
                else:
                    self.pulses += 1
                    reset_at = now + self.target.pulse_s
            if reset_at is not None and (time.monotonic() >= reset_at or closing):
                if closing:
                    time.sleep(max(0.0, reset_at - time.monotonic()))  # a pulse is never cut short
                self._write(False)
                reset_at = None
            if closing:
                return

    def _write(self, value: bool) -> bool:
        """Set or reset the coil; False when the PLC cannot be reached (after backoff) or refuses."""
        from pymodbus.exceptions import ModbusException

        if not self.client.connected and (not self._backoff.ready() or not self.client.connect()):
            if self._backoff.ready():
                self._backoff.failed()
            self._down(f"{self._where} does not answer")
            return False
        try:
            response = self.client.write_coil(self.target.coil, value, device_id=self.target.device_id)
        except (ModbusException, OSError) as exc:
            self._backoff.failed()
            self._down(f"{self._where}: {exc}")
            return False
        if response.isError():
            self._down(f"{self._where} refused the write ({response})")
            return False
        self._backoff.succeeded()
        if self._outage:
            self._outage = False
            self._log(f"modbus: {self._where} answers again")
        return True

    def _down(self, why: str) -> None:
        if not self._outage:
            self._outage = True
            self._log(f"warning: modbus: {why}; NG verdicts are counted as missed until it answers")
