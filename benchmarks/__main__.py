"""`make bench` = `python -m benchmarks`: every figure of benchmarks/README.md, written to benchmarks/results/ and,
from a clean tree, into the README's Performance section.

python -m benchmarks            # the full run (about 25 minutes on 2 cores with a cold cache)
python -m benchmarks --quick    # a smoke test (a few minutes): results/quick/, never the README
"""

from __future__ import annotations

import os

# PyTorch's OpenMP threads must sleep, not spin, between calls: they share the cores with onnxruntime's.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks import configs as cfg  # noqa: E402
from benchmarks import machine, models, plots, report, suite, targets, tensorrt  # noqa: E402
from benchmarks.doc_section import DirtyTree, TreeState, sections_in, tree_state, write_section  # noqa: E402
from benchmarks.fit_scaling import measure as fit_scaling  # noqa: E402
from benchmarks.latency import Plan, log  # noqa: E402
from benchmarks.paths import CACHE, CATEGORY, MVTEC, PEER, QUICK_RESULTS, README, RESULTS, ROOT  # noqa: E402
from padim_edge.storage.atomic import atomic_write  # noqa: E402


def parse() -> tuple[suite.Options, Path, bool, bool]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smoke test: few models, 2 rounds x 10 calls.")
    parser.add_argument(
        "--large", action="store_true", help="Also r18@320, r18 d=200, wide_resnet50_2 d=100 and d=550 (3.8 GB)."
    )
    parser.add_argument("--rounds", type=int, help=f"Processes per model (default {cfg.ROUNDS}).")
    parser.add_argument("--calls", type=int, help=f"Timed calls per batch size and process (default {cfg.CALLS}).")
    parser.add_argument("--warmup", type=int, help=f"Untimed calls before them (default {cfg.WARMUP}).")
    parser.add_argument("--calib-images", type=int, help=f"int8 calibration images (default {cfg.CALIB_IMAGES}).")
    parser.add_argument("--data-root", type=Path, default=MVTEC, help=f"MVTec AD root (default {MVTEC}).")
    parser.add_argument("--peer", type=Path, default=PEER, help=f"anomalib's exports (default {PEER}).")
    parser.add_argument("--out", type=Path, help=f"Results folder (default {RESULTS}, --quick {QUICK_RESULTS}).")
    parser.add_argument("--fresh", action="store_true", help="Refit and re-export everything (keeps the peer exports).")
    parser.add_argument("--no-docs", action="store_true", help="Do not write the README's and docs' sections.")
    args = parser.parse_args()
    quick = args.quick
    plan = Plan(
        rounds=args.rounds or (cfg.QUICK_ROUNDS if quick else cfg.ROUNDS),
        calls=args.calls or (cfg.QUICK_CALLS if quick else cfg.CALLS),
        warmup=args.warmup if args.warmup is not None else (cfg.QUICK_WARMUP if quick else cfg.WARMUP),
        threads=cfg.THREADS,
    )
    options = suite.Options(
        quick=quick,
        large=args.large,
        plan=plan,
        calib_images=args.calib_images or (cfg.QUICK_CALIB_IMAGES if quick else cfg.CALIB_IMAGES),
        data_root=args.data_root,
        pipeline_frames=cfg.QUICK_PIPELINE_FRAMES if quick else cfg.PIPELINE_FRAMES,
        peer_dir=args.peer,
        datasets=cfg.QUICK_DATASETS if quick else cfg.DATASETS,
        fit_counts=cfg.QUICK_FIT_SCALING if quick else cfg.FIT_SCALING,
        test_limit=cfg.QUICK_TEST_IMAGES if quick else None,
    )
    out = args.out or (QUICK_RESULTS if quick else RESULTS)
    return options, out, args.fresh, not (quick or args.no_docs or out.resolve() != RESULTS)


def main() -> None:
    options, out, fresh, docs = parse()
    if not (options.data_root / CATEGORY).is_dir():
        raise SystemExit(f"MVTec AD screw not found under {options.data_root}: pass --data-root (never copy it here)")
    state = tree_state()  # before this run writes anything
    if fresh:
        for entry in CACHE.iterdir() if CACHE.is_dir() else []:
            if entry != PEER:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    r = measure(options, out)
    r["settings"] = settings(options, state, started)
    atomic_write(out / "bench.json", json.dumps(r, indent=1) + "\n")
    atomic_write(out / "bench.md", report.markdown(r))
    plots.write(r, out)
    log(f"done in {r['settings']['wall_s']:.0f} s: {out / 'bench.md'}")
    if docs:
        publish(r, state, out)


