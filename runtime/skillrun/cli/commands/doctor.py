"""``skillrun doctor``: what this machine can run (packages, CUDA, Slurm, Docker, S3 credentials by name)."""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.skills import json_option


@click.command("doctor")
@json_option
@click.pass_obj
def doctor_cmd(app: Any, as_json: bool) -> None:
    """Check this machine: engine packages, CUDA, Slurm, Docker, S3 credentials (names only), workspace."""
    from skillrun.agents.doctor import doctor

    rep = doctor(app.workspace)
    if as_json:
        console.emit_json(rep.model_dump(mode="json"))
        return
    console.text(f"python {rep.python} · skillrun {rep.skillrun}")
    rows = [("✓" if c.ok else "✗", c.name, c.version or "", c.detail, c.hint or "") for c in rep.checks]
    console.table(None, ["", "check", "version", "detail", "hint"], rows)
    console.text("can run: " + "  ".join(f"{k}={'yes' if v else 'no'}" for k, v in rep.can_run.items()))
