"""Evaluation report: metrics.json, metrics.md, ROC and PRO plots and a grid of heatmap overlays.

Only numpy and OpenCV are imported at module level; the plotting functions import matplotlib (on its Agg
canvas) and scikit-learn lazily. Images, maps and masks are per-image lists: frames keep their own sizes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from padim_edge.imaging.overlay import overlay_heatmap
from padim_edge.storage.atomic import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PRO_FPR_LIMIT = 0.3
MAX_TILES_PER_ROW = 8
MAX_PLOT_POINTS = 2000


def write_report(
    out_dir: Path,
    metrics: dict,
    labels: np.ndarray,
    scores: np.ndarray,
    names: list[str],
    images: list[np.ndarray],
    maps: list[np.ndarray],
    masks: list[np.ndarray] | None,
    threshold: float | None,
    notes: list[str] | None = None,
) -> dict[str, Path]:
    """Write the report files into out_dir and return them by kind; `notes`: markdown lines after the table.

    Kinds: json, markdown, roc, overlays, and pro when the masks hold at least one defect pixel.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    _check_lengths(labels, scores, names, images, maps, masks)
    has_defect_pixels = masks is not None and any(bool(m.any()) for m in masks)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": _write_json(out_dir / "metrics.json", {**metrics, "threshold": threshold}),
        "markdown": _write_markdown(out_dir / "metrics.md", metrics, threshold, notes or []),
        "roc": _plot_roc(out_dir / "roc.png", labels, scores, masks if has_defect_pixels else None, maps),
    }
    if has_defect_pixels:
        paths["pro"] = _plot_pro(out_dir / "pro.png", masks, maps, metrics.get("pro"))
    paths["overlays"] = _plot_overlays(out_dir / "overlays.png", labels, scores, names, images, maps, masks)
    return paths


def _check_lengths(
    labels: np.ndarray,
    scores: np.ndarray,
    names: list[str],
    images: list[np.ndarray],
    maps: list[np.ndarray],
    masks: list[np.ndarray] | None,
) -> None:
    """Raise ValueError unless every per-image input has the same length."""
    lengths = {len(labels), len(scores), len(names), len(images), len(maps)}
    if masks is not None:
        lengths.add(len(masks))
    if len(lengths) != 1:
        raise ValueError(f"report inputs differ in length: {sorted(lengths)}")


def _write_json(path: Path, payload: dict) -> Path:
    """Write payload as JSON atomically (temp file, then os.replace)."""
    atomic_write(path, json.dumps(payload, indent=2, default=_to_builtin) + "\n")
    return path


