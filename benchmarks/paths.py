"""Where `make bench` reads data and writes results."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / "cache"
MVTEC = ROOT.parent / "shared" / "data" / "mvtec"
CATEGORY = "screw"
