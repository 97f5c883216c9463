"""``skillrun run SKILL ACTION ...`` and ``skillrun resume JOB``: record, launch, then follow (or detach)."""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.plan import launch_options, request
from skillrun.cli.commands.skills import json_option
from skillrun.cli.commands.validate import spec_options

detach_option = click.option("--detach", "-d", is_flag=True, help="Print the job id and return at once; the job keeps running.")


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("skill")
@click.argument("action")
@spec_options
@launch_options
@detach_option
@json_option
@click.pass_obj
def run_cmd(app: Any, skill: str, action: str, detach: bool, as_json: bool, **kw: Any) -> None:
    """Validate, record and start a job; follow it to the end (exit 1 if it fails) unless --detach.

    The key spec param is never written: put the value in $SKILLRUN_KEY (or the spec) and it
    reaches the job through its environment only.
    """
    from skillrun.launch.submit import start

    record = start(app.bank, app.store, request(skill, action, kw))
    _after_launch(app, record, detach, as_json)


@click.command("resume", context_settings={"ignore_unknown_options": True})
@click.argument("job")
@click.argument("overrides", nargs=-1)
@click.option("--nproc", type=click.IntRange(min=1), default=None, help="Processes per node for this attempt.")
@detach_option
@json_option
@click.pass_obj
def resume_cmd(app: Any, job: str, overrides: tuple[str, ...], nproc: int | None, detach: bool, as_json: bool) -> None:
    """Start a finished, failed or canceled job again from its newest complete checkpoint (same id and folder)."""
    from skillrun.launch.prepare import Request
    from skillrun.launch.submit import resume

    old = app.store.load(app.store.resolve_id(job))
    req = Request(old.skill, old.action, overrides=overrides, backend=old.backend.name, nproc=nproc)
    record = resume(app.bank, app.store, old.id, req)
    _after_launch(app, record, detach, as_json)


def _after_launch(app: Any, record: Any, detach: bool, as_json: bool) -> None:
    from skillrun.launch.handle import Job, failed

    job = Job(app.store, record.id)
    if detach:
        if as_json:
            console.emit_json(
                {
                    "job_id": record.id,
                    "state": record.state.value,
                    "job_dir": str(app.store.job_dir(record.id)),
                    "results_dir": record.results_dir,
                    "log_file": str(app.store.log_file(record.id)),
                }
            )
        else:
            click.echo(record.id)
            console.note(f"started; follow with: skillrun logs -f {record.id} · skillrun status {record.id}")
        return
    if as_json:
        final = job.wait().record
    else:
        console.note(f"job {record.id} recorded in {app.store.job_dir(record.id)}")
        try:
            from skillrun.cli.follow import follow, summary

            final = follow(job)
        except KeyboardInterrupt:
            console.note(f"stopped following; the job keeps running: skillrun logs -f {record.id} · skillrun cancel {record.id}")
            raise click.exceptions.Exit(130) from None
        summary(final)
    if final.state.value != "COMPLETE":
        err = failed(final)
        err.data["job"] = final.model_dump(mode="json")
        raise err
    if as_json:
        console.emit_json({"job": final.model_dump(mode="json")})
    else:
        console.success(f"{final.id} COMPLETE")
