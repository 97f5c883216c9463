"""What a job left behind: its declared outputs, checkpoints, metrics and status events.

``skillrun results`` and the API both list a job's files from here. The
skill's ``actions.<action>.outputs`` name globs under ``<results_dir>`` (for
example ``train/model_epoch_*.pth``); when the skill is gone from the bank
(deleted, or its plugin uninstalled) the action folder is still listed
generically, because the files outlive the skill. Control plane: no torch, a
checkpoint is only looked at as a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillrun.errors import ResolutionError
from skillrun.resolve.checkpoints import list_checkpoints
from skillrun.results.summary import read_status, summarize

if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank
    from skillrun.bank.loader import Skill
    from skillrun.contracts.job import JobRecord
    from skillrun.record.store import JobStore


def artifacts(record: JobRecord, skill: Skill | None = None) -> dict[str, Any]:
    """Everything ``record``'s job wrote under its results folder, as a JSON-ready dict.

    Keys: ``job_id``, ``skill``, ``action``, ``state``, ``results_dir``,
    ``action_dir``, ``spec_file``, ``declared`` (whether ``outputs`` came from
    the skill), ``outputs`` (name -> pattern and matching files), ``files``
    (every entry of the action folder), ``checkpoints`` (epoch, path),
    ``metrics``, ``events`` (number of status.json lines) and ``problems``.
    Each file is ``{"path": absolute, "size": bytes, "kind": "file" | "dir"}``.
    """
    results_dir = Path(record.results_dir)
    action_dir = results_dir / record.action
    problems: list[str] = []
    declared = _declared_outputs(skill, record.action)
    outputs = {}
    for name, pattern in (declared or {}).items():
        outputs[name] = {"pattern": pattern, "files": _glob(results_dir, pattern, problems)}
    try:
        checkpoints = [{"epoch": c.epoch, "path": str(c.path)} for c in list_checkpoints(action_dir)]
    except ResolutionError as exc:  # two files name one epoch: list the rest of the job anyway
        checkpoints = []
        problems.append(exc.message)
    return {
        "job_id": record.id,
        "skill": record.skill,
        "action": record.action,
        "state": record.state.value,
        "results_dir": str(results_dir),
        "action_dir": str(action_dir),
        "spec_file": record.spec_file,
        "declared": declared is not None,
        "outputs": outputs,
        "files": _folder(action_dir),
        "checkpoints": checkpoints,
        "metrics": dict(record.metrics) or summarize(results_dir, record.action),
        "events": len(read_status(action_dir)),
        "problems": problems,
    }


def job_results(bank: SkillBank, store: JobStore, job_id: str) -> tuple[JobRecord, Skill | None, dict[str, Any]]:
    """What ``skillrun results`` and the MCP ``results`` tool show: a job's artifacts, plus a study's trials.

    The skill is None when it is no longer in the bank (the folder is then listed without
    its declared outputs).
    """
    from skillrun.automl.outputs import read_study
    from skillrun.errors import SkillrunError
    from skillrun.launch.handle import Job

    record = Job(store, job_id).refresh()
    try:
        skill: Skill | None = bank.get(record.skill)
    except SkillrunError:
        skill = None
    found = artifacts(record, skill)
    if record.automl is not None and record.automl.role == "study":
        study = read_study(Path(found["action_dir"]))
        if study is not None:
            found["automl"] = study
    return record, skill, found


def _declared_outputs(skill: Skill | None, action: str) -> dict[str, str] | None:
    """The skill's output globs for ``action``; None when the skill (or that action) is unknown."""
    if skill is None:
        return None
    info = skill.info.actions.get(action)
    return None if info is None else dict(info.outputs)


def _glob(root: Path, pattern: str, problems: list[str]) -> list[dict[str, Any]]:
    """Files and folders under ``root`` matching ``pattern``, sorted; a pattern leaving ``root`` is refused."""
    parts = Path(pattern).parts
    if not pattern or Path(pattern).is_absolute() or ".." in parts:
        problems.append(f"output pattern {pattern!r} must be relative to the results folder without '..'; skipped")
        return []
    return [_entry(p) for p in sorted(root.glob(pattern)) if not p.name.startswith(".")]


def _folder(folder: Path) -> list[dict[str, Any]]:
    """Every entry directly in ``folder`` except temp files (dot names), sorted; missing folder -> []."""
    try:
        names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [_entry(folder / n) for n in names]


def _entry(path: Path) -> dict[str, Any]:
    """``{"path", "size", "kind"}``; a folder's size is the total of the files in it."""
    path = path.absolute()
    try:
        if path.is_dir():
            size = sum(_size(Path(d) / f) for d, _, files in os.walk(path) for f in files)
            return {"path": str(path), "size": size, "kind": "dir"}
        return {"path": str(path), "size": _size(path), "kind": "file"}
    except OSError:
        return {"path": str(path), "size": None, "kind": "file"}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # removed while we looked, or a dangling link
        return 0
