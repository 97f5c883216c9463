"""``skillrun status JOB``: one job in full, reconciled with its backend first.

Unlike ``jobs``, this asks the backend (``Job.refresh``), so a job whose
process vanished is recorded as ERROR here and every later command agrees.
Progress comes from the engine's ``status.json`` events: the JSON form carries
the last event as written; the human form also shows the newest epoch and kpi.
"""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.jobs import duration, format_value, short_time
from skillrun.cli.commands.skills import json_option


@click.command("status")
@click.argument("job")
@json_option
@click.pass_obj
def status_cmd(app: Any, job: str, as_json: bool) -> None:
    """Show a job's state, history, progress, metrics and where its files are."""
    from skillrun.launch.handle import Job

    handle = Job(app.store, job)
    record = handle.refresh()
    events = handle.events()
    last = events[-1].model_dump(mode="json", exclude_none=True) if events else None
    if as_json:
        console.emit_json({"job": record.model_dump(mode="json"), "progress": last, "events": len(events)})
        return
    data = record.model_dump(mode="json")
    console.markup(f"[bold]{record.id}[/bold]  [{_COLOURS.get(record.state.value, 'white')}]{record.state.value}[/]")
    rows: list[tuple[str, str]] = [
        ("skill/action", f"{record.skill}/{record.action} (engine {record.engine}, backend {record.backend.name})"),
        ("created", short_time(data["created_at"])),
        ("duration", duration(data["transitions"], record.state.value) or "not started"),
    ]
    if record.attempts > 1:
        rows.append(("attempts", str(record.attempts)))
    if record.parent is not None:
        rows.append(("parent", f"{record.parent.job_id} ({record.parent.selector})"))
    if record.exit_code is not None:
        rows.append(("exit code", str(record.exit_code)))
    if record.error_class or record.error_message:
        rows.append(("error", ": ".join(x for x in (record.error_class, record.error_message) if x)))
    progress = _progress([e.model_dump(mode="json", exclude_none=True) for e in events])
    if progress:
        rows.append(("progress", progress))
    if last:
        rows.append(("last event", f"{last.get('status', '?')}" + (f": {last['message']}" if last.get("message") else "")))
    metrics = handle.metrics
    if metrics:
        rows.append(("metrics", "  ".join(f"{k}={format_value(v)}" for k, v in metrics.items())))
    rows += [("results", record.results_dir), ("log", str(app.store.log_file(record.id)))]
    for key, value in rows:
        console.text(f"  {key:<13} {value}")
    steps = [(short_time(t["at"], seconds=True), t["state"], t["by"], t.get("note") or "") for t in data["transitions"]]
    console.table("transitions", ["time", "state", "by", "note"], steps)


_COLOURS = {"PENDING": "yellow", "RUNNING": "cyan", "COMPLETE": "green", "ERROR": "red", "CANCELED": "magenta"}


def _progress(events: list[dict[str, Any]]) -> str:
    """``epoch 3/10  val_mAP=0.41 ...`` from the newest event that names an epoch; empty if none does."""
    ev = next((e for e in reversed(events) if e.get("epoch") is not None), None)
    if ev is None:
        return ""
    total = ev.get("max_epoch")
    text = f"epoch {ev['epoch'] + 1}" + (f"/{total}" if total else "")
    kpi = ev.get("kpi") or {}
    if kpi:
        text += "  " + " ".join(f"{k}={format_value(v)}" for k, v in kpi.items())
    return text
