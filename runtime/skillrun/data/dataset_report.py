"""``report.json`` of ``dataset-validate`` as pydantic models, and the problem codes it uses.

Why models: the file is read by agents (``--json``), by ``skillrun results`` and by the
rtdetr preflight (through :mod:`skillrun.data.checks`), so its shape is a contract, not
whatever a dict happened to hold. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["error", "warning"]
IdKind = Literal["image", "annotation", "category", "file", "entry", "source"]
REPORT_VERSION = 1


@dataclass(frozen=True)
class Code:
    """What one problem code means: its level, which source field it is about, what is allowed, what to do."""

    level: Level
    field: str
    allowed: str | None
    hint: str


_FORMAT_HINT = "a COCO bbox is [x, y, width, height] in pixels (not normalised, not [x1, y1, x2, y2])"

#: every problem code, errors first; the order is the order of the report
CODES: dict[str, Code] = {
    "unreadable_json": Code("error", "json_file", None, "check the path and its permissions"),
    "bad_json": Code("error", "json_file", "a JSON object", "is this a COCO annotation file?"),
    "not_coco": Code("error", "json_file", "an object with lists 'images', 'annotations' and 'categories'", "convert it with `skillrun run dataset-convert ...`"),
    "bad_entries": Code("error", "json_file", "images with an integer 'id' and a 'file_name'; annotations with an integer 'id'; categories with an 'id'", "fix or remove those entries"),
    "no_categories": Code("error", "json_file", "at least one category", "add a 'categories' list with id and name"),
    "bad_category_ids": Code("error", "json_file", "integer category ids", "use integer ids (coco-prepare remaps them)"),
    "duplicate_category_ids": Code("error", "json_file", "unique category ids", "give every category its own id"),
    "duplicate_image_ids": Code("error", "json_file", "unique image ids", "give every image its own id"),
    "duplicate_annotation_ids": Code("error", "json_file", "unique annotation ids", "give every annotation its own id (pycocotools keeps only one per id)"),
    "unknown_image_ids": Code("error", "json_file", "image ids listed in 'images', of the same type (1, not \"1\")", "add those images or drop their annotations"),
    "unknown_category_ids": Code("error", "json_file", "category ids listed in 'categories'", "add them to 'categories' or drop those annotations"),
    "empty_boxes": Code("error", "json_file", "bbox = [x, y, width, height]: 4 finite numbers", f"{_FORMAT_HINT}: fix or drop those annotations"),
    "bad_boxes": Code("error", "json_file", "width > 0 and height > 0", f"{_FORMAT_HINT} with width > 0 and height > 0: fix or drop those annotations"),
    "boxes_outside_image": Code("error", "json_file", "boxes that overlap their image", f"{_FORMAT_HINT}; also check the images' width/height"),
    "missing_images": Code("error", "image_dir", "files under image_dir", "image file_name values are read relative to image_dir"),
    "unreadable_images": Code("error", "image_dir", "image files Pillow can open (JPEG, PNG, ...)", "re-export or remove those images"),
    "not_rgb": Code("error", "image_dir", "3-channel RGB images", "convert them to RGB, e.g. with Pillow: Image.open(p).convert('RGB').save(p)"),
    "size_mismatch": Code("error", "json_file", "'width'/'height' equal to the image file's size", "fix width/height in the JSON: boxes are in the file's pixel coordinates"),
    "boxes_out_of_bounds": Code("warning", "json_file", "boxes inside their image (within the tolerance)", f"training clips them to the image; if many, check the format: {_FORMAT_HINT}"),
    "normalised_boxes": Code("warning", "json_file", "boxes in pixels", "they look normalised (0..1), but COCO boxes are in pixels: multiply x and width by the image width, y and height by its height"),
    "images_without_annotations": Code("warning", "json_file", None, "fine for background (negative) images; otherwise label them"),
    "unused_categories": Code("warning", "json_file", None, "a class with no examples cannot be learnt: label some, or drop it"),
    "class_imbalance": Code("warning", "json_file", None, "add examples of the rare classes, or oversample them"),
    "missing_fields": Code("warning", "json_file", "'area' and 'iscrowd' on every annotation", "skillrun fills them in, but pycocotools raises KeyError without them: write area=w*h and iscrowd=0"),
    "duplicate_file_names": Code("warning", "json_file", "one image entry per file", "merge the entries, or the same picture is trained on twice"),
    "category_conflict": Code("warning", "json_file", "the same name for a category id in every source", "use one class map for all sources (coco-prepare writes one)"),
    "images_not_checked": Code("warning", "image_dir", None, "install Pillow (pip install 'skillrun[data]') to check image files"),
}


class Problem(BaseModel):
    """One kind of problem in one source, with the first few ids involved and how many there are."""

    model_config = ConfigDict(frozen=True)

    level: Level
    code: str = Field(description="Stable machine id, e.g. missing_images, bad_boxes (see CODES).")
    source: int = Field(description="Index of the source (COCO file + image folder) in the request.")
    file: str = Field(description="The annotation file or image folder the problem is in.")
    field: Literal["json_file", "image_dir"] = Field(description="Which field of the source ``file`` came from.")
    id_kind: IdKind = Field(description="What ``ids`` are: image/annotation/category ids, image file names or entry positions.")
    ids: list[int | float | str | None] = Field(description="The first few ids involved (all of them up to the report's limit).")
    count: int = Field(ge=1, description="How many items have this problem.")
    message: str
    allowed: str | None = None
    hint: str | None = None

    def render(self) -> str:
        """One line: ``error bad_boxes annotations.json: message (allowed: ...). hint``."""
        text = f"{self.level} {self.code} {self.file}: {self.message}"
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        if self.hint:
            text += f". {self.hint}"
        return text


class Spread(BaseModel):
    """Summary of one quantity over all valid boxes (pixels)."""

    min: float
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float
    max: float
    mean: float


class BoxStats(BaseModel):
    """Box size distribution: COCO size buckets (area < 32², < 96², larger) and spreads."""

    count: int = Field(description="Boxes with finite coordinates and positive width and height.")
    small: int = Field(description="area < 32*32 (COCO 'small').")
    medium: int = Field(description="32*32 <= area < 96*96 (COCO 'medium').")
    large: int = Field(description="area >= 96*96 (COCO 'large').")
    width: Spread | None = None
    height: Spread | None = None
    area: Spread | None = None


class ClassCount(BaseModel):
    """Class balance: how often one category is annotated and on how many images."""

    id: int | str
    name: str
    annotations: int
    images: int
    share: float = Field(description="Fraction of this source's annotations, 0..1.")


class ImageSize(BaseModel):
    width: int
    height: int
    count: int


class SourceStats(BaseModel):
    """Counts and distributions of one source."""

    images: int
    annotations: int
    categories: int
    crowd: int = Field(description="Annotations with iscrowd=1 (not trained on).")
    images_with_annotations: int
    images_without_annotations: int
    max_annotations_per_image: int
    mean_annotations_per_image: float
    image_sizes: list[ImageSize] = Field(description="The most common image sizes (from the files where read, else the JSON).")
    modes: dict[str, int] = Field(default_factory=dict, description="Pillow mode -> number of images (empty when images were not read).")
    classes: list[ClassCount]
    boxes: BoxStats


class SourceReport(BaseModel):
    """What was checked for one source and what it holds."""

    index: int
    json_file: str
    image_dir: str | None
    images_read: bool = Field(description="Whether image files were opened (headers, or fully with decode_images).")
    errors: int
    warnings: int
    seconds: float
    stats: SourceStats | None = Field(description="None when the annotation file could not be loaded.")


class DatasetReport(BaseModel):
    """``<results_dir>/validate/report.json``: every problem of every source, then statistics."""

    version: int = REPORT_VERSION
    ok: bool = Field(description="False when any error-level problem exists.")
    errors: int
    warnings: int
    seconds: float
    sources: list[SourceReport]
    problems: list[Problem] = Field(description="Errors first, then warnings; one entry per kind of problem and source.")
    samples: str | None = Field(default=None, description="The PNG grid of sample images, when one was drawn.")
