"""Evaluation and training plots (PR curves, loss/mAP history) and detection overlays.

Why: users judge a training run by its curves and by looking at boxes. matplotlib is optional:
it is imported lazily with the Agg backend (via ``FigureCanvasAgg``, never pyplot, so no global
backend state or GUI), and when it is missing the plot functions log a note and return None
instead of failing the run. :func:`draw_detections` uses Pillow only.
"""
from __future__ import annotations

import colorsys
import logging
import math
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from skillrun.engine.rtdetr.coco_eval import CocoMetrics

log = logging.getLogger(__name__)


def _figure(rows: int, cols: int, size: tuple[float, float]) -> Any:
    """A matplotlib Figure on an Agg canvas, or None when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        log.info("matplotlib is not installed: skipping plots (pip install matplotlib)")
        return None
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots(rows, cols, squeeze=False)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def plot_pr_curves(m: CocoMetrics, path: str | Path) -> Path | None:
    """Precision-recall curves: one per class at IoU=0.5, plus the mean over classes at IoU .5:.95.

    Uses ``m.precision`` (all areas, maxDets=100); classes without GT are left out. Returns the
    PNG path, or None when matplotlib is missing or ``m`` carries no precision array.
    """
    if m.precision is None or m.precision.ndim != 5:
        return None
    fig = _figure(1, 1, (7.0, 5.5))
    if fig is None:
        return None
    ax = fig.axes[0]
    prec = m.precision[:, :, :, 0, -1]  # [T, R, K]
    recall = np.asarray(m.recall_thresholds) if m.recall_thresholds is not None else np.linspace(0, 1, prec.shape[1])
    names = {r["category_id"]: r["name"] for r in m.per_class}
    for k, cat in enumerate(m.category_ids[: prec.shape[2]]):
        p = prec[0, :, k]
        if not (p > -1).any():
            continue
        ax.plot(recall, np.where(p > -1, p, np.nan), linewidth=1.2,
                label=f"{names.get(cat, cat)} AP50={float(np.mean(p[p > -1])):.3f}")
    valid = prec > -1
    if valid.any():
        counts = valid.sum(axis=(0, 2))
        mean = np.where(counts > 0, np.where(valid, prec, 0.0).sum(axis=(0, 2)) / np.maximum(counts, 1), np.nan)
        ax.plot(recall, mean, color="black", linewidth=2.5, label=f"all classes, IoU .5:.95 mAP={m.stats.get('mAP', -1):.3f}")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title="Precision-recall (IoU=0.5 per class)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left", fontsize="small")
    return _save(fig, path)


def _series(history: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(x, y) for ``key`` over rows where it is a finite number; x is ``epoch`` or the row index."""
    xs, ys = [], []
    for i, row in enumerate(history):
        v = row.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(float(row.get("epoch", i)))
            ys.append(float(v))
    return xs, ys


def plot_training(history: Sequence[dict[str, Any]], path: str | Path) -> Path | None:
    """Training curves: a loss panel (every ``*loss*`` key, ``lr`` on a log twin axis) and a
    mAP panel (every ``*mAP*`` key). Missing or non-numeric values are skipped.

    Rows look like ``{"epoch": 0, "train_loss": 1.2, "val_mAP": 0.1, "val_mAP50": 0.2, "lr": 1e-4}``.
    Returns the PNG path, or None when matplotlib is missing or there is nothing to plot.
    """
    keys = list(dict.fromkeys(k for row in history for k in row))
    loss_keys = [k for k in keys if "loss" in k.lower() and _series(history, k)[0]]
    map_keys = [k for k in keys if "map" in k.lower() and _series(history, k)[0]]
    has_lr = bool(_series(history, "lr")[0])
    if not (loss_keys or map_keys):
        return None
    fig = _figure(1, 2, (11.0, 4.0))
    if fig is None:
        return None
    ax_loss, ax_map = fig.axes
    for k in loss_keys:
        ax_loss.plot(*_series(history, k), marker=".", label=k)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_loss.grid(True, alpha=0.3)
    if has_lr:
        ax_lr = ax_loss.twinx()
        ax_lr.plot(*_series(history, "lr"), color="grey", linestyle="--", label="lr")
        ax_lr.set_ylabel("lr")
        if all(v > 0 for v in _series(history, "lr")[1]):
            ax_lr.set_yscale("log")
        ax_lr.legend(loc="upper center", fontsize="small")
    if loss_keys:
        ax_loss.legend(loc="upper right", fontsize="small")
    for k in map_keys:
        ax_map.plot(*_series(history, k), marker="o", label=k)
    ax_map.set(xlabel="epoch", ylabel="mAP", title="Validation mAP", ylim=(0, 1))
    ax_map.grid(True, alpha=0.3)
    if map_keys:
        ax_map.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


def class_colour(name: str) -> tuple[int, int, int]:
    """A deterministic, saturated RGB colour for a class name (same name, same colour)."""
    h = zlib.crc32(str(name).encode()) / 2**32
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


def _as_rows(values: Any) -> list:
    if hasattr(values, "detach"):
        values = values.detach().cpu()
    return np.asarray(values, dtype=float).tolist() if values is not None else []


def draw_detections(image: Image.Image, boxes_xyxy: Any, labels: Sequence[str], scores: Any = None,
                    width: int = 3) -> Image.Image:
    """A copy of ``image`` (RGB) with boxes and "name 0.87" labels; the input is not modified.

    ``boxes_xyxy`` [N,4] absolute pixels (tensor, array or lists); ``labels`` N class names
    (colour per name); ``scores`` N floats or None (names only). The label sits above the box,
    or inside it at the top when there is no room, and is clamped inside the image.
    """
    out = image.convert("RGB")  # always a new image
    boxes = np.asarray(_as_rows(boxes_xyxy), dtype=float).reshape(-1, 4)
    score_list = _as_rows(scores) if scores is not None else [None] * len(boxes)
    if len(labels) != len(boxes) or len(score_list) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes, {len(labels)} labels and {len(score_list)} scores must match")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default()
    img_w, img_h = out.size
    for (x0, y0, x1, y1), name, score in zip(boxes, labels, score_list):
        colour = class_colour(name)
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=max(1, int(width)))
        text = str(name) if score is None else f"{name} {float(score):.2f}"
        l, t, r, b = draw.textbbox((0, 0), text, font=font)
        tw, th = r - l + 4, b - t + 4
        tx = min(max(0.0, x0), max(0.0, img_w - tw))
        ty = y0 - th if y0 - th >= 0 else y0
        ty = min(max(0.0, ty), max(0.0, img_h - th))
        draw.rectangle([tx, ty, tx + tw - 1, ty + th - 1], fill=colour)
        luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
        draw.text((tx + 2 - l, ty + 2 - t), text, fill=(0, 0, 0) if luma > 140 else (255, 255, 255), font=font)
    return out
