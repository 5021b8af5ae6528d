"""results/bench.md (the README's Performance section) and the PNG plots, from results/bench.json."""

from __future__ import annotations

from pathlib import Path

from benchmarks import configs as cfg
from benchmarks.suite import KINDS
from padim_edge.config import atomic_write

PLOTS = ("latency.png", "speed_accuracy.png", "fit_scaling.png", "roofline.png")
BUSY = 0.2  # cores used by other processes during the timing past which the absolute figures are suspect


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(r: dict) -> str:
    m, ceil, timing = r["machine"], r["roofline"], r["timing_conditions"]
    lines = [
        "## Performance",
        "",
        f"Measured by `make bench` on {r['settings']['date']} (commit {r['settings']['code']['commit']}"
        f"{' with uncommitted changes' if r['settings']['code']['uncommitted_changes'] else ''}): "
        f"{m['cpu']} (family/model {m['cpu_family_model']}), "
        f"{m['cores_usable']} usable cores, {m['memory_gib']} GiB, SIMD {', '.join(m['simd'])}; "
        f"onnxruntime {m['versions'].get('onnxruntime', '?')}, torch {m['versions'].get('torch', '?')}, "
        f"Python {m['python']}. onnxruntime: CPU execution provider, 2 intra-op threads, spinning off; "
        f"{r['settings']['runs']} timed runs per figure after {r['settings']['warmup']} warm-up runs, all models "
        f"interleaved call by call. Load average before: {m['load_average']}; cores kept busy by other "
        f"processes while the latencies were timed, by batch size: {timing['other_processes_cores_by_batch']}.",
        "",
        *(
            [
                "**Warning: the machine was not quiet** (other processes used more than "
                f"{BUSY} cores at some batch sizes): those latencies are inflated; side-by-side ratios still hold. "
                "Re-run when quiet.",
                "",
            ]
            if max(timing["other_processes_cores_by_batch"].values()) > BUSY
            else []
        ),
        f"Ceilings measured in the same run (2 threads): fp32 peak {ceil['peak_gflops']:.0f} GFLOP/s, the best of "
        f"GEMM 2048^3 in onnxruntime ({ceil['gemm_gflops']['onnxruntime']['best']:.0f}) and PyTorch "
        f"({ceil['gemm_gflops']['torch']['best']:.0f}) and a 3x3 256-channel convolution in onnxruntime "
        f"({ceil['gemm_gflops']['onnxruntime_conv3x3']['best']:.0f}); "
        f"memory read {ceil['bandwidth_gbs']['read_best']:.1f} GB/s, "
        f"copy {ceil['bandwidth_gbs']['copy_best']:.1f} GB/s (read + write).",
        "",
        "### Targets",
        "",
    ]
    lines += _targets(r)
    lines += ["", "### Latency, throughput, memory", ""]
    lines += _latency(r)
    lines += ["", "### Accuracy next to speed (MVTec AD screw, 160 test images)", ""]
    lines += _accuracy(r)
    lines += ["", "### Roofline", ""]
    lines += _roofline(r)
    if r.get("int8"):
        lines += ["", "### int8 backbone (onnxruntime CPU)", ""]
        lines += _int8(r)
    lines += ["", f"### Mahalanobis head formulations (P={r['heads']['positions']}, d={r['heads']['d']})", ""]
    lines += _heads(r)
    lines += ["", "### Fit: time and peak memory against training images", ""]
    lines += _fit(r)
    lines += ["", "### Pipeline (`benchmarks/bench_run.py`)", ""]
    lines += _pipeline(r)
    lines += ["", "### Not measured here", ""] + [f"- {x}" for x in r["not_measured"]]
    lines += ["", "Plots: " + ", ".join(f"[{p}]({p})" for p in PLOTS) + ". Raw figures: [bench.json](bench.json)."]
    return "\n".join(lines) + "\n"


