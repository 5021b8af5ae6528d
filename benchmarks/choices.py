"""`make choices` = `python -m benchmarks.choices`: the defaults' accuracy table in docs/choices.md.

Every candidate configuration is fitted and evaluated with the product's own code (padim_edge.fit,
padim_edge.evaluate: whole original frames, uncropped masks) on every dataset at hand: the MVTec AD
copies in ../shared/data/mvtec (screw, bottle, tire) and ELPV mono cells (the elpv-dataset package), each
with seeds 0, 1 and 2 (the seed draws the channels and the hold-out split; a candidate whose channels do not
depend on the seed runs at seed 0 alone). Results are cached per
(configuration, dataset, seed) under benchmarks/results/cache/choices/ while the sources they depend on
are unchanged; the table goes to docs/choices.md between its `choices` markers, with the commit and the
machine, and only from a clean tree.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from benchmarks import configs
from benchmarks.doc_section import tree_state, write_section_or_exit
from benchmarks.machine import describe, summary
from benchmarks.paths import CACHE, MVTEC, ROOT
from padim_edge.presets import preset
from padim_edge.storage.atomic import atomic_write

DATASETS = ("screw", "bottle", "tire", "elpv")
SEEDS = (0, 1, 2)
METRICS = ("image_auroc", "pixel_auroc", "pro")
DOC = ROOT / "docs" / "choices.md"
SECTION = "choices"


@dataclass(frozen=True)
class Candidate:
    """A configuration: FitOptions keywords, and why it is in the table."""

    name: str
    options: dict = field(default_factory=dict)
    note: str = ""
    seeded: bool = True  # False: nothing in the fit depends on the seed but the hold-out split; run at one seed


#: padim-edge 0.2's default (benchmarks.configs.PREVIOUS) as FitOptions keywords.
PREVIOUS = {
    "layers": configs.PREVIOUS.layers,
    "d": configs.PREVIOUS.d,
    "pooling": configs.PREVIOUS.pooling,
    "prior_weight": configs.PREVIOUS.prior_weight,
}

CANDIDATES = (
    Candidate(
        "default",
        {},
        "**the default**: taps `blocks.4`, `blocks.10` (stride 8 and 16), every one of their 152 channels (no "
        "seed: run once), 3x3 average of the stride-8 tap, eps 1.0, one covariance per 2x2 tile, pulled toward "
        "the covariance pooled over the grid by a prior worth d samples",
        seeded=False,
    ),
    Candidate(
        "no-prior",
        {"prior_weight": 0.0},
        "the default without the prior (`--prior-weight 0`; no seed: run once)",
        seeded=False,
    ),
    Candidate(
        "0.2-default",
        PREVIOUS,
        "padim-edge 0.2's default: taps `blocks.2`, `blocks.4`, `blocks.10`, d = 100 random channels of 176, "
        "3x3 average of the stride-4 tap (`--layers blocks.2,blocks.4,blocks.10 -d 100 --pooling 3,1,1`)",
    ),
    Candidate(
        "least-redundant",
        {**PREVIOUS, "channels": "least-redundant"},
        "0.2's default with the 100 least redundant channels of the training images instead of a random draw "
        "(`--channels least-redundant`; no seed: run once)",
        seeded=False,
    ),
    Candidate(
        "texture",
        preset("texture").options,
        "`fit --preset texture`: three taps, all 176 channels, the 3x3 average on every tap, shorter side 192 "
        "(no seed: run once)",
        seeded=False,
    ),
)


def run_one(candidate: Candidate, dataset: str, seed: int, data_root: Path, train_images: int | None = None) -> dict:
    """Fit and evaluate one (configuration, dataset, seed); cached while the sources are unchanged.
    `train_images`: fit on a subset of that many good images, drawn with the seed (a learning curve)."""
    from padim_edge.evaluate import predict_split
    from padim_edge.fit import FitOptions, fit
    from padim_edge.metrics import compute_metrics

    subset = "" if train_images is None else f"n{train_images}"
    folder = CACHE / "choices" / candidate.name / dataset / subset / f"seed{seed}"
    subset_key = {} if train_images is None else {"n": train_images}
    stamp = json.dumps({"options": candidate.options, **subset_key, "sources": sources_stamp()}, sort_keys=True)
    record = folder / "metrics.json"
    if record.is_file():
        cached = json.loads(record.read_text())
        if cached.get("stamp") == stamp:
            return cached
    split = load_split(dataset, data_root)
    if train_images is not None and train_images < len(split.train):
        picked = np.random.default_rng(seed).choice(len(split.train), size=train_images, replace=False)
        split = replace(split, train=[split.train[i] for i in sorted(picked)])
    started = time.perf_counter()
    config = fit(split, folder / "run", FitOptions(**candidate.options, seed=seed, show_progress=False), data_root)
    fit_s = time.perf_counter() - started
    pred = predict_split(folder / "run", split.test, show=False)
    has_masks = any(s.mask_path is not None for s in pred.samples)
    metrics = compute_metrics(pred.labels, pred.scores, pred.masks if has_masks else None, pred.maps)
    result = {
        **{k: metrics[k] for k in METRICS},
        "input_hw": list(config.input_hw),
        "fit_s": round(fit_s, 1),
        "n_test": len(pred.samples),
        "stamp": stamp,
    }
    atomic_write(record, json.dumps(result, indent=1))
    return result


#: The product code the numbers depend on (a change there re-measures everything).
SOURCES = (
    "fit.py",
    "evaluate.py",
    "metrics.py",
    "model",
    "data",
    "imaging",
    "contract/schema.py",
    "contract/architectures.py",
    "presets.py",
)


def load_split(dataset: str, data_root: Path):
    """A dataset at hand: ELPV mono cells from their package, else an MVTec AD category under `data_root`."""
    from padim_edge.data import load_dataset

    return load_dataset("elpv", None, "mono") if dataset == "elpv" else load_dataset("mvtec", data_root, dataset)


def sources_stamp(entries: tuple[str, ...] = SOURCES) -> str:
    """A digest of the product code under padim_edge/ that the numbers depend on (files or folders)."""
    import hashlib

    digest = hashlib.sha256()
    for entry in entries:
        root = ROOT / "padim_edge" / entry
        for path in sorted([root] if root.is_file() else root.rglob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def aggregate(results: dict) -> dict:
    """Per candidate and dataset: mean and std over seeds of each metric; and the mean over datasets."""
    table: dict = {}
    for (name, dataset), runs in results.items():
        entry = table.setdefault(name, {})
        entry[dataset] = {
            m: (float(np.mean([r[m] for r in runs])), float(np.std([r[m] for r in runs])))
            for m in METRICS
            if all(r[m] is not None for r in runs)
        }
    for entry in table.values():
        entry["mean"] = {m: (float(np.mean([v[m][0] for d, v in entry.items() if m in v])), math.nan) for m in METRICS}
    return table


def markdown(table: dict, datasets: tuple[str, ...], seeds: tuple[int, ...]) -> str:
    """The table: one row per candidate, image AUROC / pixel AUROC / PRO per dataset as mean ± std."""
    lines = ["| configuration | " + " | ".join(datasets) + " | mean |", "|---" * (len(datasets) + 2) + "|"]
    notes = {c.name: c.note for c in CANDIDATES}
    for name, entry in table.items():
        cells = []
        for dataset in (*datasets, "mean"):
            values = entry.get(dataset, {})
            parts = []
            for m in METRICS:
                if m in values:
                    mean, std = values[m]
                    parts.append(f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}")
                else:
                    parts.append("-")
            cells.append(" / ".join(parts))
        lines.append(f"| {name}: {notes.get(name, '')} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Cells: image AUROC / pixel AUROC / PRO, mean ± std over seeds {', '.join(map(str, seeds))} (seed "
        f"{seeds[0]} alone where a row says no seed: the seed then only moves the threshold's hold-out split, "
        "which no metric uses).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.choices", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=MVTEC)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--only", help="Comma-separated candidate names (default: all).")
    args = parser.parse_args()
    datasets = tuple(args.datasets.split(","))
    seeds = tuple(int(s) for s in args.seeds.split(","))
    wanted = set(args.only.split(",")) if args.only else None
    state = tree_state()  # taken before the run: the figures are those of this commit
    results: dict = {}
    for candidate in CANDIDATES:
        if wanted and candidate.name not in wanted:
            continue
        for dataset in datasets:
            for seed in seeds if candidate.seeded else seeds[:1]:
                r = run_one(candidate, dataset, seed, args.data_root)
                print(f"{candidate.name:28s} {dataset:7s} seed {seed}: " + "  ".join(f"{m} {r[m]}" for m in METRICS))
                results.setdefault((candidate.name, dataset), []).append(r)
    text = markdown(aggregate(results), datasets, seeds)
    atomic_write(CACHE / "choices" / "table.md", text + "\n")
    print(text)
    if wanted or datasets != DATASETS or seeds != SEEDS:
        print(f"not written to {DOC}: only a run of every candidate, dataset and seed writes it")
        return
    write_section_or_exit(DOC, SECTION, text, state, "make choices", summary(describe()))


if __name__ == "__main__":
    main()
