"""``skillrun validate SKILL ACTION [-e spec.yaml] [k=v ...]``."""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.skills import json_option


def spec_options(func: Any) -> Any:
    """-e, --overrides-json and the trailing k=v words, shared by validate, plan and run."""
    func = click.argument("overrides", nargs=-1)(func)
    func = click.option("--overrides-json", default=None, metavar="JSON|@FILE", help="Overrides as a JSON object of dotted keys, or @file.json.")(func)
    func = click.option("-e", "--spec", "spec_file", type=click.Path(dir_okay=False), default=None, help="YAML spec file (layered over the template).")(func)
    return func


@click.command("validate", context_settings={"ignore_unknown_options": True})
@click.argument("skill")
@click.argument("action")
@spec_options
@click.option("--no-data", is_flag=True, help="Skip the data preflight (files, COCO, class counts).")
@click.option("--print-spec", is_flag=True, help="Print the composed spec (YAML) when it is valid.")
@json_option
@click.pass_obj
def validate_cmd(app: Any, skill: str, action: str, spec_file: str | None, overrides_json: str | None, overrides: tuple[str, ...], no_data: bool, print_spec: bool, as_json: bool) -> None:
    """Compose the spec and report every problem at once (exit 2 if any). Nothing is written."""
    from skillrun.api import validate
    from skillrun.errors import SpecError

    report = validate(skill, action, spec_file=spec_file, overrides=overrides, overrides_json=overrides_json, check_data=not no_data, bank=app.bank)
    if not report.ok:
        raise SpecError(report)
    if as_json:
        console.emit_json(report.to_json_dict())
        return
    console.issues(report.warnings)
    for d in report.derived:
        console.note(f"derived {d.path} = {d.value} ({d.reason})")
    if print_spec:
        from skillrun import yamlio

        click.echo(yamlio.dumps(report.spec), nl=False)
    console.success(f"{skill} {action}: the spec is valid")
