"""One stop-signal handler for every long-running command (`run`, `predict`, `serve`).

SIGINT (Ctrl-C) and SIGTERM are handled alike: the first one is recorded and the command's main loop, which
polls `received`, stops cleanly; any further signal while it stops is ignored, so a second Ctrl-C cannot
break the clean stop half-way. The handler only assigns a string: no exception is raised into whatever the
main thread was doing (a lock held inside a library, say), and no lock is taken inside the handler.

SIGINT is handled even when the process started with it ignored: a shell starts background jobs (`cmd &`)
that way, and Python then installs no Ctrl-C handler of its own.
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Within `with StopSignals() as signals:`, SIGINT/SIGTERM set `signals.received` to the first one's
    name ("SIGINT" or "SIGTERM"); the previous handlers come back on exit."""

    def __init__(self) -> None:
        self.received = ""
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        if not self.received:  # later signals: already stopping, ignored
            self.received = signal.Signals(signum).name

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def exit_code(self) -> int:
        """The exit code a clean stop calls for: 130 after SIGINT (as shells report Ctrl-C), else 0."""
        return 130 if self.received == "SIGINT" else 0
