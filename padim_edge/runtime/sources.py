"""Frame sources for `padim-edge run` and `predict`, all through OpenCV: cameras, V4L2 devices, GStreamer
pipelines, network streams (reconnecting with a bounded backoff), video files (local or remote) and image
files, folders or globs.

Live sources (cameras, pipelines, live streams) are unbounded and paced by the device; files, folders and
remote video files are finite and are read as fast as the consumer takes them (a remote file is played
once, never reconnected). An image file that cannot be read becomes a frame carrying its error, so the
pipeline reports it in order and goes on. Reconnection and timeouts: runtime.stream_policy.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from padim_edge.errors import UserError
from padim_edge.imaging.decode import IMAGE_SUFFIXES, check_pixels, list_images, read_image
from padim_edge.runtime.stream_policy import CORRUPT_RUN, RetryPolicy

NETWORK = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt)://", re.IGNORECASE)
DEFAULT_FPS = 30.0
SLIDESHOW_FPS = 5.0  # overlay video rate for image folders

Log = Callable[[str], None]


def log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Frame:
    """One captured frame. `timestamp`: seconds into a file, wall-clock (epoch) for live sources,
    modification time for image files; `captured`: time.perf_counter() once the frame is in memory;
    `name`: the image file's path relative to the inputs' common folder; `error`: why there is no image."""

    index: int
    timestamp: float
    captured: float
    read_s: float
    image: np.ndarray | None
    name: str = ""
    error: str = ""


@dataclass
class SourceStats:
    """What went wrong while reading: corrupt frames skipped, outages and their lengths (last 100 kept)."""

    corrupt: int = 0
    reconnects: int = 0
    gap_s: float = 0.0
    gaps: deque = field(default_factory=lambda: deque(maxlen=100))

    def as_dict(self) -> dict:
        return {
            "corrupt": self.corrupt,
            "reconnects": self.reconnects,
            "gap_s": round(self.gap_s, 3),
            "gaps": [{"start": round(start, 3), "seconds": round(seconds, 3)} for start, seconds in self.gaps],
        }


class Source(ABC):
    """Frames from somewhere; `frames(stop)` yields until the source ends or `stop` is set."""

    name: str
    live: bool
    fps: float

    def __init__(self) -> None:
        self.stats = SourceStats()
        self.ended_by = ""  # why a source ended by itself, other than running out of frames

    @abstractmethod
    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Yield frames in source order; corrupt ones are counted in `stats` and skipped."""

    def close(self) -> None:  # noqa: B027 - a no-op for sources that hold nothing open
        """Release the device or file."""


@dataclass(frozen=True)
class ImageInput:
    """One image to score: its path, its unique name (relative to the inputs' common folder), and the
    reason it cannot be scored when that is known before reading it (a missing path, an empty folder)."""

    path: Path
    name: str
    error: str = ""


class ImageFiles(Source):
    """Image files in the given order (finite). An unreadable one yields a frame carrying its error."""

    live = False
    fps = SLIDESHOW_FPS

    def __init__(self, files: list[ImageInput], name: str) -> None:
        super().__init__()
        self.files, self.name = files, name

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        for index, item in enumerate(self.files):
            if stop.is_set():
                return
            start = time.perf_counter()
            try:
                if item.error:
                    raise UserError(item.error)
                image, error = read_image(item.path), ""
                stamp = item.path.stat().st_mtime
            except (UserError, OSError) as exc:
                image, error, stamp = None, str(exc), 0.0
            now = time.perf_counter()
            yield Frame(index, stamp, now, now - start, image, item.name, error)


