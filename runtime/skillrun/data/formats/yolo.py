"""YOLO (Darknet / Ultralytics) detection labels <-> :class:`Dataset`.

One ``.txt`` per image with lines ``class cx cy w h``, all normalised to 0..1 by the
image size; class ``k`` is line ``k`` of ``classes.txt`` (or ``names`` of a data.yaml).
The label of ``images/a/b.png`` is ``labels/a/b.txt``. Images are not copied: the
labels folder is written next to wherever the images already are.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from skillrun.data.formats.common import NORM_DECIMALS, Dataset, DataError, Record, image_size, keep_box, listing, pair_labels, pixel_box, problem, write_if_changed

CLASSES_FILE = "classes.txt"
COLUMNS = 5


def default_image_dir(labels: Path) -> Path | None:
    """``…/images`` beside ``…/labels`` (the Ultralytics layout)."""
    sibling = labels.parent / "images"
    return sibling if labels.name == "labels" and sibling.is_dir() else None


def read_yolo(labels: Path, image_dir: Path, names: list[str]) -> Dataset:
    """Every image of ``image_dir`` with the boxes of its label file, in pixels."""
    ds = Dataset(classes=list(names), records=[])
    for img, file_name, label in pair_labels(labels, image_dir, "convert.input", exclude=(CLASSES_FILE,)):
        width, height = image_size(img)
        rec = Record(file_name, width, height)
        ds.records.append(rec)
        if label is None:
            continue
        for n, line in enumerate(label.read_text(encoding="utf-8").splitlines(), start=1):
            cols = line.split()
            if not cols:
                continue
            where = f"{label}:{n}"
            try:
                if len(cols) != COLUMNS:
                    raise ValueError
                k, (cx, cy, w, h) = int(cols[0]), (float(v) for v in cols[1:])
            except ValueError:
                raise DataError(problem(
                    where, "is not a YOLO box line", value=line, code="yolo",
                    allowed="class cx cy w h (class an integer, the rest normalised to 0..1)",
                    hint="segment polygons and keypoints are not supported",
                )) from None
            if not 0 <= k < len(names):
                raise DataError(problem(
                    where, f"class {k} is outside the class names", value=k, code="yolo",
                    allowed=f"0..{len(names) - 1} ({listing(names)})", hint="check convert.class_names",
                ))
            box = pixel_box(names[k], (cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
            if keep_box(ds, box):
                rec.boxes.append(box)
    return ds


def label_name(file_name: str) -> str:
    """Where the label of an image goes, relative to the labels folder."""
    path = PurePosixPath(file_name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        path = PurePosixPath(path.name)
    return str(path.with_suffix(".txt"))


def write_yolo(ds: Dataset, out: Path) -> int:
    """One label file per image (empty for images without objects) plus ``classes.txt``; files written."""
    index = {name: k for k, name in enumerate(ds.classes)}
    texts: dict[str, str] = {CLASSES_FILE: "".join(f"{n}\n" for n in ds.classes)}
    for rec in ds.records:
        name = label_name(rec.file_name)
        if name in texts:
            raise DataError(problem(
                "convert.output", f"two images would share the label file {name}", value=rec.file_name, code="yolo",
                hint="give the images unique relative paths (file_name) in the COCO file",
            ))
        lines = []
        for b in rec.boxes:
            cx, cy = (b.x + b.w / 2) / rec.width, (b.y + b.h / 2) / rec.height
            vals = (cx, cy, b.w / rec.width, b.h / rec.height)
            lines.append(f"{index[b.label]} " + " ".join(f"{v:.{NORM_DECIMALS}f}" for v in vals) + "\n")
        texts[name] = "".join(lines)
    return sum(write_if_changed(out / name, text) for name, text in texts.items())

