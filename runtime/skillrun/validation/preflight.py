"""Layer 3: the data the action names — files exist, COCO loads, class counts agree.

The per-source COCO checks are :mod:`skillrun.data.checks`, the same code as the
``dataset-validate`` skill: every error-level problem it finds becomes an ``Issue`` on
the dotted path of the source field (``dataset.train_data_sources[0].json_file``).

Also derives ``auto`` values (``dataset.num_classes``, ``dataset.eval_class_ids``)
from the annotations. Remote URIs (``s3://...``) are not fetched here.
Relative paths resolve against the current directory, as the engine sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillrun.composition import paths
from skillrun.contracts.report import Derived, Issue
from skillrun.contracts.skill import ActionInfo, DataSource
from skillrun.data.checks import SHOWN, CheckOptions, check_source
from skillrun.data.dataset_report import Problem

NUM_CLASSES = "dataset.num_classes"
BATCH = "dataset.batch_size"
TRAIN_SOURCES = "dataset.train_data_sources"
EVAL_IDS = "dataset.eval_class_ids"
_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".zip")
_OPTIONS = CheckOptions(max_ids=SHOWN)  #: headers only: preflight must stay fast


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
    issues.extend(_required_paths(spec, info))
    for ds in info.data_sources:
        tokens = paths.parse(ds.spec_key)
        value = paths.get(spec, tokens) if paths.has(spec, tokens) else None
        if unset(value):
            continue
        if ds.path is not None:
            issues.extend(_check_paths(value, ds.spec_key, "folder" if ds.spec_key.endswith("_dir") else None))
            continue
        entries = value if isinstance(value, list) else [value]
        for i, entry in enumerate(entries):
            where = f"{ds.spec_key}[{i}]" if isinstance(value, list) else ds.spec_key
            if isinstance(entry, dict):
                issues.extend(_check_entry(entry, where, ds, classes))
    derived = _derive(spec, classes, issues)
    issues.extend(_batch_fits(spec, info, classes))
    return issues, derived


def _required_paths(spec: dict[str, Any], info: ActionInfo) -> list[Issue]:
    """Every path input the action declares: an empty ``''`` where a required path goes is an error; a set one must exist."""
    from skillrun.contracts.skill import param_name

    out: list[Issue] = []
    sources = {f"{ds.spec_key}": ds.source for ds in info.data_sources}
    for key, kind in info.path_inputs.items():
        tokens = paths.parse(key)
        value = paths.get(spec, tokens) if paths.has(spec, tokens) else None
        if value == "???":
            continue  # reported once, as a missing value
        empty = value is None or value == "" or (isinstance(value, list) and all(v in (None, "") for v in value))
        if empty and not kind.optional:
            param = info.spec_params.get(key)
            source = next((src for entry, src in sources.items() if key == entry or key.startswith((entry + ".", entry + "["))), None)
            if param is not None and param_name(param).startswith("parent_model"):
                hint = f"pass --parent JOB_ID, or set {key}=PATH"
            elif source is not None:
                hint = f"set {key}=PATH, or give the dataset: {source}=/path/to/dataset"
            else:
                hint = f"set {key}=PATH"
            out.append(Issue(path=key, value=value, message=f"a {kind.type} path is required here and none is set", hint=hint, stage="preflight", code="required_path"))
        elif not empty:
            out.extend(_check_paths(value, key, kind.type))
    return out


def _check_paths(value: Any, key: str, kind: str | None) -> list[Issue]:
    """Local paths in ``value`` (one or a list) exist and are of ``kind``; an archive stands in for a folder."""
    out: list[Issue] = []
    items = [(f"{key}[{i}]", v) for i, v in enumerate(value)] if isinstance(value, list) else [(key, value)]
    for where, item in items:
        if not isinstance(item, str) or unset(item) or is_remote(item):
            continue
        p = Path(item).expanduser()
        if not p.exists():
            out.append(Issue(path=where, value=item, message=f"{kind or 'path'} not found", hint=_near(p), stage="preflight", code="not_found"))
        elif kind == "folder" and not p.is_dir() and not str(p).endswith(_ARCHIVES):
            out.append(Issue(path=where, value=item, message="a folder (or .tar/.tar.gz/.zip archive) is expected, not a file", stage="preflight", code="not_a_folder"))
        elif kind == "file" and p.is_dir():
            out.append(Issue(path=where, value=item, message="a file is expected, not a folder", hint=_near(p / "x"), stage="preflight", code="not_a_file"))
    return out


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
    """The error-level problems of :func:`skillrun.data.checks.check_source`, as spec issues on ``where``."""
    folder = image_dir if image_dir is not None and image_dir.is_dir() else None
    checked = check_source(file, folder, options=_OPTIONS)
    if checked.report.stats is not None:
        classes.by_file[str(file)] = checked.categories
        classes.last_count = checked.report.stats.images
    else:
        classes.last_count = 0
    out = [_issue(p, where, file, folder) for p in checked.problems if p.level == "error"]
    if image_dir is not None and folder is None and not str(image_dir).endswith(_ARCHIVES):
        out.append(Issue(path=f"{where}.image_dir", value=str(image_dir), message="neither a folder nor an archive (.tar, .tar.gz, .zip)", stage="preflight", code="not_a_folder"))
    return out


def _issue(problem: Problem, where: str, json_file: Path, image_dir: Path | None) -> Issue:
    """A data problem on the dotted path of the source field it is about; long lists point to the full report."""
    hint = problem.hint
    if problem.count > SHOWN:
        folder = f" image_dir={image_dir}" if image_dir is not None else ""
        hint = f"{hint}; every id: skillrun run dataset-validate validate json_file={json_file}{folder}"
    return Issue(path=f"{where}.{problem.field}", value=problem.file, message=problem.message, allowed=problem.allowed, hint=hint, stage="preflight", code=problem.code)


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