def _targets(r: dict) -> list[str]:
    rows = []
    for t in r["targets"]:
        if "ratios_by_batch" in t:
            measured = ", ".join(f"batch {b}: {v:.2f}x" for b, v in t["ratios_by_batch"].items())
            if t.get("accuracy"):
                measured += f"; {t['accuracy']}"
            if t.get("max_score_rel_diff") is not None:
                measured += f"; scores differ by at most {t['max_score_rel_diff']:.1e} (relative)"
        else:
            measured = (
                f"{t['measured_ms']:.1f} ms vs floor {t['floor_ms']:.1f} ms = {t['x_floor']:.2f}x the floor "
                f"({t['achieved_gflops']:.0f} of {t['peak_gflops']:.0f} GFLOP/s)"
            )
        rows.append([t["target"], measured, "met" if t["met"] else "**missed**"])
    return _table(["target", "measured", ""], rows)


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
                    f"{s['median_ms']:.1f} / {s['p90_ms']:.1f} / {s['p99_ms']:.1f}",
                    _f(s["per_image_ms"]),
                    _f(s["images_per_s"], 1),
                    _f(x_floor),
                ]
            )
    header = ["model", "backend", "MB on disk", "load s", "peak RSS MB", "batch"]
    header += ["median / p90 / p99 ms per call", "ms per image", "images/s", "x roofline floor"]
    return _table(header, rows) + [
        "",
        "`fused`: the product graph (padim-edge export); `reference`: the straightforward PaDiM formulation built in "
        "benchmarks/reference_graph.py (concatenate all upsampled channels then select, full inverse read once per "
        "image, 33x33 2-D blur), same weights and statistics. r18/wr50 rows: random weights and synthetic "
        "statistics (no ImageNet ResNet weights here), speed only. Peak RSS: a fresh process that loads the model "
        "and runs three calls at the batch shown.",
    ]


def _accuracy(r: dict) -> list[str]:
    rows = []
    for name, info in r["models"].items():
        if info["kind"] not in ("fused", "int8", "reference"):
            continue
        acc = r["accuracy"].get(name)
        lat = r["latency"][name]
        b1, b8 = lat.get("1", {}), lat.get("8", {})
        metrics = [_f(acc.get(k), 3) for k in ("image_auroc", "pixel_auroc", "pro")] if acc else ["-"] * 3
        note = "" if acc else "speed only: no ImageNet weights for this backbone here"
        rows.append([name, *metrics, _f(b1.get("per_image_ms")), _f(b8.get("images_per_s"), 1), note])
    return _table(["model", "image AUROC", "pixel AUROC", "PRO", "ms/image, batch 1", "images/s, batch 8", ""], rows)


def _roofline(r: dict) -> list[str]:
    rows = []
    for name, work in r["work"].items():
        macs = work["macs_per_image"]
        floor = r["roofline_rows"].get(name, {}).get("8") or r["roofline_rows"].get(name, {}).get("1")
        batch = "8" if "8" in r["roofline_rows"].get(name, {}) else "1"
        rows.append(
            [
                name,
                _f(2 * macs.get("backbone", 0) / 1e9, 3),
                _f(2 * macs.get("head", 0) / 1e9, 3),
                _f(2 * macs.get("post", 0) / 1e9, 3),
                _f(work["statistics_bytes"] / 1e6, 1),
                batch,
                _f(floor["floor_ms"] if floor else None, 1),
                _f(r["latency"][name][batch]["median_ms"], 1),
                _f(floor["x_floor"] if floor else None),
            ]
        )
    header = ["graph", "backbone GFLOP/img", "head GFLOP/img", "post GFLOP/img", "statistics MB", "batch"]
    return _table(header + ["floor ms", "measured ms", "x floor"], rows) + [
        "",
        "Floor = (backbone + post FLOPs) / peak + max(head FLOPs / peak, statistics bytes / read "
        "bandwidth): the statistics are read once per batch. Reference rows are held to their configuration's floor.",
    ]


