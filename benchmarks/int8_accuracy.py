"""Lower precision against fp32 on every dataset and several seeds: image AUROC, pixel AUROC and PRO.

    python -m benchmarks.int8_accuracy [--seeds 0,1,2] [--data-root DIR] [--write-doc]

Per dataset (`configs.DATASETS`) and seed: the default configuration fitted with that seed (the channels it
picks, its hold-out), exported (`padim-edge export`) and quantised (`export --int8`, calibrated on
`configs.CALIB_IMAGES` good training images), scored through the product's runtime on the whole test split:
the fp32 graph, the int8 graph (onnxruntime), and, where OpenVINO is installed and the CPU has bfloat16, the
fp32 graph on `--backend openvino --precision bf16`. Prints the table and writes results/int8_accuracy.json;
`--write-doc` also fills the `bench-int8-by-dataset` section of docs/choices.md (from a clean tree only).
"""

from __future__ import annotations

import argparse
import json
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from benchmarks import configs as cfg
from benchmarks import machine, models
from benchmarks.accuracy import METRICS, score_onnx
from benchmarks.doc_section import DirtyTree, tree_state, write_section
from benchmarks.latency import log
from benchmarks.paths import MVTEC, RESULTS, ROOT
from padim_edge.storage.atomic import atomic_write

DOC, SECTION = ROOT / "docs" / "choices.md", "bench-int8-by-dataset"
MAX_DROP = 0.005  # issue 24: int8 may be the default only if no dataset's image AUROC drops by more


def measure(
    datasets: tuple[tuple[str, str], ...], seeds: list[int], data_root: Path, threads: int, bf16: bool
) -> list[dict]:
    """One record per dataset, seed and lower precision: its metrics, fp32's, and the change."""
    from padim_edge.data import load_dataset

    found = []
    for kind, category in datasets:
        test = load_dataset(kind, None if kind == "elpv" else data_root, category).test
        for seed in seeds:
            log(f"lower precision accuracy: {kind}/{category}, seed {seed}")
            run = models.ensure_run(cfg.DEFAULT, data_root, (kind, category), seed)
            fp32_model = models.ensure_onnx(run)
            fp32 = score_onnx(fp32_model, test, threads)
            variants = {"int8": score_onnx(models.ensure_int8(run, cfg.CALIB_IMAGES, data_root), test, threads)}
            if bf16:
                variants["bf16"] = score_onnx(fp32_model, test, threads, backend="openvino", precision="bf16")
            for variant, metrics in variants.items():
                change = {k: _diff(metrics.get(k), fp32.get(k)) for k in METRICS}
                found.append(
                    {
                        "dataset": f"{kind}/{category}",
                        "seed": seed,
                        "variant": variant,
                        "fp32": fp32,
                        "low": metrics,
                        "change": change,
                    }
                )
    return found


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


VARIANTS = {
    "int8": "int8 backbone (`export --int8`) on onnxruntime",
    "bf16": "the fp32 graph on OpenVINO in bfloat16 (`--backend openvino --precision bf16`)",
}


def table(found: list[dict], cpu_class: str) -> list[str]:
    """Per variant and dataset: fp32 and low-precision image AUROC (mean over seeds), the changes, worst seed."""
    rows = []
    for variant in dict.fromkeys(r["variant"] for r in found):
        for dataset in dict.fromkeys(r["dataset"] for r in found):
            mine = [r for r in found if r["dataset"] == dataset and r["variant"] == variant]
            cells = [variant, dataset, ",".join(str(r["seed"]) for r in mine)]
            cells += [_mean(r["fp32"]["image_auroc"] for r in mine), _mean(r["low"]["image_auroc"] for r in mine)]
            for metric in METRICS:
                changes = [r["change"][metric] for r in mine if r["change"][metric] is not None]
                cells.append(f"{np.mean(changes):+.4f} (worst {min(changes):+.4f})" if changes else "-")
            rows.append(cells)
    header = ["precision", "dataset", "seeds", "image AUROC fp32", "image AUROC lower", "image AUROC change"]
    lines = ["| " + " | ".join([*header, "pixel AUROC", "PRO"]) + " |", "|" + "---|" * (len(header) + 2)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "Changes are the lower precision minus fp32, the mean over seeds and the worst seed."]
    for variant in dict.fromkeys(r["variant"] for r in found):
        worst = min(r["change"]["image_auroc"] for r in found if r["variant"] == variant)
        verdict = "holds" if worst >= -MAX_DROP else "does not hold"
        lines.append(
            f"- {variant}: {VARIANTS[variant]}. Worst image AUROC change {worst:+.4f}: it {verdict} within {MAX_DROP} "
            "on every dataset."
        )
    return lines + [
        "",
        f"Every graph runs through the product's runtime on this machine (CPU class {cpu_class}; int8 and bf16 "
        "kernels differ by class).",
    ]


def _mean(values) -> str:
    return f"{np.mean(list(values)):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-root", type=Path, default=MVTEC)
    parser.add_argument("--write-doc", action="store_true", help=f"fill the {SECTION} section of docs/choices.md")
    args = parser.parse_args()
    state = tree_state()
    m = machine.describe()
    bf16 = bool(find_spec("openvino")) and bool({"avx512_bf16", "amx_bf16"} & set(m["simd"]))
    found = measure(cfg.DATASETS, [int(s) for s in args.seeds.split(",")], args.data_root, cfg.THREADS, bf16)
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write(RESULTS / "int8_accuracy.json", json.dumps({"machine": m, "results": found}, indent=1) + "\n")
    body = "\n".join(table(found, m["cpu_class"]))
    print(body)
    if args.write_doc:
        try:
            write_section(DOC, SECTION, body, state, "python -m benchmarks.int8_accuracy", machine.summary(m))
        except DirtyTree as exc:
            log(f"not written: {exc}")


if __name__ == "__main__":
    main()