class VideoFile(Source):
    """Every frame of a video file, local or remote (finite), in order; timestamps are presentation times.

    A remote file (an http URL to an .mp4, say) ends where its stream ends: it is not reconnected.
    """

    live = False

    def __init__(self, target: Path | str, api: int = cv2.CAP_ANY, params: list[int] | None = None) -> None:
        super().__init__()
        self.name = str(target)
        self._cap = cv2.VideoCapture(str(target), api, params or [])
        if not self._cap.isOpened():
            raise UserError(f"{target}: OpenCV cannot open this video")
        _check_frame_size(self._cap, self.name)
        self.fps = _sane_fps(self._cap.get(cv2.CAP_PROP_FPS))

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        index = 0
        while not stop.is_set():
            start = time.perf_counter()
            if not self._cap.grab():
                return  # end of file (FFmpeg already skips packets it cannot decode)
            ok, image = self._cap.retrieve()
            now = time.perf_counter()
            if ok and image is not None and image.size:
                yield Frame(index, self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1e3, now, now - start, image)
            else:
                self.stats.corrupt += 1
            index += 1

    def close(self) -> None:
        self._cap.release()


class LiveCapture(Source):
    """A camera, V4L2 device, GStreamer pipeline or live network stream. When it stops delivering (or
    delivers only undecodable frames, CORRUPT_RUN in a row) it is reopened as `policy` says; once the
    policy gives up the source ends and `ended_by` says why. Each outage is logged."""

    live = True

    def __init__(
        self,
        target: int | str,
        api: int,
        params: list[int] | None = None,
        log: Log = log_stderr,
        policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.target, self.api, self.params, self.log = target, api, params or [], log
        self.policy = policy or RetryPolicy()
        self.name = str(target)
        self._cap = self._open()
        if not self._cap.isOpened():
            raise UserError(f"{target}: OpenCV cannot open this source")
        _check_frame_size(self._cap, self.name)
        self.fps = _sane_fps(self._cap.get(cv2.CAP_PROP_FPS))

    def _open(self) -> cv2.VideoCapture:
        return cv2.VideoCapture(self.target, self.api, self.params)

    def declared_frames(self) -> int:
        """The frame count the stream declares: positive for a file of known length, else 0 or less."""
        return int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        index, lost_at, lost_wall, delay, tries, garbage = 0, None, 0.0, self.policy.backoff, 0, 0
        while not stop.is_set():
            start = time.perf_counter()
            grabbed = self._cap.grab()
            image = self._retrieve() if grabbed else None
            now = time.perf_counter()
            if grabbed and image is None:
                self.stats.corrupt += 1
                garbage, index = garbage + 1, index + 1
                if garbage < CORRUPT_RUN:
                    continue  # an undecodable frame is skipped, unless they go on and on
            if image is None:
                if lost_at is None:
                    lost_at, lost_wall = start, time.time()
                    self.log(f"{self.name}: stream lost, reconnecting")
                if self.policy.gives_up(tries):
                    self.ended_by = f"stream lost ({tries} reconnection attempts failed)"
                    break
                delay = self._reconnect(stop, delay)
                tries, garbage = tries + 1, 0
                continue
            garbage = 0
            if lost_at is not None:
                self._record_gap(lost_wall, now - lost_at, "stream back after")
                lost_at, delay, tries = None, self.policy.backoff, 0
            yield Frame(index, time.time(), now, now - start, image)
            index += 1
        if lost_at is not None:  # ended during an outage: report it as such, never as "back"
            why = "gave up after" if self.ended_by else "stopped during"
            self._record_gap(lost_wall, time.perf_counter() - lost_at, f"{why} an outage of")

    def _retrieve(self) -> np.ndarray | None:
        """The grabbed frame decoded, or None when it cannot be."""
        ok, image = self._cap.retrieve()
        return image if ok and image is not None and image.size else None

    def _reconnect(self, stop: threading.Event, delay: float) -> float:
        """Wait `delay` (or until `stop`), then reopen once; returns the next wait (doubled, capped)."""
        self._cap.release()
        if not stop.wait(delay):
            self._cap = self._open()
            if self._cap.isOpened():
                self.stats.reconnects += 1
        return self.policy.next_wait(delay)

    def _record_gap(self, start_wall: float, seconds: float, what: str) -> None:
        self.stats.gap_s += seconds
        self.stats.gaps.append((start_wall, seconds))
        self.log(f"{self.name}: {what} {seconds:.2f} s")

    def close(self) -> None:
        self._cap.release()


def _check_frame_size(cap: cv2.VideoCapture, source: str) -> None:
    """Refuse a video whose frames exceed the pixel limit (where the container declares a size)."""
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width > 0 and height > 0:
        check_pixels(height, width, source)


def _sane_fps(value: float) -> float:
    """A device's reported rate, or DEFAULT_FPS where it reports none (0, NaN) or nonsense."""
    return float(value) if 1.0 <= value <= 1000.0 else DEFAULT_FPS


def open_source(text: str, log: Log = log_stderr, policy: RetryPolicy | None = None) -> Source:
    """Open a source string: camera index, /dev/video*, GStreamer pipeline (contains '!'), network URL
    (a remote video file if the stream declares a frame count, else a live stream), image folder, glob of
    images, image file or video file. A source that cannot be opened is a UserError (not retried: a
    mistyped source fails at once; `policy` applies once a live source has started)."""
    policy = policy or RetryPolicy()
    if text.isdigit():
        return LiveCapture(int(text), cv2.CAP_ANY, log=log, policy=policy)
    if text.startswith("/dev/video"):
        return LiveCapture(text, cv2.CAP_V4L2, log=log, policy=policy)
    if "!" in text:
        if "GStreamer:                   YES" not in cv2.getBuildInformation():
            raise UserError(f"{text}: this OpenCV build has no GStreamer support (JetPack's OpenCV has it)")
        return LiveCapture(text, cv2.CAP_GSTREAMER, log=log, policy=policy)
    if NETWORK.match(text):
        ms = round(policy.timeout * 1000)
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        stream = LiveCapture(text, cv2.CAP_FFMPEG, timeouts, log=log, policy=policy)
        if stream.declared_frames() > 0:  # a file with a known length, not a live stream: played once
            stream.close()
            return VideoFile(text, cv2.CAP_FFMPEG, timeouts)
        return stream
    path = Path(text)
    if path.is_dir():
        return ImageFiles(image_inputs([path]), text)
    if path.is_file():
        return ImageFiles(image_inputs([path]), text) if path.suffix.lower() in IMAGE_SUFFIXES else VideoFile(path)
    if glob.has_magic(text):
        matches = sorted(Path(p) for p in glob.glob(text) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not matches:
            raise UserError(f"{text}: no images found")
        return ImageFiles(image_inputs(matches), text)
    raise UserError(f"{text}: no such file, folder, device or URL")


def image_inputs(paths: list[Path]) -> list[ImageInput]:
    """Files as given and folders as their images (sorted), each with a unique name: its path relative to
    the folder all of them share (so `a/x.png` and `b/x.png` stay apart in overlays).

    A path that is missing, not a file, or a folder without images becomes an input carrying its error,
    reported in its turn while the others are scored; only when no input could be an image at all is it
    one UserError.
    """
    found: list[tuple[Path, str]] = []
    for item in paths:
        found += _expand(item)
    inputs = list(dict.fromkeys((p.absolute(), error) for p, error in found))
    if not inputs or all(error for _, error in inputs):
        problems = "; ".join(error for _, error in inputs[:3]) + (" ..." if len(inputs) > 3 else "")
        raise UserError(problems or f"{' '.join(map(str, paths)) or 'inputs'}: no images found")
    base = Path(os.path.commonpath([p.parent for p, _ in inputs]))
    return [ImageInput(p, str(p.relative_to(base)), error) for p, error in inputs]


def _expand(item: Path) -> list[tuple[Path, str]]:
    """`item` as (path, error) pairs: a folder's images, or the file itself; the error says why not."""
    if item.is_dir():
        try:
            images = list_images(item)
        except OSError as exc:
            return [(item, f"{item}: cannot list this folder ({exc.strerror or exc})")]
        return [(p, "") for p in images] or [(item, f"{item}: no images in this folder")]
    if item.is_file():
        return [(item, "")]
    if item.exists():
        return [(item, f"{item}: not a regular file")]
    return [(item, f"{item}: no such file or folder")]
