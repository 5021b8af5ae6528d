"""`python -m benchmarks.learning_curve`: image AUROC against the number of good training images.

The MVTec AD screw (../shared/data/mvtec), fitted on seeded random subsets of 25, 50, 100 and 200 of its
good training images and on all of them, with the default, the default without its prior and padim-edge
0.2's default, each subset size at seeds 0, 1 and 2 (the seed draws the subset, and 0.2's channels). The
product's own fit and evaluation (benchmarks.choices.run_one, cached the same way); the table goes to the
`learning-curve` section of docs/choices.md, only from a clean tree.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.choices import CANDIDATES, DOC, run_one
from benchmarks.doc_section import tree_state, write_section_or_exit
from benchmarks.machine import describe, summary
from benchmarks.paths import MVTEC

SIZES = (25, 50, 100, 200)
SEEDS = (0, 1, 2)
ROWS = ("default", "no-prior", "0.2-default")
SECTION = "learning-curve"


def curve(name: str, dataset: str, seeds: tuple[int, ...], data_root: Path) -> dict[str, list[float]]:
    """Image AUROC per subset size ("all": every training image) and seed."""
    candidate = next(c for c in CANDIDATES if c.name == name)
    points: dict[str, list[float]] = {}
    for size in (*SIZES, None):
        runs = seeds if size is not None or candidate.seeded else seeds[:1]
        for seed in runs:
            r = run_one(candidate, dataset, seed, data_root, size)
            points.setdefault(str(size or "all"), []).append(r["image_auroc"])
            print(f"{name:12s} {dataset} n={size or 'all'} seed {seed}: image AUROC {r['image_auroc']:.4f}", flush=True)
    return points


def markdown(curves: dict[str, dict[str, list[float]]], dataset: str, seeds: tuple[int, ...]) -> str:
    """One row per configuration: mean ± std image AUROC per size, and the gap at 50 images to the full fit."""
    sizes = [*map(str, SIZES), "all"]
    lines = [
        f"| configuration ({dataset}) | "
        + " | ".join(f"{s} images" if s != "all" else "all" for s in sizes)
        + " | gap at 50 |",
        "|---" * (len(sizes) + 2) + "|",
    ]
    for name, points in curves.items():
        cells = [f"{np.mean(points[s]):.3f} ± {np.std(points[s]):.3f}" for s in sizes]
        gap = np.mean(points["all"]) - np.mean(points["50"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {gap:.3f} |")
    lines += [
        "",
        f"Image AUROC, mean ± std over seeds {', '.join(map(str, seeds))} (each seed draws the subset); `all` is one"
        " fit where nothing depends on the seed. Gap: the full fit's image AUROC minus the mean at 50 images.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning_curve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=MVTEC)
    parser.add_argument("--dataset", default="screw")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--write-doc", action="store_true", help=f"Write the table into {DOC.name} (clean tree).")
    args = parser.parse_args()
    seeds = tuple(int(s) for s in args.seeds.split(","))
    state = tree_state()  # taken before the run: the figures are those of this commit
    text = markdown({name: curve(name, args.dataset, seeds, args.data_root) for name in ROWS}, args.dataset, seeds)
    print(text)
    if args.write_doc:
        write_section_or_exit(DOC, SECTION, text, state, "python -m benchmarks.learning_curve", summary(describe()))


if __name__ == "__main__":
    main()