def measure(options: suite.Options, out: Path) -> dict:
    """Every phase, in order: the machine, its ceilings, the models, their latency, accuracy, fit, pipeline."""
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # not the warnings about unused constants of every session
    r: dict = {"machine": machine.describe()}
    log(f"machine: {r['machine']['cpu']}, load average {r['machine']['load_average']}")
    r["roofline"] = suite.ceilings(options.plan.threads)
    rows, r["peer"] = suite.build_models(options)
    options.inputs = suite.prepare_inputs(rows, options.data_root)
    r["models"] = {row.name: _describe(row) for row in rows}
    r["work"] = suite.work(rows)
    r["latency"], r["memory"] = suite.timings(rows, options)
    r["agreement"] = suite.agreement(rows, options)
    default = next(row for row in rows if row.config == cfg.DEFAULT and row.kind == "fused")
    r["profile"] = suite.profile(default, options, out)
    r["accuracy"], r["accuracy_by_dataset"] = suite.accuracy(rows, options)
    r["fit_scaling"] = fit_scaling(options.fit_counts, options.data_root, CACHE / "fit-scaling", log)
    r["pipeline"] = suite.pipeline(default.path, options.pipeline_frames, out)
    r["roofline_rows"] = targets.roofline_rows(r)
    r["targets"] = targets.targets(r)
    r["int8"] = targets.int8_trade(r)
    r["small_cpu"] = targets.small_cpu(r)
    r["peer_ratios"] = {role: targets.ratios(r, role, default.name) for role in r["peer"]["found"]}
    r["not_measured"] = not_measured(options, r)
    return r


def _describe(row: suite.Model) -> dict:
    return {
        "kind": row.kind,
        "config": asdict(row.config) if row.config else None,
        "path": str(row.path),
        "size_mb": None if row.kind == "torch" else round(models.size_on_disk(row.path) / 1e6, 1),
    }


def settings(options: suite.Options, state: TreeState, started: float) -> dict:
    plan = options.plan
    return {
        "quick": options.quick,
        "large": options.large,
        "rounds": plan.rounds,
        "calls": plan.calls,
        "warmup": plan.warmup,
        "threads": plan.threads,
        "frames": suite.FRAMES,
        "calib_images": options.calib_images,
        "test_limit": options.test_limit,
        "data_root": str(options.data_root),
        "peer_dir": str(options.peer_dir),
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]) if sys.argv[1:] else "make bench",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "code": {"commit": state.commit, "clean": state.clean, "changed": state.changed, "describe": state.describe()},
        "default_drift": cfg.default_drift(),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.perf_counter() - started, 1),
    }


def publish(r: dict, state: TreeState, out: Path) -> None:
    """The README's Performance section and any bench-* section of docs/*.md, from a tree that was clean at the
    start and has not changed since (outside benchmarks/results/)."""
    by, where = "make bench", machine.summary(r["machine"])
    if tree_state() != state:
        state = TreeState(state.commit, (*state.changed, "(the tree changed during the run)"))
    section = (out / "bench.md").read_text(encoding="utf-8")
    for name in ("run.md", *report.PLOTS, "bench.json"):
        section = section.replace(f"]({name})", f"](benchmarks/results/{name})")
    try:
        write_section(README, "performance", section, state, by, where)
        for doc in sorted((ROOT / "docs").glob("*.md")):
            for name in set(sections_in(doc)) & set(report.DOC_SECTIONS):
                write_section(doc, name, "\n".join(report.DOC_SECTIONS[name](r)), state, by, where)
                log(f"wrote section {name} of {doc.relative_to(ROOT)}")
    except DirtyTree as exc:
        log(f"README and docs not written: {exc} (results are in {out})")
        return
    log("wrote the README's Performance section")


def not_measured(options: suite.Options, r: dict) -> list[str]:
    """What this run could not measure, and why."""
    missing = [
        "Accuracy of resnet18 and wide_resnet50_2: no ImageNet weights for them on this machine (no registry "
        "package ships them, no internet); their rows use random weights and synthetic statistics, speed only.",
    ]
    if not options.large:
        missing.append(
            "The wider speed-only sweep (resnet18 at 320 and d=200, wide_resnet50_2 at d=100 and d=550, the last "
            "with 3.8 GB of statistics): `python -m benchmarks --large`."
        )
    if r["peer"]["missing"]:
        missing.append(
            f"{', '.join(r['peer']['missing'])}: not found in {r['peer']['folder']}; {r['peer']['how_to_build']}."
        )
    cap = r["machine"]["isa_cap"]
    if not cap["possible"]:
        missing.append(
            f"CPU classes below {r['machine']['cpu_class']} on this machine: {cap['why']}; each class needs its own "
            "machine."
        )
    why = tensorrt.available()
    if why:
        missing.append(f"TensorRT: {why}.")
    return missing


if __name__ == "__main__":
    main()
