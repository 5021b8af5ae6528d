"""Text outputs: JSON lines (docs/results.md) and `predict`'s table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

from padim_edge.runtime.results import FrameResult


class JsonLines:
    """One JSON object per frame (docs/results.md), flushed line by line; '-' writes to stdout."""

    needs_images = False

    def __init__(self, path: Path) -> None:
        self._stdout = str(path) == "-"
        self._file: TextIO = sys.stdout if self._stdout else open(path, "w", encoding="utf-8")  # noqa: SIM115

    def wants_overlay(self, result: FrameResult) -> bool:
        return False

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        self._file.write(json.dumps(result.as_json(), allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._stdout:
            self._file.close()


class Table:
    """`predict`'s human-readable lines: verdict, score, normalised score, name (errors say why)."""

    needs_images = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def wants_overlay(self, result: FrameResult) -> bool:
        return False

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        name = result.frame.name or str(result.frame.index)
        if result.error:
            line = f"{'-':2}  {'-':>10}  {'-':>7}  {name}  ({result.error})"
        else:
            norm = "-" if result.normalized is None else f"{result.normalized:.3f}"
            line = f"{result.verdict:2}  {result.score:10.4f}  {norm:>7}  {name}"
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass
