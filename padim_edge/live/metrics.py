"""The run's Prometheus metrics (prometheus-client), all named `padim_edge_*` in base units.

Stage latencies are observed as each result reaches the outputs (`observe`, from the output thread).
Counts are read at scrape time from where they are kept anyway: verdicts from the live state (the same
numbers the page shows), dropped/corrupt/reconnects/queue depth from the pipeline's snapshot, so they
never disagree with the page or the summary. Other outputs add their own collectors to `registry` (a disk
spool's size, say): `metrics.registry.register(collector)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from padim_edge.runtime.results import FrameResult

PREFIX = "padim_edge"
# The stages known when a result reaches the outputs; its own output time is not (the outputs are in it).
OBSERVED_STAGES = ("read", "wait_preprocess", "preprocess", "wait_infer", "infer", "wait_output", "capture_to_verdict")
BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
VERDICTS = ("OK", "NG", "?")


class RunMetrics:
    """The registry `/metrics` serves. `model`: name, digest and threshold for the info metric; `counts`:
    results by kind (LiveState.counts); `snapshot`: the pipeline's counts (Pipeline.snapshot), None before
    it starts; `ready`: what /readyz says."""

    def __init__(
        self,
        model: dict[str, str],
        counts: Callable[[], dict[str, int]],
        snapshot: Callable[[], dict | None],
        ready: Callable[[], bool],
    ) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        Info(f"{PREFIX}_model", "The model this run scores with.", registry=self.registry).info(model)
        self.latency = Histogram(
            f"{PREFIX}_stage_latency_seconds",
            "Time per pipeline stage and from capture to verdict, per scored frame.",
            ["stage"],
            buckets=BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(_RunCounts(counts, snapshot, ready))

    def observe(self, result: FrameResult) -> None:
        """A scored result's stage times (called from the output thread)."""
        if result.scored:
            stages = result.stage_seconds()
            for stage in OBSERVED_STAGES:
                self.latency.labels(stage).observe(max(stages[stage], 0.0))

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


class _RunCounts:
    """Counters and gauges kept elsewhere, read at scrape time."""

    def __init__(
        self, counts: Callable[[], dict[str, int]], snapshot: Callable[[], dict | None], ready: Callable[[], bool]
    ) -> None:
        self.counts, self.snapshot, self.ready = counts, snapshot, ready

    def describe(self) -> list[Metric]:
        return []  # collected at scrape time only: the registry needs no names up front

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            f"{PREFIX}_ready", "1 while the model is loaded and frames arrive.", float(self.ready())
        )
        counts = self.counts()
        frames = CounterMetricFamily(
            f"{PREFIX}_frames", "Frames scored, by verdict (? without a threshold).", labels=["verdict"]
        )
        for verdict in VERDICTS:
            frames.add_metric([verdict], counts[verdict])
        yield frames
        yield CounterMetricFamily(
            f"{PREFIX}_failed_frames", "Inputs that could not be read or prepared.", value=counts["failed"]
        )
        yield CounterMetricFamily(
            f"{PREFIX}_missed_frames", "Frames not scored because the backend was unavailable.", value=counts["missed"]
        )
        s = self.snapshot()
        if s is None:
            return
        for name, key, text in (
            ("dropped_frames", "dropped", "Frames of a live source dropped because inference was behind."),
            ("corrupt_frames", "corrupt", "Frames the source delivered that could not be decoded or prepared."),
            ("reconnects", "reconnects", "Times a live source was opened again after it stopped."),
            ("stream_gap_seconds", "gap_s", "Time a live source delivered no frame, over all outages."),
        ):
            yield CounterMetricFamily(f"{PREFIX}_{name}", text, value=s[key])
        depth = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Items waiting between pipeline stages.", labels=["queue"])
        for queue, items in s["queues"].items():
            depth.add_metric([queue], items)
        yield depth
        yield GaugeMetricFamily(f"{PREFIX}_frames_per_second", "Scored frames per second, recent.", s["fps"])


class LineSinkMetrics:
    """Each line sink's delivery counters and its disk spool (sinks.line's `stats()`), read at scrape time.
    `stats`: sink kind -> its stats() function. Kinds without a spool (OPC UA, the coil) report none."""

    def __init__(self, stats: dict[str, Callable[[], dict]]) -> None:
        self.stats = stats

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        families = {
            "sent": CounterMetricFamily(f"{PREFIX}_sink_sent", "Results a receiver acknowledged.", labels=["sink"]),
            "failed": CounterMetricFamily(
                f"{PREFIX}_sink_failed", "Delivery attempts that failed (retried later).", labels=["sink"]
            ),
            "dropped": CounterMetricFamily(
                f"{PREFIX}_sink_dropped", "Results dropped undelivered (the spool was full).", labels=["sink"]
            ),
            "spooled": GaugeMetricFamily(
                f"{PREFIX}_spool_pending", "Results in the disk spool waiting for delivery.", labels=["sink"]
            ),
            "spool_bytes": GaugeMetricFamily(f"{PREFIX}_spool_bytes", "Size of the disk spool.", labels=["sink"]),
        }
        for sink, stats in self.stats.items():
            figures = stats()
            for key, family in families.items():
                if key in figures:
                    family.add_metric([sink], figures[key])
        yield from families.values()


class ModelHealthMetrics:
    """The drift watch (runtime.drift's `state()`) and model swaps (runtime.model_swap's `summary()`, absent
    with --server), read at scrape time."""

    def __init__(self, drift: Callable[[], dict], swaps: Callable[[], dict] | None) -> None:
        self.drift, self.swaps = drift, swaps

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        d = self.drift()
        if d["enabled"]:
            ratio = float("nan") if d["ratio"] is None else d["ratio"]
            yield GaugeMetricFamily(
                f"{PREFIX}_drift_ratio", "Median of recent OK scores over the fit's held-out median.", ratio
            )
            yield GaugeMetricFamily(f"{PREFIX}_drift_bound", "The drift ratio past which the run warns.", d["bound"])
            yield GaugeMetricFamily(f"{PREFIX}_drifting", "1 while the drift ratio is past its bound.", d["drifting"])
        if self.swaps is not None:
            s = self.swaps()
            yield CounterMetricFamily(f"{PREFIX}_model_swaps", "Replaced model files swapped in.", len(s["swaps"]))
            yield CounterMetricFamily(
                f"{PREFIX}_model_swaps_refused",
                "Replaced model files refused (the running model went on).",
                s["refused"],
            )
            digest = GaugeMetricFamily(f"{PREFIX}_model_scoring", "1 for the model scoring now.", labels=["digest"])
            digest.add_metric([s["digest"]], 1)
            yield digest
