"""RT-DETR post-processing: raw logits/boxes -> top-k detections -> COCO results.

Why: the Hugging Face ``post_process_object_detection`` defaults to ``threshold=0.5`` (biases
mAP), takes (h, w) target sizes and returns 0-based labels in xyxy. Evaluation, inference and the
ONNX graph must all share one implementation of the same semantics, so this module keeps:

* :func:`topk_detections` - the traceable core (sigmoid, top-k over the flattened
  queries x classes, so one query may appear with several labels; absolute xyxy boxes).
  No data-dependent Python control flow: ``torch.onnx.export`` can trace it.
* :func:`select_detections` - the core plus an optional per-image score filter.
* :func:`to_coco_results` - contiguous labels -> sparse COCO category ids, xyxy -> xywh,
  optional letterbox undo back to original-image pixels.

torch only (no pycocotools), so the ONNX export path can import it cheaply.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor


def topk_detections(logits: Tensor, pred_boxes: Tensor, target_sizes: Tensor,
                    num_select: int) -> tuple[Tensor, Tensor, Tensor]:
    """Top-``num_select`` (capped at Q*K) (query, class) pairs per image.

    ``logits`` [B,Q,K] (pre-sigmoid), ``pred_boxes`` [B,Q,4] normalized cx,cy,w,h,
    ``target_sizes`` [B,2] as **(h, w)** (HF convention; int or float). Returns
    ``scores`` [B,k] float, ``labels`` [B,k] int64 in 0..K-1 and ``boxes`` [B,k,4] absolute
    x0,y0,x1,y1 in the target size, sorted by descending score.
    """
    with warnings.catch_warnings():  # under ONNX tracing Q and K become constants: right, they are fixed per model
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        num_queries, num_classes = int(logits.shape[1]), int(logits.shape[2])
    k = max(1, min(int(num_select), num_queries * num_classes))
    prob = logits.sigmoid().flatten(1)
    scores, index = torch.topk(prob, k, dim=-1)
    labels = index % num_classes
    query = torch.div(index, num_classes, rounding_mode="floor")
    cx, cy, w, h = pred_boxes.unbind(-1)
    xyxy = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
    sizes = target_sizes.to(xyxy.dtype)
    img_h, img_w = sizes.unbind(-1)
    scale = torch.stack([img_w, img_h, img_w, img_h], dim=-1)  # (h, w) in -> (w, h, w, h) out
    xyxy = xyxy * scale[:, None, :]
    boxes = xyxy.gather(1, query.unsqueeze(-1).expand(-1, -1, 4))
    return scores, labels, boxes


def select_detections(logits: Tensor, pred_boxes: Tensor, target_sizes: Tensor, num_select: int,
                      threshold: float | None = 0.0) -> list[dict[str, Tensor]]:
    """Per image ``{"scores", "labels", "boxes"}`` with RT-DETR post-processor semantics.

    Same inputs as :func:`topk_detections`. ``threshold`` keeps detections with
    ``score > threshold`` (as HF does); use ~0 for mAP. ``threshold=None`` keeps all
    top-k entries (fixed-size output, what the ONNX export path uses).
    """
    if logits.dim() != 3 or pred_boxes.dim() != 3 or pred_boxes.shape[-1] != 4:
        raise ValueError(f"expected logits [B,Q,K] and pred_boxes [B,Q,4], got {tuple(logits.shape)} "
                         f"and {tuple(pred_boxes.shape)}")
    target_sizes = torch.as_tensor(target_sizes, device=logits.device)
    if target_sizes.shape != (logits.shape[0], 2):
        raise ValueError(f"target_sizes must be [B,2] (h, w) with B={logits.shape[0]}, got {tuple(target_sizes.shape)}")
    scores, labels, boxes = topk_detections(logits, pred_boxes, target_sizes, num_select)
    out = []
    for s, lab, b in zip(scores, labels, boxes):
        if threshold is not None:
            keep = s > threshold
            s, lab, b = s[keep], lab[keep], b[keep]
        out.append({"scores": s, "labels": lab, "boxes": b})
    return out


def _as_list(value: Any) -> list:
    """Tensor / ndarray / sequence -> nested Python list."""
    if isinstance(value, Tensor):
        return value.detach().cpu().tolist()
    if hasattr(value, "tolist"):
        return value.tolist()
    return list(value)


def _undo_letterbox(box: list[float], lb: Mapping[str, Any]) -> list[float]:
    """Letterboxed-input xyxy -> original-image xyxy: ``x = (x' - left) / sx``, ``y = (y' - top) / sy``."""
    scale = lb["scale"]
    sx, sy = (float(scale), float(scale)) if isinstance(scale, (int, float)) else (float(scale[0]), float(scale[1]))
    left, top = (float(v) for v in lb.get("pad", (0.0, 0.0)))
    return [(box[0] - left) / sx, (box[1] - top) / sy, (box[2] - left) / sx, (box[3] - top) / sy]


def _clip(box: list[float], size: Sequence[float] | None) -> list[float]:
    """Clip xyxy to ``[0, w] x [0, h]`` for ``size`` (h, w); only at 0 when the size is unknown."""
    max_w, max_h = (float(size[1]), float(size[0])) if size is not None else (float("inf"), float("inf"))
    return [min(max(box[0], 0.0), max_w), min(max(box[1], 0.0), max_h), min(max(box[2], 0.0), max_w), min(max(box[3], 0.0), max_h)]


def to_coco_results(dets: Sequence[Mapping[str, Any]], image_ids: Sequence[int], category_ids: Sequence[int],
                    letterbox: Sequence[Mapping[str, Any] | None] | None = None, *,
                    orig_sizes: Sequence[Sequence[float] | None] | None = None) -> list[dict[str, Any]]:
    """COCO results ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]`` (plain Python types).

    ``dets`` as from :func:`select_detections` (tensors, arrays or lists; boxes absolute xyxy);
    ``image_ids[i]`` is the COCO id of ``dets[i]``; ``category_ids[label]`` maps a contiguous
    0-based label to its (possibly sparse) category id (a ClassMap with ``.category_ids`` works too).

    ``letterbox[i]`` - ``{"scale": s or (sx, sy), "pad": (left, top)[, "orig_size": (h, w)]}`` or
    None - maps boxes from the letterboxed input back to original-image pixels and clips them to
    the original image. The original size (h, w) comes from ``letterbox[i]["orig_size"]``, else
    ``orig_sizes[i]``; without either, letterboxed boxes are clipped only at 0. Entries without a
    letterbox are clipped to ``orig_sizes[i]`` when given, else left as predicted (HF semantics).
    """
    ids = [int(c) for c in getattr(category_ids, "category_ids", category_ids)]
    if len(dets) != len(image_ids):
        raise ValueError(f"{len(dets)} detection sets but {len(image_ids)} image ids")
    for name, seq in (("letterbox", letterbox), ("orig_sizes", orig_sizes)):
        if seq is not None and len(seq) != len(dets):
            raise ValueError(f"{len(dets)} detection sets but {len(seq)} {name} entries")
    results: list[dict[str, Any]] = []
    for i, (det, image_id) in enumerate(zip(dets, image_ids)):
        scores, labels, boxes = _as_list(det["scores"]), _as_list(det["labels"]), _as_list(det["boxes"])
        lb = letterbox[i] if letterbox is not None else None
        size = orig_sizes[i] if orig_sizes is not None else None
        if lb is not None and lb.get("orig_size") is not None:
            size = lb["orig_size"]
        clip = lb is not None or size is not None
        for score, label, box in zip(scores, labels, boxes):
            label = int(label)
            if not 0 <= label < len(ids):
                raise ValueError(f"label {label} outside the class map (0..{len(ids) - 1})")
            xyxy = [float(v) for v in box]
            if lb is not None:
                xyxy = _undo_letterbox(xyxy, lb)
            if clip:
                xyxy = _clip(xyxy, size)
            x0, y0, x1, y1 = xyxy
            results.append({"image_id": int(image_id), "category_id": ids[label],
                            "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(score)})
    return results
