"""Delivery shared by the store-and-forward sinks (MQTT, webhook): the output thread hands each record to
a bounded in-memory queue and returns; the sink's spooling thread appends it to the disk spool at once;
its sending thread sends what the spool holds, in order, at most `rate` records per second, and commits
the spool's offset after the receiver acknowledged. A failed send is retried with exponential backoff from
the first unacknowledged record, so delivery is at least once and in order; a dead or slow receiver only
makes the spool grow, and a send that hangs never keeps results out of the spool."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from padim_edge.runtime.backoff import Backoff
from padim_edge.sinks.spool import Spool

QUEUE_SIZE = 4096  # records between the output thread and the spool (minutes of frames; see offer())
IDLE_S = 0.5  # the threads wake at least this often (the transport's periodic work, the spool's fsync)


class Transport(Protocol):
    """One protocol's way to a receiver."""

    name: str
    #: Most records one `send` takes.
    max_batch: int

    def send(self, records: list[bytes]) -> int:
        """Deliver records in order; return how many, from the first, the receiver acknowledged. Raise
        OSError (or return fewer) when it is unreachable or refuses."""

    def idle(self) -> None:
        """Periodic work on the delivery thread (a summary, images); must not block for long."""

    def close(self) -> None: ...


class TokenBucket:
    """At most `rate` records per second on average, bursts up to one second's worth (0: no limit)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.clock = rate, clock
        self.tokens, self.at = max(rate, 1.0), clock()

    def take(self, wanted: int) -> int:
        if self.rate <= 0:
            return wanted
        now = self.clock()
        self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.at) * self.rate)
        self.at = now
        granted = min(wanted, int(self.tokens))
        self.tokens -= granted
        return granted

    def wait_s(self) -> float:
        return 0.0 if self.rate <= 0 else max(0.0, (1.0 - self.tokens) / self.rate)


class Delivery:
    """A transport behind a queue, a disk spool, a rate limit and retries with backoff; two threads.

    `sent`: records acknowledged; `failed`: send attempts that failed; `queue_dropped`: records the
    in-memory queue had to drop (only when the spool's disk stalls for QUEUE_SIZE frames)."""

    def __init__(
        self,
        transport: Transport,
        spool: Spool,
        rate: float = 0.0,
        drain_s: float = 5.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.transport, self.spool, self.drain_s = transport, spool, drain_s
        self._log = log or (lambda _message: None)
        self._bucket = TokenBucket(rate)
        self._backoff = Backoff(first_s=0.5, max_s=8.0)
        self._queue: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._closing = False  # set by close(): the spooling thread spools what is queued and ends
        self._spooled = threading.Condition()  # the sending thread waits on it for new records
        self._all_spooled = False
        self._deadline = 0.0
        self.sent = self.failed = self.queue_dropped = 0
        self._outage = False
        if spool.pending:
            self._log(f"{transport.name}: {spool.pending} results left in {spool.folder} by an earlier run: sending")
        name = f"sink-{transport.name}"
        self._threads = [
            threading.Thread(target=self._spool_records, name=f"{name}-spool", daemon=True),
            threading.Thread(target=self._send_records, name=f"{name}-send", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def offer(self, record: bytes) -> None:
        """Queue a record; never blocks. Past QUEUE_SIZE waiting records the oldest is dropped and counted."""
        with self._cond:
            if len(self._queue) >= QUEUE_SIZE:
                self._queue.popleft()
                self.queue_dropped += 1
            self._queue.append(record)
            self._cond.notify()

    def close(self) -> None:
        """Send what is left for up to `drain_s` seconds; what is still undelivered stays in the spool."""
        with self._cond:
            self._closing, self._deadline = True, time.monotonic() + self.drain_s
            self._cond.notify()
        for thread in self._threads:
            thread.join()
        left = self.spool.pending
        try:
            self.transport.close()
        finally:
            self.spool.close()
        if left:
            self._log(
                f"warning: {self.transport.name}: {left} results not delivered within {self.drain_s:g} s; "
                f"they stay in {self.spool.folder} and the next run with this spool sends them"
            )

    def stats(self) -> dict:
        """Counters for the summary and for metrics."""
        spool = self.spool.stats()
        return {
            "sent": self.sent,
            "failed": self.failed,
            "dropped": spool["dropped"] + self.queue_dropped,
            "spooled": spool["pending"],
            "spool_bytes": spool["bytes"],
        }

    # --- the threads -----------------------------------------------------------------------------------------------

    def _spool_records(self) -> None:
        """Queue -> spool, as soon as records come; fsync at the spool's interval; ends after close()."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing, timeout=IDLE_S)
                records, closing = list(self._queue), self._closing
                self._queue.clear()
            self.spool.append(records)
            self.spool.sync_if_due()
            with self._spooled:
                self._all_spooled = closing
                self._spooled.notify()
            if closing:
                return

    def _send_records(self) -> None:
        """Spool -> receiver, in order; after close(), until the spool is empty or the drain time is up."""
        while True:
            with self._spooled:
                self._spooled.wait(timeout=self._sleep_s())
                closing = self._all_spooled
            if closing and (not self.spool.pending or time.monotonic() >= self._deadline):
                return
            self.transport.idle()
            if self._backoff.ready():
                self._send_some()

    def _sleep_s(self) -> float:
        """How long the thread may wait for new records before it has something to do."""
        if not self.spool.pending:
            return IDLE_S
        return min(IDLE_S, max(self._backoff.wait_s(), self._bucket.wait_s()))

    def _send_some(self) -> None:
        allowed = self._bucket.take(self.transport.max_batch)
        batch = self.spool.read(allowed) if allowed else []
        if not batch:
            return
        try:
            acked, error = self.transport.send([record for _, record in batch]), ""
        except OSError as exc:
            acked, error = 0, str(exc) or type(exc).__name__
        if acked:
            self.spool.commit(batch[acked - 1][0] + 1)
            self.sent += acked
        if acked == len(batch):
            self._backoff.succeeded()
            if self._outage:
                self._outage = False
                self._log(f"{self.transport.name}: delivering again")
            return
        self.failed += 1
        self.spool.rewind()
        self._backoff.failed()
        if not self._outage:
            self._outage = True
            why = error or "not acknowledged"
            self._log(f"warning: {self.transport.name}: cannot deliver ({why}); spooling to {self.spool.folder}")
