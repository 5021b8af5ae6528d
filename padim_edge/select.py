"""`fit --select`: the fit picks its own settings among a few candidates, with no defect labels.

A share of the good training images is set aside; each good one is copied with synthetic defects
(model.synthetic_defects). Every candidate is fitted on the rest and scored on both, and the one that best
tells them apart (image AUROC) is fitted on every image. The default is kept unless another beats it by
more than MARGIN: a choice that rests on noise is worse than none. Every trial is recorded in the run.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from padim_edge.contract.schema import ModelConfig, SelectionTrial
from padim_edge.data import DatasetSplit, Sample
from padim_edge.data.batches import evenly_spaced
from padim_edge.errors import UserError
from padim_edge.evaluate import score_samples
from padim_edge.fit import FitOptions, fit, split_holdout
from padim_edge.imaging.decode import read_image
from padim_edge.metrics import image_auroc
from padim_edge.model.synthetic_defects import KINDS, STRENGTHS, add_defect
from padim_edge.presets import PRESETS, Preset
from padim_edge.progress import progress
from padim_edge.storage.atomic import staging_prefix

#: How much better than the default (image AUROC on the synthetic defects) a candidate must be to be chosen.
MARGIN = 0.01
VALIDATION_SHARE = 0.2
MIN_VALIDATION, MAX_VALIDATION = 4, 32  # good images set aside: enough to rank, few enough to stay cheap
#: The validation images are written with their shorter side at most this (well above any candidate's input
#: size, so what the models see is the same; a quarter of the pixels to encode and decode for 1024 x 1024).
VALIDATION_SIDE = 512


#: The candidates: every preset, the default first (it wins every tie).
CANDIDATES = PRESETS


def select_and_fit(
    split: DatasetSplit, out_dir: Path, options: FitOptions, data_root: Path | None, echo: Callable[[str], None]
) -> ModelConfig:
    """Try every candidate on held-out good images and their synthetic defects, then fit the chosen one on
    every training image into `out_dir`; the trials go into its config (`selection`)."""
    keep, validation = split_holdout(split.train, VALIDATION_SHARE, options.seed + 1)
    if len(validation) < MIN_VALIDATION:
        need = int(np.ceil(MIN_VALIDATION / VALIDATION_SHARE))
        raise UserError(f"--select: needs at least {need} good training images, found {len(split.train)}")
    held, validation = validation, evenly_spaced(validation, MAX_VALIDATION)
    keep += [s for s in held if s not in validation]  # held out but not needed: back into the fit
    trials = out_dir.absolute().parent / (staging_prefix(out_dir) + "select")  # a killed fit's is cleaned later
    try:
        samples = _validation_set(validation, keep, trials / "validation", options.seed)
        results = [
            _trial(candidate, DatasetSplit(split.name, split.category, keep, []), samples, trials, options, echo)
            for candidate in progress(CANDIDATES, len(CANDIDATES), "select", options.show_progress)
        ]
    finally:
        shutil.rmtree(trials, ignore_errors=True)
    chosen = choose(results)
    table = [SelectionTrial(**{**r, "chosen": r["name"] == chosen.name}) for r in results]
    rule = (
        f"highest image AUROC on {len(validation)} held-out good images and {len(samples) - len(validation)} "
        f"synthetic defects ({', '.join(KINDS)}); the default unless another beats it by more than {MARGIN}"
    )
    settings = replace(options, **chosen.options)
    return fit(split, out_dir, settings, data_root, selection=table, selection_rule=rule)


def choose(results: list[dict]) -> Preset:
    """The default, unless a candidate's AUROC beats it by more than MARGIN: then the best one."""
    default = results[0]["auroc"]
    best = max(results, key=lambda r: r["auroc"])
    name = best["name"] if best["auroc"] > default + MARGIN else results[0]["name"]
    return next(c for c in CANDIDATES if c.name == name)


def selection_table(config: ModelConfig) -> list[str]:
    """The trials of a `--select` fit as markdown lines (none for a plain fit)."""
    if not config.selection:
        return []
    kinds = list(config.selection[0].by_kind)
    lines = [
        "| candidate | flags | synthetic AUROC | " + " | ".join(kinds) + " | chosen |",
        "|---" * (len(kinds) + 4) + "|",
    ]
    for t in config.selection:
        cells = " | ".join(f"{t.by_kind[k]:.4f}" for k in kinds)
        lines.append(f"| {t.name} | {t.flags or '(none)'} | {t.auroc:.4f} | {cells} | {'yes' if t.chosen else ''} |")
    return [*lines, "", f"Rule: {config.selection_rule}."]


def _validation_set(goods: list[Sample], donors: list[Sample], folder: Path, seed: int) -> list[Sample]:
    """The held-out good images and, per image, one defect of each kind at each strength, written as PNG
    (goods too, shrunk the same way, so that size tells nothing)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    samples = []
    for i, good in enumerate(goods):
        image = _shrink(read_image(good.path))
        donor = _shrink(read_image(donors[int(rng.integers(len(donors)))].path))
        samples.append(_write(folder / f"{i:03d}-good.png", image, 0, "good"))
        for kind in KINDS:
            for strength in STRENGTHS:
                defect = add_defect(image, donor, kind, strength, rng)
                samples.append(_write(folder / f"{i:03d}-{kind}-{strength}.png", defect, 1, kind))
    return samples


def _write(path: Path, image: np.ndarray, label: int, kind: str) -> Sample:
    if not cv2.imwrite(str(path), image):
        raise UserError(f"{path}: could not be written (disk full?)")
    return Sample(path, label, kind)


def _shrink(image: np.ndarray) -> np.ndarray:
    """The image with its shorter side at most VALIDATION_SIDE (area interpolation), aspect ratio kept."""
    h, w = image.shape[:2]
    scale = VALIDATION_SIDE / min(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def _trial(
    candidate: Preset,
    split: DatasetSplit,
    samples: list[Sample],
    trials: Path,
    options: FitOptions,
    echo: Callable[[str], None],
) -> dict:
    """Fit one candidate without a hold-out, score the validation set: AUROC overall and per kind."""
    started = time.perf_counter()
    run = trials / candidate.name
    fit(split, run, replace(options, **candidate.options, holdout=0.0, show_progress=False))
    kept, scores = score_samples(run, samples, options.batch_size)
    labels = np.array([s.label for s in kept])
    kinds = np.array([s.defect_type for s in kept])
    by_kind = {
        k: image_auroc(labels[(kinds == k) | (labels == 0)], scores[(kinds == k) | (labels == 0)]) for k in KINDS
    }
    auroc = image_auroc(labels, scores)
    echo(f"select: {candidate.name}: synthetic-defect image AUROC {auroc:.4f} ({time.perf_counter() - started:.0f} s)")
    return {"name": candidate.name, "flags": candidate.flags, "auroc": auroc, "by_kind": by_kind}
