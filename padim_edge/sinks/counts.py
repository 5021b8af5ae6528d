"""Verdict counters the line reads: OK, NG, failed (not scored) and dropped (frames the pipeline skipped to
stay live, seen as gaps in the frame indices)."""

from __future__ import annotations

import threading

from padim_edge.runtime.predictor import NG, OK
from padim_edge.runtime.results import FrameResult


class VerdictCounts:
    """Updated on the output thread, read by a sink's own thread: a lock keeps a snapshot consistent."""

    def __init__(self) -> None:
        self.ok = self.ng = self.failed = self.dropped = 0
        self._last_index = -1
        self._lock = threading.Lock()

    def add(self, result: FrameResult) -> None:
        with self._lock:
            index = result.frame.index
            self.dropped += max(0, index - self._last_index - 1)
            self._last_index = max(self._last_index, index)
            if not result.scored:
                self.failed += 1
            elif result.verdict == NG:
                self.ng += 1
            elif result.verdict == OK:
                self.ok += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"ok": self.ok, "ng": self.ng, "failed": self.failed, "dropped": self.dropped}
