"""``skillrun docs [SKILL ...] [--check]``: regenerate the tables in SKILL.md from skill_info.yaml."""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.skills import json_option


@click.command("docs")
@click.argument("skills", nargs=-1)
@click.option("--check", is_flag=True, help="Fail (exit 2) instead of writing when a table is out of date.")
@json_option
@click.pass_obj
def docs_cmd(app: Any, skills: tuple[str, ...], check: bool, as_json: bool) -> None:
    """Rewrite the GENERATED blocks of each skill's SKILL.md (all skills by default)."""
    from skillrun.bank.skillmd import render
    from skillrun.errors import UsageError

    targets = [app.bank.get(n) for n in skills] if skills else list(app.bank)
    stale = []
    for skill in targets:
        md = skill.path / "SKILL.md"
        old = md.read_text(encoding="utf-8")
        new = render(old, skill.info)
        if new != old:
            stale.append(str(md))
            if not check:
                from skillrun.record_io import atomic_write_text

                atomic_write_text(md, new)
    if as_json:
        console.emit_json({"checked": [str(s.path / "SKILL.md") for s in targets], "stale" if check else "written": stale})
    if check and stale:
        msg = f"generated tables are out of date in {', '.join(stale)}"
        raise UsageError(msg, hint="run `skillrun docs` to regenerate them")
    if not as_json:
        console.success(f"{len(targets)} SKILL.md checked, {len(stale)} {'stale' if check else 'rewritten'}")
