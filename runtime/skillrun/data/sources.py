"""An action's ``data_sources``: the short forms users write, and staging into ``jobs/<id>/inputs/``.

Three ways to give a source, all ending as the entry the engine reads
(``{image_dir: ..., json_file: ...}``, see references/data_sources.md):

- the full entry, each path local or ``s3://`` (TAO's form, seed 002);
- a source folder or ``s3://bucket/prefix`` in place of the entry, expanded
  with the DataSource's ``files`` (``images.tar.gz``, ``annotations.json``,
  ``label_map.txt``; a local ``images/`` folder stands in for the archive);
- TAO's source name as the key (``train_datasets=[s3://b/train]``).

Expansion is pure and runs in ``prepare`` (so ``plan`` shows it). Staging runs
at launch, after the job is recorded: ``s3://`` objects and prefixes are
downloaded and archives extracted safely under ``inputs/``, the spec is
re-validated against the local copies (so preflight checks the real data and
derives ``auto`` values) and ``spec.yaml`` points at them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from skillrun.composition import paths
from skillrun.data.archive import extract, is_archive, strip_suffix
from skillrun.data.s3 import is_s3
from skillrun.errors import SpecError
from skillrun.record_io import atomic_write_text

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill
    from skillrun.composition.overrides import Override
    from skillrun.contracts.skill import ActionInfo, DataSource
    from skillrun.launch.prepare import Prepared

INPUTS = "inputs"
MANIFEST = "sources.json"
Log = Callable[[str], None]


# -- the short forms (pure) ---------------------------------------------------
def rename_source_words(info: ActionInfo, overrides: Iterable[str | Override]) -> list[str | Override]:
    """``train_datasets=...`` (a DataSource ``source`` name) -> ``<its spec_key>=...``, for every key that source feeds.

    One dataset may feed several keys (TAO's quantize reads ``train_datasets`` for
    training and calibration): all of them get it. A source given as one path
    (``DataSource.path``) is joined with that file here, since its key holds the
    path itself and is never expanded later.
    """
    by_source: dict[str, list[DataSource]] = {}
    for ds in info.data_sources:
        by_source.setdefault(ds.source, []).append(ds)
    out: list[str | Override] = []
    for item in overrides:
        if isinstance(item, str) and "=" in item and item[0] not in "+~":
            key, rest = item.split("=", 1)
            if key in by_source and key not in info.spec_shorthand_keys:
                out += [f"{ds.spec_key}={_joined(rest, ds) if ds.path is not None else rest}" for ds in by_source[key]]
                continue
        out.append(item)
    return out


def _joined(value: str, ds: DataSource) -> str:
    """A source folder (or s3:// prefix) joined with the one file a path-form source names; lists item by item."""
    import yaml

    from skillrun import yamlio

    try:
        parsed = yamlio.loads(value)
    except yaml.YAMLError:
        parsed = value
    items = parsed if isinstance(parsed, list) else [parsed]
    joined = [_join_one(str(v), ds.path or "") if isinstance(v, str) and _expandable(v) else v for v in items]
    result: Any = joined if isinstance(parsed, list) or ds.list else joined[0]
    return json.dumps(result) if not isinstance(result, str) else result


def _join_one(src: str, name: str) -> str:
    """``src``/``name``; for a local ``images.tar.gz`` that is not there, its unpacked ``images/`` folder when that is."""
    if not name:
        return src
    if is_s3(src):
        return f"{src.rstrip('/')}/{name}"
    base = Path(src).expanduser()
    cand = base / name
    if not cand.exists() and is_archive(name) and (base / strip_suffix(name)).is_dir():
        cand = base / strip_suffix(name)
    return str(cand)


def expand(skill: Skill, action: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with every source given as a folder or prefix expanded into its entry."""
    import copy

    info = skill.info.actions[action]
    schema = skill.schema(action) if skill.has_schema(action) else None
    out = copy.deepcopy(spec)
    for ds in info.data_sources:
        if ds.path is not None:  # the key holds the path itself: nothing to expand
            continue
        tokens = paths.parse(ds.spec_key)
        value = paths.get(out, tokens)
        if ds.list and isinstance(value, str) and _expandable(value):
            value = [value]
        if isinstance(value, list):
            value = [_entry(v, ds, schema, [*tokens, i]) if isinstance(v, str) and _expandable(v) else v for i, v in enumerate(value)]
        elif isinstance(value, str) and _expandable(value):
            value = _entry(value, ds, schema, tokens)
        else:
            continue
        paths.assign(out, tokens, value)
    return out


def _expandable(value: str) -> bool:
    if not value or value == "???":
        return False
    return is_s3(value) or not Path(value).expanduser().is_file()


def _entry(src: str, ds: DataSource, schema: dict[str, Any] | None, tokens: list[paths.Token]) -> dict[str, Any]:
    from skillrun.bank import schemas

    entry: dict[str, Any] = {}
    for fld, name in ds.files.items():
        sub = schemas.at(schema, [*tokens, fld]) if schema is not None else None
        types = (sub or {}).get("type")
        types = types if isinstance(types, list) else [types]
        value: str | None = _join_one(src, name)
        if not is_s3(src) and not Path(value).exists() and "null" in types:
            value = None
        if value is None:
            continue
        entry[fld] = [value] if "array" in types else value
    return entry


# -- staging --------------------------------------------------------------------
@dataclass
class Staged:
    """One path the job reads from ``inputs/`` instead of where the user gave it."""

    key: str  #: dotted spec path, e.g. dataset.train_data_sources[0].image_dir
    source: str  #: the s3:// URI or local archive given
    local: str
    kind: str  #: object, prefix or archive
    files: int
    bytes: int
    reused: bool = False


def _targets(info: ActionInfo, spec: dict[str, Any]) -> list[tuple[list[paths.Token], str, str]]:
    """(tokens of a string leaf, value, slot name under inputs/) for each path that needs staging."""
    found: list[tuple[list[paths.Token], str, str]] = []
    for ds in info.data_sources:
        tokens = paths.parse(ds.spec_key)
        value = paths.get(spec, tokens) if paths.has(spec, tokens) else None
        if ds.path is not None:  # one path (or a list of paths) under the key itself
            items = [(i, v) for i, v in enumerate(value)] if isinstance(value, list) else [(None, value)]
            for i, v in items:
                if isinstance(v, str) and (is_s3(v) or (is_archive(v) and Path(v).expanduser().is_file())):
                    found.append((tokens if i is None else [*tokens, i], v, str(tokens[-1])))
            continue
        entries = [(i, e) for i, e in enumerate(value)] if isinstance(value, list) else [(None, value)]
        base = str(tokens[-1])
        for i, entry in entries:
            if not isinstance(entry, dict):
                continue
            slot = base if i is None else f"{base}-{i}"
            where = tokens if i is None else [*tokens, i]
            for fld in sorted(ds.files, key=lambda f: f.endswith("_dir")):  # annotation files first: they pick the image root
                raw = entry.get(fld)
                items = [(j, v) for j, v in enumerate(raw)] if isinstance(raw, list) else [(None, raw)]
                for j, v in items:
                    if isinstance(v, str) and (is_s3(v) or (is_archive(v) and Path(v).expanduser().is_file())):
                        found.append(([*where, fld] if j is None else [*where, fld, j], v, slot))
    named = {key: name for name, key in info.inputs.items()}
    for key in [*info.inputs.values(), *(k for k in info.path_inputs if k not in named)]:
        tokens = paths.parse(key)
        value = paths.get(spec, tokens) if paths.has(spec, tokens) else None
        if isinstance(value, str) and is_s3(value) and not any(t[0] == tokens for t in found):
            found.append((tokens, value, named.get(key, str(tokens[-1]))))
    return found


def needs_staging(info: ActionInfo, spec: dict[str, Any]) -> bool:
    """True when some data source or input is an s3:// URI or a local archive."""
    return bool(_targets(info, spec))


class _Stager:
    """Stages the targets of one spec into ``inputs/``; reuses what an earlier attempt completed."""

    def __init__(self, inputs: Path, log: Log) -> None:
        self.inputs = inputs
        self.log = log
        self.used: dict[str, set[str]] = {}
        self._s3: Any = None

    def client(self, uri: str) -> Any:
        """One boto3 client for the whole spec, made when the first URI needs it."""
        if self._s3 is None:
            from skillrun.data import s3

            self._s3 = s3.client(uri)
        return self._s3

    def place(self, slot: str, name: str) -> Path:
        taken = self.used.setdefault(slot, set())
        stem, n = name, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}"
        taken.add(name)
        return self.inputs / slot / name

    def stage(self, key: str, value: str, slot: str, folder: bool) -> Staged:
        from skillrun.data import s3 as s3io

        if not is_s3(value):  # a local archive
            target = self.place(slot, strip_suffix(Path(value).name))
            if target.is_dir():
                return Staged(key, value, str(target), "archive", _count(target), 0, reused=True)
            self.log(f"extracting {value} -> {target}")
            return Staged(key, value, str(target), "archive", extract(Path(value).expanduser(), target), 0)
        uri = s3io.parse(value, what=key)
        if is_archive(uri.name):
            target = self.place(slot, strip_suffix(uri.name))
            if target.is_dir():
                return Staged(key, value, str(target), "archive", _count(target), 0, reused=True)
            self.log(f"downloading {uri}")
            download = target.with_name(f".{uri.name}")
            size = s3io.download_file(self.client(value), uri, download)
            try:
                self.log(f"extracting {uri.name} -> {target}")
                count = extract(download, target, label=str(uri))
            finally:
                download.unlink(missing_ok=True)
            return Staged(key, value, str(target), "archive", count, size)
        target = self.place(slot, uri.name or uri.bucket)
        if target.exists():
            return Staged(key, value, str(target), "prefix" if target.is_dir() else "object", _count(target), 0, reused=True)
        if folder or value.endswith("/"):
            self.log(f"downloading {uri} (prefix)")
            files, size = s3io.download_prefix(self.client(value), uri, target)
            return Staged(key, value, str(target), "prefix", files, size)
        self.log(f"downloading {uri}")
        return Staged(key, value, str(target), "object", 1, s3io.download_file(self.client(value), uri, target))


def _count(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file()) if path.is_dir() else 1


def stage(info: ActionInfo, spec: dict[str, Any], job_dir: Path, log: Log) -> tuple[dict[str, Any], list[Staged]]:
    """Download/extract every remote source and archive into ``job_dir/inputs``; returns (spec, what was staged)."""
    import copy

    out = copy.deepcopy(spec)
    stager = _Stager(job_dir / INPUTS, log)
    staged: list[Staged] = []
    for tokens, value, slot in _targets(info, out):
        key = paths.format(tokens)
        folder = any(isinstance(t, str) and t.endswith("_dir") for t in tokens[-2:])
        item = stager.stage(key, value, slot, folder)
        if folder and item.kind == "archive":
            item.local = str(_image_root(Path(item.local), _annotations(out, tokens)))
        paths.assign(out, tokens, item.local)
        staged.append(item)
        log(f"staged {key}: {value} -> {item.local} ({item.files} file(s){', reused' if item.reused else ''})")
    atomic_write_text(job_dir / INPUTS / MANIFEST, json.dumps([dataclasses.asdict(s) for s in staged], indent=2) + "\n")
    return out, staged


def _annotations(spec: dict[str, Any], tokens: list[paths.Token]) -> Path | None:
    """The (already staged) json_file of the entry an image folder belongs to."""
    entry_tokens = tokens[:-1] if isinstance(tokens[-1], str) else tokens[:-2]
    value = paths.get(spec, [*entry_tokens, "json_file"])
    return Path(value) if isinstance(value, str) and not is_s3(value) and Path(value).is_file() else None


def _image_root(folder: Path, json_file: Path | None) -> Path:
    """The folder the COCO ``file_name``s are relative to: the archive root, or its single top folder."""
    kids = [k for k in folder.iterdir() if not k.name.startswith(".")] if folder.is_dir() else []
    if len(kids) != 1 or not kids[0].is_dir():
        return folder
    names: list[str] = []
    if json_file is not None:
        try:
            data = json.loads(json_file.read_text(encoding="utf-8"))
            names = [str(im.get("file_name")) for im in data.get("images", [])[:5] if isinstance(im, dict)]
        except (OSError, ValueError, AttributeError):
            names = []
    if names and any((folder / n).is_file() for n in names):
        return folder
    return kids[0]


def stage_prepared(prepared: Prepared, job_dir: Path, *, check_data: bool, log: Log) -> Prepared:
    """Stage a prepared run's sources, then validate again on the local copies; returns the updated run."""
    from skillrun.contracts.report import ValidationReport
    from skillrun.contracts.spec import ComposedSpec
    from skillrun.validation import validate_composed

    info = prepared.skill.info.actions[prepared.action]
    spec, staged = stage(info, prepared.spec, job_dir, log)
    provenance = {**prepared.report.provenance, **{s.key: "staged" for s in staged}}
    composed = ComposedSpec(skill=prepared.skill.name, action=prepared.action, spec=spec, provenance=provenance)
    report = validate_composed(prepared.skill, composed, check_data=check_data)
    if not report.ok:
        raise SpecError(report)
    merged = ValidationReport(
        skill=report.skill,
        action=report.action,
        spec=report.spec,
        provenance=report.provenance,
        issues=report.issues,
        derived=[*prepared.report.derived, *report.derived],
    )
    return dataclasses.replace(prepared, report=merged)
