"""Where `make bench` reads data and writes results."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
QUICK_RESULTS = RESULTS / "quick"  # --quick: a smoke test, git-ignored, never copied into the README
CACHE = RESULTS / "cache"  # fitted runs, exports, timing inputs (git-ignored)
PEER = CACHE / "peer"  # anomalib's own exports (benchmarks/peer/export_anomalib.py)
MVTEC = ROOT.parent / "shared" / "data" / "mvtec"
CATEGORY = "screw"
README = ROOT / "README.md"
