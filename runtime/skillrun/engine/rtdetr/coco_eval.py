"""COCO bbox evaluation with pycocotools, made safe for the cases that crash or silently lie.

Why: plain ``COCOeval`` raises on an empty result list (``loadRes([])``), on missing GT
``area``/``iscrowd``, and on results for unknown image ids (with an unhelpful message); it
prints to stdout; and its per-class numbers are buried in ``eval["precision"]``. This module
runs the standard bbox evaluation (numbers identical to a plain ``COCOeval`` run) and returns
them as a :class:`CocoMetrics` with summary stats, per-class AP and the PR arrays for plots.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: names of COCOeval.stats, in order (AP/AR @ maxDets=100 unless named otherwise)
STAT_KEYS = ("mAP", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large",
             "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


@dataclass
class CocoMetrics:
    """The result of :func:`evaluate_coco`.

    ``stats`` - the 12 ``COCOeval.stats`` under :data:`STAT_KEYS`. A value of ``-1`` is COCOeval's
    "no data" (e.g. ``mAP_large`` when no GT box is large); it is kept as-is, not turned into 0.
    ``per_class`` - one ``{category_id, name, AP, AP50, num_gt}`` per evaluated category; AP is
    the mean of ``precision[:, :, k, 0, -1]`` (all areas, maxDets=100) over valid entries, AP50
    the same at IoU=0.5; both -1 for a category without GT in the evaluated images.
    ``precision`` - ``COCOeval.eval["precision"]`` [T=10 IoUs, R=101 recalls, K, A=4 areas,
    M=3 maxDets] (-1 = no GT), for PR curves; ``recall_thresholds`` [R] and ``iou_thresholds``
    [T] are its axes. ``category_ids`` - the evaluated categories (axis K, in order).
    ``num_detections`` - result entries evaluated (after dropping categories unknown to the GT).
    """

    stats: dict[str, float]
    per_class: list[dict[str, Any]] = field(default_factory=list)
    precision: np.ndarray | None = None
    recall_thresholds: np.ndarray | None = None
    category_ids: list[int] = field(default_factory=list)
    num_images: int = 0
    num_detections: int = 0
    iou_thresholds: np.ndarray | None = None

    @property
    def mAP(self) -> float:  # noqa: N802 - the metric's name
        """AP@[.5:.95] (all areas, maxDets=100)."""
        return self.stats["mAP"]

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (plain Python types; no precision array, non-finite floats -> None)."""
        return {"stats": {k: _num(v) for k, v in self.stats.items()},
                "per_class": [{k: _num(v) for k, v in row.items()} for row in self.per_class],
                "category_ids": [int(c) for c in self.category_ids],
                "num_images": int(self.num_images), "num_detections": int(self.num_detections)}


