"""The ``skillrun`` command line. Commands load lazily; none of the control plane imports torch.

Exit codes: 0 ok · 1 job failed · 2 usage or spec error · 3 resolution error
(unknown skill, action or parent) · 4 backend unavailable.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from skillrun import settings
from skillrun.errors import SkillrunError

EXIT_CODES = """\b
Exit codes:
  0  ok
  1  job failed
  2  usage or spec error (every problem is listed)
  3  resolution error: unknown skill, action or parent job
  4  backend unavailable"""

#: command name -> "module:attribute", imported only when the command runs
COMMANDS = {
    "list": "skillrun.cli.commands.skills:list_cmd",
    "show": "skillrun.cli.commands.skills:show_cmd",
    "schema": "skillrun.cli.commands.specs:schema_cmd",
    "template": "skillrun.cli.commands.specs:template_cmd",
    "validate": "skillrun.cli.commands.validate:validate_cmd",
    "plugins": "skillrun.cli.commands.plugins:plugins_cmd",
    "docs": "skillrun.cli.commands.docs:docs_cmd",
    "plan": "skillrun.cli.commands.plan:plan_cmd",
    "run": "skillrun.cli.commands.run:run_cmd",
    "resume": "skillrun.cli.commands.run:resume_cmd",
    "jobs": "skillrun.cli.commands.jobs:jobs_cmd",
    "status": "skillrun.cli.commands.status:status_cmd",
    "logs": "skillrun.cli.commands.logs:logs_cmd",
    "cancel": "skillrun.cli.commands.cancel:cancel_cmd",
    "results": "skillrun.cli.commands.results:results_cmd",
    "upload": "skillrun.cli.commands.run:upload_cmd",
    "route": "skillrun.cli.commands.route:route_cmd",
    "eval-routing": "skillrun.cli.commands.route:eval_routing_cmd",
    "describe": "skillrun.cli.commands.describe:describe_cmd",
    "doctor": "skillrun.cli.commands.doctor:doctor_cmd",
    "mcp": "skillrun.cli.commands.mcp:mcp_cmd",
}


class App:
    """Shared state of one CLI invocation (``ctx.obj``); the bank loads on first use."""

    def __init__(self, skills_dirs: tuple[str, ...], workspace: str | None) -> None:
        self.skills_dirs = skills_dirs
        self.workspace = settings.workspace(workspace)
        self._bank: Any = None

    @property
    def store(self) -> Any:
        """The job store of the workspace (``--workspace``, ``$SKILLRUN_HOME`` or ``~/.skillrun``)."""
        from skillrun.record.store import JobStore

        return JobStore(self.workspace)

    @property
    def bank(self) -> Any:
        if self._bank is None:
            from skillrun.api import load_bank

            self._bank = load_bank(self.skills_dirs)
        return self._bank


class LazyGroup(click.Group):
    """Imports a command's module only when that command is invoked (or listed in --help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx), *_plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name) or _plugin_commands().get(name)


def _plugin_commands() -> dict[str, click.Command]:
    from skillrun.plugins.manager import collect, get_plugin_manager

    return collect(get_plugin_manager()).commands


@click.group(cls=LazyGroup, epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--skills-dir", "skills_dirs", multiple=True, type=click.Path(file_okay=False), help="Extra folder of skills (highest precedence; repeatable).")
@click.option("--workspace", type=click.Path(file_okay=False), default=None, help=f"Workspace root (default ${settings.SKILLRUN_HOME} or ~/.skillrun).")
@click.version_option(package_name="skillrun", message="skillrun %(version)s")
@click.pass_context
def cli(ctx: click.Context, skills_dirs: tuple[str, ...], workspace: str | None) -> None:
    """skillrun: run detector skills (train, evaluate, export, ...) from declarative specs."""
    ctx.obj = App(skills_dirs, workspace)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; SkillrunErrors become a message (or a JSON document) and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    try:
        rc = cli.main(args=args, prog_name="skillrun", standalone_mode=False)
        if isinstance(rc, int) and not isinstance(rc, bool):  # raise click.exceptions.Exit(N) in a command
            return rc
    except SkillrunError as exc:
        _report(exc, as_json)
        return exc.exit_code
    except click.exceptions.Abort:
        return 130
    except click.ClickException as exc:
        if as_json:
            from skillrun.cli.console import emit_json
            from skillrun.cli.errors import click_error

            emit_json(click_error(exc))
        else:
            exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an unexpected bug: short message, traceback only on request
        if settings.debug():
            raise
        from skillrun.cli import console
        from skillrun.cli.errors import internal_error

        doc = internal_error(exc)
        if as_json:
            console.emit_json(doc)
        else:
            console.error(doc["message"], hint=doc["suggestion"])
        return 1
    return 0


def _report(exc: SkillrunError, as_json: bool) -> None:
    from skillrun.cli import console

    if as_json:
        console.emit_json(exc.to_dict())
        return
    console.error(exc.message, exc.hint)
    issues = getattr(exc, "issues", None)
    if issues:
        console.issues(issues)
