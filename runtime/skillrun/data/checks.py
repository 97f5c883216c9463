"""COCO dataset checks shared by the ``dataset-validate`` skill and the rtdetr preflight.

Why one module: the report a person reads and the preflight that stops a bad
``rtdetr train`` before any job exists must agree on what is wrong. It stays on the
control plane's dependencies (plain Python; Pillow only for image headers, skipped
with a warning when absent) and is fast: image files are opened for their headers
only (size and mode, no pixel decoding) in a thread pool, and every other check is a
single pass over the JSON lists.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from skillrun.data.coco_stats import Annotations, Images, per_image, source_stats
from skillrun.data.headers import read_headers
from skillrun.data.dataset_report import CODES, DatasetReport, IdKind, Problem, SourceReport, SourceStats

SHOWN = 3  #: ids named in a message before "and N more"
_NUM = (int, float)
IMBALANCE = 10.0  #: most / least annotated class at or above which class_imbalance is reported


@dataclass(frozen=True)
class CheckOptions:
    """How thoroughly to check. ``decode`` decodes every image (slow; finds truncated files)."""

    read_images: bool = True
    decode: bool = False
    workers: int = 8
    max_ids: int = 20
    tolerance: float = 1.0  #: pixels a box may stick out of its image before boxes_out_of_bounds


@dataclass
class SourceCheck:
    """One checked source: its report, problems, integer categories, and the parsed data (for drawing)."""

    report: SourceReport
    problems: list[Problem]
    categories: dict[int, str] = field(default_factory=dict)
    images: Images | None = None
    annotations: Annotations | None = None


def shown(items: Sequence[Any], n: int = SHOWN) -> str:
    """``a, b, c and 12 more``."""
    head = ", ".join(map(str, items[:n]))
    return head + (f" and {len(items) - n} more" if len(items) > n else "")


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _v(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _is_int(v: Any) -> bool:
    return type(v) is int


def _plain(v: Any) -> int | float | str | None:
    if v is None or type(v) in (int, float, str):
        return v
    text = json.dumps(v, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _dupes(values: Sequence[Any]) -> list[Any]:
    counts = Counter(v for v in values if isinstance(v, (int, str)))
    return [v for v, n in counts.items() if n > 1]


class _Found:
    """The problems of one source, in the order they are found."""

    def __init__(self, index: int, json_file: Path, image_dir: Path | None, max_ids: int) -> None:
        self.index, self.json_file, self.image_dir, self.max_ids = index, json_file, image_dir, max_ids
        self.items: list[Problem] = []

    def add(self, code: str, ids: Sequence[Any], message: str, *, id_kind: IdKind, count: int | None = None, hint: str | None = None) -> None:
        n = len(ids) if count is None else count
        if n <= 0:
            return
        info = CODES[code]
        file = self.image_dir if info.field == "image_dir" and self.image_dir is not None else self.json_file
        fld = info.field if file == self.image_dir else "json_file"
        self.items.append(
            Problem(level=info.level, code=code, source=self.index, file=str(file), field=fld, id_kind=id_kind, ids=[_plain(i) for i in ids[: self.max_ids]], count=n, message=message, allowed=info.allowed, hint=hint or info.hint)  # type: ignore[arg-type]
        )


def check_dataset(sources: Sequence[tuple[str | Path, str | Path | None]], options: CheckOptions | None = None) -> tuple[DatasetReport, list[SourceCheck]]:
    """Check every ``(json_file, image_dir)`` source, then what only shows across sources."""
    start = time.perf_counter()
    checked = [check_source(j, d, index=i, options=options) for i, (j, d) in enumerate(sources)]
    problems = [p for c in checked for p in c.problems] + _conflicts(checked, (options or CheckOptions()).max_ids)
    order = {code: k for k, code in enumerate(CODES)}
    problems.sort(key=lambda p: (p.level != "error", order.get(p.code, len(order)), p.source))
    errors = sum(p.level == "error" for p in problems)
    report = DatasetReport(ok=errors == 0, errors=errors, warnings=len(problems) - errors, seconds=round(time.perf_counter() - start, 3), sources=[c.report for c in checked], problems=problems)
    return report, checked


def _conflicts(checked: list[SourceCheck], max_ids: int) -> list[Problem]:
    """One category id with different names in different sources: the class map would mix them."""
    names: dict[int, dict[str, int]] = {}
    for c in checked:
        for cid, name in c.categories.items():
            names.setdefault(cid, {}).setdefault(name, c.report.index)
    out = []
    for c in checked[1:]:
        bad = [cid for cid, name in c.categories.items() if len(names[cid]) > 1 and names[cid].get(name) == c.report.index]
        if bad:
            found = _Found(c.report.index, Path(c.report.json_file), None, max_ids)
            desc = [f"{cid} ({' / '.join(names[cid])})" for cid in bad]
            found.add("category_conflict", bad, f"{plural(len(bad), 'category id')} named differently in another source: {shown(desc)}", id_kind="category")
            out.extend(found.items)
            c.report.warnings += 1
    return out


def check_source(json_file: str | Path, image_dir: str | Path | None = None, *, index: int = 0, options: CheckOptions | None = None) -> SourceCheck:
    """Every problem of one COCO file (and its images, when ``image_dir`` is a folder), plus statistics."""
    opts = options or CheckOptions()
    start = time.perf_counter()
    json_path = Path(json_file)
    img_dir = Path(image_dir) if image_dir is not None else None
    found = _Found(index, json_path, img_dir, opts.max_ids)
    data = _load(json_path, found)
    stats: SourceStats | None = None
    cats: dict[int, str] = {}
    images = anns = None
    read = False
    if data is not None:
        cats = _categories(data["categories"], found)
        images = _images(data["images"], found)
        anns = _annotations(data["annotations"], images, cats, found)
        read = opts.read_images and img_dir is not None and img_dir.is_dir()
        if read:
            read = _check_files(images, img_dir, json_path, found, opts)  # type: ignore[arg-type]
        _check_boxes(images, anns, found, opts.tolerance)
        stats = source_stats(images, anns, cats)
        _check_balance(images, anns, cats, stats, found)
    errors = sum(p.level == "error" for p in found.items)
    report = SourceReport(
        index=index, json_file=str(json_path), image_dir=None if img_dir is None else str(img_dir), images_read=read, errors=errors, warnings=len(found.items) - errors, seconds=round(time.perf_counter() - start, 3), stats=stats
    )
    return SourceCheck(report, found.items, cats, images, anns)


def _load(path: Path, found: _Found) -> dict[str, Any] | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        found.add("unreadable_json", [str(path)], f"cannot read the annotation file ({exc.strerror or exc})", id_kind="file")
        return None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        found.add("bad_json", [str(path)], f"not valid JSON ({exc})", id_kind="file")
        return None
    if not isinstance(data, dict):
        found.add("not_coco", [str(path)], f"not a COCO detection file: the top level is a JSON {type(data).__name__}, not an object", id_kind="file")
        return None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        found.add("not_coco", [str(path)], f"not a COCO detection file: needs lists 'images', 'annotations' and 'categories' ({', '.join(missing)} missing or not a list)", id_kind="file")
        return None
    return data


def _categories(raw: list[Any], found: _Found) -> dict[int, str]:
    cats: dict[int, str] = {}
    ids: list[Any] = []
    bad_entries, bad_ids = [], []
    for k, c in enumerate(raw):
        if not isinstance(c, dict) or "id" not in c:
            bad_entries.append(f"categories[{k}]")
            continue
        ids.append(c["id"])
        if _is_int(c["id"]):
            cats.setdefault(c["id"], str(c.get("name", c["id"])))
        else:
            bad_ids.append(c["id"])
    if not raw:
        found.add("no_categories", [], "no categories defined", id_kind="category", count=1)
    found.add("bad_entries", bad_entries, f"{plural(len(bad_entries), 'category entry', 'category entries')} without an 'id': {shown(bad_entries)}", id_kind="entry")
    found.add("bad_category_ids", bad_ids, f"{plural(len(bad_ids), 'category id')} not an integer: {shown([json.dumps(i) for i in bad_ids])}", id_kind="category")
    dupes = _dupes(ids)
    found.add("duplicate_category_ids", dupes, f"{plural(len(dupes), 'category id')} used more than once: {shown(dupes)}", id_kind="category")
    return cats


def _size(v: Any) -> float:
    return float(v) if type(v) in (int, float) and v > 0 else math.nan


def _images(raw: list[Any], found: _Found) -> Images:
    images = Images()
    bad: list[str] = []
    for k, im in enumerate(raw):
        iid = im.get("id") if isinstance(im, dict) else None
        name = im.get("file_name") if isinstance(im, dict) else None
        if not _is_int(iid) or not isinstance(name, str) or not name:
            bad.append(f"images[{k}]")
            continue
        images.ids.append(iid)
        images.files.append(name)
        images.width.append(_size(im.get("width")))
        images.height.append(_size(im.get("height")))
    found.add("bad_entries", bad, f"{plural(len(bad), 'image entry', 'image entries')} without an integer 'id' or a 'file_name': {shown(bad)}", id_kind="entry")
    for k in range(len(images.ids) - 1, -1, -1):  # the first entry of a duplicated id wins
        images.index[images.ids[k]] = k
    dupes = _dupes(images.ids)
    found.add("duplicate_image_ids", dupes, f"{plural(len(dupes), 'image id')} used by more than one image: {shown(dupes)}", id_kind="image")
    twice = _dupes(images.files)
    found.add("duplicate_file_names", twice, f"{plural(len(twice), 'file')} listed as more than one image: {shown(twice)}", id_kind="file")
    return images


def _annotations(raw: list[Any], images: Images, cats: dict[int, str], found: _Found) -> Annotations:
    anns = Annotations()
    bad_entries, no_fields, empty, unknown_img, unknown_cat = [], [], [], [], []
    bad_img_ids: dict[Any, None] = {}
    bad_cat_ids: dict[Any, None] = {}
    index = images.index
    for k, a in enumerate(raw):
        if not isinstance(a, dict):
            bad_entries.append(f"annotations[{k}]")
            continue
        aid = a.get("id")
        if not _is_int(aid):
            bad_entries.append(f"annotations[{k}]")
            aid = f"annotations[{k}]"
        img, cat, box = a.get("image_id"), a.get("category_id"), a.get("bbox")
        pos = index.get(img, -1) if _is_int(img) else -1
        if pos < 0:
            unknown_img.append(aid)
            bad_img_ids[_plain(img)] = None
        if not (_is_int(cat) and cat in cats):
            unknown_cat.append(aid)
            bad_cat_ids[_plain(cat)] = None
            cat = None
        x = y = w = h = math.nan
        if type(box) is list and len(box) == 4:
            x, y, w, h = box
            if type(x) in _NUM and type(y) in _NUM and type(w) in _NUM and type(h) in _NUM:  # not bool, not "3"
                x, y, w, h = float(x), float(y), float(w), float(h)
            else:
                x = y = w = h = math.nan
        if not math.isfinite(x + y + w + h):
            empty.append(aid)
            x = y = w = h = math.nan
        if "area" not in a or "iscrowd" not in a:
            no_fields.append(aid)
        anns.add(aid, pos, cat, x, y, w, h, bool(a.get("iscrowd")))
    found.add("bad_entries", bad_entries, f"{plural(len(bad_entries), 'annotation entry', 'annotation entries')} not an object or without an integer 'id': {shown(bad_entries)}", id_kind="entry")
    dupes = _dupes([i for i in anns.ids if _is_int(i)])
    found.add("duplicate_annotation_ids", dupes, f"{plural(len(dupes), 'annotation id')} used more than once: {shown(dupes)}", id_kind="annotation")
    found.add("unknown_image_ids", unknown_img, f"{plural(len(unknown_img), 'annotation')} {_v(len(unknown_img), 'points', 'point')} to image ids not in 'images' ({shown([json.dumps(i) for i in bad_img_ids])}; annotation ids {shown(unknown_img)})", id_kind="annotation")
    found.add("unknown_category_ids", unknown_cat, f"{plural(len(unknown_cat), 'annotation')} {_v(len(unknown_cat), 'uses', 'use')} category ids not in 'categories': {shown([json.dumps(i) for i in bad_cat_ids])} (annotation ids {shown(unknown_cat)})", id_kind="annotation")
    found.add("empty_boxes", empty, f"{plural(len(empty), 'annotation')} without a usable bbox: missing, empty, not 4 numbers or not finite (annotation ids {shown(empty)})", id_kind="annotation")
    found.add("missing_fields", no_fields, f"{plural(len(no_fields), 'annotation')} without 'area' or 'iscrowd' (annotation ids {shown(no_fields)})", id_kind="annotation")
    return anns


def _check_boxes(images: Images, anns: Annotations, found: _Found, tol: float) -> None:
    """Zero/negative sizes, then position against the image (the JSON size, else the file's)."""
    bad, outside, out_of_bounds = [], [], []
    normalised: list[Any] = []
    width, height = images.width, images.height
    for aid, pos, x, y, w, h in zip(anns.ids, anns.image, anns.x, anns.y, anns.w, anns.h):
        if w != w:  # NaN: reported as empty_boxes
            continue
        if w <= 0 or h <= 0:
            bad.append(aid)
            continue
        if pos < 0:
            continue
        iw, ih = width[pos], height[pos]
        if iw != iw or ih != ih:
            continue
        if x >= iw or y >= ih or x + w <= 0 or y + h <= 0:
            outside.append(aid)
        elif x < -tol or y < -tol or x + w > iw + tol or y + h > ih + tol:
            out_of_bounds.append(aid)
        elif x + w <= 1.0 and y + h <= 1.0 and iw * ih > 4:
            normalised.append(aid)
    found.add("bad_boxes", bad, f"{plural(len(bad), 'annotation')} with a zero or negative width or height (annotation ids {shown(bad)})", id_kind="annotation")
    found.add("boxes_outside_image", outside, f"{plural(len(outside), 'box', 'boxes')} entirely outside their image (annotation ids {shown(outside)})", id_kind="annotation")
    if len(normalised) * 2 >= len(anns.ids):
        found.add("normalised_boxes", normalised, f"{len(normalised)} of {plural(len(anns.ids), 'box', 'boxes')} {_v(len(normalised), 'lies', 'lie')} within [0, 1] x [0, 1] (annotation ids {shown(normalised)})", id_kind="annotation")
    found.add("boxes_out_of_bounds", out_of_bounds, f"{plural(len(out_of_bounds), 'box', 'boxes')} reaching more than {tol:g} px past the image border (annotation ids {shown(out_of_bounds)})", id_kind="annotation")


def _check_balance(images: Images, anns: Annotations, cats: dict[int, str], stats: SourceStats, found: _Found) -> None:
    empty = [images.ids[k] for k, n in enumerate(per_image(images, anns)) if n == 0]
    found.add("images_without_annotations", empty, f"{len(empty)} of {plural(len(images.ids), 'image')} {_v(len(empty), 'has', 'have')} no annotations (image ids {shown(empty)})", id_kind="image")
    unused = [c.id for c in stats.classes if c.annotations == 0]
    found.add("unused_categories", unused, f"{plural(len(unused), 'category', 'categories')} without annotations: {shown([f'{c} ({cats[c]})' for c in unused])}", id_kind="category")  # type: ignore[index]
    used = [c for c in stats.classes if c.annotations > 0]
    if len(used) >= 2:
        most = max(c.annotations for c in used)
        rare = sorted((c for c in used if c.annotations * IMBALANCE <= most), key=lambda c: (c.annotations, c.id))
        if rare:
            top = max(used, key=lambda c: c.annotations)
            desc = [f"{c.name} ({c.id}): {c.annotations}" for c in rare]
            found.add("class_imbalance", [c.id for c in rare], f"{plural(len(rare), 'class', 'classes')} with at most 1/{IMBALANCE:g} of the annotations of {top.name} ({most}): {shown(desc)}", id_kind="category")


def _check_files(images: Images, image_dir: Path, json_file: Path, found: _Found, opts: CheckOptions) -> bool:
    """Header reads: missing, unreadable, non-RGB and mis-sized images. False when Pillow is absent."""
    try:
        from PIL import Image  # noqa: F401  (imported here so the control plane loads without it)
    except ImportError:
        found.add("images_not_checked", [str(image_dir)], "Pillow is not installed: image files were not opened", id_kind="file")
        return False
    headers = read_headers([str(image_dir / name) for name in images.files], workers=opts.workers, decode=opts.decode)
    missing: list[str] = []
    unreadable: dict[str, str] = {}  #: file name -> how it is described in the message
    not_rgb: dict[str, str] = {}
    mismatch: dict[str, str] = {}
    for k, (status, detail, w, h) in enumerate(headers):
        name = images.files[k]
        if status == "missing":
            missing.append(name)
            continue
        if status == "unreadable":
            unreadable[name] = f"{name} ({detail})"
            continue
        images.mode[k] = detail
        if detail != "RGB":
            not_rgb[name] = f"{name} ({detail})"
        jw, jh = images.width[k], images.height[k]
        if (jw == jw and jw != w) or (jh == jh and jh != h):
            mismatch[name] = f"{name} (JSON {_px(jw)}x{_px(jh)}, file {w}x{h})"
        images.width[k], images.height[k] = (jw if jw == jw else float(w)), (jh if jh == jh else float(h))
    total = len(images.files)
    hint = None
    if missing and len(missing) == total:
        names = sorted(p.name for p in image_dir.iterdir())[:5]
        hint = f"none of the {total} images is under {image_dir} (it holds: {', '.join(names) or 'nothing'}); file_name values are read relative to image_dir"
    modes = ", ".join(sorted({images.mode[k] for k in images.mode if images.mode[k] != "RGB"}))
    found.add("missing_images", missing, f"{len(missing)} of {total} images listed in {json_file.name} {_v(len(missing), 'is', 'are')} missing: {shown(missing)}", id_kind="file", hint=hint)
    found.add("unreadable_images", list(unreadable), f"{plural(len(unreadable), 'image')} cannot be read: {shown(list(unreadable.values()))}", id_kind="file")
    found.add("not_rgb", list(not_rgb), f"{plural(len(not_rgb), 'image')} {_v(len(not_rgb), 'is', 'are')} not 3-channel RGB ({modes}): {shown(list(not_rgb.values()))}", id_kind="file")
    found.add("size_mismatch", list(mismatch), f"{plural(len(mismatch), 'image')} whose file size differs from 'width'/'height' in the JSON: {shown(list(mismatch.values()))}", id_kind="file")
    return True


def _px(v: float) -> str:
    return "?" if v != v else f"{v:g}"