def _num(value: Any) -> Any:
    """numpy scalars -> Python; NaN/inf -> None (JSON has neither); other values untouched."""
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _load_gt(gt_json: str | Path | dict[str, Any]) -> Any:
    """A pycocotools COCO for a path or dict, with ``area``/``iscrowd`` filled in where missing."""
    from pycocotools.coco import COCO

    data = json.loads(Path(gt_json).read_text()) if isinstance(gt_json, (str, Path)) else copy.deepcopy(dict(gt_json))
    data.setdefault("images", [])
    data.setdefault("categories", [])
    anns = data.setdefault("annotations", [])
    for ann in anns:
        if "area" not in ann:
            ann["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3])
        ann.setdefault("iscrowd", 0)
    gt = COCO()
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _check_results(results: list[dict[str, Any]], gt: Any) -> list[dict[str, Any]]:
    """Validate results against the GT; drop (with a warning) categories the GT does not know."""
    known_imgs, known_cats = set(gt.getImgIds()), set(gt.getCatIds())
    clean, unknown_imgs, unknown_cats = [], set(), set()
    for i, r in enumerate(results):
        if not all(k in r for k in ("image_id", "category_id", "bbox", "score")) or len(r["bbox"]) != 4:
            raise ValueError(f"result {i} is not a COCO bbox result (image_id, category_id, bbox[4], score): {r!r}")
        r = {**r, "image_id": int(r["image_id"]), "category_id": int(r["category_id"]),
             "bbox": [float(v) for v in r["bbox"]], "score": float(r["score"])}
        if r["image_id"] not in known_imgs:
            unknown_imgs.add(r["image_id"])
        elif r["category_id"] not in known_cats:
            unknown_cats.add(r["category_id"])
        else:
            clean.append(r)
    if unknown_imgs:
        ids = sorted(unknown_imgs)
        more = f" (+{len(ids) - 20} more)" if len(ids) > 20 else ""
        raise ValueError(f"results name image ids that are not in the ground truth: {ids[:20]}{more}")
    if unknown_cats:
        log.warning("dropping results with category ids not in the ground truth: %s", sorted(unknown_cats))
    return clean


def _subset(requested: list[int] | None, known: list[int], what: str) -> list[int]:
    """The requested ids (validated, deduplicated, sorted) or all known ids."""
    if requested is None:
        return sorted(known)
    ids = sorted({int(i) for i in requested})
    missing = sorted(set(ids) - set(known))
    if missing:
        raise ValueError(f"{what} not in the ground truth: {missing}")
    return ids


def evaluate_coco(gt_json: str | Path | dict[str, Any], results: list[dict[str, Any]], *,
                  category_ids: list[int] | None = None, names: dict[int, str] | None = None,
                  image_ids: list[int] | None = None) -> CocoMetrics:
    """Standard COCO bbox evaluation (pycocotools, IoU .50:.95, maxDets 1/10/100) of ``results``.

    ``gt_json`` - a COCO file or dict (not modified). ``results`` - COCO bbox results (xywh,
    sparse category ids). ``category_ids`` - evaluate only these (eval_class_ids; None = all GT
    categories). ``names`` - display names by category id (default: the GT's). ``image_ids`` -
    evaluate only these images (None = all GT images). An empty ``results`` gives 0 (and -1
    where there is no GT), not a crash. Results on image ids absent from the GT raise
    ``ValueError``; results for categories absent from the GT are dropped with a warning
    (COCOeval would ignore them too).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = _load_gt(gt_json)
    dets = _check_results(list(results), gt)
    cats = _subset(category_ids, gt.getCatIds(), "category ids")
    imgs = _subset(image_ids, gt.getImgIds(), "image ids")
    with contextlib.redirect_stdout(io.StringIO()):
        if dets:
            dt = gt.loadRes(dets)
        else:  # loadRes([]) raises IndexError: an empty result set over the same images instead
            dt = COCO()
            dt.dataset = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]), "annotations": []}
            dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        ev.params.catIds = cats
        ev.params.imgIds = imgs
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {k: float(v) for k, v in zip(STAT_KEYS, ev.stats)}
    precision = np.asarray(ev.eval["precision"])
    gt_names = {c["id"]: c.get("name", str(c["id"])) for c in gt.dataset["categories"]}
    names = {**gt_names, **(names or {})}
    img_set, cat_set = set(imgs), set(cats)
    num_gt = Counter(a["category_id"] for a in gt.dataset["annotations"] if a["image_id"] in img_set and not a.get("iscrowd", 0))
    per_class = [{"category_id": int(cat), "name": str(names.get(cat, cat)),
                  "AP": _mean_valid(precision[:, :, k, 0, -1]), "AP50": _mean_valid(precision[0, :, k, 0, -1]),
                  "num_gt": int(num_gt[cat])} for k, cat in enumerate(cats)]
    num_dets = sum(1 for d in dets if d["image_id"] in img_set and d["category_id"] in cat_set)
    return CocoMetrics(stats=stats, per_class=per_class, precision=precision,
                       recall_thresholds=np.asarray(ev.params.recThrs), category_ids=[int(c) for c in cats],
                       num_images=len(imgs), num_detections=num_dets, iou_thresholds=np.asarray(ev.params.iouThrs))


def _mean_valid(p: np.ndarray) -> float:
    """Mean over entries > -1 (COCOeval's convention), else -1."""
    valid = p[p > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def per_class_table(m: CocoMetrics) -> str:
    """A plain-text table of per-class AP for logs (-1 "no data" shown as n/a)."""
    def fmt(v: float) -> str:
        return "n/a" if v is None or v < 0 else f"{v:.4f}"

    width = max([len("class")] + [len(str(r["name"])) for r in m.per_class])
    lines = [f"{'id':>6}  {'class':<{width}}  {'AP':>7}  {'AP50':>7}  {'num_gt':>6}"]
    lines.append("-" * len(lines[0]))
    for r in m.per_class:
        lines.append(f"{r['category_id']:>6}  {str(r['name']):<{width}}  {fmt(r['AP']):>7}  {fmt(r['AP50']):>7}  {r['num_gt']:>6}")
    lines.append("-" * len(lines[0]))
    total = sum(r["num_gt"] for r in m.per_class)
    lines.append(f"{'':>6}  {'all':<{width}}  {fmt(m.stats.get('mAP', -1)):>7}  {fmt(m.stats.get('mAP50', -1)):>7}  {total:>6}")
    return "\n".join(lines)
