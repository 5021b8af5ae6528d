"""The live page in a real headless Chromium: `run --http` on a video of real cell frames; the image
updates, the counts end equal to the results file, a rejected frame's thumbnail opens its overlay,
/metrics agrees with the summary, and a hostile file name is shown as text. A screenshot of the page is
kept in test-artifacts/live-page.png."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browsers import chromium_missing, headless_chromium
from live_run import LiveRun, median_score, write_video
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
HOSTILE = '<img src=x onerror="window.pwned=1">.png'


@pytest.fixture(scope="module")
def browser() -> Iterator:
    why = chromium_missing()
    if why:
        pytest.skip(why)
    driver = headless_chromium(1280, 1100)
    yield driver
    driver.quit()


def until(check, timeout: float = 60, what: str = ""):
    """Poll `check()` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def text(browser, element_id: str) -> str:
    return browser.execute_script(f"return document.getElementById('{element_id}').textContent")


def test_live_page_in_chromium(browser, cells_model: Path, cell_frames: list[Path], tmp_path: Path) -> None:
    video = write_video(tmp_path / "cells.avi", cell_frames, 300)
    results, summary = tmp_path / "results.jsonl", tmp_path / "summary.json"
    threshold = median_score(cells_model, cell_frames)
    args = ["--model", cells_model, "--source", video, "--results", results, "--summary-json", summary]
    run = LiveRun(*args, "--threshold", threshold)
    try:
        browser.get(run.url)
        shown: set[str] = set()
        while not text(browser, "state").startswith("stopped"):
            index = browser.execute_script("return document.getElementById('frame').dataset.index")
            shown.add(index) if index else None
            time.sleep(0.05)
        assert len(shown) >= 2, f"the image never changed: {shown}"
        assert browser.execute_script("return window.liveUpdates") >= 2

        lines = [json.loads(line) for line in results.read_text().splitlines()]
        ng = sum(line["verdict"] == "NG" for line in lines)
        report = json.loads(summary.read_text())
        until(lambda: text(browser, "ok") == str(len(lines) - ng), 10, "the final counts")
        page = {key: int(text(browser, key)) for key in ("ok", "ng", "failed", "dropped", "missed")}
        assert page == {"ok": len(lines) - ng, "ng": ng, "failed": 0, "dropped": 0, "missed": 0}
        assert len(lines) == report["frames"] == 300 and ng == report["rejected"] > 0
        assert text(browser, "model-name") == "cells" and text(browser, "state") == "stopped: end of source"
        until(lambda: browser.execute_script("return document.getElementById('frame').naturalWidth") == 600)
        ARTIFACTS.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "live-page.png"))

        thumbs = browser.find_elements("css selector", "#rejects .reject")
        assert len(thumbs) == 12  # the last 12 rejected frames, newest first
        until(lambda: browser.execute_script("return document.querySelector('#rejects img').naturalWidth") == 160)
        newest = thumbs[0].get_attribute("data-id")
        thumbs[0].click()
        viewer = "return document.getElementById('viewer')"
        until(lambda: browser.execute_script(viewer + ".naturalWidth") == 600, 10, "the overlay")
        assert browser.execute_script(viewer + ".src").endswith(f"/ng/{newest}.jpg") and newest == str(ng - 1)
        assert browser.execute_script("return document.getElementById('viewer-box').hidden") is False
        browser.save_screenshot(str(ARTIFACTS / "live-page-overlay.png"))

        metrics = browser.execute_script("return fetch('/metrics').then(r => r.text())")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(metrics)
            for s in family.samples
        }
        assert samples[("padim_edge_frames_total", (("verdict", "NG"),))] == report["rejected"]
        assert samples[("padim_edge_frames_total", (("verdict", "OK"),))] == report["frames"] - report["rejected"]
        assert samples[("padim_edge_dropped_frames_total", ())] == report["dropped"]
        assert samples[("padim_edge_stage_latency_seconds_count", (("stage", "infer"),))] == report["frames"]
        outcome = run.finish()
    finally:
        run.close()
    assert outcome.code == 0, outcome.err


def test_a_hostile_file_name_is_shown_as_text(browser, cells_model: Path, cell_frames: list[Path], tmp_path: Path):
    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(cell_frames[-1], folder / HOSTILE)
    run = LiveRun("--model", cells_model, "--source", folder, "--threshold", "1e-6")  # NG: shown twice
    try:
        browser.get(run.url)
        until(lambda: text(browser, "state").startswith("stopped"), 60, "the end of the run")
        until(lambda: text(browser, "name") == HOSTILE, 10, "the name")
        assert HOSTILE in text(browser, "rejects")
        assert browser.execute_script("return document.querySelectorAll('#name *, #rejects span *').length") == 0
        assert browser.execute_script("return window.pwned === undefined")
        outcome = run.finish()
    finally:
        run.close()
    assert outcome.code == 0, outcome.err
