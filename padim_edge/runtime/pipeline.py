"""`padim-edge run`'s pipeline: capture -> pre-process -> inference -> output, one thread each, bounded queues.

OpenCV and onnxruntime release the GIL, so threads overlap decode, resize and inference on separate cores.
Live sources keep only the newest frames when inference falls behind (the oldest waiting frame is dropped
and counted); files and folders block instead, so every frame is processed once, in order. Inference takes
every frame already waiting, up to `batch`, and never waits to fill a batch. Frames the backend cannot score
now (BackendUnavailable: a remote server is down) are counted as `missed` and reported with an `error`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from padim_edge.errors import UserError
from padim_edge.runtime.backends.base import BackendUnavailable
from padim_edge.runtime.latency import Reservoir, Ring
from padim_edge.runtime.predictor import NG, Predictor
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


@dataclass(eq=False)
class Result:
    """A frame on its way through the pipeline, with its verdict and the perf_counter time of each hand-over."""

    frame: Frame
    tensor: np.ndarray | None = None
    anomaly_map: np.ndarray | None = None
    score: float = float("nan")
    normalized: float | None = None
    verdict: str = ""
    error: str = ""
    batch: int = 0
    preprocess_in: float = 0.0
    preprocess_out: float = 0.0
    infer_in: float = 0.0
    infer_out: float = 0.0
    output_in: float = 0.0
    output_out: float = 0.0

    @property
    def latency_s(self) -> float:
        """Capture to verdict."""
        return self.infer_out - self.frame.captured

    def stage_seconds(self) -> dict[str, float]:
        f = self.frame
        return {
            "read": f.read_s,
            "wait_preprocess": self.preprocess_in - f.captured,
            "preprocess": self.preprocess_out - self.preprocess_in,
            "wait_infer": self.infer_in - self.preprocess_out,
            "infer": self.infer_out - self.infer_in,
            "wait_output": self.output_in - self.infer_out,
            "output": self.output_out - self.output_in,
            "capture_to_verdict": self.latency_s,
            "capture_to_output": self.output_out - f.captured,
        }

    def as_dict(self) -> dict:
        """The JSON line: source timestamp, frame index, score, normalised score, verdict, latency; for a
        missed frame, the error instead of score and verdict."""
        if self.error:
            line = {"index": self.frame.index, "timestamp": round(self.frame.timestamp, 6), "error": self.error}
            return {**line, "name": self.frame.name} if self.frame.name else line
        line = {
            "index": self.frame.index,
            "timestamp": round(self.frame.timestamp, 6),
            "score": round(self.score, 6),
            "normalized_score": None if self.normalized is None else round(self.normalized, 6),
            "verdict": self.verdict,
            "latency_ms": round(self.latency_s * 1e3, 3),
        }
        if self.frame.name:
            line["name"] = self.frame.name
        return line


class Sink(Protocol):
    """Where results go (JSON lines, images, video, window); called from the output thread only."""

    def write(self, result: Result) -> None: ...

    def close(self) -> None: ...


@dataclass
class PipelineOptions:
    """`batch`: most frames per inference call; `keep_images`: the sink needs frames and maps (overlays)."""

    batch: int = 1
    max_frames: int | None = None
    keep_images: bool = False
    queue_size: int = 4


class Pipeline:
    """Run a source through a predictor into a sink; `run()` returns the summary dict."""

    def __init__(self, source: Source, predictor: Predictor, sink: Sink, options: PipelineOptions) -> None:
        self.source, self.predictor, self.sink, self.options = source, predictor, sink, options
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
        self.frames = self.rejected = self.unusable = self.missed = 0
        self._threads: list[threading.Thread] = []
        self._started = self._last_done = 0.0

    def run(self, poll: Callable[[], None] | None = None, interval: float = 0.5) -> dict:
        """Start, wait (calling `poll` every `interval` seconds), finish."""
        self.start()
        while not self.wait(interval):
            if poll:
                poll()
        return self.finish()

    def start(self) -> None:
        """Warm the backend up (first calls allocate), then start the four threads."""
        size = self.predictor.input_size
        for n in sorted({1, self.options.batch}):
            try:
                self.predictor.infer(np.zeros((n, size, size, 3), np.uint8))
            except BackendUnavailable:
                break  # the server went away since it was opened: frames will be counted as missed
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
        self.stopped_by = self.stopped_by or "end of source"
        return self.summary()

    @property
    def dropped(self) -> int:
        return self._to_preprocess.dropped + self._to_infer.dropped

    def snapshot(self) -> dict:
        """Recent rate and latency, for the live status line."""
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
            "dropped": self.dropped,
            "missed": self.missed,
            **self.source.stats.as_dict(),
            "corrupt": self.source.stats.corrupt + self.unusable,
            "elapsed_s": round(elapsed, 3),
            "fps": round(self.frames / elapsed, 2) if elapsed > 0 else 0.0,
            "mean_batch": round(self._batch_sizes.total / max(self._batch_sizes.count, 1), 2),
            "stopped_by": self.stopped_by,
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

    def _preprocess(self, frames: list[Frame]) -> list[Result]:
        results = []
        for frame in frames:
            start = time.perf_counter()
            try:
                tensor = self.predictor.prepare([frame.image])[0]
            except UserError:  # a frame of an odd shape or type: counted, skipped
                self.unusable += 1
                continue
            if not self.options.keep_images:
                frame.image = None
            results.append(Result(frame, tensor, preprocess_in=start, preprocess_out=time.perf_counter()))
        return results

    def _infer(self, results: list[Result]) -> list[Result]:
        start = time.perf_counter()
        try:
            maps, scores = self.predictor.infer(np.stack([r.tensor for r in results]))
        except BackendUnavailable as exc:
            for result in results:
                result.error, result.tensor, result.frame.image = str(exc), None, None
            return results
        done = time.perf_counter()
        for result, amap, score in zip(results, maps, scores, strict=True):
            result.score = float(score)
            result.normalized, result.verdict = self.predictor.judge(result.score)
            result.tensor = None
            result.anomaly_map = amap if self.options.keep_images else None
            result.batch, result.infer_in, result.infer_out = len(results), start, done
        with self._lock:
            self._batch_sizes.add(len(results))
        return results

    def _output(self, results: list[Result]) -> list[Result]:
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

    def _record(self, result: Result) -> None:
        with self._lock:
            if result.error:
                self.missed += 1
                return
            for name, seconds in result.stage_seconds().items():
                self._stages[name].add(seconds)
            self._recent_latency.add(result.latency_s)
            self._recent_done.add(result.output_out)
            self.frames += 1
            self.rejected += result.verdict == NG
            self._last_done = result.output_out

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)
        self.request_stop("error")
