"""The ``builtin`` engine plugin: jobs run ``python -m skillrun.engine <skill> <action> -e spec.yaml``."""

from __future__ import annotations

from skillrun.engine.base import Command, Engine, EngineContext

ENTRY_MODULE = "skillrun.engine"


class BuiltinEngine(Engine):
    """skillrun's own PyTorch engine (torch is imported only inside the job)."""

    NAME = "builtin"

    def command(self, ctx: EngineContext) -> Command:
        return Command("module", ENTRY_MODULE, (ctx.skill.name, ctx.action, "-e", str(ctx.spec_file)))
