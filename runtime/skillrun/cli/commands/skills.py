"""``skillrun list`` and ``skillrun show SKILL``."""

from __future__ import annotations

from typing import Any

import click

from skillrun.bank.loader import Skill
from skillrun.bank.text import first_sentence
from skillrun.cli import console

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


@click.command("list")
@json_option
@click.pass_obj
def list_cmd(app: Any, as_json: bool) -> None:
    """List the skills in the bank."""
    bank = app.bank
    problems = bank.problem_summary()
    if as_json:
        console.emit_json({"skills": [s.summary() for s in bank], "problems": [p.model_dump(mode="json") for p in problems]})
        return
    rows = [(v["name"], v["kind"], v["engine"], ", ".join(v["actions"]) or "(guidance)", first_sentence(v["description"])) for v in map(Skill.summary, bank)]
    console.table(None, ["skill", "kind", "engine", "actions", "description"], rows)
    console.issues(problems)


@click.command("show")
@click.argument("skill")
@json_option
@click.pass_obj
def show_cmd(app: Any, skill: str, as_json: bool) -> None:
    """Describe one skill: actions, data requirements, parameters people change most."""
    s = app.bank.get(skill)
    actions = {name: _action_view(s, name) for name in s.actions}
    if as_json:
        console.emit_json({**s.summary(), "frontmatter": s.frontmatter.model_dump(mode="json", by_alias=True, exclude_none=True), "triggers": [t.model_dump() for t in s.info.triggers], "action_details": actions, "warnings": [w.model_dump(mode="json") for w in s.warnings]})
        return
    console.markup(f"[bold]{s.name}[/bold] ({s.info.kind.value}, engine {s.info.engine}) — {s.path}")
    console.text(s.description)
    rows = [(n, a["description"], "yes" if a["schema"] else "no", "yes" if a["template"] else "no", ", ".join(a["popular"])) for n, a in actions.items()]
    console.table("actions", ["action", "description", "schema", "template", "popular parameters"], rows)
    ds_rows = [(n, d.spec_key, d.source, ", ".join(f"{k}: {v}" for k, v in d.files.items()), "yes" if d.list else "no") for n in s.actions for d in s.info.actions[n].data_sources]
    if ds_rows:
        console.table("data requirements", ["action", "spec key", "source", "files", "list?"], ds_rows)
    console.issues(s.warnings)


def _action_view(skill: Any, action: str) -> dict[str, Any]:
    from skillrun.contracts.skill import param_name

    info = skill.info.actions[action]
    popular: list[str] = []
    if skill.has_schema(action):
        from skillrun.bank import schemas

        popular = [p for p, sub in schemas.walk(skill.schema(action)) if sub.get("popular") and not schemas.properties(sub)]
    return {
        "description": info.description,
        "schema": skill.has_schema(action),
        "template": skill.has_template(action),
        "data_sources": [d.model_dump() for d in info.data_sources],
        "spec_params": {k: param_name(v) for k, v in info.spec_params.items()},
        "spec_shorthand_keys": dict(info.spec_shorthand_keys),
        "popular": popular,
    }
