"""Copy results/bench.md into the README's Performance section (between the performance markers)."""

from __future__ import annotations

import sys
from pathlib import Path

from padim_edge.config import atomic_write

START, END = "<!-- performance:start -->", "<!-- performance:end -->"
ROOT = Path(__file__).resolve().parents[1]


def update_readme(bench_md: Path = ROOT / "benchmarks/results/bench.md", readme: Path = ROOT / "README.md") -> None:
    """Replace the README's section with bench.md, its links pointed at benchmarks/results/."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: no {START} ... {END} section to fill")
    section = bench_md.read_text().strip()
    for name in ("run.md", "latency.png", "speed_accuracy.png", "fit_scaling.png", "roofline.png", "bench.json"):
        section = section.replace(f"]({name})", f"](benchmarks/results/{name})")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    atomic_write(readme, f"{head}{START}\n{section}\n{END}{tail}")


if __name__ == "__main__":
    update_readme(*(Path(a) for a in sys.argv[1:]))
