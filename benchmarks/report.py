"""results/bench.md (the README's Performance section) and the tables other docs can take, from bench.json."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks import configs as cfg
from benchmarks.profile_ops import table as profile_table
from benchmarks.suite import KINDS

PLOTS = ("latency.png", "speed_accuracy.png", "fit_scaling.png", "roofline.png")
BUSY = 0.2  # cores used by other processes while timing past which absolute figures are suspect


def cpu_class(r: dict) -> str:
    """The CPU class every ratio of this run holds for (benchmarks/machine.py)."""
    return r["machine"].get("cpu_class", "?")


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(r: dict) -> str:
    """The whole section, `## Performance` first."""
    lines = ["## Performance", "", *_provenance(r), "", "### Targets", "", *targets(r)]
    lines += ["", "### Against anomalib's own exports (issue 13)", "", *_peer(r)]
    lines += ["", "### Latency, throughput, memory", "", *_latency(r)]
    screw = r["accuracy"].get(f"{cfg.DEFAULT.name} fused", {}).get("n_images", "?")
    lines += ["", f"### Accuracy next to speed (MVTec AD screw, {screw} test images, whole frames)", "", *_accuracy(r)]
    lines += ["", f"### Accuracy of the default ({cfg.DEFAULT.name}) on every dataset", "", *accuracy_by_dataset(r)]
    if r.get("small_cpu"):
        lines += ["", f"### One thread (a small CPU: a Jetson's or a gateway's core, {cpu_class(r)} here)", ""]
        lines += _small_cpu(r)
    lines += ["", "### Roofline", "", *_roofline(r)]
    if r.get("profile"):
        lines += ["", f"### Where the time goes: {cfg.DEFAULT.name} fused, per operator", "", *_profile(r)]
    if r.get("int8"):
        lines += ["", "### int8 backbone (onnxruntime CPU)", "", *_int8(r)]
    lines += ["", "### Fit: time and peak memory against training images", "", *_fit(r)]
    lines += ["", "### Pipeline (`benchmarks/bench_run.py`)", "", *_pipeline(r)]
    lines += ["", "### Not measured here", "", *[f"- {x}" for x in r["not_measured"]]]
    lines += ["", "Plots: " + ", ".join(f"[{p}]({p})" for p in PLOTS) + ". Raw figures: [bench.json](bench.json)."]
    return "\n".join(lines) + "\n"


def _provenance(r: dict) -> list[str]:
    m, s, ceil = r["machine"], r["settings"], r["roofline"]
    busy = max((b["others_cores_max"] for v in r["latency"].values() for b in v.values()), default=0.0)
    lines = [
        f"Measured by `{s['command']}` on {s['date']} from {s['code']['describe']}. Machine: {m['cpu']} (family/model "
        f"{m['cpu_family_model']}{', virtual machine' if m['hypervisor'] else ''}), {m['cores_usable']} usable "
        f"cores, caches {', '.join(f'{k} {v}' for k, v in m['caches'].items()) or '?'}, {m['memory_gib']} GiB; "
        f"SIMD present: {', '.join(m['simd']) or 'none'}; absent: {', '.join(m['simd_absent']) or 'none'}; "
        f"**CPU class {cpu_class(r)}**: every ratio below holds for this class. "
        f"{', '.join(f'{k} {v}' for k, v in m['versions'].items())}, Python {m['python']}. "
        f"Load average before: {m['load_average']}, after: {s['load_average_after']}.",
        "",
        f"**How the latencies were taken.** onnxruntime CPU execution provider, {s['threads']} intra-op threads, "
        f"idle threads not spinning (PyTorch rows: {s['threads']} threads). Each model is timed alone in a fresh "
        f"process (`benchmarks/probe.py`); the models take turns, one process each, in the order of the table, "
        f"for {s['rounds']} rounds. In each process, per batch size: {s['warmup']} untimed calls, then "
        f"{s['calls']} timed calls. A figure is the median of the {s['rounds']} rounds' medians; p99 is taken "
        f"over all {s['rounds'] * s['calls']} timed calls. Inputs: {s['frames']} real screw test images, "
        "prepared as each graph expects. Other processes kept at most "
        f"{busy:.2f} cores busy during any timed batch.",
    ]
    if busy > BUSY:
        lines += ["", f"**Warning: the machine was not quiet** (other processes used more than {BUSY} cores): "
                  "absolute latencies are inflated. Re-run on a quiet machine."]  # fmt: skip
    if not s["code"]["clean"]:
        lines += ["", "**Measured from a tree with uncommitted changes**: these figures are not written to the "
                  "README."]  # fmt: skip
    if s["default_drift"]:
        lines += ["", "**benchmarks/configs.py's DEFAULT differs from `padim-edge fit`'s defaults**: "
                  + "; ".join(s["default_drift"]) + "."]  # fmt: skip
    lines += [
        "",
        f"Ceilings measured in the same run ({ceil['threads']} threads): fp32 peak {ceil['peak_gflops']:.0f} "
        f"GFLOP/s, the best of GEMM 2048^3 in onnxruntime ({ceil['gemm_gflops']['onnxruntime']['best']:.0f}) "
        f"and PyTorch ({ceil['gemm_gflops']['torch']['best']:.0f}) and a 3x3 256-channel convolution in "
        f"onnxruntime ({ceil['gemm_gflops']['onnxruntime_conv3x3']['best']:.0f}); memory read "
        f"{ceil['bandwidth_gbs']['read_best']:.1f} GB/s, copy {ceil['bandwidth_gbs']['copy_best']:.1f} GB/s.",
    ]
    return lines


def _met(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def targets(r: dict) -> list[str]:
    rows = []
    for t in r["targets"]:
        if "ratios_by_batch" in t:
            measured = ", ".join(f"batch {b}: {v:.2f}x" for b, v in t["ratios_by_batch"].items())
            if t.get("max_score_rel_diff") is not None:
                measured += f"; scores differ by at most {t['max_score_rel_diff']:.1e} (relative)"
        elif "roofline_by_batch" in t:
            measured = ", ".join(
                f"batch {b}: {v['x_floor']:.2f}x (floor {v['floor_ms']:.1f} ms)"
                for b, v in t["roofline_by_batch"].items()
            )
        else:
            measured = t["note"]
        rows.append([t["target"], measured, _met(t["met"])])
    return _table(["target", f"measured ({cpu_class(r)} CPU)", ""], rows)


def _peer(r: dict) -> list[str]:
    p, default = r["peer"], f"{cfg.DEFAULT.name} fused"
    lines, rows = [], []
    for role, info in p["found"].items():
        lat = r["latency"].get(role, {})
        ratios = r["peer_ratios"].get(role, {})
        rows.append(
            [
                role,
                f"{info['input']['dtype']} {info['input']['shape']}",
                *(_f(lat.get(b, {}).get("per_image_ms")) for b in ("1", "8")),
                *(f"{ratios[b]:.2f}x" if b in ratios else "-" for b in ("1", "8")),
                info["problem"] or _batch_note(info),
            ]
        )
    if rows:
        faster = f"{default} faster, b1 ({cpu_class(r)})"
        header = ["export", "input", "ms/image b1", "ms/image b8", faster, "b8", "note"]
        lines += _table(header, rows) + [
            "",
            "Made by anomalib itself (`engine.export(ExportType.ONNX)`, its own pre- and post-processing inside the "
            "graph), fed float RGB in [0, 1] at the graph's declared input size; timed like every other row.",
        ]
    if p["missing"]:
        if lines:
            lines.append("")
        missing = ", ".join(p["missing"])
        lines.append(f"Not found in `{p['folder']}`: {missing}. To measure them, {p['how_to_build']}.")
    return lines


def _batch_note(info: dict) -> str:
    fixed = info["input"]["shape"][0]
    return f"the graph has a fixed batch of {fixed}" if isinstance(fixed, int) else ""


def _latency(r: dict) -> list[str]:
    rows = []
    for name, by_batch in r["latency"].items():
        info, mem = r["models"][name], r["memory"].get(name, {})
        for batch, s in by_batch.items():
            x_floor = r["roofline_rows"].get(name, {}).get(batch, {}).get("x_floor")
            first = batch == next(iter(by_batch))
            rows.append(
                [
                    name if first else "",
                    KINDS[info["kind"]] if first else "",
                    _f(info["size_mb"], 1) if first else "",
                    _f(mem.get("load_s")) if first else "",
                    f"{mem['peak_rss_mb']:.0f} (b{mem['batch']})" if first and mem else "",
                    batch,
                    f"{s['median_ms']:.1f} / {s['p99_ms']:.1f}",
                    f"{min(s['round_medians_ms']):.1f}-{max(s['round_medians_ms']):.1f}",
                    _f(s["per_image_ms"]),
                    _f(s["images_per_s"], 1),
                    _f(x_floor),
                ]
            )
    header = ["model", "backend", "MB on disk", "load s", "peak RSS MB", "batch", "median / p99 ms per call"]
    header += ["round medians ms", "ms per image", "images/s", f"x roofline floor ({cpu_class(r)})"]
    return _table(header, rows) + [
        "",
        "`fused`: the product graph (`padim-edge export`). r18/wr50 rows: random weights and synthetic "
        "statistics (no ImageNet ResNet weights here), speed only. Load time and peak RSS: the first timing "
        "process (the product's runtime checks the graph's digest at load, which both cost).",
    ]


def _accuracy(r: dict) -> list[str]:
    rows = []
    for name, info in r["models"].items():
        if info["kind"] not in ("fused", "int8"):
            continue
        acc, lat = r["accuracy"].get(name), r["latency"][name]
        metrics = [_f(acc.get(k), 3) for k in ("image_auroc", "pixel_auroc", "pro")] if acc else ["-"] * 3
        note = "" if acc else "speed only: no ImageNet weights for this backbone here"
        per_image = lat.get("1", {}).get("per_image_ms")
        rows.append([name, *metrics, _f(per_image), _f(lat.get("8", {}).get("images_per_s"), 1), note])
    return _table(["model", "image AUROC", "pixel AUROC", "PRO", "ms/image, batch 1", "images/s, batch 8", ""], rows)


def accuracy_by_dataset(r: dict) -> list[str]:
    rows = []
    for name, m in r["accuracy_by_dataset"].items():
        counts = f"{m['n_train']} / {m['n_good']} + {m['n_defective']}"
        hw = "x".join(map(str, m["input_hw"]))
        rows.append([name, hw, counts, *(_f(m.get(k), 3) for k in ("image_auroc", "pixel_auroc", "pro"))])
    header = ["dataset", "input HxW", "fit / test good + defective", "image AUROC", "pixel AUROC", "PRO"]
    return _table(header, rows) + [
        "",
        "Maps placed back onto the whole original frames and compared with the original masks (`padim-edge eval`); "
        "PRO integrated to FPR 0.3. ELPV has image labels only.",
    ]


def _roofline(r: dict) -> list[str]:
    rows = []
    for name, work in r["work"].items():
        macs, roof = work["macs_per_image"], r["roofline_rows"].get(name, {})
        batch = "8" if "8" in roof else "1"
        floor = roof.get(batch)
        rows.append(
            [
                name,
                *(_f(2 * macs.get(k, 0) / 1e9, 3) for k in ("backbone", "head", "post")),
                _f(work["statistics_bytes"] / 1e6, 1),
                batch,
                _f(floor["floor_ms"] if floor else None, 1),
                _f(r["latency"][name][batch]["median_ms"], 1),
                _f(floor["x_floor"] if floor else None),
            ]
        )
    header = ["graph", "backbone GFLOP/img", "head GFLOP/img", "post GFLOP/img", "statistics MB", "batch"]
    return _table(header + ["floor ms", "measured ms", f"x floor ({cpu_class(r)})"], rows) + [
        "",
        "Floor = (backbone + post FLOPs) / peak + max(head FLOPs / peak, statistics bytes / read bandwidth): the "
        "statistics are read once per batch.",
    ]


def _profile(r: dict) -> list[str]:
    lines = [
        f"onnxruntime's own profiler (`benchmarks/profile_ops.py`), {r['settings']['threads']} threads, "
        f"{cpu_class(r)} CPU, after onnxruntime's graph optimisations (fused nodes under their fused names; "
        "`ReorderInput`/`ReorderOutput` are its NCHWc layout changes). Profiling adds a little to each call.",
    ]
    work, ceil = r["work"].get(f"{cfg.DEFAULT.name} fused"), r["roofline"]
    for batch in r["profile"]:
        lines += ["", *profile_table(batch)]
        if work:
            lines += ["", _stage_floors(batch, work, ceil)]
    return lines


def _stage_floors(found: dict, work: dict, ceil: dict) -> str:
    """Each stage's profiled time against its own floor: its FLOPs at the measured peak, the head's statistics at
    the measured read bandwidth (whichever is longer)."""
    batch, parts = found["batch"], []
    for stage, f in found["by_stage"].items():
        flops = 2 * batch * work["macs_per_image"].get(stage, 0)
        floor = 1e3 * flops / (ceil["peak_gflops"] * 1e9)
        if stage == "head":
            floor = max(floor, 1e3 * work["statistics_bytes"] / (ceil["read_gbs"] * 1e9))
        if floor > 0:
            parts.append(f"{stage} {f['ms_per_call']:.2f} ms against a floor of {floor:.2f} ms "
                         f"({f['ms_per_call'] / floor:.1f}x)")  # fmt: skip
    return f"Batch {batch}, each stage against its own floor: " + "; ".join(parts) + "."


def _int8(r: dict) -> list[str]:
    t = r["int8"]
    speed = ", ".join(f"batch {b}: {v:.2f}x" for b, v in t["speedup_by_batch"].items())
    change = ", ".join(f"{k} {v:+.4f}" for k, v in t["metric_change"].items())
    diff = t["max_score_rel_diff"]
    return [
        f"Static QDQ quantisation of the backbone (uint8 activations, int8 per-channel weights, percentile "
        f"calibration on {r['settings']['calib_images']} good training images); pre-processing, head and "
        f"post-processing stay fp32. Speed-up over fp32 ({cpu_class(r)} CPU): {speed}. Metric change: {change} "
        f"(goal: {t['goal']}: "
        f"{'met' if t['met'] else 'missed'}); image scores differ from fp32 by up to "
        f"{_f(None if diff is None else 100 * diff, 1)}% "
        f"(of the largest score). This CPU {'has' if t['vnni'] else 'has no'} VNNI "
        "(onnxruntime's int8 kernels use it where present).",
    ]


def _small_cpu(r: dict) -> list[str]:
    s = r["small_cpu"]
    return [
        f"{s['row']}: {s['fps']:.1f} frames/s at batch 1 from the median call ({s['fps_at_p99']:.1f} at p99), "
        f"{s['x_camera']:.2f}x the {s['camera_fps']} fps camera rate, on {s['threads']} intra-op thread of this "
        f"{cpu_class(r)} CPU (a slower core scales these down)."
    ]


def _fit(r: dict) -> list[str]:
    rows = [
        [
            str(f["n"]),
            _f(f["fit_s"], 1),
            _f(f["fit_s"] / f["n"], 3),
            f"{f['rss_base_mb']:.0f}",
            f"{f['peak_rss_mb']:.0f}",
        ]
        for f in r["fit_scaling"]
    ]
    return _table(["N images", "fit s", "s per image", "RSS before fit MB", "peak RSS MB"], rows) + [
        "",
        f"{cfg.DEFAULT.name}, no hold-out, each fit in a fresh process (PyTorch).",
    ]


def _pipeline(r: dict) -> list[str]:
    p = r["pipeline"]
    if "skipped" in p:
        return [f"Skipped: {p['skipped']}"]
    rows = []
    for name, run in p.get("runs", {}).items():
        e2e = run.get("latency_ms", {}).get("capture_to_verdict", {})
        rows.append([name, _f(run.get("fps"), 1), f"{_f(e2e.get('p50'), 1)} / {_f(e2e.get('p99'), 1)}"])
    return _table(["run", "fps", "capture to verdict p50 / p99 ms"], rows) + ["", "Details: [run.md](run.md)."]


# Sections other docs may hold (`<!-- NAME:start -->` ... `<!-- NAME:end -->`); make bench fills those it finds.
DOC_SECTIONS: dict[str, Callable[[dict], list[str]]] = {
    "bench-targets": targets,
    "bench-accuracy-by-dataset": accuracy_by_dataset,
}
