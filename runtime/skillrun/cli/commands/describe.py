"""``skillrun describe SKILL [ACTION]``: everything an agent needs to build an invocation, in one answer."""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.skills import json_option


@click.command("describe")
@click.argument("skill")
@click.argument("action", required=False)
@json_option
@click.pass_obj
def describe_cmd(app: Any, skill: str, action: str | None, as_json: bool) -> None:
    """What an agent needs to call SKILL [ACTION]: required inputs, data sources, popular parameters, parent, examples."""
    from skillrun.agents.describe import describe_skill

    desc = describe_skill(app.bank, skill, action)
    if as_json:
        console.emit_json(desc.model_dump(mode="json"))
        return
    console.markup(f"[bold]{desc.name}[/bold] ({desc.kind}, engine {desc.engine})")
    console.text(desc.description)
    for name, act in desc.actions.items():
        console.markup(f"\n[bold]{name}[/bold]: {act.description}")
        if act.required:
            console.table("required", ["key", "filled by", "allowed"], [(r.path, r.filled_by, r.allowed or "") for r in act.required])
        if act.parent is not None:
            keys = ", ".join(f"{k} ({v})" for k, v in act.parent.spec_keys.items())
            console.text(f"  parent: {act.parent.option} fills {keys}" + (" — required" if act.parent.required else ""))
        if act.popular:
            rows = [(p.path, p.shorthand or "", p.default, p.allowed) for p in act.popular]
            console.table("popular parameters", ["key", "short", "default", "allowed"], rows)
        if act.automl.get("applies"):
            console.text(f"  automl: on by default; {act.automl['turn_off']}")
        for ex in act.examples:
            console.text(f"  $ {ex}")
