"""``skillrun mcp``: serve the agent tools over MCP on stdin/stdout."""

from __future__ import annotations

from typing import Any

import click


@click.command("mcp")
@click.pass_obj
def mcp_cmd(app: Any) -> None:
    """Serve the skillrun tools over MCP (stdio): list_skills, describe_skill, route, validate_spec, plan, run,
    job_status, job_logs, cancel_job, results. stdout carries protocol messages only; jobs log to files.

    \b
    Client configuration (e.g. Claude Desktop, an IDE):
      {"command": "skillrun", "args": ["--workspace", "/path/to/ws", "mcp"]}
    """
    try:
        from skillrun.agents.mcp_server import serve
    except ImportError as exc:
        from skillrun.errors import BackendUnavailable

        msg = f"the mcp package is not installed ({exc})"
        raise BackendUnavailable(msg, hint="pip install 'skillrun[agents]'", code="missing_dependency") from exc
    from skillrun.agents.tools import Toolbox

    serve(Toolbox(app.skills_dirs, app.workspace))
