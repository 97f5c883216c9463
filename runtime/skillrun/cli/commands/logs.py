"""``skillrun logs JOB``: the job's output, as the backend holds it, streamed to stdout.

The text goes out exactly as written (``click.echo(chunk, nl=False)``) so it
pipes cleanly into grep or a file; notes go to stderr. ``--tail N`` trims what
is already written to its last N lines; with ``-f`` the rest then streams until
the job is terminal. A closed pipe (``| head``) ends the command quietly.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from typing import Any

import click

from skillrun.cli import console


@click.command("logs")
@click.argument("job")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming until the job is terminal.")
@click.option("--tail", default=None, type=click.IntRange(min=0), metavar="N", help="Only the last N lines written so far.")
@click.pass_obj
def logs_cmd(app: Any, job: str, follow: bool, tail: int | None) -> None:
    """Print a job's output (stdout and stderr of the job, secrets masked)."""
    from skillrun.launch.handle import Job

    handle = Job(app.store, job)
    chunks = handle.logs(follow=follow)
    wrote = False
    try:
        if tail is not None:
            text = _last_lines(next(chunks, ""), tail)  # the first read returns everything written so far
            if text:
                click.echo(text, nl=False)
                wrote = True
        for chunk in chunks:
            click.echo(chunk, nl=False)
            wrote = True
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, and keep Python from complaining at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return
    if not wrote:
        console.note(f"job {handle.id} has written no output yet ({app.store.log_file(handle.id)})")


def _last_lines(text: str, n: int) -> str:
    """The last ``n`` lines of ``text``, line endings kept."""
    if n == 0 or not text:
        return ""
    return "".join(deque(text.splitlines(keepends=True), maxlen=n))
