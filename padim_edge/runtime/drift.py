"""Drift watch for `run`: are the frames judged OK scoring higher than good images did at fit?

The reference is the median of the held-out good images' scores a model records (each scored before it
joined the statistics: good images the model had not seen, like a line's frames). The watch keeps the
scores of the last WINDOW frames judged OK and compares their median with it. Past BOUND x the reference
(with at least MIN_FRAMES OK frames seen) it warns once, in one log line, and says so again when the ratio
is back under CLEAR. Frames judged NG are left out: a drifting line first shows as OK scores creeping
up toward the threshold. A model without at least MIN_REFERENCE held-out scores has no reference: the watch
is off for it, said once. It is a sink of the pipeline's output stage (sinks.base.Sink); `state()` is what
a status line, a summary or a metrics exporter reads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from padim_edge.runtime.predictor import OK, Predictor
from padim_edge.runtime.results import FrameResult

WINDOW = 200
MIN_FRAMES = 50
MIN_REFERENCE = 3
BOUND = 1.2  # chosen on real frames: see docs/results.md (drift watch)
CLEAR = 1.1  # back under this, the warning is lifted (a gap, so a ratio near BOUND does not flap)


class DriftWatch:
    """Rolling median of recent OK scores against the model's held-out median; see the module doc."""

    needs_images = False

    def __init__(self, predictor: Predictor, log: Callable[[str], None], bound: float = BOUND) -> None:
        self._log, self.bound = log, bound
        self._scores: deque[float] = deque(maxlen=WINDOW)
        self.drifting = False
        self.warnings = 0
        self._next: Predictor | None = None
        self.use(predictor)

    def use(self, predictor: Predictor) -> None:
        """Compare against `predictor`'s model from now on (a swapped-in model brings its own reference)."""
        held = predictor.backend.info.config.holdout_scores
        self.digest = predictor.digest
        self.reference = float(np.median(held)) if len(held) >= MIN_REFERENCE else None
        self._scores.clear()
        self.drifting = False
        if self.reference is None:
            self._log(
                f"warning: drift watch off: the model records {len(held)} held-out good scores, it needs "
                f"{MIN_REFERENCE} (refit with --holdout > 0)"
            )

    def expect(self, predictor: Predictor) -> None:
        """A model is being swapped in: switch to it with the first result it scored (output thread)."""
        self._next = predictor

    def wants_overlay(self, result: FrameResult) -> bool:
        return False

    def write(self, result: FrameResult, overlay: np.ndarray | None = None) -> None:
        if self._next is not None and result.model_digest == self._next.digest:
            self.use(self._next)
            self._next = None
        if self.reference is None or not result.scored or result.verdict != OK or result.model_digest != self.digest:
            return
        self._scores.append(result.score)
        ratio = self.ratio
        if ratio is None:
            return
        if ratio > self.bound and not self.drifting:
            self.drifting, self.warnings = True, self.warnings + 1
            self._log(
                f"warning: drift: the median score of the last {len(self._scores)} OK frames is {ratio:.2f}x the "
                f"held-out good images' median at fit (bound {self.bound}); the line may have changed: check it, "
                "and update the model with new good images (fit --update)"
            )
        elif ratio <= CLEAR and self.drifting:
            self.drifting = False
            self._log(f"drift cleared: the median of recent OK scores is {ratio:.2f}x the fit's (bound {self.bound})")

    @property
    def ratio(self) -> float | None:
        """Median of the recent OK scores over the reference; None until MIN_FRAMES of them (or without one)."""
        if self.reference is None or len(self._scores) < MIN_FRAMES:
            return None
        return float(np.median(self._scores)) / self.reference

    def state(self) -> dict:
        """{enabled, drifting, ratio, bound, reference, recent_median, ok_frames, warnings}."""
        ratio = self.ratio
        return {
            "enabled": self.reference is not None,
            "drifting": self.drifting,
            "ratio": None if ratio is None else round(ratio, 4),
            "bound": self.bound,
            "reference": self.reference,
            "recent_median": None if ratio is None else round(float(np.median(self._scores)), 6),
            "ok_frames": len(self._scores),
            "warnings": self.warnings,
        }

    def close(self) -> None:
        """Nothing to release."""
