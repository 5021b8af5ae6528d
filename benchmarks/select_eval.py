"""`make select-eval` = `python -m benchmarks.select_eval`: what `fit --select` chooses on every dataset at hand.

Per dataset and seed (the seed draws the validation images and the synthetic defects): the select fit, timed
against a plain fit of the default in the same process; what it chose, each candidate's synthetic-defect AUROC,
and the test image AUROC of the chosen run. Beside it, every candidate's test image AUROC (benchmarks.choices'
cached fit and evaluation: what an oracle with the real defects would have chosen). The table goes to the
`select` section of docs/choices.md, only from a clean tree.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.choices import DATASETS, DOC, SOURCES, Candidate, load_split, run_one, sources_stamp
from benchmarks.doc_section import tree_state, write_section_or_exit
from benchmarks.machine import describe, summary
from benchmarks.paths import CACHE, MVTEC
from padim_edge.storage.atomic import atomic_write

SEEDS = (0, 1, 2)
SECTION = "select"


def select_one(dataset: str, seed: int, data_root: Path) -> dict:
    """One select fit and one plain fit (timed in turn), and the chosen run's test image AUROC; cached."""
    from padim_edge.evaluate import predict_split
    from padim_edge.fit import FitOptions, fit
    from padim_edge.metrics import image_auroc
    from padim_edge.select import select_and_fit

    folder = CACHE / "select" / dataset / f"seed{seed}"
    stamp = sources_stamp((*SOURCES, "select.py", "model/synthetic_defects.py"))
    record = folder / "result.json"
    cached = json.loads(record.read_text()) if record.is_file() else {}
    if cached.get("stamp") == stamp:
        return cached
    split = load_split(dataset, data_root)
    options = FitOptions(seed=seed, show_progress=False)
    started = time.perf_counter()
    fit(split, folder / "plain", options, data_root)
    plain_s = time.perf_counter() - started
    started = time.perf_counter()
    config = select_and_fit(split, folder / "run", options, data_root, lambda line: None)
    select_s = time.perf_counter() - started
    pred = predict_split(folder / "run", split.test, show=False)
    result = {
        "chosen": next(t.name for t in config.selection if t.chosen),
        "synthetic": {t.name: t.auroc for t in config.selection},
        "image_auroc": image_auroc(pred.labels, pred.scores),
        "plain_s": round(plain_s, 1),
        "select_s": round(select_s, 1),
        "stamp": stamp,
    }
    atomic_write(record, json.dumps(result, indent=1))
    return result


def oracle(dataset: str, data_root: Path) -> dict[str, float]:
    """Each candidate's test image AUROC (fitted on every training image, seed 0: nothing else depends on it)."""
    from padim_edge.select import CANDIDATES

    return {
        c.name: run_one(Candidate(c.name, c.options, seeded=False), dataset, 0, data_root)["image_auroc"]
        for c in CANDIDATES
    }


def markdown(rows: dict, oracles: dict, seeds: tuple[int, ...]) -> str:
    from padim_edge.select import CANDIDATES

    names = [c.name for c in CANDIDATES]
    lines = [
        "| dataset | seed | chosen | synthetic-defect AUROC (" + ", ".join(names) + ") | test image AUROC: chosen"
        " / default | select fit time / plain fit |",
        "|---|---|---|---|---|---|",
    ]
    for (dataset, seed), r in rows.items():
        synthetic = " / ".join(f"{r['synthetic'][n]:.3f}" for n in names)
        lines.append(
            f"| {dataset} | {seed} | {r['chosen']} | {synthetic} | {r['image_auroc']:.3f} / "
            f"{oracles[dataset]['default']:.3f} | {r['select_s'] / r['plain_s']:.1f}x ({r['select_s']:.0f} s) |"
        )
    lines += [
        "",
        "Every candidate's test image AUROC (fitted on every training image), what a choice made with the real "
        "defects would see:",
        "",
        "| dataset | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
        *(f"| {d} | " + " | ".join(f"{o[n]:.3f}" for n in names) + " |" for d, o in oracles.items()),
        "",
        f"Seeds {', '.join(map(str, seeds))} (each draws the validation images and the defects); "
        f"mean select fit time over plain: {np.mean([r['select_s'] / r['plain_s'] for r in rows.values()]):.1f}x.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.select_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=MVTEC)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--write-doc", action="store_true", help=f"Write the table into {DOC.name} (clean tree).")
    args = parser.parse_args()
    datasets = tuple(args.datasets.split(","))
    seeds = tuple(int(s) for s in args.seeds.split(","))
    state = tree_state()  # taken before the run: the figures are those of this commit
    rows = {}
    for dataset in datasets:
        for seed in seeds:
            rows[dataset, seed] = r = select_one(dataset, seed, args.data_root)
            print(f"{dataset} seed {seed}: chose {r['chosen']}, test image AUROC {r['image_auroc']:.4f}", flush=True)
    oracles = {dataset: oracle(dataset, args.data_root) for dataset in datasets}
    text = markdown(rows, oracles, seeds)
    print(text)
    if args.write_doc:
        write_section_or_exit(DOC, SECTION, text, state, "make select-eval", summary(describe()))


if __name__ == "__main__":
    main()
