"""How long `run` waits for a network source, and how it reconnects a live source that stops.

A live source that stops delivering is reopened after `backoff` seconds, the wait doubling up to
`max_backoff`, at most `max_retries` times per outage (-1: without limit); a frame resets the count. With
the defaults (10 retries, 0.5 s doubling to 10 s, a 5 s network timeout per attempt) a source that stays
down is given up after about two minutes. The times can be changed through the environment, for slow
networks (or fast tests); `--max-retries` sets the count.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from padim_edge.errors import UserError

MAX_RETRIES = 10
#: Environment variable -> default, in seconds.
ENVIRONMENT = {
    "PADIM_EDGE_NETWORK_TIMEOUT_S": 5.0,  # open and read timeout of a network stream
    "PADIM_EDGE_BACKOFF_S": 0.5,  # the first wait before reconnecting
    "PADIM_EDGE_MAX_BACKOFF_S": 10.0,  # the longest wait between attempts
}
#: Undecodable frames in a row after which a live source counts as lost (a stream of garbage).
CORRUPT_RUN = 100


def env_seconds(name: str) -> float:
    """A positive number of seconds from the environment variable `name` (its default when unset)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return ENVIRONMENT[name]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 3600):
        raise UserError(f"{name}={text}: expected seconds, a number above 0 and at most 3600")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """Reconnection of live sources and the network timeout; `max_retries` -1 retries without limit."""

    max_retries: int = MAX_RETRIES
    backoff: float = ENVIRONMENT["PADIM_EDGE_BACKOFF_S"]
    max_backoff: float = ENVIRONMENT["PADIM_EDGE_MAX_BACKOFF_S"]
    timeout: float = ENVIRONMENT["PADIM_EDGE_NETWORK_TIMEOUT_S"]

    def __post_init__(self) -> None:
        if self.max_retries < -1:
            raise UserError(f"--max-retries {self.max_retries}: expected -1 (forever) or 0 and more")

    @classmethod
    def from_env(cls, max_retries: int = MAX_RETRIES) -> RetryPolicy:
        """The policy with `max_retries` and the times set in the environment."""
        return cls(
            max_retries,
            env_seconds("PADIM_EDGE_BACKOFF_S"),
            max(env_seconds("PADIM_EDGE_MAX_BACKOFF_S"), env_seconds("PADIM_EDGE_BACKOFF_S")),
            env_seconds("PADIM_EDGE_NETWORK_TIMEOUT_S"),
        )

    def gives_up(self, tries: int) -> bool:
        """True once `tries` reconnection attempts of one outage have failed."""
        return 0 <= self.max_retries <= tries

    def next_wait(self, wait: float) -> float:
        return min(2 * wait, self.max_backoff)
