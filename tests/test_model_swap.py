"""Hot model swap in `run` on real frames: a 300-frame video of ELPV cell pairs paced like a camera, the model
file replaced by an updated export in the middle, then by a corrupt file, then removed. Every frame is
scored once, by the model its result names, with that model's own scores."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runner import cli_command, cli_env
from pairs import side_by_side, write_png
from servers import MjpegServer
from test_run_pipeline import json_lines, line_count, wait_for

from padim_edge.commands.scoring import score_source
from padim_edge.runtime.backends import open_backend
from padim_edge.runtime.drift import DriftWatch
from padim_edge.runtime.model_swap import ModelWatch
from padim_edge.runtime.predictor import Predictor
from padim_edge.runtime.results import FrameResult
from padim_edge.runtime.sources import Frame, Source, open_source
from padim_edge.runtime.status_line import StatusLine

FRAMES, FPS = 300, 50.0
SWAP_AT, CORRUPT_AT, REMOVE_AT = 100, 200, 250


class PacedVideo(Source):
    """A real video file played at `fps`, like a camera, but never dropping a frame (blocking queues), so
    that a lost or repeated frame can only come from the swap."""

    live = False

    def __init__(self, path: Path, fps: float) -> None:
        super().__init__()
        self.inner, self.fps, self.name = open_source(str(path)), fps, str(path)
        self.stats = self.inner.stats

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        start = time.perf_counter()
        for frame in self.inner.frames(stop):
            time.sleep(max(0.0, start + frame.index / self.fps - time.perf_counter()))
            frame.captured = time.perf_counter()
            yield frame

    def close(self) -> None:
        self.inner.close()


class Replacer:
    """Keeps every result; as frames SWAP_AT, CORRUPT_AT and REMOVE_AT go out, replaces the model file with
    the updated export, then a corrupt copy, then removes it (each atomically, as a deployment would)."""

    needs_images = False

    def __init__(self, deployed: Path, updated: Path, watch: list[ModelWatch]) -> None:
        self.deployed, self.updated, self.watch = deployed, updated, watch
        self.results: list[FrameResult] = []

    def wants_overlay(self, result: FrameResult) -> bool:
        return False

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        self.results.append(result)
        index, staged = result.frame.index, self.deployed.with_name("staged.onnx")
        if index == SWAP_AT:
            shutil.copyfile(self.updated, staged)
            os.replace(staged, self.deployed)
        elif index == CORRUPT_AT:
            deadline = time.monotonic() + 60  # on a very slow machine, let the first swap land first
            while not self.watch[0].swaps and time.monotonic() < deadline:
                time.sleep(0.01)
            staged.write_bytes(self.updated.read_bytes()[: self.updated.stat().st_size // 2])
            os.replace(staged, self.deployed)
        elif index == REMOVE_AT:
            deadline = time.monotonic() + 60
            while self.watch[0].refused < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            self.deployed.unlink()
        elif index == FRAMES - 1:  # the source ends after this frame: let the watch see the removal first
            deadline = time.monotonic() + 60
            while self.watch[0].refused < 2 and time.monotonic() < deadline:
                time.sleep(0.01)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def updated_model(cells_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cells run updated with 8 more good pairs (fit --update), exported: a second real model."""
    from padim_edge.data import load_dataset
    from padim_edge.export.onnx_graph import export_run
    from padim_edge.update import UpdateOptions, update_run

    root = tmp_path_factory.mktemp("updated")
    goods = [s.path for s in load_dataset("elpv", None, "mono").train[64:80]]
    for i in range(8):
        write_png(root / "new" / f"{i:03d}.png", side_by_side(goods[2 * i], goods[2 * i + 1]))
    update_run(cells_run, [root / "new"], root / "run", UpdateOptions(show_progress=False))
    return export_run(root / "run").path


