"""Does `fit --update` recover a full fit? Image AUROC on MVTec AD of: a fit on every good training image, a
fit on a seeded half of them, and that half-fit updated with the other half. Writes
benchmarks/results/update.json and the `update-auroc` section of docs/choices.md.

    python -m benchmarks.update_auroc [CATEGORY ...]   (default: screw tire)
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.doc_section import tree_state, write_section
from benchmarks.machine import describe, summary
from benchmarks.paths import MVTEC, RESULTS, ROOT
from padim_edge.data import load_dataset
from padim_edge.evaluate import predict_split
from padim_edge.fit import FitOptions, fit
from padim_edge.update import UpdateOptions, update_run

CATEGORIES = ("screw", "tire")
SEED = 0


def image_auroc(run: Path, split) -> float:
    pred = predict_split(run, split.test, show=False)
    return float(roc_auc_score(pred.labels, pred.scores))


def measure(category: str, work: Path) -> dict:
    """The three AUROCs of one category (default fit settings)."""
    split = load_dataset("mvtec", MVTEC, category)
    order = np.random.default_rng(SEED).permutation(len(split.train))
    half = len(split.train) // 2
    first = [split.train[i] for i in sorted(order[:half])]
    rest = work / f"{category}-rest"
    rest.mkdir()
    for i in sorted(order[half:]):
        (rest / f"{i:04d}{split.train[i].path.suffix}").symlink_to(split.train[i].path.resolve())
    options = FitOptions(show_progress=False)
    fit(split, work / "full", options, MVTEC)
    fit(replace(split, train=first), work / "half", options, MVTEC)
    update_run(work / "half", [rest], work / "updated", UpdateOptions(show_progress=False))
    row = {"category": category, "train_images": len(split.train), "half_images": half, "test_images": len(split.test)}
    for name in ("full", "half", "updated"):
        row[name] = round(image_auroc(work / name, split), 4)
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| category | good training images | test images | full fit AUROC | half fit AUROC | half + update AUROC "
        "| update - full |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['category']} | {r['train_images']} (half: {r['half_images']}) | {r['test_images']} | "
            f"{r['full']:.4f} | {r['half']:.4f} | {r['updated']:.4f} | {r['updated'] - r['full']:+.4f} |"
        )
    return "\n".join(lines)


def main(categories: list[str]) -> None:
    state = tree_state()  # the commit the figures come from, taken before the work starts
    rows = []
    for category in categories:
        print(f"update AUROC: {category}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as work:
            rows.append(measure(category, Path(work)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "update.json").write_text(json.dumps(rows, indent=2) + "\n")
    body = (
        f"Image AUROC on MVTec AD's test images (default settings, seed {SEED}); the half is a seeded half of the "
        "good training images, updated with the other half by `fit --update`.\n\n" + table(rows)
    )
    print(body)
    write_section(
        ROOT / "docs" / "choices.md",
        "update-auroc",
        body,
        state,
        "python -m benchmarks.update_auroc",
        summary(describe()),
    )


if __name__ == "__main__":
    main(sys.argv[1:] or list(CATEGORIES))
