"""How a data-skill action runs inside a job, and the checks it offers to validation.

Every handler does the same around its work: a STARTED event, then either a
SUCCESS event with a summary and counts (``kpi``, which become the job's metrics)
plus ``report.json``, or a FAILURE event that names the file, the bad value and
the fix, and exit code 2 — never a traceback, since bad input is not a crash.

:func:`preflight_checks` runs the cheap part of the same checks before a job is
created (missing split files, wrong input kind), so ``skillrun run`` can refuse
with exit 2 and write nothing.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable

from skillrun.contracts.report import Issue
from skillrun.data.formats.common import DataError, dump_json, write_if_changed
from skillrun.results.status import StatusWriter

REPORT_FILE = "report.json"

#: (skill, action) -> "module:function(spec) -> list[Issue]", imported only when called
CHECKS: dict[tuple[str, str], str] = {
    ("coco-prepare", "prepare"): "skillrun.data.prepare:check",
    **{("dataset-convert", a): "skillrun.data.convert:check" for a in ("kitti-to-coco", "yolo-to-coco", "jsonl-to-coco", "coco-to-jsonl", "coco-to-yolo")},
}


def preflight_checks(skill: str, action: str, spec: dict[str, Any]) -> list[Issue]:
    """Issues the data skill finds in ``spec`` before launch; [] for actions without checks."""
    target = CHECKS.get((skill, action))
    if target is None:
        return []
    module, func = target.split(":")
    return list(getattr(importlib.import_module(module), func)(spec, action))


def run_action(out: Path, title: str, work: Callable[[], dict[str, Any]]) -> int:
    """Run ``work`` (returns the report: ``summary`` text and ``kpi`` numbers) with status events."""
    status = StatusWriter(out)
    status.write("STARTED", title)
    try:
        report = work()
    except DataError as exc:
        status.write("FAILURE", exc.message, error_class="DataError")
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    write_if_changed(out / REPORT_FILE, dump_json(report))
    status.write("SUCCESS", report["summary"], kpi=report["kpi"])
    print(report["summary"])
    for line in report.get("next", []):
        print(line)
    return 0


def spec_path(value: Any) -> Path | None:
    """A user path from the spec (``~`` expanded, relative to the job's working folder), or None."""
    if value is None or value in ("", "???"):
        return None
    return Path(str(value)).expanduser().absolute()


def issues_of(work: Callable[[], Any]) -> list[Issue]:
    """The issues ``work`` raises as a DataError, or [] when it passes (for preflight checks)."""
    try:
        work()
    except DataError as exc:
        return exc.issues
    return []
