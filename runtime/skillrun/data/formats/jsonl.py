"""Seed 004's JSONL detection format <-> :class:`Dataset`.

One JSON object per line::

    {"image_path": "path/to/image.jpg",
     "bounding_box_annotations": [{"annotation_label": "car", "x_min_normalized": 0.6,
       "y_min_normalized": 0.3, "x_max_normalized": 0.9, "y_max_normalized": 0.7}]}

``image_path`` is absolute or relative to the data folder (``convert.image_dir``);
coordinates are corners normalised to 0..1, so image sizes come from the image headers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skillrun.data.formats.common import NORM_DECIMALS, Dataset, DataError, Record, image_size, keep_box, listing, order_classes, pixel_box, problem

IMAGE = "image_path"
BOXES = "bounding_box_annotations"
LABEL = "annotation_label"
CORNERS = ("x_min_normalized", "y_min_normalized", "x_max_normalized", "y_max_normalized")
_SHAPE = f'{{"{IMAGE}": "...", "{BOXES}": [{{"{LABEL}": "...", ' + ", ".join(f'"{c}": 0.5' for c in CORNERS) + "}]}"


def _parse(line: str, where: str) -> tuple[str, list[dict[str, Any]]]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(problem(where, f"is not JSON ({exc.msg})", value=line[:80], allowed=_SHAPE, code="jsonl")) from None
    boxes = row.get(BOXES, []) if isinstance(row, dict) else None
    ok = isinstance(row, dict) and isinstance(row.get(IMAGE), str) and isinstance(boxes, list)
    ok = ok and all(isinstance(b, dict) and isinstance(b.get(LABEL), str) and all(isinstance(b.get(c), (int, float)) for c in CORNERS) for b in boxes)
    if not ok:
        raise DataError(problem(
            where, "does not have the seed-004 JSONL shape", value=line[:80], allowed=_SHAPE, code="jsonl",
            hint="each box needs annotation_label and the four *_normalized corners",
        ))
    return row[IMAGE], boxes


def read_jsonl(path: Path, image_dir: Path, class_names: list[str] | None) -> Dataset:
    """Every line as one image; ``file_name`` keeps ``image_path`` exactly as written."""
    ds = Dataset(classes=[], records=[])
    seen: set[str] = set()
    missing: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        image_path, boxes = _parse(line, f"{path}:{n}")
        file = image_dir / image_path  # an absolute image_path stays absolute
        if not file.is_file():
            missing.append(image_path)
            continue
        width, height = image_size(file)
        rec = Record(image_path, width, height)
        ds.records.append(rec)
        for b in boxes:
            x1, y1, x2, y2 = (float(b[c]) for c in CORNERS)
            box = pixel_box(b[LABEL], x1 * width, y1 * height, x2 * width, y2 * height)
            if keep_box(ds, box):
                rec.boxes.append(box)
                seen.add(b[LABEL])
    if missing:
        raise DataError(problem(
            "convert.image_dir", f"{len(missing)} image(s) named in {path.name} are not found: {listing(missing)}",
            value=str(image_dir), code="missing_images",
            hint="image_path is read relative to convert.image_dir (default: the folder of the JSONL file)",
        ))
    ds.classes = order_classes(seen, class_names, "convert.class_names")
    return ds


def write_jsonl(ds: Dataset) -> str:
    """The JSONL text: one line per image, corners rounded to NORM_DECIMALS."""
    lines = []
    for rec in ds.records:
        boxes = []
        for b in rec.boxes:
            corners = (b.x / rec.width, b.y / rec.height, (b.x + b.w) / rec.width, (b.y + b.h) / rec.height)
            boxes.append({LABEL: b.label, **{c: round(v, NORM_DECIMALS) for c, v in zip(CORNERS, corners)}})
        lines.append(json.dumps({IMAGE: rec.file_name, BOXES: boxes}, ensure_ascii=False) + "\n")
    return "".join(lines)

