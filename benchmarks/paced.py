"""A video file played at a camera's rate: frame i is decoded, then released at start + i / fps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from padim_edge.runtime.sources import Frame, Source, VideoFile


class PacedVideo(Source):
    """`live`: behaves as a camera (the pipeline may drop frames when behind); otherwise every frame is kept."""

    def __init__(self, path: Path, fps: float, live: bool) -> None:
        super().__init__()
        self.live = live
        self._video, self.fps, self.name = VideoFile(path), fps, f"{path.name} paced at {fps:g} fps"

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        start = time.perf_counter()
        for i, frame in enumerate(self._video.frames(stop)):
            stop.wait(max(0.0, start + i / self.fps - time.perf_counter()))
            frame.captured, frame.timestamp = time.perf_counter(), time.time()
            yield frame

    def close(self) -> None:
        self._video.close()
