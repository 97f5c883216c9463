"""``skillrun schema SKILL ACTION`` and ``skillrun template SKILL ACTION``."""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.skills import json_option


@click.command("schema")
@click.argument("skill")
@click.argument("action")
@json_option
@click.pass_obj
def schema_cmd(app: Any, skill: str, action: str, as_json: bool) -> None:
    """Show the action's spec fields (``--json``: the resolved JSON Schema itself)."""
    from skillrun.bank import schemas

    s = app.bank.get(skill)
    schema = s.schema(action)
    if as_json:
        console.emit_json(schema)
        return
    rows = []
    for path, sub in schemas.walk(schema):
        if schemas.properties(sub) and "default" not in sub:
            continue  # a section; its leaves follow
        default = sub.get("default", "(required)" if "default" not in sub else None)
        rows.append((path, schemas.describe(sub), default, ("★ " if sub.get("popular") else "") + sub.get("description", "")))
    console.table(f"{skill} {action}", ["key", "allowed", "default", "description"], rows)


@click.command("template")
@click.argument("skill")
@click.argument("action")
@json_option
@click.pass_obj
def template_cmd(app: Any, skill: str, action: str, as_json: bool) -> None:
    """Print the action's spec template ("???" marks values you must set)."""
    s = app.bank.get(skill)
    file = s.template_file(action)
    if as_json:
        console.emit_json({"skill": skill, "action": action, "path": str(file), "template": s.template(action)})
        return
    if not file.is_file():
        console.note(f"{skill} {action} ships no template; `skillrun schema {skill} {action}` lists the fields")
        return
    click.echo(file.read_text(encoding="utf-8"), nl=False)
