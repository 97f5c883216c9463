"""What every dataset format shares: the in-memory form, COCO in and out, image sizes, errors.

Why one intermediate form: five conversions become three readers and three writers
around :class:`Dataset` (pixel xywh boxes with class *names*), so every pair keeps
class names and round-trips through the same rounding. numpy-free and torch-free:
data skills run on a bare control-plane install with Pillow.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from skillrun.contracts.report import Issue
from skillrun.errors import UsageError
from skillrun.record_io import atomic_write_text

#: image suffixes listed from an image folder (lower-case)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
PIXEL_DECIMALS = 2  #: COCO pixel coordinates are rounded to this (KITTI writes 2 decimals too)
NORM_DECIMALS = 6  #: normalised coordinates (YOLO, JSONL) are written with this many decimals
SHOWN = 3  #: how many offending items an error names before counting the rest


class DataError(UsageError):
    """Input data that cannot be used as it is; ``issues`` say where, what is wrong and what to do."""

    def __init__(self, issues: Issue | Sequence[Issue]) -> None:
        self.issues = [issues] if isinstance(issues, Issue) else list(issues)
        text = "; ".join(i.render() for i in self.issues)
        super().__init__(text, data={"issues": [i.model_dump(mode="json") for i in self.issues]})


def problem(path: str | Path, message: str, *, value: Any = None, allowed: str | None = None, hint: str | None = None, code: str = "data") -> Issue:
    """An :class:`Issue` about input data (``path`` is a dotted spec key or a file, ``file:line``)."""
    return Issue(path=str(path), value=value, message=message, allowed=allowed, hint=hint, stage="preflight", code=code)


def listing(items: Sequence[Any]) -> str:
    """``a, b, c and 4 more``: errors name a few offenders, never thousands."""
    head = ", ".join(map(str, items[:SHOWN]))
    return head + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


@dataclass(frozen=True)
class Box:
    """One object: class name and pixel box ``x, y, w, h`` (COCO's convention)."""

    label: str
    x: float
    y: float
    w: float
    h: float


@dataclass
class Record:
    """One image: ``file_name`` relative to the dataset's image folder (or absolute), size, boxes."""

    file_name: str
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)


@dataclass
class Dataset:
    """A detection dataset in memory; ``classes`` order gives COCO ids 1..N and YOLO ids 0..N-1."""

    classes: list[str]
    records: list[Record]
    skipped: dict[str, int] = field(default_factory=dict)  #: reason -> count of boxes left out

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    @property
    def num_boxes(self) -> int:
        return sum(len(r.boxes) for r in self.records)


def pixel_box(label: str, x1: float, y1: float, x2: float, y2: float) -> Box:
    """A box from corner coordinates, rounded once so every reader rounds the same way."""
    l, t, r, b = (round(v, PIXEL_DECIMALS) for v in (x1, y1, x2, y2))
    return Box(label, l, t, round(r - l, PIXEL_DECIMALS), round(b - t, PIXEL_DECIMALS))


def keep_box(ds: Dataset, box: Box) -> bool:
    """Zero- or negative-area boxes are left out (and counted): COCO consumers reject them."""
    if box.w > 0 and box.h > 0:
        return True
    ds.skip("empty_boxes")
    return False


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header; Pillow does not decode the pixels for this."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size
    except OSError as exc:
        raise DataError(problem(
            path, f"cannot read the image header ({exc})", code="unreadable_image",
            hint="is it a complete image file? `skillrun run dataset-validate validate` lists every unreadable image",
        )) from None


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted by their relative path."""
    found = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def order_classes(seen: Iterable[str], names: list[str] | None, where: str) -> list[str]:
    """``names`` (from a class-names file) when given, else the labels seen, sorted.

    Sorting makes the ids independent of file order; a names file fixes them explicitly.
    """
    seen = set(seen)
    if names is None:
        return sorted(seen)
    unknown = sorted(seen - set(names))
    if unknown:
        raise DataError(problem(
            where, f"labels {listing(unknown)} are not in the class-names file", value=unknown, allowed=", ".join(names),
            hint="add them to the class-names file (or list them in convert.ignore_classes)", code="unknown_class",
        ))
    return list(names)


def read_class_names(path: Path, where: str) -> list[str]:
    """Class names from a text file (one per line) or an Ultralytics data.yaml (``names``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read the class-names file ({exc.strerror})"
        raise DataError(problem(where, msg, value=str(path), hint="give a text file with one class name per line")) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
        raw = data.get("names") if isinstance(data, dict) else None
        names = [str(raw[k]) for k in sorted(raw)] if isinstance(raw, dict) else raw
        if not isinstance(names, list):
            raise DataError(problem(
                where, "the YAML file has no 'names' list", value=str(path), allowed="names: [a, b] or names: {0: a, 1: b}",
                hint="use an Ultralytics data.yaml or a text file with one name per line",
            ))
        names = [str(n) for n in names]
    else:
        names = [ln.strip() for ln in text.splitlines() if ln.strip()]
    dup = sorted({n for n in names if names.count(n) > 1})
    if not names or dup:
        msg = "lists no class names" if not names else f"repeats class names {listing(dup)}"
        raise DataError(problem(where, msg, value=str(path), hint="one unique class name per line"))
    return names


def to_coco(ds: Dataset, description: str) -> dict[str, Any]:
    """COCO detection dict: image ids 1..M in record order, category ids 1..N in class order."""
    cat_id = {name: i + 1 for i, name in enumerate(ds.classes)}
    images, annotations = [], []
    for image_id, rec in enumerate(ds.records, start=1):
        images.append({"id": image_id, "file_name": rec.file_name, "width": rec.width, "height": rec.height})
        for b in rec.boxes:
            area = round(b.w * b.h, 2 * PIXEL_DECIMALS)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": cat_id[b.label],
                "bbox": [b.x, b.y, b.w, b.h], "area": area, "iscrowd": 0,
            })
    categories = [{"id": i, "name": n} for n, i in cat_id.items()]
    return {"info": {"description": description}, "licenses": [], "images": images, "annotations": annotations, "categories": categories}


