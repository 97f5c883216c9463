"""The ``coco-prepare`` skill: Isaac Sim Replicator COCO output -> files rtdetr trains on as they are.

Seed 000's one-off script as a skill. Replicator writes one ``coco_*.json`` with a
random suffix per split and sparse category ids (``201``); TAO wants contiguous
ids and users hand-edit ``num_classes``. This finds the single source file of each
split, renumbers the classes 1..N (matched by *name* across splits, ordered by
their original ids: Replicator numbers each run on its own, so the same class can
carry different ids in train and val), makes every image ``file_name`` resolve
against the split folder, and writes ``<out_root>/<split>/coco_annotations.json``
and ``<out_root>/classmap.txt``. ``num_classes`` and ``eval_class_ids`` are
reported exactly as rtdetr's ``auto`` derives them from the written files.
Idempotent: a rerun reads the same sources and leaves identical files untouched.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from skillrun.contracts.report import Issue
from skillrun.data.formats.common import DataError, dump_json, image_size, listing, problem, read_coco, relpath, write_if_changed
from skillrun.data.formats.handler import issues_of, run_action, spec_path

SECTION = "prepare"
PATTERN = "coco_*.json"
OUTPUT = "coco_annotations.json"  #: matches PATTERN, so it is never taken as a source
CLASSMAP = "classmap.txt"
CLASSES_UNIQUE = "classes_unique.txt"
MARKER = "Replicator"  #: a folder holding this subfolder is a split
#: the rtdetr data source each split name feeds
RTDETR_SOURCES = {"train": "dataset.train_data_sources", "val": "dataset.val_data_sources", "test": "dataset.test_data_sources"}


@dataclass(frozen=True)
class Split:
    """One split: its input folder (the image folder too), its single source file, its output."""

    name: str
    folder: Path
    source: Path
    output: Path


def _key(name: str) -> str:
    return f"{SECTION}.{name}"


def roots(params: Mapping[str, Any]) -> tuple[Path, Path, str]:
    """(input_root, out_root, the spec key that named the input root).

    The input root defaults to out_root, as in seed 000 (prepare in place); problems
    with it are reported on the key the user actually set.
    """
    out_root = spec_path(params.get("out_root"))
    if out_root is None:
        raise DataError(problem(_key("out_root"), "required value is missing", hint="set out_root=DIR (the SDG output folder)", code="missing"))
    input_root = spec_path(params.get("input_root")) or out_root
    key = _key("input_root") if params.get("input_root") else _key("out_root")
    if not input_root.is_dir():
        raise DataError(problem(key, "folder not found", value=str(input_root), hint="point it at the SDG output root that holds train/, val/, ...", code="not_found"))
    return input_root, out_root, key


def _sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob(PATTERN) if p.name != OUTPUT and p.is_file())


def find_splits(params: Mapping[str, Any]) -> list[Split]:
    """The splits to prepare, each with exactly one source file; every problem is reported at once."""
    input_root, out_root, key = roots(params)
    names = [str(n) for n in params.get("splits") or []]
    issues: list[Issue] = []
    if names:
        folders = [input_root / n for n in names]
        have = sorted(d.name for d in input_root.iterdir() if d.is_dir())
        for i, f in enumerate(folders):
            if not f.is_dir():
                issues.append(problem(
                    f"{_key('splits')}[{i}]", f"no folder {f}", value=names[i], code="not_found",
                    allowed=", ".join(have) or "no subfolders", hint="name split folders of the input root",
                ))
    else:
        folders = [d for d in sorted(input_root.iterdir()) if d.is_dir() and ((d / MARKER).is_dir() or _sources(d))]
        if not folders:
            have = sorted(d.name + "/" for d in input_root.iterdir() if d.is_dir())
            issues.append(problem(
                key, "holds no split folder", value=str(input_root), code="no_splits",
                allowed=f"subfolders (train/, val/, test/) holding a {MARKER}/ folder or a {PATTERN} file",
                hint=f"{input_root} holds {listing(have) or 'no subfolders'}; is this the SDG output root?",
            ))
    splits = []
    for f in (f for f in folders if f.is_dir()):
        found = _sources(f)
        if len(found) == 1:
            splits.append(Split(f.name, f, found[0], out_root / f.name / OUTPUT))
        elif not found:
            issues.append(problem(
                key, f"split folder {f.name}/ holds no {PATTERN} file", value=str(input_root), code="no_source",
                allowed=f"exactly one {PATTERN} per split ({OUTPUT} is this skill's output and never read)",
                hint=f"run Replicator's COCO writer for {f.name}/, or list the splits to prepare in {_key('splits')}",
            ))
        else:
            issues.append(problem(
                key, f"split folder {f.name}/ holds {len(found)} {PATTERN} files: {listing([p.name for p in found])}",
                value=str(input_root), allowed=f"exactly one {PATTERN} per split", code="several_sources",
                hint="each Replicator run writes a new random suffix: move the stale file(s) away",
            ))
    if issues:
        raise DataError(issues)
    return splits


def check(spec: dict[str, Any], action: str = "prepare") -> list[Issue]:
    """Preflight: the split layout problems (cheap: no JSON is read).

    A missing out_root value and a missing input_root folder are left out: the schema
    and the action's ``inputs`` check report those already.
    """
    found = issues_of(lambda: find_splits(spec.get(SECTION) or {}))
    return [i for i in found if i.code != "missing" and not (i.code == "not_found" and i.path == _key("input_root"))]


@dataclass
class _Class:
    name: str
    ids: set[int]
    supercategory: Any = None


def _classes(docs: dict[str, tuple[Path, dict[str, Any]]]) -> tuple[list[_Class], dict[str, dict[int, int]]]:
    """Classes in the order of their smallest original id (then name), and per split old id -> new id."""
    issues: list[Issue] = []
    by_name: dict[str, _Class] = {}
    names: dict[str, dict[int, str]] = {}
    for split, (src, doc) in docs.items():
        names[split] = {}
        for c in doc["categories"]:
            cid, name = c.get("id") if isinstance(c, dict) else None, c.get("name") if isinstance(c, dict) else None
            if not isinstance(cid, int) or isinstance(cid, bool) or not isinstance(name, str):
                issues.append(problem(src, f"category {c!r} needs an integer 'id' and a string 'name'", value=c, code="category"))
            elif cid in names[split]:
                issues.append(problem(src, f"category id {cid} is defined twice", value=cid, hint="give each category one entry", code="category"))
            else:
                names[split][cid] = name
                entry = by_name.setdefault(name, _Class(name, set(), c.get("supercategory")))
                entry.ids.add(cid)
    if issues:
        raise DataError(issues)
    ordered = sorted(by_name.values(), key=lambda k: (min(k.ids), k.name))
    new = {k.name: i for i, k in enumerate(ordered, start=1)}
    return ordered, {split: {cid: new[n] for cid, n in m.items()} for split, m in names.items()}


def _locate(file_name: str, folder: Path) -> Path | None:
    """The image a ``file_name`` means: relative to the split folder, absolute, or (from another machine) its longest tail found in the split folder."""
    raw = Path(file_name)
    if (folder / raw).is_file():
        return folder / raw
    parts = [p for p in PurePosixPath(file_name.replace("\\", "/")).parts if p != "/"]
    for i in range(len(parts)):
        if (folder.joinpath(*parts[i:])).is_file():
            return folder.joinpath(*parts[i:])
    fallback = folder / MARKER / raw.name
    return fallback if fallback.is_file() else None


def _rewrite(split: Split, doc: dict[str, Any], mapping: dict[int, int], classes: list[_Class], counts: dict[str, int]) -> dict[str, Any]:
    """The output document: file names resolved, ids remapped, area/iscrowd/size filled in."""
    images, missing = [], []
    for im in doc["images"]:
        found = _locate(str(im.get("file_name", "")), split.folder) if isinstance(im, dict) else None
        if found is None:
            missing.append(im.get("file_name") if isinstance(im, dict) else im)
            continue
        out = {**im, "file_name": relpath(found, split.folder)}
        if not all(isinstance(out.get(k), int) and out[k] > 0 for k in ("width", "height")):
            out["width"], out["height"] = image_size(found)
            counts["sizes_read"] = counts.get("sizes_read", 0) + 1
        images.append(out)
    if missing:
        raise DataError(problem(
            split.source, f"{len(missing)} of {len(doc['images'])} images are not found under {split.folder}: {listing(missing)}",
            value=str(split.folder), code="missing_images",
            hint="file_name is read relative to the split folder (absolute paths from another machine are matched by their tail)",
        ))
    annotations, unknown = [], set()
    for a in doc["annotations"]:
        if a.get("category_id") not in mapping:
            unknown.add(str(a.get("category_id")))
            continue
        out = {**a, "category_id": mapping[a["category_id"]]}
        bbox = a.get("bbox")
        if "area" not in out and isinstance(bbox, list) and len(bbox) == 4:
            out["area"] = round(float(bbox[2]) * float(bbox[3]), 4)
            counts["area_filled"] = counts.get("area_filled", 0) + 1
        out.setdefault("iscrowd", 0)
        annotations.append(out)
    if unknown:
        raise DataError(problem(
            split.source, f"annotations use category ids {listing(sorted(unknown))} that 'categories' does not define",
            hint="add them to 'categories' or drop those annotations", code="category",
        ))
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    info = {**info, "coco_prepare": {"source": split.source.name, "category_ids": {str(k): v for k, v in sorted(mapping.items())}}}
    cats = [{"id": i, "name": k.name, **({"supercategory": k.supercategory} if k.supercategory is not None else {})} for i, k in enumerate(classes, start=1)]
    return {**doc, "info": info, "images": images, "annotations": annotations, "categories": cats}


def _notes(input_root: Path, classes: list[_Class], docs: dict[str, tuple[Path, dict[str, Any]]]) -> list[str]:
    """Things worth knowing that are not errors: merged ids, classes_unique.txt disagreements, unused classes."""
    notes = [f"class {k.name!r} has ids {sorted(k.ids)} in different splits: all become {i}" for i, k in enumerate(classes, start=1) if len(k.ids) > 1]
    listed = input_root / CLASSES_UNIQUE
    if listed.is_file():
        names = {ln.strip() for ln in listed.read_text(encoding="utf-8").splitlines() if ln.strip()}
        have = {k.name for k in classes}
        if names - have:
            notes.append(f"{CLASSES_UNIQUE} lists {sorted(names - have)}, which no COCO file defines")
        if have - names:
            notes.append(f"the COCO files define {sorted(have - names)}, which {CLASSES_UNIQUE} does not list")
    return notes


def prepare(params: Mapping[str, Any]) -> dict[str, Any]:
    """Do the preparation; returns the report (written to report.json by the handler)."""
    input_root, out_root, _ = roots(params)
    splits = find_splits(params)
    docs = {s.name: (s.source, read_coco(s.source, str(s.source))) for s in splits}
    classes, mappings = _classes(docs)
    report_splits: dict[str, Any] = {}
    written_cats: set[int] = set()
    for s in splits:
        counts: dict[str, int] = {}
        doc = _rewrite(s, docs[s.name][1], mappings[s.name], classes, counts)
        changed = write_if_changed(s.output, dump_json(doc))
        written_cats |= {c["id"] for c in doc["categories"]}
        report_splits[s.name] = {
            "source": str(s.source), "json_file": str(s.output), "image_dir": str(s.folder),
            "images": len(doc["images"]), "annotations": len(doc["annotations"]), "written": changed, "filled": counts,
        }
    classmap = out_root / CLASSMAP
    classmap_changed = write_if_changed(classmap, "".join(f"{k.name}\n" for k in classes))
    eval_ids = sorted(written_cats)  # rtdetr's auto: the union of category ids over the files it reads
    overrides = ["dataset.num_classes=auto"]
    for name, key in RTDETR_SOURCES.items():
        if name in report_splits:
            src = f"{{image_dir: {json.dumps(report_splits[name]['image_dir'])}, json_file: {json.dumps(report_splits[name]['json_file'])}}}"
            overrides.append(f"{key}=[{src}]" if name == "train" else f"{key}={src}")
    n_img = sum(v["images"] for v in report_splits.values())
    n_ann = sum(v["annotations"] for v in report_splits.values())
    changed = [n for n, v in report_splits.items() if v["written"]] + ([CLASSMAP] if classmap_changed else [])
    return {
        "input_root": str(input_root),
        "out_root": str(out_root),
        "splits": report_splits,
        "classmap": str(classmap),
        "classes": [{"id": i, "name": k.name, "original_ids": sorted(k.ids)} for i, k in enumerate(classes, start=1)],
        "num_classes": len(eval_ids),
        "eval_class_ids": eval_ids,
        "notes": _notes(input_root, classes, docs),
        "rtdetr_overrides": overrides,
        "summary": f"{len(classes)} classes ({', '.join(k.name for k in classes[:8])}): num_classes={len(eval_ids)} eval_class_ids={eval_ids}; "
        f"{', '.join(report_splits)} -> {out_root} ({'updated ' + ', '.join(changed) if changed else 'already up to date'})",
        "kpi": {"num_classes": len(eval_ids), "images": n_img, "annotations": n_ann},
        "next": ["rtdetr train overrides:", *(f"  {shlex.quote(o)}" for o in overrides)],
    }


def run(spec: dict[str, Any], out: Path) -> int:
    """Job handler of coco-prepare prepare (engine HANDLERS entry)."""
    return run_action(out, "coco-prepare prepare", lambda: prepare(spec.get(SECTION) or {}))
