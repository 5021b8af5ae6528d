"""The PNG plots beside bench.md, from the results dict."""

from __future__ import annotations

from pathlib import Path

from benchmarks import configs as cfg
from benchmarks.targets import ROOFLINE_FACTOR


def write(r: dict, out: Path) -> None:
    """latency.png, speed_accuracy.png, fit_scaling.png and roofline.png in `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, by_batch in r["latency"].items():
        if len(by_batch) >= 2:
            batches = [int(b) for b in by_batch]
            ax.plot(batches, [s["per_image_ms"] for s in by_batch.values()], marker="o", label=name)
    ax.set(xlabel="batch", ylabel="ms per image (median of round medians)", yscale="log", title="Latency per image")
    ax.legend(fontsize=7)
    _save(plt, fig, out / "latency.png")

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
    ax.set(xlabel="ms per image, batch 1 (onnxruntime CPU)", ylabel="screw image AUROC", xscale="log")
    ax.set_title("Speed and accuracy (dotted: random-weight ResNets, speed only)")
    _save(plt, fig, out / "speed_accuracy.png")

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
    n = [f["n"] for f in r["fit_scaling"]]
    a1.plot(n, [f["fit_s"] for f in r["fit_scaling"]], marker="o")
    a1.set(xlabel="training images", ylabel="fit time, s")
    a2.plot(n, [f["peak_rss_mb"] for f in r["fit_scaling"]], marker="o")
    a2.set(xlabel="training images", ylabel="peak RSS, MB", ylim=(0, None))
    fig.suptitle(f"Fit ({cfg.DEFAULT.name})")
    _save(plt, fig, out / "fit_scaling.png")

    fig, ax = plt.subplots(figsize=(8, 5))
    names = [k for k, v in r["roofline_rows"].items() if "8" in v]
    ax.barh(names, [r["roofline_rows"][k]["8"]["x_floor"] for k in names])
    ax.axvline(ROOFLINE_FACTOR, color="red", ls="--", lw=1)
    ax.set(xlabel="measured / roofline floor, batch 8 (1 = at the floor)", title="Distance to the roofline floor")
    ax.tick_params(axis="y", labelsize=7)
    _save(plt, fig, out / "roofline.png")


def _save(plt, fig, path: Path) -> None:
    """Render to a temporary sibling, then rename (a reader never sees half a PNG)."""
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    plt.close(fig)
