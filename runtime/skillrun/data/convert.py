"""The ``dataset-convert`` skill's handlers: KITTI/YOLO/JSONL -> COCO and COCO -> JSONL/YOLO.

Each action reads its input into :class:`~skillrun.data.formats.common.Dataset`
(pixel boxes keyed by class *name*) and writes the target format, so class names
survive every conversion and a round trip returns the same boxes up to the
rounding of the formats (2 decimals in pixels, 6 in normalised units). COCO
outputs use category ids 1..N in class order (sorted names unless a class-names
file gives the order) and image ids 1..M in image order, so reruns give the same
bytes; unchanged files are not rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from skillrun.contracts.report import Issue
from skillrun.data.formats import jsonl, kitti, yolo
from skillrun.data.formats.common import Dataset, DataError, dump_json, from_coco, problem, read_class_names, read_coco, to_coco, write_if_changed
from skillrun.data.formats.handler import issues_of, run_action, spec_path

SECTION = "convert"
#: action -> (input kind, output kind); a "dir" input is a label folder, a "dir" output a label folder
KINDS: dict[str, tuple[str, str]] = {
    "kitti-to-coco": ("dir", "file"),
    "yolo-to-coco": ("dir", "file"),
    "jsonl-to-coco": ("file", "file"),
    "coco-to-jsonl": ("file", "file"),
    "coco-to-yolo": ("file", "dir"),
}
_WHAT = {"dir": "a folder", "file": "a file"}


@dataclass(frozen=True)
class Paths:
    """The resolved paths of one conversion (all absolute)."""

    input: Path
    output: Path
    image_dir: Path | None
    class_names: Path | None

    @property
    def images(self) -> Path:
        """The image folder; :func:`resolve` sets it for every action that reads images."""
        if self.image_dir is None:
            raise DataError(problem(_key("image_dir"), "required value is missing", hint=f"set {_key('image_dir')}=DIR", code="missing"))
        return self.image_dir


def _key(name: str) -> str:
    return f"{SECTION}.{name}"


def resolve(action: str, params: Mapping[str, Any]) -> Paths:
    """Check the paths of ``action`` (kinds, defaults, output vs input); every problem at once."""
    in_kind, out_kind = KINDS[action]
    src, dst = spec_path(params.get("input")), spec_path(params.get("output"))
    issues: list[Issue] = []
    if src is None or not src.exists():
        issues.append(problem(_key("input"), "not found", value=params.get("input"), hint="check the path", code="not_found"))
    elif (in_kind == "dir") != src.is_dir():
        hint = "give the folder of label .txt files" if in_kind == "dir" else "give the annotation file itself"
        issues.append(problem(_key("input"), f"is not {_WHAT[in_kind]}", value=str(src), allowed=f"{_WHAT[in_kind]} for {action}", hint=hint, code="input_kind"))
    if dst is None:
        issues.append(problem(_key("output"), "required value is missing", hint=f"set {_key('output')}=PATH (or output=PATH)", code="missing"))
    elif dst.exists() and (out_kind == "dir") != dst.is_dir():
        issues.append(problem(
            _key("output"), f"exists and is not {_WHAT[out_kind]}", value=str(dst), code="output_kind",
            allowed=f"{_WHAT[out_kind]} for {action}", hint="choose another output path",
        ))
    elif dst == src:
        issues.append(problem(_key("output"), "is the input itself", value=str(dst), hint="write the converted data to a new path", code="output_is_input"))
    image_dir = spec_path(params.get("image_dir"))
    names = spec_path(params.get("class_names"))
    for key, path, kind in (("image_dir", image_dir, "dir"), ("class_names", names, "file")):
        if path is not None and not path.exists():
            issues.append(problem(_key(key), "not found", value=str(path), hint="check the path", code="not_found"))
        elif path is not None and (kind == "dir") != path.is_dir():
            issues.append(problem(_key(key), f"is not {_WHAT[kind]}", value=str(path), code="input_kind"))
    if src is not None and src.is_dir() and in_kind == "dir":
        image_dir, names = _label_defaults(action, src, image_dir, names, issues)
    if src is not None and action == "jsonl-to-coco" and image_dir is None:
        image_dir = src.parent
    if issues or src is None or dst is None:
        raise DataError(issues)
    return Paths(src, dst, image_dir, names)


def _label_defaults(action: str, labels: Path, image_dir: Path | None, names: Path | None, issues: list[Issue]) -> tuple[Path | None, Path | None]:
    """KITTI/YOLO: find the image folder beside the labels, and YOLO's classes.txt, when not given."""
    fmt = kitti if action == "kitti-to-coco" else yolo
    if image_dir is None:
        image_dir = fmt.default_image_dir(labels)
        if image_dir is None:
            tried = ", ".join(f"{labels.parent / n}" for n in (kitti.IMAGE_DIR_NAMES if fmt is kitti else ("images",)))
            issues.append(problem(
                _key("image_dir"), "not set, and no image folder was found next to the labels", code="no_image_dir",
                allowed=f"a folder of images; tried {tried}", hint=f"set {_key('image_dir')}=DIR (or image_dir=DIR)",
            ))
    if action == "yolo-to-coco" and names is None:
        names = labels / yolo.CLASSES_FILE
        if not names.is_file():
            issues.append(problem(
                _key("class_names"), f"not set, and {names} does not exist", code="no_class_names",
                allowed="a text file with one class name per line (line k = YOLO class k) or an Ultralytics data.yaml",
                hint=f"set {_key('class_names')}=FILE (or classes=FILE)",
            ))
    return image_dir, names