def _to_builtin(value: object) -> object:
    """JSON fallback for numpy scalars and arrays."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _write_markdown(path: Path, metrics: dict, threshold: float | None, notes: list[str]) -> Path:
    """Write the metrics and threshold as a two-column markdown table, then the notes."""
    rows = [*metrics.items(), ("threshold", threshold)]
    lines = ["| metric | value |", "| --- | --- |", *(f"| {key} | {_fmt(value)} |" for key, value in rows), *notes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _fmt(value: object) -> str:
    """Markdown cell text: n/a for None, 4 decimals for floats."""
    if value is None:
        return "n/a"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4f}"
    return str(value)


def _figure(width: float, height: float) -> Figure:
    """A matplotlib Figure on an Agg canvas (no pyplot, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    """Save a figure as PNG and return its path."""
    figure.savefig(path, format="png")
    return path


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_PLOT_POINTS evenly spaced points of a curve, first and last kept."""
    if len(x) <= MAX_PLOT_POINTS:
        return x, y
    keep = np.linspace(0, len(x) - 1, MAX_PLOT_POINTS).astype(np.int64)
    return x[keep], y[keep]


def _plot_roc(
    path: Path,
    labels: np.ndarray,
    scores: np.ndarray,
    masks: list[np.ndarray] | None,
    maps: list[np.ndarray],
) -> Path:
    """Image ROC (when both classes are present) and pixel ROC (when masks are given)."""
    from sklearn.metrics import auc, roc_curve

    figure = _figure(5.0, 5.0)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    curves = []
    if 0 < labels.sum() < labels.size:
        curves.append(("image", labels, scores))
    if masks is not None:
        curves.append(("pixel", np.concatenate([m.ravel() for m in masks]), np.concatenate([m.ravel() for m in maps])))
    for kind, truth, values in curves:
        fpr, tpr, _ = roc_curve(truth, values)
        axes.plot(*_thin(fpr, tpr), label=f"{kind} (AUROC {auc(fpr, tpr):.4f})")
    if curves:
        axes.legend(loc="lower right")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    axes.set_title("ROC" if curves else "ROC: needs good and defective images")
    return _save(figure, path)


def _plot_pro(path: Path, masks: list[np.ndarray], maps: list[np.ndarray], pro: float | None) -> Path:
    """PRO curve up to FPR PRO_FPR_LIMIT."""
    from padim_edge.metrics import pro_curve

    fprs, pros = pro_curve(masks, maps)
    end = int(np.searchsorted(fprs, PRO_FPR_LIMIT, side="right"))
    last = np.interp(PRO_FPR_LIMIT, fprs[end - 1 : end + 1], pros[end - 1 : end + 1])
    fprs = np.append(fprs[:end], PRO_FPR_LIMIT)
    pros = np.append(pros[:end], last)
    figure = _figure(5.0, 5.0)
    axes = figure.add_subplot()
    axes.plot(*_thin(fprs, pros))
    axes.set(xlabel="false positive rate", ylabel="per-region overlap", xlim=(0, PRO_FPR_LIMIT))
    axes.set_ylim(0, 1.01)
    suffix = f" (normalised AUC {pro:.4f})" if pro is not None else ""
    axes.set_title(f"PRO to FPR {PRO_FPR_LIMIT}{suffix}")
    return _save(figure, path)


def _plot_overlays(
    path: Path,
    labels: np.ndarray,
    scores: np.ndarray,
    names: list[str],
    images: list[np.ndarray],
    maps: list[np.ndarray],
    masks: list[np.ndarray] | None,
) -> Path:
    """Grid of the highest-scoring good images (top row) and highest-scoring defective ones (bottom row)."""
    groups = (("good", ~labels), ("defective", labels))
    rows = [(kind, _top_scoring(scores, selected)) for kind, selected in groups]
    rows = [(kind, indices) for kind, indices in rows if len(indices)]
    shown = np.concatenate([indices for _, indices in rows]) if rows else np.zeros(0, dtype=np.int64)
    vmin = min([0.0, *(float(maps[i].min()) for i in shown)])
    vmax = max((float(maps[i].max()) for i in shown), default=1.0)
    n_cols = max((len(indices) for _, indices in rows), default=1)
    figure = _figure(2.2 * n_cols, 2.6 * max(len(rows), 1))
    figure.suptitle(f"heatmap range {vmin:.3g} .. {vmax:.3g}")
    for row, (kind, indices) in enumerate(rows):
        for col, index in enumerate(indices):
            tile = overlay_heatmap(images[index], maps[index], vmin, vmax)
            if masks is not None:
                _draw_contour(tile, masks[index])
            axes = figure.add_subplot(len(rows), n_cols, row * n_cols + col + 1)
            axes.imshow(tile[:, :, ::-1])
            axes.set_title(f"{kind}: {_short(names[index])}\n{scores[index]:.4g}", fontsize=7)
            axes.axis("off")
    return _save(figure, path)


def _top_scoring(scores: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Indices of up to MAX_TILES_PER_ROW selected images, highest score first."""
    indices = np.flatnonzero(selected)
    return indices[np.argsort(-scores[indices], kind="stable")][:MAX_TILES_PER_ROW]


def _draw_contour(tile: np.ndarray, mask: np.ndarray) -> None:
    """Draw the outline of a ground-truth mask in white on the tile, in place."""
    mask = np.asarray(mask, dtype=np.uint8)
    if not mask.any():
        return
    if mask.shape != tile.shape[:2]:
        mask = cv2.resize(mask, (tile.shape[1], tile.shape[0]), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(tile, contours, -1, (255, 255, 255), max(1, min(tile.shape[:2]) // 100))


def _short(name: str, limit: int = 28) -> str:
    """The name, or its last limit characters behind an ellipsis."""
    return name if len(name) <= limit else "..." + name[-(limit - 3) :]
