"""Fixed-memory latency statistics for long runs: a uniform reservoir for percentiles, a ring for recent rates."""

from __future__ import annotations

import random

import numpy as np

PERCENTILES = (50, 90, 99)


class Reservoir:
    """A uniform sample of at most `size` values from a stream of any length (Vitter's algorithm R)."""

    def __init__(self, size: int = 10_000, seed: int = 0) -> None:
        self._values = np.empty(size, np.float64)
        self._rng = random.Random(seed)
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, value: float) -> None:
        if self.count < len(self._values):
            self._values[self.count] = value
        else:
            slot = self._rng.randrange(self.count + 1)
            if slot < len(self._values):
                self._values[slot] = value
        self.count += 1
        self.total += value
        self.max = max(self.max, value)

    def percentiles(self, qs: tuple[int, ...] = PERCENTILES) -> list[float]:
        """Percentiles of the sample; NaN while empty."""
        if not self.count:
            return [float("nan")] * len(qs)
        return [float(v) for v in np.percentile(self._values[: min(self.count, len(self._values))], qs)]

    def summary_ms(self) -> dict[str, float | None]:
        """p50/p90/p99, mean and max in milliseconds (values are seconds), rounded to 0.01 ms; None while
        empty (JSON has no NaN)."""
        if not self.count:
            return dict.fromkeys(("p50", "p90", "p99", "mean", "max"))
        p50, p90, p99 = self.percentiles()
        values = {"p50": p50, "p90": p90, "p99": p99, "mean": self.total / self.count, "max": self.max}
        return {key: round(value * 1e3, 2) for key, value in values.items()}


class Ring:
    """The last `size` values, for rates and percentiles over recent frames (the live status line)."""

    def __init__(self, size: int = 300) -> None:
        self._values = np.zeros(size, np.float64)
        self._next = 0
        self.count = 0

    def add(self, value: float) -> None:
        self._values[self._next] = value
        self._next = (self._next + 1) % len(self._values)
        self.count += 1

    def values(self) -> np.ndarray:
        """The stored values, oldest first."""
        if self.count < len(self._values):
            return self._values[: self.count].copy()
        return np.roll(self._values, -self._next)