def check(spec: dict[str, Any], action: str) -> list[Issue]:
    """Preflight: the path problems of ``action``, except those the schema and inputs checks already report."""
    found = issues_of(lambda: resolve(action, spec.get(SECTION) or {}))
    return [i for i in found if i.code not in ("not_found", "missing")]


def _report(action: str, ds: Dataset, p: Paths, written: int) -> dict[str, Any]:
    """report.json of a conversion; ``rtdetr_source`` is ready for dataset.*_data_sources when the output is COCO."""
    empty = sum(1 for r in ds.records if not r.boxes)
    report: dict[str, Any] = {
        "action": action,
        "input": str(p.input),
        "output": str(p.output),
        "image_dir": str(p.image_dir) if p.image_dir else None,
        "class_names": str(p.class_names) if p.class_names else None,
        "images": len(ds.records),
        "annotations": ds.num_boxes,
        "empty_images": empty,
        "classes": ds.classes,
        "skipped": dict(sorted(ds.skipped.items())),
        "files_written": written,
        "summary": f"{action}: {len(ds.records)} images, {ds.num_boxes} boxes, {len(ds.classes)} classes ({', '.join(ds.classes[:8])}) -> {p.output}",
        "kpi": {"images": len(ds.records), "annotations": ds.num_boxes, "num_classes": len(ds.classes)},
    }
    if action.endswith("-to-coco"):
        report["rtdetr_source"] = {"image_dir": str(p.image_dir), "json_file": str(p.output)}
        report["next"] = [f"rtdetr source: {{image_dir: {p.image_dir}, json_file: {p.output}}}"]
    return report


def _need_classes(ds: Dataset, p: Paths) -> Dataset:
    if not ds.classes:
        raise DataError(problem(
            _key("input"), "holds no objects, so there are no classes to write", value=str(p.input), code="no_classes",
            hint="check the labels, or give the classes with convert.class_names",
        ))
    return ds


def _to_coco(action: str, p: Paths, read: Callable[[], Dataset]) -> dict[str, Any]:
    ds = _need_classes(read(), p)
    written = write_if_changed(p.output, dump_json(to_coco(ds, f"skillrun dataset-convert {action}")))
    return _report(action, ds, p, int(written))


def _names(p: Paths) -> list[str] | None:
    return read_class_names(p.class_names, _key("class_names")) if p.class_names else None


def kitti_to_coco(params: Mapping[str, Any]) -> dict[str, Any]:
    """KITTI label folder (+ images) -> one COCO file."""
    p = resolve("kitti-to-coco", params)
    ignore = {str(c) for c in params.get("ignore_classes", kitti.IGNORE) or []}
    return _to_coco("kitti-to-coco", p, lambda: kitti.read_kitti(p.input, p.images, _names(p), ignore))


def yolo_to_coco(params: Mapping[str, Any]) -> dict[str, Any]:
    """YOLO label folder (+ images and class names) -> one COCO file."""
    p = resolve("yolo-to-coco", params)
    return _to_coco("yolo-to-coco", p, lambda: yolo.read_yolo(p.input, p.images, _names(p) or []))


def jsonl_to_coco(params: Mapping[str, Any]) -> dict[str, Any]:
    """Seed-004 JSONL (+ images, for their sizes) -> one COCO file."""
    p = resolve("jsonl-to-coco", params)
    return _to_coco("jsonl-to-coco", p, lambda: jsonl.read_jsonl(p.input, p.images, _names(p)))


def coco_to_jsonl(params: Mapping[str, Any]) -> dict[str, Any]:
    """COCO -> seed-004 JSONL, one line per image (image_path = file_name)."""
    p = resolve("coco-to-jsonl", params)
    ds = from_coco(read_coco(p.input, _key("input")), str(p.input))
    written = write_if_changed(p.output, jsonl.write_jsonl(ds))
    return _report("coco-to-jsonl", ds, p, int(written))


def coco_to_yolo(params: Mapping[str, Any]) -> dict[str, Any]:
    """COCO -> a YOLO labels folder (label path mirrors file_name) plus classes.txt."""
    p = resolve("coco-to-yolo", params)
    ds = _need_classes(from_coco(read_coco(p.input, _key("input")), str(p.input)), p)
    return _report("coco-to-yolo", ds, p, yolo.write_yolo(ds, p.output))


def _handler(action: str, work: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any], Path], int]:
    def run(spec: dict[str, Any], out: Path) -> int:
        return run_action(out, f"dataset-convert {action}", lambda: work(spec.get(SECTION) or {}))

    run.__doc__ = f"Job handler of dataset-convert {action} (engine HANDLERS entry)."
    return run


run_kitti_to_coco = _handler("kitti-to-coco", kitti_to_coco)
run_yolo_to_coco = _handler("yolo-to-coco", yolo_to_coco)
run_jsonl_to_coco = _handler("jsonl-to-coco", jsonl_to_coco)
run_coco_to_jsonl = _handler("coco-to-jsonl", coco_to_jsonl)
run_coco_to_yolo = _handler("coco-to-yolo", coco_to_yolo)
