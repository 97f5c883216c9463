"""Layer 3: the data the action names — files exist, COCO loads, class counts agree.

Also derives ``auto`` values (``dataset.num_classes``, ``dataset.eval_class_ids``)
from the annotations. Remote URIs (``s3://...``) are not fetched here.
Relative paths resolve against the current directory, as the engine sees them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillrun.composition import paths
from skillrun.contracts.report import Derived, Issue
from skillrun.contracts.skill import ActionInfo, DataSource

NUM_CLASSES = "dataset.num_classes"
BATCH = "dataset.batch_size"
TRAIN_SOURCES = "dataset.train_data_sources"
EVAL_IDS = "dataset.eval_class_ids"
_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".zip")
_SHOWN = 3  #: how many missing images to name before counting the rest


@dataclass
class _Classes:
    """Category ids and names per annotation file, for derivation and cross-checks."""

    by_file: dict[str, dict[int, str]] = field(default_factory=dict)
    classmap: list[str] | None = None
    images: dict[str, int] = field(default_factory=dict)  #: spec key of the source -> images it lists
    last_count: int = 0  #: images in the COCO file checked last

    def union(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for cats in self.by_file.values():
            out.update(cats)
        return dict(sorted(out.items()))


def is_remote(value: str) -> bool:
    return "://" in value


def unset(value: Any) -> bool:
    return value is None or value == "???" or value == ""


def preflight(spec: dict[str, Any], info: ActionInfo) -> tuple[list[Issue], list[Derived]]:
    """Check the inputs and data sources of one action; derive ``auto`` values into ``spec``."""
    issues: list[Issue] = []
    classes = _Classes()
    for name, key in info.inputs.items():
        value = paths.get(spec, paths.parse(key))
        if isinstance(value, str) and not unset(value) and not is_remote(value) and not Path(value).expanduser().exists():
            issues.append(Issue(path=key, value=value, message=f"{name} not found", hint="check the path, or pass --parent JOB to take it from a parent job", stage="preflight", code="not_found"))
    for ds in info.data_sources:
        value = paths.get(spec, paths.parse(ds.spec_key))
        if unset(value):
            continue
        entries = value if isinstance(value, list) else [value]
        for i, entry in enumerate(entries):
            where = f"{ds.spec_key}[{i}]" if isinstance(value, list) else ds.spec_key
            if isinstance(entry, dict):
                issues.extend(_check_entry(entry, where, ds, classes))
    derived = _derive(spec, classes, issues)
    issues.extend(_batch_fits(spec, info, classes))
    return issues, derived


def _batch_fits(spec: dict[str, Any], info: ActionInfo, classes: _Classes) -> list[Issue]:
    """A training batch larger than the training set would leave every rank with nothing to step on."""
    n = classes.images.get(TRAIN_SOURCES)
    batch = paths.get(spec, paths.parse(BATCH)) if paths.has(spec, paths.parse(BATCH)) else None
    if not n or not isinstance(batch, int):
        return []
    procs = 1
    for key in (info.resources.processes, info.resources.nodes):
        value = paths.get(spec, paths.parse(key)) if key and paths.has(spec, paths.parse(key)) else 1
        procs *= value if isinstance(value, int) and value > 0 else 1
    if batch * procs <= n:
        return []
    per = f" x {procs} processes" if procs > 1 else ""
    return [
        Issue(
            path=BATCH,
            value=batch,
            message=f"a batch of {batch}{per} is larger than the {n} training image(s) in {TRAIN_SOURCES}",
            allowed=f"at most {max(1, n // procs)}",
            hint=f"lower {BATCH} (or add training images)",
            stage="preflight",
            code="batch_too_large",
        )
    ]


def _check_entry(entry: dict[str, Any], where: str, ds: DataSource, classes: _Classes) -> list[Issue]:
    out: list[Issue] = []
    ok: dict[str, Path] = {}
    for fld in ds.files:
        raw = entry.get(fld)
        for j, item in enumerate(raw if isinstance(raw, list) else [raw]):
            if not isinstance(item, str) or unset(item) or is_remote(item):
                continue
            key = f"{where}.{fld}" + (f"[{j}]" if isinstance(raw, list) else "")
            p = Path(item).expanduser()
            if not p.exists():
                kind = "folder" if fld.endswith("_dir") else "file"
                out.append(Issue(path=key, value=item, message=f"{kind} not found", hint=_near(p), stage="preflight", code="not_found"))
            else:
                ok[fld] = p
    if ds.format == "coco" and "json_file" in ok:
        out.extend(_check_coco(ok["json_file"], ok.get("image_dir"), where, classes))
        classes.images[ds.spec_key] = classes.images.get(ds.spec_key, 0) + classes.last_count
    if ds.format == "classmap" and "classmap" in ok:
        names = [ln.strip() for ln in ok["classmap"].read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not names:
            out.append(Issue(path=f"{where}.classmap", value=str(ok["classmap"]), message="class map is empty", hint="one class name per line", stage="preflight", code="empty_classmap"))
        classes.classmap = names
    return out


def _near(p: Path) -> str:
    parent = p.parent
    if parent.is_dir():
        names = sorted(x.name for x in parent.iterdir())[:6]
        return f"{parent} holds: {', '.join(names) or 'nothing'}"
    return f"{parent} does not exist either"


def _check_coco(file: Path, image_dir: Path | None, where: str, classes: _Classes) -> list[Issue]:
    key = f"{where}.json_file"

    def issue(message: str, hint: str | None = None, code: str = "coco") -> Issue:
        return Issue(path=key, value=str(file), message=message, hint=hint, stage="preflight", code=code)

    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return [issue(f"not valid JSON ({exc})", "is this a COCO annotation file?")]
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        return [issue("not a COCO detection file: needs lists 'images', 'annotations' and 'categories'", "convert it with `skillrun run dataset-convert ...`")]
    out: list[Issue] = []
    cats = {c.get("id"): str(c.get("name", c.get("id"))) for c in data["categories"] if isinstance(c, dict)}
    if not cats:
        out.append(issue("no categories defined", "add a 'categories' list with id and name"))
    bad_ids = [c for c in cats if not isinstance(c, int) or isinstance(c, bool)]
    if bad_ids:
        out.append(issue(f"category ids must be integers, got {bad_ids[:_SHOWN]}"))
    classes.by_file[str(file)] = {c: n for c, n in cats.items() if isinstance(c, int)}
    image_ids = [im.get("id") for im in data["images"] if isinstance(im, dict)]
    classes.last_count = len(image_ids)
    bad_boxes = [a.get("id") for a in data["annotations"] if isinstance(a, dict) and not _box_ok(a.get("bbox"))]
    if bad_boxes:
        out.append(
            issue(
                f"{len(bad_boxes)} annotation(s) have an empty or zero-area bbox (annotation ids {', '.join(map(str, bad_boxes[:_SHOWN]))}{' ...' if len(bad_boxes) > _SHOWN else ''})",
                "a COCO bbox is [x, y, width, height] with width > 0 and height > 0: fix or drop those annotations",
                code="bad_boxes",
            )
        )
    if len(set(image_ids)) != len(image_ids):
        out.append(issue("duplicate image ids", "run `skillrun run dataset-validate validate ...` for details"))
    unknown_cat = {a.get("category_id") for a in data["annotations"] if isinstance(a, dict)} - set(cats)
    if unknown_cat:
        out.append(issue(f"annotations use category ids not in 'categories': {sorted(map(str, unknown_cat))[:_SHOWN]}", "add them to 'categories' or drop those annotations"))
    known_images = set(image_ids)
    orphans = sum(1 for a in data["annotations"] if isinstance(a, dict) and a.get("image_id") not in known_images)
    if orphans:
        out.append(issue(f"{orphans} annotation(s) point to image ids not in 'images'"))
    if image_dir is not None and image_dir.is_dir():
        missing = [im.get("file_name") for im in data["images"] if isinstance(im, dict) and not (image_dir / str(im.get("file_name"))).is_file()]
        if not missing:
            out.extend(_check_modes(data["images"], image_dir, where))
        if missing:
            shown = ", ".join(map(str, missing[:_SHOWN])) + (f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else "")
            out.append(
                Issue(path=f"{where}.image_dir", value=str(image_dir), message=f"{len(missing)} of {len(image_ids)} images listed in {file.name} are missing: {shown}", hint="image file_name values are read relative to image_dir", stage="preflight", code="missing_images")
            )
    elif image_dir is not None and not str(image_dir).endswith(_ARCHIVES):
        out.append(Issue(path=f"{where}.image_dir", value=str(image_dir), message="neither a folder nor an archive (.tar, .tar.gz, .zip)", stage="preflight", code="not_a_folder"))
    return out


def _box_ok(bbox: Any) -> bool:
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
        return False
    return bbox[2] > 0 and bbox[3] > 0


def _check_modes(images: list[Any], image_dir: Path, where: str) -> list[Issue]:
    """Images that are not 3-channel RGB (grey, palette, RGBA, CMYK, 16-bit); Pillow reads only the headers."""
    try:
        from PIL import Image
    except ImportError:  # pillow comes with the data/engine extras; without it this check is skipped
        return []
    bad: list[str] = []
    modes: set[str] = set()
    for im in images:
        if not isinstance(im, dict):
            continue
        try:
            with Image.open(image_dir / str(im.get("file_name"))) as img:
                mode = img.mode
        except OSError:
            bad.append(f"{im.get('file_name')} (unreadable)")
            modes.add("unreadable")
            continue
        if mode != "RGB":
            bad.append(f"{im.get('file_name')} ({mode})")
            modes.add(mode)
    if not bad:
        return []
    shown = ", ".join(bad[:_SHOWN]) + (f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else "")
    return [
        Issue(
            path=f"{where}.image_dir",
            value=str(image_dir),
            message=f"{len(bad)} image(s) are not 3-channel RGB ({', '.join(sorted(modes))}): {shown}",
            hint="convert them to RGB, e.g. with Pillow: Image.open(p).convert('RGB').save(p)",
            stage="preflight",
            code="not_rgb",
        )
    ]


def _derive(spec: dict[str, Any], classes: _Classes, issues: list[Issue]) -> list[Derived]:
    """Fill ``auto`` class fields from the data; report values that contradict it."""
    derived: list[Derived] = []
    cats = classes.union()
    files = ", ".join(f"{Path(f).parent.name}/{Path(f).name}" for f in classes.by_file)
    nc_tokens, ids_tokens = paths.parse(NUM_CLASSES), paths.parse(EVAL_IDS)
    num = paths.get(spec, nc_tokens)
    if cats:
        k, top = len(cats), max(cats)
        ids_text = _ids(list(cats))
        if num == "auto":
            paths.assign(spec, nc_tokens, k)
            derived.append(Derived(path=NUM_CLASSES, value=k, reason=f"{k} categories (ids {ids_text}) in {files}"))
        elif isinstance(num, int) and not isinstance(num, bool) and num not in (k, top + 1):
            allowed = f"{k} (the number of categories) or auto" + (f"; {top + 1} (max id + 1, TAO's convention) is also accepted" if top + 1 != k else "")
            issues.append(
                Issue(path=NUM_CLASSES, value=num, message=f"contradicts the annotations: {files} define {k} categor{'y' if k == 1 else 'ies'} (ids {ids_text}), not {num}", allowed=allowed, hint=f"set {NUM_CLASSES}=auto", stage="preflight", code="num_classes")
            )
        ids = paths.get(spec, ids_tokens)
        if ids == "auto":
            paths.assign(spec, ids_tokens, list(cats))
            derived.append(Derived(path=EVAL_IDS, value=list(cats), reason=f"category ids in {files}"))
        elif isinstance(ids, list):
            unknown = [i for i in ids if i not in cats]
            if unknown:
                issues.append(
                    Issue(path=EVAL_IDS, value=ids, message=f"ids {_ids(unknown)} are not categories of {files}", allowed=f"a subset of {ids_text}", hint=f"set {EVAL_IDS}=auto", stage="preflight", code="eval_class_ids")
                )
    elif classes.classmap and num == "auto":
        k = len(classes.classmap)
        paths.assign(spec, nc_tokens, k)
        derived.append(Derived(path=NUM_CLASSES, value=k, reason=f"{k} names in the class map"))
    return derived


def _ids(ids: list[int]) -> str:
    ids = sorted(ids)
    if len(ids) > 2 and ids == list(range(ids[0], ids[-1] + 1)):
        return f"{ids[0]}-{ids[-1]}"
    return ", ".join(map(str, ids[:8])) + (" ..." if len(ids) > 8 else "")
