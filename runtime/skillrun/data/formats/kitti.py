"""KITTI object labels (Isaac Sim's KITTI writer, seed 003's palletjack SDG) -> :class:`Dataset`.

One ``.txt`` per image, one object per line, whitespace-separated: the class name in
column 0 and the 2D box ``left top right bottom`` (pixels) in columns 4-7; the 3D
columns are ignored. KITTI files carry no image size, so it is read from each image
header. ``DontCare`` marks regions to ignore, not objects, so it is left out by default.
"""

from __future__ import annotations

from pathlib import Path

from skillrun.data.formats.common import Dataset, DataError, Record, image_size, keep_box, order_classes, pair_labels, pixel_box, problem

#: folders next to the label folder that are tried, in order, when convert.image_dir is not set
IMAGE_DIR_NAMES = ("image_2", "rgb", "images")
MIN_COLUMNS = 8  #: class + truncated, occluded, alpha + 4 box columns
IGNORE = ("DontCare",)  #: default convert.ignore_classes (the schema's default too)


def default_image_dir(labels: Path) -> Path | None:
    """The first of ``image_2/``, ``rgb/``, ``images/`` beside the label folder (KITTI, Isaac Sim)."""
    return next((labels.parent / n for n in IMAGE_DIR_NAMES if (labels.parent / n).is_dir()), None)


def read_kitti(labels: Path, image_dir: Path, class_names: list[str] | None, ignore: set[str]) -> Dataset:
    """Every image of ``image_dir`` with the objects of its label file; classes sorted unless named."""
    ds = Dataset(classes=[], records=[])
    seen: set[str] = set()
    for img, file_name, label in pair_labels(labels, image_dir, "convert.input"):
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
            if len(cols) < MIN_COLUMNS:
                raise DataError(problem(
                    where, f"has {len(cols)} column(s)", value=line, hint="is this a KITTI label file?", code="kitti",
                    allowed="KITTI: type truncated occluded alpha left top right bottom [h w l x y z rotation_y [score]]",
                ))
            if cols[0] in ignore:
                ds.skip(f"ignored:{cols[0]}")
                continue
            try:
                left, top, right, bottom = (float(v) for v in cols[4:8])
            except ValueError:
                raise DataError(problem(
                    where, "columns 5-8 (left top right bottom) are not numbers", value=" ".join(cols[4:8]), code="kitti",
                    allowed="pixel coordinates, e.g. 614.24 181.78 727.31 284.77",
                )) from None
            box = pixel_box(cols[0], left, top, right, bottom)
            if keep_box(ds, box):
                rec.boxes.append(box)
                seen.add(cols[0])
    ds.classes = order_classes(seen, class_names, "convert.class_names")
    return ds
