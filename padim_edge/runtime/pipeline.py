"""The one inference path of `predict` and `run`: capture -> pre-process -> inference -> output, one thread
each, bounded queues.

OpenCV and onnxruntime release the GIL, so threads overlap decode, resize and inference on separate cores.
Live sources keep only the newest frames when inference falls behind (the oldest waiting frame is dropped
and counted); files and folders block instead, so every frame is processed once, in order. Inference takes
every frame already waiting, up to `batch`, and never waits to fill a batch. A frame that cannot be scored
(an unreadable file, a server that is down) travels on as a result carrying its error, in order.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from padim_edge.errors import UserError
from padim_edge.runtime.backends import BackendUnavailable
from padim_edge.runtime.latency import Reservoir, Ring
from padim_edge.runtime.predictor import NG, Predictor
from padim_edge.runtime.results import FrameResult
from padim_edge.runtime.sources import Frame, Source

END = object()  # the last item a stage passes downstream
STAGES = (
    "read",
    "wait_preprocess",
    "preprocess",
    "wait_infer",
    "infer",
    "wait_output",
    "output",
    "capture_to_verdict",
    "capture_to_output",
)


class FrameQueue:
    """A bounded FIFO. When full, `put` blocks (every item kept) or, with `drop_oldest`, discards the oldest
    waiting item and counts it in `dropped`. END is never dropped nor blocked on."""

    def __init__(self, maxsize: int, drop_oldest: bool) -> None:
        self.maxsize, self.drop_oldest, self.dropped = maxsize, drop_oldest, 0
        self._items: deque = deque()
        self._cond = threading.Condition()

    def put(self, item: object) -> None:
        with self._cond:
            if item is not END:
                if self.drop_oldest:
                    while len(self._items) >= self.maxsize:
                        self._items.popleft()
                        self.dropped += 1
                else:
                    self._cond.wait_for(lambda: len(self._items) < self.maxsize)
            self._items.append(item)
            self._cond.notify_all()

    def get_many(self, limit: int) -> tuple[list, bool]:
        """Wait for one item, then take what else is already waiting, up to `limit`: (items, END seen)."""
        with self._cond:
            self._cond.wait_for(lambda: self._items)
            items = []
            while self._items and len(items) < limit:
                item = self._items.popleft()
                if item is END:
                    self._cond.notify_all()
                    return items, True
                items.append(item)
            self._cond.notify_all()
            return items, False

    @property
    def depth(self) -> int:
        """Items waiting now."""
        return len(self._items)


class ResultWriter(Protocol):
    """Where results go (sinks.base.Outputs, which fans out to every sink); called from the output thread
    only. A protocol, so that the runtime never imports the sinks package that builds on it."""

    def write(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...


@dataclass
class PipelineOptions:
    """`batch`: most frames per inference call; `keep_images`: the sink needs frames and maps (overlays)."""

    batch: int = 1
    max_frames: int | None = None
    keep_images: bool = False
    queue_size: int = 4


class Pipeline:
    """Run a source through a predictor into a sink; `run()` returns the summary dict. Each input that
    cannot be scored is written to the sink with its error and reported through `log` as `error: ...`."""

    def __init__(
        self,
        source: Source,
        predictor: Predictor,
        sink: ResultWriter,
        options: PipelineOptions,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.source, self.predictor, self.sink, self.options = source, predictor, sink, options
        self._log = log or (lambda _message: None)
        self.stop = threading.Event()
        self.stopped_by = ""
        batch, live = options.batch, source.live
        # Live: at most one batch waits for inference, so a verdict is never more than ~2 batches old.
        self._to_preprocess = FrameQueue(2 if live else options.queue_size, drop_oldest=live)
        self._to_infer = FrameQueue(batch if live else max(options.queue_size, 2 * batch), drop_oldest=live)
        self._to_output = FrameQueue(max(options.queue_size, 2 * batch), drop_oldest=False)
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._stages = {name: Reservoir() for name in STAGES}
        self._recent_latency, self._recent_done = Ring(), Ring()
        self._batch_sizes = Reservoir(1000)
        self.frames = self.rejected = self.unusable = self.failed = self.missed = 0
        self._threads: list[threading.Thread] = []
        self._started = self._last_done = 0.0
        self._next_predictor: Predictor | None = None

    def run(self, poll: Callable[[], None] | None = None, interval: float = 0.5) -> dict:
        """Start, wait (calling `poll` every `interval` seconds), finish."""
        self.start()
        while not self.wait(interval):
            if poll:
                poll()
        return self.finish()

    def start(self) -> None:
        """Check and warm the backend up (first calls allocate), then start the four threads."""
        try:
            self.predictor.check_model()
            if self.options.batch > 1:
                self.predictor.infer(np.zeros((self.options.batch, *self.predictor.input_hw, 3), np.uint8))
        except BackendUnavailable:
            pass  # a server that is down now: frames are counted as missed until it is back
        q = (self._to_preprocess, self._to_infer, self._to_output)
        targets = {
            "capture": self._capture,
            "preprocess": lambda: self._stage(q[0], q[1], self._preprocess, 1),
            "infer": lambda: self._stage(q[1], q[2], self._infer, self.options.batch),
            "output": self._output_thread,
        }
        self._started = time.perf_counter()
        self._threads = [threading.Thread(target=t, name=f"run-{n}", daemon=True) for n, t in targets.items()]
        for thread in self._threads:
            thread.start()

    def replace_predictor(self, predictor: Predictor) -> None:
        """Score with `predictor` from the next batch on (a model swap: the caller has checked that it places
        frames alike and warmed it up). The inference thread takes it between two batches, so every frame
        is scored once, by one model."""
        with self._lock:
            self._next_predictor = predictor

    def request_stop(self, reason: str) -> None:
        """Stop capturing; what is already captured is still processed and written."""
        self.stopped_by = self.stopped_by or reason
        self.stop.set()

    def wait(self, timeout: float) -> bool:
        """True once every frame is through and the sink is closed."""
        self._threads[-1].join(timeout)
        return not self._threads[-1].is_alive()

    def finish(self) -> dict:
        """Join the threads, release the source, re-raise a stage's error, and return the summary."""
        for thread in self._threads:
            thread.join()
        self.source.close()
        if self._errors:
            raise self._errors[0]
        self.stopped_by = self.stopped_by or self.source.ended_by or "end of source"
        return self.summary()

    @property
    def dropped(self) -> int:
        return self._to_preprocess.dropped + self._to_infer.dropped

    def snapshot(self) -> dict:
        """Recent rate and latency, and the counts so far, for the status line and the live page."""
        with self._lock:
            done, latency = self._recent_done.values(), self._recent_latency.values()
        fps = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else 0.0
        p50, p99 = np.percentile(latency, (50, 99)) * 1e3 if len(latency) else (float("nan"),) * 2
        return {
            "frames": self.frames,
            "fps": fps,
            "p50_ms": p50,
            "p99_ms": p99,
            "dropped": self.dropped,
            "rejected": self.rejected,
            "missed": self.missed,
            "failed": self.failed,
            "corrupt": self.source.stats.corrupt + self.unusable,
            "reconnects": self.source.stats.reconnects,
            "gap_s": self.source.stats.gap_s,
            "queues": {
                "preprocess": self._to_preprocess.depth,
                "infer": self._to_infer.depth,
                "output": self._to_output.depth,
            },
        }

    def summary(self) -> dict:
        """Counts, sustained rate, and p50/p90/p99/mean/max per stage and end to end, in milliseconds."""
        elapsed = (self._last_done or time.perf_counter()) - self._started
        return {
            "source": self.source.name,
            "live": self.source.live,
            "backend": self.predictor.backend.describe(),
            "threshold": self.predictor.threshold,
            "frames": self.frames,
            "rejected": self.rejected,
            "failed": self.failed,
            "missed": self.missed,
            "dropped": self.dropped,
            **self.source.stats.as_dict(),
            "corrupt": self.source.stats.corrupt + self.unusable,
            "elapsed_s": round(elapsed, 3),
            "fps": round(self.frames / elapsed, 2) if elapsed > 0 else 0.0,
            "mean_batch": round(self._batch_sizes.total / max(self._batch_sizes.count, 1), 2),
            "stopped_by": self.stopped_by,
            "source_lost": bool(self.source.ended_by),
            "latency_ms": {name: stat.summary_ms() for name, stat in self._stages.items()},
        }

    # --- stages -------------------------------------------------------------------------------------------

    def _capture(self) -> None:
        limit = None if self.source.live else self.options.max_frames
        try:
            for count, frame in enumerate(self.source.frames(self.stop), 1):
                self._to_preprocess.put(frame)
                if limit and count >= limit:
                    self.request_stop("max frames")
                    break
        except BaseException as exc:  # noqa: B036 - handed to the main thread by finish()
            self._fail(exc)
        finally:
            self._to_preprocess.put(END)

    def _stage(self, inbox: FrameQueue, outbox: FrameQueue | None, work: Callable[[list], list], batch: int) -> None:
        """Feed `work` until END; after an error, keep draining (so upstream never blocks) but do nothing."""
        failed, ended = False, False
        while not ended:
            items, ended = inbox.get_many(batch)
            if not items or failed:
                continue
            try:
                results = work(items)
            except BaseException as exc:  # noqa: B036 - handed to the main thread by finish()
                failed = True
                self._fail(exc)
                continue
            for result in results if outbox else ():
                outbox.put(result)
        if outbox:
            outbox.put(END)

    def _output_thread(self) -> None:
        """The output stage, then the sink's close: when this thread ends, every output is flushed."""
        try:
            self._stage(self._to_output, None, self._output, 8)
        finally:
            try:
                self.sink.close()
            except BaseException as exc:  # noqa: B036 - handed to the main thread by finish()
                self._fail(exc)

    def _preprocess(self, frames: list[Frame]) -> list[FrameResult]:
        results = []
        for frame in frames:
            start = time.perf_counter()
            result = FrameResult(frame, preprocess_in=start, error=frame.error)
            if frame.image is not None:
                try:
                    result.tensor, result.placement = self.predictor.prepare(frame.image)
                except (UserError, cv2.error, ValueError, MemoryError) as exc:
                    if self.source.live:  # a video frame of an odd shape or type: counted, skipped
                        self.unusable += 1
                        continue
                    result.error = f"{frame.name or frame.index}: cannot prepare this image ({exc})"
                    frame.image = None
                if not self.options.keep_images:
                    frame.image = None
            result.preprocess_out = time.perf_counter()
            results.append(result)
        return results

    def _infer(self, results: list[FrameResult]) -> list[FrameResult]:
        with self._lock:
            if self._next_predictor is not None:
                self.predictor, self._next_predictor = self._next_predictor, None
            predictor = self.predictor
        start = time.perf_counter()
        todo = [r for r in results if r.tensor is not None]
        try:
            maps, scores = predictor.infer(np.stack([r.tensor for r in todo])) if todo else ([], [])
        except BackendUnavailable as exc:
            for result in todo:
                result.error, result.missed, result.tensor = f"missed: {exc}", True, None
            todo, maps, scores = [], [], []
        done = time.perf_counter()
        for result, amap, score in zip(todo, maps, scores, strict=True):
            result.score = result.placement.image_score(amap, score)
            result.normalized, result.verdict = predictor.judge(result.score)
            result.model_digest = predictor.digest
            result.tensor = None
            result.anomaly_map = amap if self.options.keep_images else None
            result.batch = len(todo)
        for result in results:
            result.infer_in, result.infer_out = start, done
        if todo:
            with self._lock:
                self._batch_sizes.add(len(todo))
        return results

    def _output(self, results: list[FrameResult]) -> list[FrameResult]:
        limit = self.options.max_frames
        for result in results:
            if limit and self.frames >= limit:
                break  # live source past --max-frames: frames still in flight are not reported
            result.output_in = time.perf_counter()
            self.sink.write(result)
            result.output_out = time.perf_counter()
            self._record(result)
            if limit and self.frames >= limit:
                self.request_stop("max frames")
        return []

    def _record(self, result: FrameResult) -> None:
        with self._lock:
            self._last_done = result.output_out
            if not result.scored:
                self.missed += result.missed
                self.failed += not result.missed
                if not result.missed:
                    self._log(f"error: {result.error}")
                return
            for name, seconds in result.stage_seconds().items():
                self._stages[name].add(seconds)
            self._recent_latency.add(result.latency_s)
            self._recent_done.add(result.output_out)
            self.frames += 1
            self.rejected += result.verdict == NG

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)
        self.request_stop("error")
