"""Deterministic synthetic SDG-style detection data (plain COCO or Isaac Sim Replicator layout).

Why: the quickstart, tests and benchmarks need detection data that looks like what users
bring from Replicator (sparse category ids such as 201, ``train/Replicator`` folders, one
``coco_*.json`` with a random suffix per split) without downloading anything. Images are
textured, low-saturation backgrounds with saturated solid shapes whose boxes are the exact
pixel bounds of the drawn mask. numpy + Pillow only, so data skills can use it without torch.
"""
from __future__ import annotations

import argparse
import colorsys
import json
import shutil
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

DEFAULT_CATEGORIES: dict[int, str] = {201: "pallet", 305: "box", 412: "cone"}
SHAPES = ("rectangle", "ellipse", "triangle", "diamond", "pentagon", "hexagon")
HUES = (30.0, 215.0, 0.0, 125.0, 280.0, 185.0, 55.0, 330.0)  # degrees, far apart per category
GAP = 2  # free pixels between boxes, so a box edge always borders background, never another shape
MIN_FRAC, MAX_FRAC = 0.12, 0.45  # shape extent as a fraction of the shorter image side
LAYOUTS = ("coco", "replicator")


@dataclass(frozen=True)
class SdgSplit:
    """One written split. ``image_dir / file_name`` resolves every image of ``json_file``."""

    image_dir: Path
    json_file: Path
    num_images: int
    num_annotations: int


