"""Registers the engines shipped with skillrun, through the same hook a third party uses."""

from __future__ import annotations

from typing import Any, Callable

from skillrun.plugins import hookimpl


@hookimpl
def register_engines(register: Callable[[Any], None]) -> None:
    from skillrun.engine.builtin import BuiltinEngine
    from skillrun.engine.script import ScriptEngine
    from skillrun.engine.tao import TaoEngine

    register(BuiltinEngine)
    register(ScriptEngine)
    register(TaoEngine)
