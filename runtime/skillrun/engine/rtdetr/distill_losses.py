"""Distillation criteria: feature losses on multi-scale maps and logit losses on matched queries.

Feature maps (``srcs``/``dsrcs`` bindings) are lists of [B,C,H,W] tensors, one per level.
Levels are paired from the coarsest end (``student[-n:]`` with ``teacher[-n:]``, n the
shorter list), the student map is projected to the teacher's width by a learned 1x1
convolution where the widths differ, and resized (bilinear) where the sizes differ.

* ``IOU`` - 1 - generalised IoU of the two maps: the Ruzicka (weighted Jaccard)
  similarity ``sum(min) / sum(max)`` taken separately over the positive and the negative
  parts, ``sum(min(s+, t+) + min(s-, t-)) / sum(max(s+, t+) + max(s-, t-))``. 0 only when
  the maps are equal; bounded in [0, 1] whatever the features' scale, so one weight suits
  every backbone; the plain IoU when both maps are 0/1 masks.
* ``MSE`` - mean squared error over all elements.

Logits (``logits`` bindings) are compared on *matched queries*: queries carry no identity
between two models, so each of the teacher's ``MATCHED_QUERIES`` most confident queries is
paired with one student query by Hungarian matching on DETR's matcher cost (box L1 on
cx,cy,w,h, 1 - GIoU, and the student's probability of the teacher's class). Denoising queries
are left out.

* ``KL`` - per-class Bernoulli KL(teacher || student) of the sigmoid probabilities
  (RT-DETR classifies with sigmoids, not a softmax), summed over classes;
* ``MSE`` - mean squared error of the pre-sigmoid logits;

both averaged over the matched pairs weighted by the teacher's confidence (its highest class
probability), so the teacher's detections teach and its many background queries barely do:
unweighted, the arbitrary pairing of background queries fought the task loss's own matching.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-6
#: logit distillation pairs at most this many of the teacher's most confident queries per image
MATCHED_QUERIES = 10


def iou_feature_loss(s: Tensor, t: Tensor) -> Tensor:
    """1 - the signed Ruzicka similarity of two same-shaped maps, averaged over the batch."""
    sp, sn, tp, tn = s.clamp(min=0), (-s).clamp(min=0), t.clamp(min=0), (-t).clamp(min=0)
    dims = tuple(range(1, s.dim()))
    inter = (torch.minimum(sp, tp) + torch.minimum(sn, tn)).sum(dims)
    union = (torch.maximum(sp, tp) + torch.maximum(sn, tn)).sum(dims)
    return (1.0 - inter / (union + EPS)).mean()


def feature_loss(criterion: str, student: list[Tensor], teacher: list[Tensor], projections: Any) -> Tensor:
    """Mean over paired levels of ``criterion`` between projected student and teacher maps."""
    n = min(len(student), len(teacher))
    terms = []
    for i, (s, t) in enumerate(zip(student[-n:], teacher[-n:])):
        s = projections[i](s.float()) if projections is not None else s.float()
        if s.shape[-2:] != t.shape[-2:]:
            s = F.interpolate(s, size=t.shape[-2:], mode="bilinear", align_corners=False)
        t = t.float()
        terms.append(iou_feature_loss(s, t) if criterion == "IOU" else F.mse_loss(s, t))
    return torch.stack(terms).mean()


def _xyxy(b: Tensor) -> Tensor:
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def _giou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise GIoU of xyxy boxes [N,4] x [M,4]."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt, rb = torch.maximum(a[:, None, :2], b[None, :, :2]), torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    iou = inter / (union + EPS)
    lt_c, rb_c = torch.minimum(a[:, None, :2], b[None, :, :2]), torch.maximum(a[:, None, 2:], b[None, :, 2:])
    hull = (rb_c - lt_c).clamp(min=0).prod(-1)
    return iou - (hull - union) / (hull + EPS)


@torch.no_grad()
def match_queries(s_logits: Tensor, s_boxes: Tensor, t_logits: Tensor, t_boxes: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Per image (student index, teacher index) pairs: the teacher's most confident queries matched to student queries."""
    from scipy.optimize import linear_sum_assignment

    k = min(s_boxes.shape[1], t_boxes.shape[1], MATCHED_QUERIES)
    pairs = []
    for sb, sl, tl, tb in zip(s_boxes.float(), s_logits.float(), t_logits.float(), t_boxes.float()):
        conf, label = tl.sigmoid().max(-1)
        top = conf.topk(k).indices
        cls = -sl.sigmoid()[:, label[top]].T  # [k, Qs]: how much each student query already says the teacher's class
        cost = torch.cdist(tb[top], sb, p=1) + (1 - _giou(_xyxy(tb[top]), _xyxy(sb))) + cls
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        pairs.append((torch.as_tensor(cols, device=sb.device), top[torch.as_tensor(rows, device=sb.device)]))
    return pairs


def logit_loss(criterion: str, s_logits: Tensor, s_boxes: Tensor, t_logits: Tensor, t_boxes: Tensor) -> Tensor:
    """``KL`` or ``MSE`` between student and teacher logits on matched query pairs (see the module docstring)."""
    if s_logits.shape[-1] != t_logits.shape[-1]:
        msg = f"logit distillation needs the same classes: the student predicts {s_logits.shape[-1]}, the teacher {t_logits.shape[-1]}"
        raise ValueError(msg)
    pairs = match_queries(s_logits.detach(), s_boxes.detach(), t_logits, t_boxes)
    s = torch.cat([ls[si] for ls, (si, _) in zip(s_logits, pairs)]).float()
    t = torch.cat([lt[ti] for lt, (_, ti) in zip(t_logits, pairs)]).float()
    p = t.sigmoid().clamp(EPS, 1 - EPS)
    weight = p.max(-1).values  # the teacher's confidence: its objects teach, its background barely does
    weight = weight / weight.sum().clamp(min=EPS)
    if criterion == "MSE":
        return (((s - t) ** 2).mean(-1) * weight).sum()
    entropy = -(p * p.log() + (1 - p) * (1 - p).log())
    kl = F.binary_cross_entropy_with_logits(s, p, reduction="none") - entropy
    return (kl.sum(-1) * weight).sum()
