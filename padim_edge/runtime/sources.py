"""Frame sources for `padim-edge run`, all through OpenCV: cameras, V4L2 devices, GStreamer pipelines,
network streams (reconnecting with backoff), video files and image folders or globs.

Live sources (cameras, pipelines, streams) are unbounded and paced by the device; files and folders are
finite and are read as fast as the consumer takes them.
"""

from __future__ import annotations

import glob
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
from padim_edge.runtime.preprocess import IMAGE_SUFFIXES, read_image

NETWORK = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt)://", re.IGNORECASE)
DEFAULT_FPS = 30.0
SLIDESHOW_FPS = 5.0  # overlay video rate for image folders
NETWORK_TIMEOUT_MS = 5000  # open and read timeouts: a stalled stream counts as dropped after this long

Log = Callable[[str], None]


def log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Frame:
    """One captured frame. `timestamp`: seconds into a file, wall-clock (epoch) for live sources,
    modification time for image files; `captured`: time.perf_counter() once the frame is in memory."""

    index: int
    timestamp: float
    captured: float
    read_s: float
    image: np.ndarray | None
    name: str = ""


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

    @abstractmethod
    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Yield frames in source order; corrupt ones are counted in `stats` and skipped."""

    def close(self) -> None:  # noqa: B027 - a no-op for sources that hold nothing open
        """Release the device or file."""


class ImageFiles(Source):
    """Image files in the given order (finite); an unreadable file is counted as corrupt and logged."""

    live = False
    fps = SLIDESHOW_FPS

    def __init__(self, paths: list[Path], name: str, log: Log = log_stderr) -> None:
        super().__init__()
        self.paths, self.name, self.log = paths, name, log

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            if stop.is_set():
                return
            start = time.perf_counter()
            try:
                image = read_image(path)
            except UserError as exc:
                self.stats.corrupt += 1
                self.log(f"skipped: {exc}")
                continue
            now = time.perf_counter()
            yield Frame(index, path.stat().st_mtime, now, now - start, image, str(path))


class VideoFile(Source):
    """Every frame of a video file, in order (finite); timestamps are the stream's presentation times."""

    live = False

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.name = str(path)
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise UserError(f"{path}: OpenCV cannot open this video file")
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
    """A camera, V4L2 device, GStreamer pipeline or network stream; reopened with exponential backoff
    (`backoff` seconds, doubling up to `max_backoff`) when it stops delivering, each outage logged."""

    live = True

    def __init__(
        self,
        target: int | str,
        api: int,
        params: list[int] | None = None,
        log: Log = log_stderr,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
    ) -> None:
        super().__init__()
        self.target, self.api, self.params, self.log = target, api, params or [], log
        self.backoff, self.max_backoff = backoff, max_backoff
        self.name = str(target)
        self._cap = self._open()
        if not self._cap.isOpened():
            raise UserError(f"{target}: OpenCV cannot open this source")
        self.fps = _sane_fps(self._cap.get(cv2.CAP_PROP_FPS))

    def _open(self) -> cv2.VideoCapture:
        return cv2.VideoCapture(self.target, self.api, self.params)

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        index, lost_at, lost_wall, delay = 0, None, 0.0, self.backoff
        while not stop.is_set():
            start = time.perf_counter()
            if not self._cap.grab():
                if lost_at is None:
                    lost_at, lost_wall = start, time.time()
                    self.log(f"{self.name}: stream lost, reconnecting")
                delay = self._reconnect(stop, delay)
                continue
            ok, image = self._cap.retrieve()
            now = time.perf_counter()
            if not (ok and image is not None and image.size):
                self.stats.corrupt += 1
                index += 1
                continue
            if lost_at is not None:
                self._record_gap(lost_wall, now - lost_at)
                lost_at, delay = None, self.backoff
            yield Frame(index, time.time(), now, now - start, image)
            index += 1
        if lost_at is not None:  # stopped during an outage: still report it
            self._record_gap(lost_wall, time.perf_counter() - lost_at)

    def _reconnect(self, stop: threading.Event, delay: float) -> float:
        """Reopen until it works or `stop` is set, the wait doubling each try (up to max_backoff).

        Returns the wait for the next try, should the outage go on (a stream that opens but sends nothing).
        """
        self._cap.release()
        while not stop.wait(delay):
            delay = min(2 * delay, self.max_backoff)
            self._cap = self._open()
            if self._cap.isOpened():
                self.stats.reconnects += 1
                break
        return delay

    def _record_gap(self, start_wall: float, seconds: float) -> None:
        self.stats.gap_s += seconds
        self.stats.gaps.append((start_wall, seconds))
        self.log(f"{self.name}: stream back after a {seconds:.2f} s gap")

    def close(self) -> None:
        self._cap.release()


def _sane_fps(value: float) -> float:
    """A device's reported rate, or DEFAULT_FPS where it reports none (0, NaN) or nonsense."""
    return float(value) if 1.0 <= value <= 1000.0 else DEFAULT_FPS


def open_source(text: str, log: Log = log_stderr) -> Source:
    """Open a source string: camera index, /dev/video*, GStreamer pipeline (contains '!'), rtsp/http(s) URL,
    image folder, glob of images, image file or video file. A source that cannot be opened is a UserError."""
    if text.isdigit():
        return LiveCapture(int(text), cv2.CAP_ANY, log=log)
    if text.startswith("/dev/video"):
        return LiveCapture(text, cv2.CAP_V4L2, log=log)
    if "!" in text:
        if "GStreamer:                   YES" not in cv2.getBuildInformation():
            raise UserError(f"{text}: this OpenCV build has no GStreamer support (JetPack's OpenCV has it)")
        return LiveCapture(text, cv2.CAP_GSTREAMER, log=log)
    if NETWORK.match(text):
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, NETWORK_TIMEOUT_MS]
        timeouts += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, NETWORK_TIMEOUT_MS]
        return LiveCapture(text, cv2.CAP_FFMPEG, timeouts, log=log)
    path = Path(text)
    if path.is_dir():
        return ImageFiles(_images(sorted(path.iterdir()), text), text, log)
    if path.is_file():
        return ImageFiles([path], text, log) if path.suffix.lower() in IMAGE_SUFFIXES else VideoFile(path)
    if glob.has_magic(text):
        return ImageFiles(_images(sorted(Path(p) for p in glob.glob(text)), text), text, log)
    raise UserError(f"{text}: no such file, folder, device or URL")


def _images(paths: list[Path], source: str) -> list[Path]:
    found = [p for p in paths if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise UserError(f"{source}: no images found")
    return found