@dataclass(frozen=True)
class SdgDataset:
    """What ``generate_coco`` wrote: root folder, splits by name, categories by (sparse) id."""

    root: Path
    splits: dict[str, SdgSplit]
    categories: dict[int, str]
    layout: str = "coco"


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Grey-ish texture (noise / gradient / stripes): low saturation keeps shapes separable."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = int(rng.integers(3))
    if kind == 0:  # blotchy noise: low-res gaussian noise upsampled smoothly
        cell = int(rng.integers(6, 17))
        small = rng.normal(0.0, 1.0, (max(2, h // cell), max(2, w // cell))).astype(np.float32)
        luma = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))
    elif kind == 1:  # linear gradient in a random direction
        t = rng.uniform(0.0, 2 * np.pi)
        luma = np.cos(t) * xx + np.sin(t) * yy
    else:  # stripes of random period and orientation
        t, period = rng.uniform(0.0, np.pi), rng.uniform(6.0, 24.0)
        luma = np.sin(2 * np.pi * (np.cos(t) * xx + np.sin(t) * yy) / period + rng.uniform(0, 6.3))
    luma = (luma - luma.min()) / max(float(np.ptp(luma)), 1e-6)
    lo = rng.uniform(25.0, 120.0)
    hi = rng.uniform(lo + 40.0, 230.0)
    luma = lo + luma * (hi - lo) + rng.normal(0.0, 5.0, (h, w))
    tint = rng.uniform(-10.0, 10.0, 3)
    return np.clip(luma[..., None] + tint, 0, 255).astype(np.uint8)


def _shape_mask(kind: str, box: tuple[int, int, int, int], rng: np.random.Generator,
                w: int, h: int) -> Image.Image:
    """Draw one non-antialiased shape into an image-sized mask; Pillow clips what lies outside."""
    x0, y0, sw, sh = box
    x1, y1 = x0 + sw - 1, y0 + sh - 1
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    if kind == "rectangle":
        draw.rectangle([x0, y0, x1, y1], fill=255)
    elif kind == "ellipse":
        draw.ellipse([x0, y0, x1, y1], fill=255)
    elif kind == "triangle":  # cone-like: apex on top, slightly off-centre
        apex = x0 + rng.uniform(0.3, 0.7) * (sw - 1)
        draw.polygon([(apex, y0), (x1, y1), (x0, y1)], fill=255)
    else:  # regular polygon stretched to the box
        n = {"diamond": 4, "pentagon": 5, "hexagon": 6}[kind]
        rot = -np.pi / 2 if kind == "diamond" else rng.uniform(0.0, 2 * np.pi)
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (sw - 1) / 2, (sh - 1) / 2
        angles = rot + 2 * np.pi * np.arange(n) / n
        draw.polygon([(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles], fill=255)
    return mask


def _colour(rng: np.random.Generator, index: int) -> tuple[int, int, int]:
    """Saturated colour from the category's hue family (max-min channel >= ~130)."""
    hue = HUES[index % len(HUES)] + 17.0 * (index // len(HUES)) + rng.uniform(-8.0, 8.0)
    r, g, b = colorsys.hsv_to_rgb((hue % 360.0) / 360.0, rng.uniform(0.75, 1.0), rng.uniform(0.7, 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def _plan(rng: np.random.Generator, n_images: int, cat_ids: list[int],
          max_objects: int) -> list[tuple[list[int], int]]:
    """(categories, n_required) per image: each category is forced once (listed first), one image empty."""
    counts = rng.integers(1, max_objects + 1, n_images)
    counts[rng.random(n_images) < 0.1] = 0  # a few negatives, most images still carry objects
    plans = [[int(c) for c in rng.choice(cat_ids, int(k))] for k in counts]
    empty = None
    if n_images >= 2 and (n_images - 1) * max_objects >= len(cat_ids):
        empty = int(rng.integers(n_images))
        plans[empty] = []
    hosts = [int(i) for i in rng.permutation(n_images) if i != empty]
    required: dict[int, list[int]] = {}
    for k, cat in enumerate(rng.permutation(cat_ids)):
        required.setdefault(hosts[k % len(hosts)], []).append(int(cat))
    for i, req in required.items():
        plans[i] = req + plans[i][: max(0, int(counts[i]) - len(req))]
    return [(p, len(required.get(i, ()))) for i, p in enumerate(plans)]


def _render(rng: np.random.Generator, plan: list[int], cat_index: dict[int, int], w: int, h: int,
            n_required: int) -> tuple[Image.Image, list[tuple[int, tuple[int, int, int, int]]]]:
    """One image plus (category, tight xywh box) per placed shape; boxes never touch each other."""
    img = _background(rng, w, h)
    side = min(w, h)
    placed: list[tuple[int, int, int, int]] = []
    objects = []
    for k, cat in enumerate(plan):
        idx = cat_index[cat]
        kind = SHAPES[idx % len(SHAPES)]
        tries = 200 if k < n_required else 30  # required shapes must land; extras may be dropped
        for attempt in range(tries):
            top = max(MIN_FRAC, MAX_FRAC * (1.0 - attempt / tries))  # shrink while it does not fit
            sw = max(3, round(rng.uniform(MIN_FRAC, top) * side))
            sh = max(3, round(rng.uniform(MIN_FRAC, top) * side))
            x0 = int(rng.integers(-(sw // 4), w - sw + sw // 4 + 1))  # up to 1/4 may leave the frame
            y0 = int(rng.integers(-(sh // 4), h - sh + sh // 4 + 1))
            mask = _shape_mask(kind, (x0, y0, sw, sh), rng, w, h)
            bb = mask.getbbox()  # exact pixel bounds after clipping, (l, t, r, b) exclusive
            if bb is None or bb[2] - bb[0] < 2 or bb[3] - bb[1] < 2:
                continue
            l, t, r, b = bb
            if any(l < pr + GAP and pl < r + GAP and t < pb + GAP and pt < b + GAP
                   for pl, pt, pr, pb in placed):
                continue
            img[np.asarray(mask) > 0] = _colour(rng, idx)
            placed.append(bb)
            objects.append((cat, (l, t, r - l, b - t)))
            break
    return Image.fromarray(img, "RGB"), objects


def _prepare_dir(path: Path, overwrite: bool) -> None:
    """Refuse to mix with old output: a second coco_*.json would break coco-prepare's lookup."""
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{path} is not empty; pass overwrite=True (--overwrite) to replace it")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


def generate_coco(out_dir: str | Path, *, splits: Mapping[str, int] | None = None,
                  categories: Mapping[int, str] | None = None, image_size: tuple[int, int] = (128, 128),
                  max_objects: int = 3, seed: int = 0, layout: str = "coco",
                  overwrite: bool = False) -> SdgDataset:
    """Write a synthetic detection dataset; same arguments give byte-identical files.

    ``image_size`` is (width, height). ``layout="coco"``: ``<split>/images/*.png`` and
    ``<split>/annotations.json``. ``layout="replicator"``: ``<split>/Replicator/rgb_NNNN.png``,
    one ``<split>/coco_annotations_<8 hex>.json`` (file names relative to the split folder)
    and ``<out>/classes_unique.txt``. Every category appears in every split.
    """
    splits = dict({"train": 24, "val": 8} if splits is None else splits)
    cats = dict(sorted((DEFAULT_CATEGORIES if categories is None else categories).items()))
    w, h = (int(v) for v in image_size)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if not cats or any(not isinstance(c, int) or c <= 0 for c in cats):
        raise ValueError("categories must map positive int ids to names")
    names = [str(n) for n in cats.values()]
    if len(set(names)) != len(names) or any(not n.strip() or "\n" in n for n in names):
        raise ValueError("category names must be unique, non-empty, single-line")
    if w < 16 or h < 16 or max_objects < 1 or seed < 0:
        raise ValueError("need image_size >= 16x16, max_objects >= 1, seed >= 0")
    for name, n in splits.items():
        if n < 1 or n * max_objects < len(cats):
            raise ValueError(f"split {name!r}: {n} images x {max_objects} objects cannot hold "
                             f"all {len(cats)} categories")
    root = Path(out_dir)
    cat_ids = list(cats)
    cat_index = {c: i for i, c in enumerate(cat_ids)}
    written: dict[str, SdgSplit] = {}
    for split, n_images in splits.items():
        key = zlib.crc32(split.encode())  # per-split streams: adding a split leaves others unchanged
        rng = np.random.default_rng([seed, key])
        plans = _plan(rng, n_images, cat_ids, max_objects)
        suffix = f"{int(rng.integers(0, 2**32)):08x}"  # drawn after planning: same images in both layouts
        split_dir = root / split
        _prepare_dir(split_dir, overwrite)
        if layout == "coco":
            sub, image_dir, json_file = "images", split_dir / "images", split_dir / "annotations.json"
        else:
            sub, image_dir, json_file = "Replicator", split_dir, split_dir / f"coco_annotations_{suffix}.json"
        (split_dir / sub).mkdir()
        images, annotations = [], []
        for i, (plan, n_req) in enumerate(plans):
            img, objects = _render(np.random.default_rng([seed, key, i + 1]), plan, cat_index, w, h, n_req)
            stem = f"{i:06d}.png" if layout == "coco" else f"rgb_{i:04d}.png"
            img.save(split_dir / sub / stem, format="PNG", compress_level=6)
            file_name = stem if layout == "coco" else f"{sub}/{stem}"
            images.append({"id": i + 1, "file_name": file_name, "width": w, "height": h})
            for cat, (x, y, bw, bh) in objects:
                annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": cat,
                                    "bbox": [float(x), float(y), float(bw), float(bh)],
                                    "area": float(bw * bh), "iscrowd": 0})
        missing = set(cat_ids) - {a["category_id"] for a in annotations}
        if missing:  # cannot happen for sane sizes; fail loudly rather than ship a biased split
            raise RuntimeError(f"split {split!r}: could not place categories {sorted(missing)}")
        coco = {"info": {"description": "skillrun synthetic SDG dataset", "version": "1.0",
                         "seed": seed, "split": split},
                "licenses": [], "images": images, "annotations": annotations,
                "categories": [{"id": c, "name": n, "supercategory": "object"} for c, n in cats.items()]}
        json_file.write_text(json.dumps(coco, indent=1) + "\n")
        written[split] = SdgSplit(image_dir, json_file, len(images), len(annotations))
    if layout == "replicator":
        (root / "classes_unique.txt").write_text("".join(f"{n}\n" for n in cats.values()))
    return SdgDataset(root, written, cats, layout)


def _size(text: str) -> tuple[int, int]:
    """'128' -> (128, 128); '160x128' -> (160, 128) as width x height."""
    parts = text.lower().split("x")
    if len(parts) == 1:
        return int(parts[0]), int(parts[0])
    return int(parts[0]), int(parts[1])


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m skillrun.data.sdg OUT --train 24 --val 8 --layout coco --seed 0 --size 128``."""
    p = argparse.ArgumentParser(prog="python -m skillrun.data.sdg", description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--train", type=int, default=24, help="train images (default 24)")
    p.add_argument("--val", type=int, default=8, help="val images (default 8)")
    p.add_argument("--test", type=int, default=0, help="test images (default 0: no test split)")
    p.add_argument("--layout", choices=LAYOUTS, default="coco")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=_size, default=(128, 128), help="N or WxH (default 128)")
    p.add_argument("--max-objects", type=int, default=3)
    p.add_argument("--overwrite", action="store_true", help="replace existing split folders")
    a = p.parse_args(argv)
    counts = {k: v for k, v in (("train", a.train), ("val", a.val), ("test", a.test)) if v > 0}
    try:
        ds = generate_coco(a.out, splits=counts, image_size=a.size, max_objects=a.max_objects,
                           seed=a.seed, layout=a.layout, overwrite=a.overwrite)
    except (ValueError, FileExistsError) as exc:
        print(f"sdg: error: {exc}", file=sys.stderr)
        return 2
    parts = ", ".join(f"{k}={s.num_images} images/{s.num_annotations} boxes" for k, s in ds.splits.items())
    cats = ", ".join(f"{i}:{n}" for i, n in ds.categories.items())
    print(f"sdg: wrote {ds.layout} dataset to {ds.root} ({parts}; categories {cats})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