def read_coco(path: Path, where: str) -> dict[str, Any]:
    """A COCO detection file, checked for the three lists."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(problem(where, f"cannot read COCO JSON: {exc}", value=str(path), hint="is this a COCO annotation file?")) from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        raise DataError(problem(where, "not a COCO detection file", value=str(path), allowed="a JSON object with lists 'images', 'annotations' and 'categories'"))
    return data


def from_coco(data: dict[str, Any], where: str) -> Dataset:
    """COCO -> :class:`Dataset`; classes in category-id order; crowd regions left out (counted)."""
    cats = sorted((c["id"], str(c["name"])) for c in data["categories"] if isinstance(c, dict) and "id" in c and "name" in c)
    names = [n for _, n in cats]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        msg = f"several categories share the names {listing(dup)}; the output keys classes by name"
        raise DataError(problem(where, msg, value=dup, hint="rename or merge those categories first"))
    by_id = dict(cats)
    ds = Dataset(classes=names, records=[])
    recs: dict[Any, Record] = {}
    for im in data["images"]:
        w, h = im.get("width"), im.get("height")
        if not isinstance(w, int) or not isinstance(h, int) or w <= 0 or h <= 0 or "file_name" not in im:
            msg = f"image {im.get('id')!r} needs 'file_name' and positive integer 'width'/'height'"
            raise DataError(problem(where, msg, value=im, hint="COCO images carry their size; fix or regenerate the file"))
        recs[im.get("id")] = Record(str(im["file_name"]), w, h)
    ds.records = list(recs.values())
    bad_img = [a.get("id") for a in data["annotations"] if a.get("image_id") not in recs]
    bad_cat = sorted({str(a.get("category_id")) for a in data["annotations"] if a.get("category_id") not in by_id})
    if bad_img or bad_cat:
        what = (
            f"{len(bad_img)} annotation(s) point to unknown image ids (annotation ids {listing(bad_img)})"
            if bad_img
            else f"annotations use category ids {listing(bad_cat)} that 'categories' does not define"
        )
        raise DataError(problem(where, what, hint="run `skillrun run dataset-validate validate ...` for a full report"))
    for a in data["annotations"]:
        if a.get("iscrowd", 0):
            ds.skip("crowd")
            continue
        bbox = a.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
            raise DataError(problem(where, f"annotation {a.get('id')!r} has bbox {bbox!r}", value=bbox, allowed="[x, y, width, height] in pixels"))
        box = Box(by_id[a["category_id"]], *(float(v) for v in bbox))
        if keep_box(ds, box):
            recs[a["image_id"]].boxes.append(box)
    return ds


def dump_json(data: Any) -> str:
    """The one JSON layout every output uses: stable, readable, UTF-8, newline-terminated."""
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def write_if_changed(path: Path, text: str) -> bool:
    """Write atomically unless the file already holds ``text``; True when it was written.

    Skipping identical writes keeps reruns idempotent down to modification times.
    """
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return True


def pair_labels(labels: Path, image_dir: Path, where: str, *, exclude: Iterable[str] = ()) -> list[tuple[Path, str, Path | None]]:
    """(image, file_name, label file or None) for every image under ``image_dir``.

    The label of ``image_dir/a/b.png`` is ``labels/a/b.txt`` (KITTI and YOLO both pair by
    relative path and stem). A missing label file means an image without objects; a label
    file without an image is an error, since it usually means the wrong folder was given.
    """
    skip = set(exclude)
    label_files = {p.relative_to(labels).with_suffix("").as_posix(): p for p in labels.rglob("*.txt") if p.relative_to(labels).as_posix() not in skip}
    out = []
    for img in list_images(image_dir):
        rel = img.relative_to(image_dir)
        out.append((img, rel.as_posix(), label_files.pop(rel.with_suffix("").as_posix(), None)))
    if label_files:
        orphans = sorted(p.relative_to(labels).as_posix() for p in label_files.values())
        raise DataError(problem(
            where, f"{len(orphans)} label file(s) have no image in {image_dir}: {listing(orphans)}", value=str(labels),
            allowed=f"an image with the same relative path and stem ({', '.join(IMAGE_SUFFIXES)})", hint="check convert.image_dir", code="orphan_labels",
        ))
    if not out:
        raise DataError(problem(
            "convert.image_dir", "holds no images", value=str(image_dir), allowed=", ".join(IMAGE_SUFFIXES),
            hint="point convert.image_dir at the folder with the images",
        ))
    return out


def relpath(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` as a POSIX string (``..`` allowed), for file_name fields."""
    return Path(os.path.relpath(path, start)).as_posix()
