"""``skillrun cancel JOB``: stop a job and everything it started.

Cancelling a job that has already ended is not an error (exit 0, nothing
changes), so scripts can cancel without checking first. The backend sends
SIGTERM, waits ``--grace`` seconds, then SIGKILL; the printed state is the one
recorded afterwards, which may be COMPLETE or ERROR if the job ended first.
"""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.skills import json_option


@click.command("cancel")
@click.argument("job")
@click.option("--grace", default=10.0, show_default=True, type=click.FloatRange(min=0), metavar="SECONDS", help="Seconds between SIGTERM and SIGKILL.")
@json_option
@click.pass_obj
def cancel_cmd(app: Any, job: str, grace: float, as_json: bool) -> None:
    """Cancel a pending or running job."""
    from skillrun.launch.handle import Job

    handle = Job(app.store, job)
    was = handle.refresh().state
    if was.terminal:
        state = was
        console.note(f"job {handle.id} is already {was.value}; nothing to cancel")
    else:
        handle.cancel(grace)
        state = handle.refresh().state
        if state.value == "CANCELED":
            console.success(f"canceled {handle.id} (was {was.value})")
        else:
            console.note(f"job {handle.id} ended {state.value} before the cancel took effect")
    if as_json:
        console.emit_json({"job_id": handle.id, "state": state.value, "was": was.value})
    else:
        console.text(state.value)
