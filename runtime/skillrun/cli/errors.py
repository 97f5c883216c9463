"""The ``--json`` documents of errors that are not SkillrunErrors: click's usage errors and internal bugs.

They carry the same keys as :meth:`skillrun.errors.SkillrunError.to_dict`
(``code``, ``message``, ``path``, ``value``, ``allowed``, ``suggestion``), so an
agent reads every failure the same way.
"""

from __future__ import annotations

from typing import Any

import click

from skillrun import settings


def _doc(error: str, code: str, message: str, exit_code: int, *, path: str | None = None, value: Any = None, allowed: Any = None, suggestion: str | None = None) -> dict[str, Any]:
    out = {"error": error, "code": code, "message": message, "path": path, "value": value, "allowed": allowed, "suggestion": suggestion, "exit_code": exit_code}
    if suggestion:
        out["hint"] = suggestion
    return out


def click_error(exc: click.ClickException) -> dict[str, Any]:
    """A usage error: the option or argument named, its allowed values where click knows them."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "skillrun"
    path = value = allowed = None
    suggestion = f"see `{command} --help`"
    param = getattr(exc, "param", None)
    if param is not None:
        path = param.opts[0] if getattr(param, "opts", None) else param.name
        if isinstance(param.type, click.Choice):
            allowed = list(param.type.choices)
    if isinstance(exc, click.NoSuchOption):
        path, value = exc.option_name, exc.option_name
        if exc.possibilities:
            allowed = sorted(exc.possibilities)
            suggestion = f"did you mean {', '.join(allowed)}?"
    code = {"NoSuchOption": "unknown_option", "MissingParameter": "missing", "BadParameter": "bad_value", "UsageError": "usage"}.get(type(exc).__name__, "usage")
    return _doc(type(exc).__name__, code, exc.format_message(), 2, path=path, value=value, allowed=allowed, suggestion=suggestion)


def internal_error(exc: BaseException) -> dict[str, Any]:
    """An unexpected bug, without its traceback."""
    return _doc("InternalError", "internal", f"internal error: {type(exc).__name__}: {exc}", 1, suggestion=f"rerun with {settings.SKILLRUN_DEBUG}=1 for the traceback, and report it")
