"""Exponential backoff for a remote dependency: after a failure, calls are refused until a delay passes,
and each further failure doubles the delay (up to a cap); one success resets it."""

from __future__ import annotations

import time
from collections.abc import Callable


class Backoff:
    """`ready()` says whether to try now; report the attempt's outcome with `failed()` or `succeeded()`."""

    def __init__(self, first_s: float = 0.25, max_s: float = 4.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.first_s, self.max_s, self.clock = first_s, max_s, clock
        self.delay_s = 0.0
        self.retry_at = 0.0
        self.failures = 0

    def ready(self) -> bool:
        return self.clock() >= self.retry_at

    def wait_s(self) -> float:
        """Seconds until the next attempt is allowed."""
        return max(0.0, self.retry_at - self.clock())

    def failed(self) -> None:
        self.failures += 1
        self.delay_s = min(self.max_s, self.delay_s * 2 if self.delay_s else self.first_s)
        self.retry_at = self.clock() + self.delay_s

    def succeeded(self) -> None:
        self.delay_s, self.retry_at, self.failures = 0.0, 0.0, 0
