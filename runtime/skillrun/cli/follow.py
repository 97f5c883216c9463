"""Following a job from the terminal: a progress bar fed by the engine's ``status.json`` events.

On a terminal the bar shows epoch/max_epoch and the latest kpi; elsewhere
(CI logs, pipes) each new event becomes one line. Ctrl-C stops following,
never the job: it runs detached and ``skillrun logs -f`` picks it up again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from skillrun.cli import console

if TYPE_CHECKING:
    from skillrun.contracts.results import StatusEvent
    from skillrun.launch.handle import Job

POLL_S = 0.3


def _kpi_text(ev: StatusEvent) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(ev.kpi.items())[:4])


def _line(ev: StatusEvent) -> str:
    where = f"epoch {ev.epoch + 1}/{ev.max_epoch}" if ev.epoch is not None and ev.max_epoch else ev.status.lower()
    bits = [where, _kpi_text(ev), ev.message or ""]
    return "  ".join(b for b in bits if b)


def follow(job: Job) -> Any:
    """Show progress until the job is terminal; returns the final record."""
    con = console.stderr_console()
    if not con.is_terminal:
        return _follow_lines(job)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[kpi]}")]
    seen = 0
    with Progress(*columns, console=con, transient=False) as progress:
        task = progress.add_task(f"{job.id}", total=None, kpi="starting")
        while True:
            rec = job.refresh()
            events = job.events()
            for ev in events[seen:]:
                update: dict[str, Any] = {"kpi": _kpi_text(ev) or ev.message or ev.status.lower()}
                if ev.max_epoch:
                    update["total"] = ev.max_epoch
                if ev.epoch is not None:
                    update["completed"] = ev.epoch + 1
                progress.update(task, **update)
            seen = len(events)
            if rec.state.terminal:
                progress.update(task, description=f"{job.id} {rec.state.value}")
                return rec
            time.sleep(POLL_S)


def _follow_lines(job: Job) -> Any:
    seen = 0
    console.note(f"following {job.id} (Ctrl-C stops following, not the job)")
    while True:
        rec = job.refresh()
        events = job.events()
        for ev in events[seen:]:
            console.note(f"{job.id}: {_line(ev)}")
        seen = len(events)
        if rec.state.terminal:
            return rec
        time.sleep(POLL_S)


def summary(rec: Any) -> None:
    """The closing summary: state, time, metrics and where the results are."""
    took = ""
    if rec.started_at and rec.ended_at:
        took = f" in {(rec.ended_at - rec.started_at).total_seconds():.1f} s"
    rows = [("state", f"{rec.state.value}{took}"), ("results", rec.results_dir)]
    if rec.exit_code not in (None, 0):
        rows.append(("exit code", str(rec.exit_code)))
    if rec.error_class:
        rows.append(("error", f"{rec.error_class}: {rec.error_message or ''}"))
    for k, v in rec.metrics.items():
        rows.append((k, f"{v:.4g}" if isinstance(v, float) else str(v)))
    console.fields(f"Job {rec.id}", rows)
    console.note(f"more: skillrun results {rec.id} · skillrun logs {rec.id}")
