"""``skillrun results JOB``: the files, checkpoints and metrics a job left.

The listing itself is :func:`skillrun.results.artifacts.artifacts`; this
module only looks the skill up (a skill missing from the bank is not an error:
the job's files are still listed) and draws tables. Paths are shown relative
to the results folder for people and absolute in ``--json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.jobs import format_value
from skillrun.cli.commands.skills import json_option


@click.command("results")
@click.argument("job")
@json_option
@click.pass_obj
def results_cmd(app: Any, job: str, as_json: bool) -> None:
    """List what a job wrote: declared outputs, checkpoints, metrics."""
    from skillrun.results.artifacts import job_results

    record, skill, found = job_results(app.bank, app.store, job)
    study = found.get("automl")
    if as_json:
        console.emit_json(found)
        return
    root = Path(found["results_dir"])
    console.markup(f"[bold]{found['job_id']}[/bold]  {found['state']}  ({found['skill']}/{found['action']})")
    console.text(f"  results  {root}")
    if skill is None:
        console.note(f"skill {record.skill!r} is not in the bank; listing {found['action_dir']} without its declared outputs")
    if found["outputs"]:
        rows = [(name, out["pattern"], "", "") for name, out in found["outputs"].items() if not out["files"]]
        rows += [(name, _rel(f["path"], root), f["kind"], human_size(f["size"])) for name, out in found["outputs"].items() for f in out["files"]]
        rows.sort(key=lambda r: r[0])
        console.table("outputs", ["output", "path", "kind", "size"], rows)
    else:
        rows = [(_rel(f["path"], root), f["kind"], human_size(f["size"])) for f in found["files"]]
        if rows:
            console.table(f"files in {found['action']}/", ["path", "kind", "size"], rows)
        else:
            console.note(f"{found['action_dir']} is empty or does not exist yet")
    if found["checkpoints"]:
        console.table("checkpoints", ["epoch", "path"], [(c["epoch"], _rel(c["path"], root)) for c in found["checkpoints"]])
    if found["metrics"]:
        console.table("metrics", ["metric", "value"], [(k, format_value(v)) for k, v in found["metrics"].items()])
    if study is not None:
        _study_tables(study)
    console.text(f"  {found['events']} status event{'s' if found['events'] != 1 else ''}")
    for problem in found["problems"]:
        console.note(problem)


def _study_tables(study: dict[str, Any]) -> None:
    """The trials table of an AutoML study and the best child a --parent STUDY resolves to."""
    trials = study["trials"]
    keys = sorted({k for t in trials for k in t["params"]})
    rows = [
        (t["number"], t["state"], "" if t["value"] is None else format_value(t["value"]), t["epochs"], t["job_id"] or "", *(format_value(t["params"].get(k)) for k in keys), _short(t["reason"]) or ("baseline" if t["baseline"] else ""))
        for t in trials
    ]
    console.table("trials", ["#", "state", "value", "epochs", "job", *(k.rsplit(".", 1)[-1] for k in keys), "note"], rows)
    best = study["best_rec"]
    if best:
        console.text(f"  best: trial {best['trial']}, {best['metric']}={format_value(best['value'])} ({best['direction']}), job {best['job_id']}, epoch {best['epoch']}: {best['checkpoint']}")


def _short(text: str | None, limit: int = 36) -> str:
    return "" if not text else text if len(text) <= limit else text[: limit - 1] + "…"


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def human_size(size: int | None) -> str:
    """``512 B``, ``1.2 KiB``, ``3.4 MiB`` ..."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
