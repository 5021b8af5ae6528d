"""Figures derived from the raw measurements: roofline fractions, the targets of issues 10 and 13, int8's trade.

Every speed ratio is per image (median ms per call / batch), each model timed in its own processes.
"""

from __future__ import annotations

from benchmarks import configs as cfg
from benchmarks.configs import Config
from benchmarks.peer import HOW_TO_BUILD, ROLES
from benchmarks.roofline import floor_ms

R18_EXPORT, SAME_BACKBONE_EXPORT = ROLES["padim_resnet18"], ROLES["padim_lite0"]
VS_R18_EXPORT = 5.0  # issue 13: the default against anomalib's R18 export, batch 1
VS_SAME_BACKBONE_EXPORT = 2.5  # issue 13: against anomalib's export of the same backbone, batch 1
ROOFLINE_FACTOR = 1.3
INT8_MAX_DROP = 0.01  # largest drop of image AUROC, pixel AUROC and PRO against fp32


def row(config: Config, kind: str) -> str:
    return f"{config.name} {kind}"


def roofline_rows(results: dict) -> dict[str, dict]:
    """Per row and batch: the floor (from its configuration's fused graph) and measured / floor."""
    ceil, found = results["roofline"], {}
    for name, by_batch in results["latency"].items():
        fused = name.rsplit(" ", 1)[0] + " fused"
        if fused not in results["work"] or results["models"][name]["kind"] == "one-thread":  # a 2-thread floor
            continue
        work = results["work"][fused]
        found[name] = {}
        for batch, figures in by_batch.items():
            floor = floor_ms(work, int(batch), ceil["peak_gflops"], ceil["read_gbs"])
            found[name][batch] = {"floor_ms": round(floor, 3), "x_floor": round(figures["median_ms"] / floor, 3)}
    return found


def ratios(results: dict, slow: str, fast: str) -> dict[str, float]:
    """Per batch size both rows were timed at: slow's ms per image / fast's."""
    a, b = results["latency"].get(slow, {}), results["latency"].get(fast, {})
    return {k: round(a[k]["per_image_ms"] / b[k]["per_image_ms"], 3) for k in b if k in a}


def targets(results: dict) -> list[dict]:
    """Each target with its measured ratios and whether it is met (None: not measurable in this run)."""
    default = row(cfg.DEFAULT, "fused")
    found = []
    for export, goal in ((R18_EXPORT, VS_R18_EXPORT), (SAME_BACKBONE_EXPORT, VS_SAME_BACKBONE_EXPORT)):
        measured = ratios(results, export, default)
        target = f"{default} >= {goal:g}x faster per image than the {export}, batch 1 (issue 13)"
        if measured.get("1"):
            found.append({"target": target, "ratios_by_batch": measured, "met": measured["1"] >= goal})
        else:
            found.append({"target": target, "met": None, "note": f"not measured: no such export found; {HOW_TO_BUILD}"})
    small = small_cpu(results)
    if small:
        found.append(
            {
                "target": f"{small['row']} keeps up with a {cfg.CAMERA_FPS} fps camera at batch 1 (issue 24)",
                "ratios_by_batch": {"1": small["x_camera"]},
                "met": small["x_camera"] >= 1,
            }
        )
    roof = roofline_rows(results)
    for config, batches, source in ((cfg.DEFAULT, ("1", "8"), "issue 13"), (cfg.R18_224, ("8",), "issue 10")):
        by_batch = {b: roof.get(row(config, "fused"), {}).get(b) for b in batches}
        if all(by_batch.values()):
            found.append(
                {
                    "target": f"{row(config, 'fused')} within {ROOFLINE_FACTOR:g}x of its roofline floor at batch "
                    f"{' and '.join(batches)} ({source})",
                    "roofline_by_batch": by_batch,
                    "met": max(v["x_floor"] for v in by_batch.values()) <= ROOFLINE_FACTOR,
                }
            )
    return found


def small_cpu(results: dict) -> dict | None:
    """The default on one thread at batch 1: frames per second (median, and at p99) against the camera rate."""
    name = row(cfg.DEFAULT, f"{cfg.SMALL_CPU_THREADS}-thread")
    figures = results["latency"].get(name, {}).get("1")
    if not figures:
        return None
    fps = 1e3 / figures["median_ms"]
    return {
        "row": name,
        "threads": cfg.SMALL_CPU_THREADS,
        "fps": round(fps, 1),
        "fps_at_p99": round(1e3 / figures["p99_ms"], 1),
        "camera_fps": cfg.CAMERA_FPS,
        "x_camera": round(fps / cfg.CAMERA_FPS, 3),
    }


def int8_trade(results: dict) -> dict | None:
    """int8 backbone against fp32: latency ratio per batch and the change in screw metrics."""
    fp32, int8 = row(cfg.DEFAULT, "fused"), row(cfg.DEFAULT, "int8")
    if int8 not in results["latency"]:
        return None
    acc_a, acc_b = results["accuracy"].get(fp32, {}), results["accuracy"].get(int8, {})
    change = {
        k: round(acc_b[k] - acc_a[k], 4)
        for k in ("image_auroc", "pixel_auroc", "pro")
        if acc_a.get(k) is not None and acc_b.get(k) is not None
    }
    return {
        "speedup_by_batch": ratios(results, fp32, int8),
        "metric_change": change,
        "max_score_rel_diff": results["agreement"].get(int8, {}).get("max_score_rel_diff"),
        "met": bool(change) and min(change.values()) >= -INT8_MAX_DROP,
        "goal": f"no metric drops by more than {INT8_MAX_DROP}",
        "vnni": "avx512_vnni" in results["machine"]["simd"] or "avx_vnni" in results["machine"]["simd"],
        "cpu_class": results["machine"].get("cpu_class"),
    }