def _int8(r: dict) -> list[str]:
    t = r["int8"]
    speed = ", ".join(f"batch {b}: {v:.2f}x" for b, v in t["speedup_by_batch"].items())
    change = ", ".join(f"{k} {v:+.4f}" for k, v in t["metric_change"].items())
    return [
        f"Static QDQ quantisation of the backbone (uint8 activations, int8 per-channel weights, percentile "
        f"calibration on {r['settings']['calib_images']} good training images); pre-processing, head and "
        f"post-processing stay fp32. Speed-up over fp32: {speed}. Metric change: {change} "
        f"(goal: {t['goal']}: {'met' if t['met'] else 'missed'}).",
    ]


def _heads(r: dict) -> list[str]:
    rows = []
    for name, v in r["heads"]["variants"].items():
        rows.append(
            [
                name,
                f"{v['max_rel_error']:.1e}",
                *(f"{v[b]['median_ms']:.2f} / {v[b]['p99_ms']:.2f}" for b in ("1", "8")),
            ]
        )
    return _table(["formulation", "max rel. error vs float64", "batch 1 median / p99 ms", "batch 8"], rows) + [
        "",
        f"onnxruntime CPU, 2 threads, statistics of the fitted default model ({r['heads']['statistics_mb']} MB), "
        "real embeddings of screw test images.",
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
        f"{cfg.DEFAULT.name}, batch 16, no hold-out, each fit in a fresh process (PyTorch, 2 threads).",
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


def plots(r: dict, out: Path) -> None:
    """The four PNGs beside bench.md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, by_batch in r["latency"].items():
        if len(by_batch) >= 2:
            batches = [int(b) for b in by_batch]
            ax.plot(batches, [s["per_image_ms"] for s in by_batch.values()], marker="o", label=name)
    ax.set(xlabel="batch", ylabel="ms per image (median)", yscale="log", title="Latency per image")
    ax.legend(fontsize=7)
    _save(fig, out / "latency.png")

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, info in r["models"].items():
        lat = r["latency"][name].get("1", {}).get("per_image_ms")
        acc = r["accuracy"].get(name, {}).get("image_auroc")
        if info["kind"] in ("fused", "int8") and lat:
            if acc is None:
                ax.axvline(lat, color="grey", lw=0.8, ls=":")
                ax.annotate(name + " (speed only)", (lat, 0.5), rotation=90, fontsize=6, color="grey")
            else:
                ax.scatter(lat, acc)
                ax.annotate(name, (lat, acc), fontsize=7)
    ax.set(xlabel="ms per image, batch 1 (onnxruntime CPU, 2 threads)", ylabel="screw image AUROC", xscale="log")
    ax.set_title("Speed and accuracy (dotted: random-weight ResNets, speed only)")
    _save(fig, out / "speed_accuracy.png")

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
    n = [f["n"] for f in r["fit_scaling"]]
    a1.plot(n, [f["fit_s"] for f in r["fit_scaling"]], marker="o")
    a1.set(xlabel="training images", ylabel="fit time, s")
    a2.plot(n, [f["peak_rss_mb"] for f in r["fit_scaling"]], marker="o")
    a2.set(xlabel="training images", ylabel="peak RSS, MB", ylim=(0, None))
    fig.suptitle(f"Fit ({cfg.DEFAULT.name})")
    _save(fig, out / "fit_scaling.png")

    fig, ax = plt.subplots(figsize=(8, 5))
    names = [k for k, v in r["roofline_rows"].items() if "8" in v]
    ax.barh(names, [r["roofline_rows"][k]["8"]["x_floor"] for k in names])
    ax.axvline(1.3, color="red", ls="--", lw=1)
    ax.set(xlabel="measured / roofline floor, batch 8 (1 = at the floor)", title="Distance to the roofline floor")
    ax.tick_params(axis="y", labelsize=7)
    _save(fig, out / "roofline.png")


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    import matplotlib.pyplot as plt

    plt.close(fig)


def write(r: dict, out: Path) -> None:
    atomic_write(out / "bench.md", markdown(r))
    plots(r, out)
