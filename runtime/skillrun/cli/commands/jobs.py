"""``skillrun jobs``: the job list, read straight from the ``job.json`` files.

Listing has to stay fast with thousands of jobs, so it works on the plain dicts
:meth:`JobStore.query` returns: no pydantic validation per record, no backend
reconciliation (that needs psutil, or ``squeue`` for slurm), and no rich on the
``--json`` path. A RUNNING job whose process died therefore still shows
RUNNING here until ``skillrun status JOB`` reconciles it. The small time and
metric formatters live here too; ``status`` and ``results`` reuse them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.skills import json_option
from skillrun.contracts.states import TERMINAL, JobState

STATES = tuple(s.value for s in JobState)
TERMINAL_STATES = frozenset(s.value for s in TERMINAL)
TABLE_LIMIT = 50
#: the metric the table shows, in order of preference
KEY_METRICS = ("best_val_mAP", "val_mAP")


@click.command("jobs")
@click.option("--skill", default=None, help="Only jobs of this skill.")
@click.option("--state", default=None, type=click.Choice(STATES, case_sensitive=False), metavar="STATE", help=f"Only jobs in this state: {', '.join(STATES)}.")
@click.option("--parent", default=None, metavar="JOB", help="Only jobs whose parent is JOB (an id or a unique prefix).")
@click.option("--limit", default=None, type=click.IntRange(min=0), help=f"Show at most N jobs, newest first (table default {TABLE_LIMIT}; --json returns all).")
@json_option
@click.pass_obj
def jobs_cmd(app: Any, skill: str | None, state: str | None, parent: str | None, limit: int | None, as_json: bool) -> None:
    """List recorded jobs, newest first."""
    store = app.store
    state = state.upper() if state else None
    found = store.query(skill=skill, state=state, parent=parent)
    if parent and not found:
        # not an exact parent id: maybe a prefix of one (unknown or ambiguous -> ResolutionError, exit 3)
        full = store.resolve_id(parent)
        if full != parent:
            found = store.query(skill=skill, state=state, parent=full)
    total = len(found)
    if limit is None and not as_json:
        limit = TABLE_LIMIT
    shown = found if limit is None else found[:limit]
    if as_json:
        console.emit_json({"jobs": shown, "count": len(shown)})  # no note here: it would import rich
        return
    if not found:
        console.note(_empty_note(app, skill, state, parent))
        return
    rows = [_row(rec) for rec in shown]
    console.table(None, ["id", "state", "skill/action", "parent", "created", "duration", "val_mAP"], rows)
    if len(shown) < total:
        console.note(f"showing the newest {len(shown)} of {total} jobs; use --limit N (or --json) for more")


def _empty_note(app: Any, skill: str | None, state: str | None, parent: str | None) -> str:
    filters = [f"{k} {v}" for k, v in (("skill", skill), ("state", state), ("parent", parent)) if v]
    if filters:
        return f"no jobs match {', '.join(filters)} (workspace {app.workspace}); try `skillrun jobs` without filters"
    return f"no jobs yet in {app.workspace}; start one with `skillrun run SKILL ACTION`"


def _row(rec: dict[str, Any]) -> tuple[str, ...]:
    parent = (rec.get("parent") or {}).get("job_id") or ""
    transitions = rec.get("transitions") or []
    return (
        rec.get("id", "?"),
        rec.get("state", "?"),
        f"{rec.get('skill', '?')}/{rec.get('action', '?')}",
        parent,
        short_time(rec.get("created_at")),
        duration(transitions, rec.get("state")),
        key_metric(rec.get("metrics") or {}),
    )


def parse_time(text: str | None) -> datetime | None:
    """An ISO timestamp from ``job.json`` (``...Z`` or ``+00:00``) as an aware datetime; None if unreadable."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def short_time(text: str | None, *, seconds: bool = False) -> str:
    """Local time, short: ``11-21 19:33`` this year, ``2025-11-21 19:33`` otherwise (``:45`` with seconds)."""
    when = parse_time(text)
    if when is None:
        return ""
    local = when.astimezone()
    day = "%m-%d" if local.year == datetime.now().year else "%Y-%m-%d"
    return local.strftime(f"{day} %H:%M" + (":%S" if seconds else ""))


def duration(transitions: list[dict[str, Any]], state: str | None) -> str:
    """Running time: from the last RUNNING transition to the end (or to now while it runs)."""
    start = next((t.get("at") for t in reversed(transitions) if t.get("state") == "RUNNING"), None)
    began = parse_time(start)
    if began is None:
        return ""
    if state in TERMINAL_STATES:
        ended = parse_time(transitions[-1].get("at")) if transitions else None
        if ended is None:
            return ""
    else:
        ended = datetime.now(timezone.utc)
    return format_seconds((ended - began).total_seconds())


def format_seconds(seconds: float) -> str:
    """``0.4s``, ``12s``, ``3m05s``, ``2h04m``, ``3d02h``."""
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def key_metric(metrics: dict[str, Any]) -> str:
    """The best validation mAP if the job reported one, else its last one; empty otherwise."""
    for name in KEY_METRICS:
        value = metrics.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{value:.4g}"
    return ""


def format_value(value: Any) -> str:
    """A metric value for people: floats to 4 significant digits, the rest as is."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
