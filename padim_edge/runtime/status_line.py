"""The live status line on stderr, redrawn by the command's main thread."""

from __future__ import annotations

import sys
import threading
from typing import TextIO


class StatusLine:
    """A carriage-return status line on stderr (only on a terminal); `log` prints a message above it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._lock = threading.Lock()
        self._shown = False

    def update(self, snapshot: dict) -> None:
        if not self.enabled:
            return
        s = snapshot
        text = (
            f"{s['frames']} frames  {s['fps']:.1f} fps  latency p50 {s['p50_ms']:.0f} ms p99 {s['p99_ms']:.0f} ms  "
            f"dropped {s['dropped']}  rejected {s['rejected']}" + (f"  missed {s['missed']}" if s["missed"] else "")
        )
        with self._lock:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._shown = True

    def log(self, message: str) -> None:
        with self._lock:
            self.stream.write(("\r\033[K" if self._shown else "") + message + "\n")
            self.stream.flush()
            self._shown = False

    def clear(self) -> None:
        with self._lock:
            if self._shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self._shown = False
