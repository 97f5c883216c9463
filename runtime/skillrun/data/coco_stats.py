"""Parsed COCO columns and the statistics of one source: class balance and box sizes.

Why separate from the checks: the checks decide what is wrong, this module only counts,
and the sample grid reads the same columns to draw boxes. Plain Python lists (no numpy),
so the control plane's preflight can use it without the data extra.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from skillrun.data.dataset_report import BoxStats, ClassCount, ImageSize, SourceStats, Spread

SMALL, MEDIUM = 32 * 32, 96 * 96  #: COCO's area thresholds for small / medium / large


@dataclass
class Images:
    """Well-formed image entries as columns; ``width``/``height`` are NaN where unknown."""

    ids: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    width: list[float] = field(default_factory=list)
    height: list[float] = field(default_factory=list)
    index: dict[int, int] = field(default_factory=dict)  #: image id -> position (first entry wins)
    mode: dict[int, str] = field(default_factory=dict)  #: position -> Pillow mode, for images that were read


@dataclass
class Annotations:
    """Annotation entries as columns: ``image`` is the image position (-1: unknown id), ``cat`` None when unknown."""

    ids: list[Any] = field(default_factory=list)
    image: list[int] = field(default_factory=list)
    cat: list[int | None] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    w: list[float] = field(default_factory=list)
    h: list[float] = field(default_factory=list)
    crowd: list[bool] = field(default_factory=list)

    def add(self, aid: Any, image: int, cat: int | None, x: float, y: float, w: float, h: float, crowd: bool) -> None:
        self.ids.append(aid)
        self.image.append(image)
        self.cat.append(cat)
        self.x.append(x)
        self.y.append(y)
        self.w.append(w)
        self.h.append(h)
        self.crowd.append(crowd)

    def usable(self, k: int) -> bool:
        """Finite box with positive width and height (what training keeps)."""
        w, h = self.w[k], self.h[k]
        return w == w and w > 0 and h > 0


def per_image(images: Images, anns: Annotations) -> list[int]:
    """Number of annotations on each image, by position."""
    counts = [0] * len(images.ids)
    for pos in anns.image:
        if pos >= 0:
            counts[pos] += 1
    return counts


def spread(values: list[float]) -> Spread | None:
    """min, 5/25/50/75/95th percentiles (linear interpolation, as numpy's default), max, mean."""
    if not values:
        return None
    v = sorted(values)

    def q(p: float) -> float:
        pos = (len(v) - 1) * p
        lo = math.floor(pos)
        hi = min(lo + 1, len(v) - 1)
        return round(v[lo] + (v[hi] - v[lo]) * (pos - lo), 3)

    return Spread(min=v[0], p5=q(0.05), p25=q(0.25), p50=q(0.5), p75=q(0.75), p95=q(0.95), max=v[-1], mean=round(math.fsum(v) / len(v), 3))


def source_stats(images: Images, anns: Annotations, cats: dict[int, str]) -> SourceStats:
    """Counts, class balance and box size distribution of one parsed source."""
    counts = per_image(images, anns)
    with_anns = sum(1 for n in counts if n)
    widths, heights, areas = [], [], []
    small = medium = 0
    for w, h in zip(anns.w, anns.h):
        if w == w and w > 0 and h > 0:  # usable (NaN != NaN)
            a = w * h
            widths.append(w)
            heights.append(h)
            areas.append(a)
            if a < SMALL:
                small += 1
            elif a < MEDIUM:
                medium += 1
    boxes = BoxStats(count=len(areas), small=small, medium=medium, large=len(areas) - small - medium, width=spread(widths), height=spread(heights), area=spread(areas))
    per_cat = Counter(c for c in anns.cat if c is not None)
    on_images = Counter(c for pos, c in set(zip(anns.image, anns.cat)) if c is not None and pos >= 0)
    total = len(anns.ids)
    classes = [ClassCount(id=c, name=name, annotations=per_cat[c], images=on_images[c], share=round(per_cat[c] / total, 4) if total else 0.0) for c, name in cats.items()]
    sizes = Counter((int(w), int(h)) for w, h in zip(images.width, images.height) if w == w and h == h)
    return SourceStats(
        images=len(images.ids),
        annotations=total,
        categories=len(cats),
        crowd=sum(anns.crowd),
        images_with_annotations=with_anns,
        images_without_annotations=len(counts) - with_anns,
        max_annotations_per_image=max(counts, default=0),
        mean_annotations_per_image=round(sum(counts) / len(counts), 3) if counts else 0.0,
        image_sizes=[ImageSize(width=w, height=h, count=n) for (w, h), n in sizes.most_common(5)],
        modes=dict(Counter(images.mode.values()).most_common()),
        classes=classes,
        boxes=boxes,
    )
