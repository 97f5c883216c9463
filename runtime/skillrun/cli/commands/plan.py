"""``skillrun plan SKILL ACTION ...``: everything ``run`` would do, with nothing run and nothing written."""

from __future__ import annotations

import shlex
from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.skills import json_option
from skillrun.cli.commands.validate import spec_options


def launch_options(func: Any) -> Any:
    """--parent, --backend, --automl, --nproc and --no-data, shared by plan and run."""
    func = click.option("--no-data", is_flag=True, help="Skip the data preflight.")(func)
    func = click.option("--nproc", type=click.IntRange(min=1), default=None, help="Processes per node (overrides the spec's GPU count; >1 launches torchrun, gloo on CPU).")(func)
    func = click.option("--automl", type=click.Choice(["on", "off"]), default=None, help="AutoML for a train run (default: the skill's policy).")(func)
    func = click.option("--backend", default="local", show_default=True, help="Where the job runs (see `skillrun plugins`).")(func)
    func = click.option("--parent", default=None, metavar="JOB[:best|:latest|:epoch=N]", help="Take the model from this job (default: its best checkpoint).")(func)
    return func


def request(skill: str, action: str, kw: dict[str, Any]) -> Any:
    """The shared Request from the options of plan/run."""
    from skillrun.launch.prepare import Request

    return Request(
        skill,
        action,
        spec_file=kw["spec_file"],
        overrides=kw["overrides"],
        overrides_json=kw["overrides_json"],
        parent=kw["parent"],
        backend=kw["backend"],
        automl=kw["automl"],
        nproc=kw["nproc"],
        check_data=not kw["no_data"],
    )


def plan_dict(p: Any) -> dict[str, Any]:
    """The ``--json`` form of a Prepared run (secrets masked)."""
    from skillrun.record.secrets import Redactor

    parent = None
    if p.parent is not None:
        sel = p.parent.selection
        parent = {
            "job_id": p.parent.job.id,
            "kind": p.parent.kind,
            "selector": p.parent.selector,
            "path": str(p.parent.path),
            "epoch": sel.checkpoint.epoch if sel else None,
            "metric": sel.metric if sel else None,
            "value": sel.value if sel else None,
            "via": p.parent.via,
            "notes": p.parent.notes,
        }
    data = {
        "skill": p.skill.name,
        "action": p.action,
        "engine": "automl" if p.study is not None else p.engine.NAME,
        "backend": p.backend.NAME,
        "automl": {
            "on": p.automl.on,
            "applies": p.automl.applies,
            "reason": p.automl.reason,
            "source": p.automl.source,
            "review": p.study.review.model_dump(mode="json") if p.study is not None else None,
        },
        "resources": {"nproc_per_node": p.launch.nproc_per_node, "nnodes": p.launch.nnodes},
        "job_id": p.job_id,
        "job_dir": str(p.results_dir.parent),
        "results_dir": str(p.results_dir),
        "parent": parent,
        "resolved": [{"key": r.key, "value": r.value, "resolver": r.resolver, "note": r.note} for r in p.resolved],
        "launch": p.launch.model_dump(mode="json"),
        "command": shlex.join(p.launch.argv),
        "backend_plan": p.backend_plan,
        "trials": None if p.trials is None else {
            "backend": p.trials.backend.NAME,
            "command": shlex.join(p.trials.launch.argv),
            "backend_plan": p.trials.plan,
            "note": f"the study coordinates on this machine ({p.backend.NAME} backend); each trial is a {p.trials.backend.NAME} job",
        },
        "spec": p.spec,
        "warnings": [i.model_dump(mode="json") for i in p.report.warnings],
        "derived": [d.model_dump(mode="json") for d in p.report.derived],
    }
    return Redactor().data(data)


def print_review(review: Any) -> None:
    """The launch review of an AutoML study, for people (``--json`` carries it as ``automl.review``)."""
    from skillrun.automl.plan import render, space_rows

    console.fields("AutoML launch review", render(review))
    console.table("Search space", ["key", "type", "range / choices", "scale", "baseline"], space_rows(review))


@click.command("plan", context_settings={"ignore_unknown_options": True})
@click.argument("skill")
@click.argument("action")
@spec_options
@launch_options
@click.option("--print-spec", is_flag=True, help="Also print the resolved spec (YAML).")
@json_option
@click.pass_obj
def plan_cmd(app: Any, skill: str, action: str, print_spec: bool, as_json: bool, **kw: Any) -> None:
    """Show what `run` would do: resolved spec and parameters, parent checkpoint, launch command, backend."""
    from skillrun.launch.prepare import prepare

    p = prepare(app.bank, app.store, request(skill, action, kw))
    data = plan_dict(p)
    if as_json:
        console.emit_json(data)
        return
    console.issues(p.report.warnings)
    rows = [
        ("skill / action", f"{skill} {action}"),
        ("engine", data["engine"]),
        ("backend", data["backend"]),
        ("processes", f"{p.launch.nproc_per_node} per node x {p.launch.nnodes} node(s)"),
        ("job folder", data["job_dir"] + "  (the id is drawn at run time)"),
    ]
    if p.automl.applies:
        rows.append(("automl", f"{'on' if p.automl.on else 'off'} ({p.automl.reason})" + (": a study job; each trial is a child train job" if p.study else "")))
    if data["parent"]:
        par = data["parent"]
        what = f"{par['job_id']} {par['selector']}" + (f", epoch {par['epoch']}" if par["epoch"] is not None else "")
        if par["metric"]:
            what += f", {par['metric']}={par['value']:g}"
        rows.append(("parent", what + (f" (via {' -> '.join(par['via'])})" if par["via"] else "")))
        rows += [("", f"note: {n}") for n in par["notes"]]
    console.fields("Plan", rows)
    if p.study is not None:
        print_review(p.study.review)
    if p.resolved:
        console.table("Resolved spec params", ["key", "value", "resolver", "note"], [(r["key"], r["value"], r["resolver"], r["note"] or "") for r in data["resolved"]])
    for d in p.report.derived:
        console.note(f"derived {d.path} = {d.value} ({d.reason})")
    console.text("Launch command:")
    console.text("  " + data["command"])
    if p.launch.env:
        console.text("Environment added: " + " ".join(f"{k}={v}" for k, v in data["launch"]["env"].items()))
    for title, block in p.backend.describe(data["backend_plan"]):  # the sbatch script, the container run
        console.text(f"{title}:")
        console.text("\n".join("  " + line for line in block.splitlines()))
    if p.trials is not None:
        console.text(f"Each trial: {data['trials']['note']}")
        for title, block in p.trials.backend.describe(p.trials.plan):
            console.text(f"{title}:")
            console.text("\n".join("  " + line for line in block.splitlines()))
    if print_spec:
        from skillrun import yamlio

        click.echo(yamlio.dumps(data["spec"]), nl=False)
    console.success("valid; nothing was run or written (`skillrun run` with the same arguments starts it)")
