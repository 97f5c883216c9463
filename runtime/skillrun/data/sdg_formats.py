"""Write a generated COCO split (:func:`skillrun.data.sdg.generate_coco`) as KITTI, YOLO or seed-004 JSONL.

Why: the dataset-convert tests and demos need inputs in each format whose boxes are
known exactly. These writers are deliberately independent of
:mod:`skillrun.data.formats` (plain string formatting, no shared code), so a test
that converts their output checks the converters against a second implementation.
Images are copied, so each written dataset is self-contained.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from skillrun.data.sdg import SdgSplit


def _load(split: SdgSplit) -> tuple[dict[int, str], list[dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    data = json.loads(split.json_file.read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    per_image: dict[int, list[dict[str, Any]]] = {}
    for a in data["annotations"]:
        per_image.setdefault(a["image_id"], []).append(a)
    return names, data["images"], per_image


def _copy_images(split: SdgSplit, images: list[dict[str, Any]], dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for im in images:
        shutil.copy2(split.image_dir / im["file_name"], dst / Path(im["file_name"]).name)


def write_kitti(split: SdgSplit, root: Path, *, dontcare: bool = True) -> tuple[Path, Path]:
    """``root/image_2`` + ``root/label_2`` (KITTI's layout); returns (label_dir, image_dir).

    Images without objects get no label file; with ``dontcare`` the first label file
    also gets a ``DontCare`` region, as KITTI writers emit.
    """
    names, images, per_image = _load(split)
    image_dir, label_dir = root / "image_2", root / "label_2"
    _copy_images(split, images, image_dir)
    label_dir.mkdir(parents=True, exist_ok=True)
    first = True
    for im in images:
        anns = per_image.get(im["id"], [])
        if not anns:
            continue
        lines = []
        for a in anns:
            x, y, w, h = a["bbox"]
            lines.append(f"{names[a['category_id']]} 0.00 0 0.00 {x:.2f} {y:.2f} {x + w:.2f} {y + h:.2f} 1.50 1.60 3.20 -1.00 1.80 12.00 0.10\n")
        if dontcare and first:
            lines.append("DontCare -1 -1 -10 1.00 1.00 5.00 5.00 -1 -1 -1 -1000 -1000 -1000 -10\n")
            first = False
        (label_dir / f"{Path(im['file_name']).stem}.txt").write_text("".join(lines))
    return label_dir, image_dir


def write_yolo(split: SdgSplit, root: Path) -> tuple[Path, Path, Path]:
    """Ultralytics layout ``root/images``, ``root/labels``, ``root/data.yaml`` (names as a mapping).

    Class k = the k-th category in id order. Returns (labels, images, data.yaml).
    """
    names, images, per_image = _load(split)
    order = sorted(names)
    index = {cid: k for k, cid in enumerate(order)}
    image_dir, label_dir = root / "images", root / "labels"
    _copy_images(split, images, image_dir)
    label_dir.mkdir(parents=True, exist_ok=True)
    for im in images:
        w_img, h_img = im["width"], im["height"]
        lines = []
        for a in per_image.get(im["id"], []):
            x, y, w, h = a["bbox"]
            lines.append(f"{index[a['category_id']]} {(x + w / 2) / w_img:.6f} {(y + h / 2) / h_img:.6f} {w / w_img:.6f} {h / h_img:.6f}\n")
        (label_dir / f"{Path(im['file_name']).stem}.txt").write_text("".join(lines))
    data_yaml = root / "data.yaml"
    data_yaml.write_text("path: .\ntrain: images\nnames:\n" + "".join(f"  {k}: {names[cid]}\n" for k, cid in enumerate(order)))
    return label_dir, image_dir, data_yaml


def write_jsonl(split: SdgSplit, root: Path) -> tuple[Path, Path]:
    """Seed 004's layout ``root/dataset.jsonl`` + ``root/data/`` (image_path relative to data/).

    Returns (jsonl file, data folder). Coordinates are plain float divisions, as a user's
    exporter would write them.
    """
    names, images, per_image = _load(split)
    data_dir = root / "data"
    _copy_images(split, images, data_dir)
    lines = []
    for im in images:
        w_img, h_img = im["width"], im["height"]
        boxes = []
        for a in per_image.get(im["id"], []):
            x, y, w, h = a["bbox"]
            boxes.append({
                "annotation_label": names[a["category_id"]],
                "x_min_normalized": x / w_img, "y_min_normalized": y / h_img,
                "x_max_normalized": (x + w) / w_img, "y_max_normalized": (y + h) / h_img,
            })
        lines.append(json.dumps({"image_path": Path(im["file_name"]).name, "bounding_box_annotations": boxes}) + "\n")
    jsonl = root / "dataset.jsonl"
    jsonl.write_text("".join(lines))
    return jsonl, data_dir
