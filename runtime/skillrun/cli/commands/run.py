"""``skillrun run SKILL ACTION ...`` and ``skillrun resume JOB``: record, launch, then follow (or detach)."""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.plan import launch_options, request
from skillrun.cli.commands.skills import json_option
from skillrun.cli.commands.validate import spec_options

detach_option = click.option("--detach", "-d", is_flag=True, help="Print the job id and return at once; the job keeps running.")
upload_option = click.option("--upload", default=None, metavar="s3://BUCKET/PREFIX", help="After the job, upload results/, spec.yaml and logs/output.log to PREFIX/<job_id>/.")
exclude_option = click.option("--upload-exclude", "upload_excludes", multiple=True, metavar="GLOB", help="Leave matching files out of --upload (adds to the skill's upload_excludes).")
yes_option = click.option("--yes", "-y", is_flag=True, help="Start an AutoML study without asking, however long its launch review expects it to take.")


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("skill")
@click.argument("action")
@spec_options
@launch_options
@upload_option
@exclude_option
@detach_option
@yes_option
@json_option
@click.pass_obj
def run_cmd(app: Any, skill: str, action: str, detach: bool, as_json: bool, upload: str | None, upload_excludes: tuple[str, ...], yes: bool, **kw: Any) -> None:
    """Validate, record and start a job; follow it to the end (exit 1 if it fails) unless --detach.

    The key spec param is never written: put the value in $SKILLRUN_KEY (or the spec) and it
    reaches the job through its environment only. s3:// data sources are staged into the job's
    inputs/ before it starts; AWS credentials come from the environment only.
    """
    import dataclasses

    from skillrun.launch.submit import start

    from skillrun.cli.commands.automl_review import review_hook

    shown: dict[str, Any] = {}
    record = start(app.bank, app.store, dataclasses.replace(request(skill, action, kw), upload=upload, upload_excludes=upload_excludes), review=review_hook(shown, as_json=as_json, yes=yes))
    _after_launch(app, record, detach, as_json, shown)


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


def _after_launch(app: Any, record: Any, detach: bool, as_json: bool, extra: dict[str, Any] | None = None) -> None:
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
                    **(extra or {}),
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
    uploaded = _upload_result(app, final)
    if as_json:
        console.emit_json({"job": final.model_dump(mode="json"), **({"upload": uploaded} if uploaded else {}), **(extra or {})})
    else:
        if uploaded and uploaded.get("state") == "done":
            console.note(f"uploaded {len(uploaded.get('files', []))} file(s) to {uploaded['uri']}")
        console.success(f"{final.id} COMPLETE")


def _upload_result(app: Any, final: Any) -> dict[str, Any] | None:
    """The outcome of --upload; a failed upload exits 1 although the job itself is COMPLETE."""
    from skillrun.data.upload import pending
    from skillrun.errors import SkillrunError

    doc = pending(app.store.job_dir(final.id))
    if doc is None or doc.get("state") != "failed":
        return doc
    msg = f"job {final.id} is COMPLETE, but the upload to {doc['uri']} failed: {doc.get('error')}"
    raise SkillrunError(msg, hint=f"the results are kept in {final.results_dir}; retry with `skillrun upload {final.id}`", data={"job": final.model_dump(mode="json"), "upload": doc})


@click.command("upload")
@click.argument("job")
@click.option("--to", "uri", default=None, metavar="s3://BUCKET/PREFIX", help="Upload there (default: the job's earlier --upload target).")
@exclude_option
@json_option
@click.pass_obj
def upload_cmd(app: Any, job: str, uri: str | None, upload_excludes: tuple[str, ...], as_json: bool) -> None:
    """Upload a finished job's results to S3 again (or for the first time with --to)."""
    from skillrun.data import upload
    from skillrun.errors import SkillrunError, UsageError

    rec = app.store.load(app.store.resolve_id(job))
    job_dir = app.store.job_dir(rec.id)
    if not rec.state.terminal:
        msg = f"job {rec.id} is {rec.state.value}; its runner uploads when it ends"
        raise UsageError(msg, hint=f"wait for it: skillrun logs -f {rec.id}")
    old = upload.pending(job_dir)
    if uri is None and old is None:
        msg = f"job {rec.id} was not started with --upload"
        raise UsageError(msg, hint=f"give the target: skillrun upload {rec.id} --to s3://bucket/prefix")
    if uri is not None:
        excludes = list(old["excludes"]) if old else list(app.bank.get(rec.skill).info.actions[rec.action].upload_excludes)
        upload.request(job_dir, upload.check_target(uri, "local"), [*excludes, *upload_excludes])
    elif upload_excludes:
        upload.request(job_dir, str(old["uri"]).rstrip("/").rsplit("/", 1)[0], [*old["excludes"], *upload_excludes])  # type: ignore[index]
    note = upload.run(job_dir, console.note)
    doc = upload.pending(job_dir) or {}
    if doc.get("state") == "failed":
        raise SkillrunError(note or "upload failed", hint=doc.get("hint"), data={"upload": doc})
    if as_json:
        console.emit_json({"job_id": rec.id, "upload": doc})
    else:
        console.success(note or "uploaded")
