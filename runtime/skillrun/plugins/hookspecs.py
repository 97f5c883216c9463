"""The hooks a plugin implements. Built-in skills, backends and engines use them too.

A plugin is a module (or object) with functions decorated by
``skillrun.plugins.hookimpl``, exposed through the ``skillrun`` entry-point group::

    # pyproject.toml of a skill pack
    [project.entry-points.skillrun]
    my_pack = "my_pack.plugin"

    # my_pack/plugin.py
    from pathlib import Path
    from skillrun.plugins import hookimpl

    @hookimpl
    def register_skill_dirs(register):
        register(Path(__file__).parent / "skills")

Each hook receives a ``register`` callback; call it once per thing provided.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("skillrun")
hookimpl = pluggy.HookimplMarker("skillrun")


@hookspec
def register_skill_dirs(register: Callable[..., None]) -> None:
    """Call ``register(path)`` for a folder of skill folders, or for one skill folder."""


@hookspec
def register_backends(register: Callable[[Any], None]) -> None:
    """Call ``register(cls)`` for each backend class; ``cls.NAME`` names it (``--backend NAME``)."""


@hookspec
def register_engines(register: Callable[[Any], None]) -> None:
    """Call ``register(cls)`` for each engine class; ``cls.NAME`` is what ``skill_info.engine`` names."""


@hookspec
def register_commands(register: Callable[[Any], None]) -> None:
    """Call ``register(command)`` with a ``click.Command`` to add it to the ``skillrun`` CLI."""
