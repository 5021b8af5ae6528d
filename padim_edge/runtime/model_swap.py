"""Hot model swap for `run`: when the model file is replaced (a new export renamed over it, or a symlink
switched), load the new model beside the running one, check it, warm it up, and hand it to the pipeline,
which swaps it in between two batches. The camera never stops; a model that cannot be loaded, places
frames differently, or fails its warm-up is refused with one log line and the running model goes on.

The file is watched by polling its stat from `run`'s existing poll loop (every 0.25 s): os.stat follows a
symlink to its target, so a switched link, a rename over the path and an in-place rewrite all show as a new
(inode, size, mtime); inotify-based watchers see events on the link or folder instead, and would need a
thread and a dependency for what one stat call per poll does. A change is acted on once the file has stayed
the same for one more poll, so a writer that is not atomic is not read half-way.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from padim_edge.errors import UserError
from padim_edge.imaging.geometry import Geometry
from padim_edge.runtime.predictor import Predictor

if TYPE_CHECKING:
    from padim_edge.runtime.pipeline import Pipeline

Signature = tuple[int, int, int, int]


def file_signature(path: Path) -> Signature | None:
    """(device, inode, size, mtime) of what `path` points to; None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def describe(geometry: Geometry) -> str:
    return f"{geometry.height}x{geometry.width} ({geometry.mode}, align {geometry.align})"


def short(digest: str) -> str:
    return digest[:12] or "?"


class ModelWatch:
    """Watches `path` for `run` and swaps models into a pipeline (`poll(pipeline)` from the poll loop).

    `open_predictor(path)` loads a model as the running one was (backend options, threshold override).
    `on_swap(predictor)` is told of each model swapped in (the drift watch takes its reference from it).
    Owns every backend it opens and the running one: `close()` releases them.
    """

    def __init__(
        self,
        path: Path,
        current: Predictor,
        open_predictor: Callable[[Path], Predictor],
        log: Callable[[str], None],
        batch: int = 1,
        on_swap: Callable[[Predictor], None] | None = None,
    ) -> None:
        self.path, self.current, self._open, self._log = path, current, open_predictor, log
        self.batch, self._on_swap = batch, on_swap
        self._seen = self._candidate = file_signature(path)
        self._loader: threading.Thread | None = None
        self._loaded: Predictor | str | None = None  # the loader's result: a checked model or why not
        self._load_s = 0.0
        self._retired: list[Predictor] = []
        self.swaps: list[dict] = []
        self.refused = 0

    def poll(self, pipeline: Pipeline) -> None:
        """One look at the file, and at a finished load (called every poll interval from one thread)."""
        self._close_retired(pipeline)
        if self._loader is not None:
            if self._loader.is_alive():
                return
            self._loader = None
            self._finish(pipeline)
        signature = file_signature(self.path)
        if signature == self._seen:
            self._candidate = signature
            return
        if signature != self._candidate:  # changed since the last poll: wait until it holds still
            self._candidate = signature
            return
        self._seen = signature
        if signature is None:
            target = f" (a symlink to {os.readlink(self.path)})" if self.path.is_symlink() else ""
            self._refuse(f"{self.path}: no such model file any more{target}")
            return
        self._loader = threading.Thread(target=self._load, name="run-model-load", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        """In the loader thread: open, check and warm up the new model beside the running one."""
        start = time.perf_counter()
        predictor = None
        try:
            predictor = self._open(self.path)
            old, new = self.current.geometry, predictor.geometry
            if new != old:  # frames already prepared for the running model must suit the new one
                raise UserError(f"{self.path}: places frames as {describe(new)}, the running model as {describe(old)}")
            predictor.check_model()  # warm-up on a black frame; a non-finite score is refused
            if self.batch > 1:
                predictor.infer(np.zeros((self.batch, *predictor.input_hw, 3), np.uint8))
            self._loaded = predictor
        except Exception as exc:  # any failure to load, check or warm up refuses the model, in one line
            if predictor is not None:
                predictor.backend.close()
            self._loaded = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self._load_s = time.perf_counter() - start

    def _finish(self, pipeline: Pipeline) -> None:
        loaded, self._loaded = self._loaded, None
        if isinstance(loaded, str) or loaded is None:
            self._refuse(loaded or "the model could not be loaded")
            return
        pipeline.replace_predictor(loaded)
        self._retired.append(self.current)
        before, self.current = self.current.digest, loaded
        self.swaps.append(
            {"at": round(time.time(), 3), "from": before, "to": loaded.digest, "load_s": round(self._load_s, 3)}
        )
        self._log(
            f"model swapped: {self.path} ({short(before)} -> {short(loaded.digest)}, loaded, checked and warmed up "
            f"in {self._load_s:.2f} s beside the running model)"
        )
        if self._on_swap:
            self._on_swap(loaded)

    def _refuse(self, reason: str) -> None:
        self.refused += 1
        self._log(f"warning: model swap refused: {reason}; still scoring with {short(self.current.digest)}")

    def _close_retired(self, pipeline: Pipeline) -> None:
        """Release replaced models once the pipeline scores with a newer one (no batch can still use them)."""
        if self._retired and pipeline.predictor is self.current:
            for predictor in self._retired:
                predictor.backend.close()
            self._retired.clear()

    def summary(self) -> dict:
        return {"path": str(self.path), "digest": self.current.digest, "swaps": self.swaps, "refused": self.refused}

    def close(self) -> None:
        """Wait for a load in progress, then release every model this watch holds."""
        if self._loader is not None:
            self._loader.join()
            if isinstance(self._loaded, Predictor):
                self._loaded.backend.close()
        for predictor in [*self._retired, self.current]:
            predictor.backend.close()
        self._retired.clear()
