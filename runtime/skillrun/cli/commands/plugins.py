"""``skillrun plugins``: what is loaded and what each plugin registered."""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.skills import json_option


@click.command("plugins")
@json_option
@click.pass_obj
def plugins_cmd(app: Any, as_json: bool) -> None:
    """List loaded plugins, skill folders, backends, engines and extra commands."""
    from skillrun.bank.bank import sources
    from skillrun.plugins.manager import collect, describe, get_plugin_manager

    pm = get_plugin_manager()
    reg = collect(pm)
    dirs = [{"path": str(d.path), "origin": d.origin} for d in sources(reg.skill_dirs, app.skills_dirs)]
    data = {
        "plugins": describe(pm),
        "skill_dirs": dirs,
        "backends": {n: f"{c.__module__}.{c.__qualname__}" for n, c in reg.backends.items()},
        "engines": {n: f"{c.__module__}.{c.__qualname__}" for n, c in reg.engines.items()},
        "commands": sorted(reg.commands),
    }
    if as_json:
        console.emit_json(data)
        return
    console.table("plugins", ["name", "origin", "distribution", "hooks"], [(p["name"], p["origin"], p["distribution"] or "", ", ".join(p["hooks"])) for p in data["plugins"]])
    console.table("skill folders (highest precedence first)", ["path", "origin"], [(d["path"], d["origin"]) for d in dirs])