def test_swap_mid_video_scores_every_frame_once(
    cells_model: Path, updated_model: Path, cell_frames: list[Path], tmp_path: Path
) -> None:
    frames = [cv2.imread(str(cell_frames[i % len(cell_frames)])) for i in range(FRAMES)]
    video = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (600, 300))  # lossless
    for frame in frames:
        writer.write(frame)
    writer.release()
    deployed = shutil.copyfile(cells_model, tmp_path / "model.onnx")

    status = StatusLine(io.StringIO())  # what `run` logs, kept
    predictor = Predictor(open_backend(deployed, spinning=False))
    drift = DriftWatch(predictor, status.log)
    watch = ModelWatch(
        deployed, predictor, lambda p: Predictor(open_backend(p, spinning=False)), status.log, on_swap=drift.expect
    )
    sink = Replacer(deployed, updated_model, [watch])
    try:
        summary = score_source(PacedVideo(video, FPS), predictor, [sink, drift], status, on_poll=watch.poll)
    finally:
        watch.close()

    results = sink.results
    assert [r.frame.index for r in results] == list(range(FRAMES)) and summary["frames"] == FRAMES
    a, b = Predictor(open_backend(cells_model)), Predictor(open_backend(updated_model))
    digests = [r.model_digest for r in results]
    switch = digests.index(b.digest)
    assert SWAP_AT < switch < CORRUPT_AT and digests == [a.digest] * switch + [b.digest] * (FRAMES - switch)
    for model, part in ((a, results[:switch]), (b, results[switch:])):
        expected = model.infer(np.stack([model.prepare(frames[r.frame.index])[0] for r in part]))[1]
        np.testing.assert_allclose([r.score for r in part], expected, rtol=1e-4)
    assert len(watch.swaps) == 1 and watch.refused == 2 and watch.current.digest == b.digest
    log = status.stream.getvalue().splitlines()
    refusals = [line for line in log if line.startswith("warning: model swap refused")]
    assert len(refusals) == 2 and "no such model file" in refusals[1], log

    latency = np.array([r.latency_s for r in results]) * 1e3
    gaps = np.diff([r.infer_out for r in results]) * 1e3
    near = slice(max(switch - 30, 0), switch + 5)  # the load and warm-up ran while these frames went through
    elsewhere = np.delete(latency, np.arange(near.start, near.stop)).max()
    print(
        f"\nswap at frame {switch} (file replaced after frame {SWAP_AT}, load {watch.swaps[0]['load_s']} s): "
        f"capture-to-verdict median {np.median(latency):.1f} ms, max around the swap {latency[near].max():.1f} ms, "
        f"max elsewhere {elsewhere:.1f} ms; largest gap between verdicts around the swap "
        f"{gaps[near].max():.1f} ms (frame period {1e3 / FPS:.0f} ms)"
    )


def test_run_follows_a_switched_symlink_and_survives_a_dangling_one(
    cells_model: Path, updated_model: Path, cell_frames: list[Path], tmp_path: Path
) -> None:
    """`padim-edge run` itself, on a live stream: the model path is a symlink a deployment switches."""
    jpegs = [cv2.imencode(".jpg", cv2.imread(str(p)))[1].tobytes() for p in cell_frames[::2]]
    server = MjpegServer(jpegs, fps=25.0)
    link, results, summary = tmp_path / "model.onnx", tmp_path / "run.jsonl", tmp_path / "summary.json"
    link.symlink_to(cells_model)
    args = ["run", "--model", link, "--source", server.url, "--results", results, "--summary-json", summary]
    process = subprocess.Popen(
        cli_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
    )
    new_digest = Predictor(open_backend(updated_model)).digest
    try:
        wait_for(process, lambda: line_count(results) >= 10)
        switch(link, tmp_path / "gone.onnx")  # a deployment that points at a model not there
        time.sleep(1.5)  # a few polls: the watch sees it and refuses it
        switch(link, updated_model)
        wait_for(process, lambda: any(line["model_digest"] == new_digest for line in json_lines(results.read_text())))
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        server.close()
    assert process.returncode == 130, stderr
    lines = json_lines(results.read_text())
    indices = [line["index"] for line in lines]
    assert indices == sorted(set(indices))  # a live source may drop frames, never repeat one
    digests = [line["model_digest"] for line in lines]
    switched = digests.index(new_digest)
    assert len(set(digests[:switched])) == 1 and set(digests[switched:]) == {new_digest}
    report = json.loads(summary.read_text())["model"]
    assert report["digest"] == new_digest and len(report["swaps"]) == 1 and report["refused"] == 1
    assert stderr.count("model swapped:") == 1 and stderr.count("warning: model swap refused") == 1
    assert "no such model file any more (a symlink to " in stderr and "gone.onnx)" in stderr


def switch(link: Path, target: Path) -> None:
    """Point `link` at `target` in one rename, as a deployment switches a symlink."""
    staged = link.with_name(".switch")
    staged.symlink_to(target)
    os.replace(staged, link)
