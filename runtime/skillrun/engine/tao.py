"""The ``tao`` engine: runs a TAO skill's container ``command`` (``dino train -e {config_path} ...``).

``skill_info.yaml`` gives the command as a string or an argv list, run inside
the skill's container image (so only the docker backend, or a backend that
runs images, can start it). Placeholders: ``{config_path}`` (also ``{spec}``),
``{results_dir}``, ``{action}``, ``{job_id}``. A command that names no spec
placeholder gets ``-e {config_path}`` appended, TAO's own convention.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from skillrun.engine import placeholders
from skillrun.engine.base import Command, Engine, EngineContext
from skillrun.errors import BankError

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill

PLACEHOLDERS = ("config_path", "spec", "results_dir", "action", "job_id")


class TaoEngine(Engine):
    """A TAO container command, with the spec file where it expects it."""

    NAME = "tao"

    def words(self, skill: Skill, action: str) -> list[str]:
        """The command as argv words (a string is split like a shell would, without running one)."""
        raw = skill.info.actions[action].command
        where = placeholders.command_key(skill, action)
        if isinstance(raw, str):
            try:
                words = shlex.split(raw)
            except ValueError as exc:
                msg = f"{where}: {raw!r} is not a command line ({exc})"
                raise BankError(msg, hint="quote it like a shell would, or write it as an argv list") from None
        else:
            words = list(raw or [])
        if not words:
            msg = f"{where} is missing; the tao engine runs it inside the container"
            raise BankError(msg, hint="e.g. command: rtdetr train  (skillrun adds -e <spec file>)")
        placeholders.check(words, PLACEHOLDERS, where)
        return words

    def check(self, skill: Skill, action: str) -> None:
        self.words(skill, action)

    def command(self, ctx: EngineContext) -> Command:
        words = self.words(ctx.skill, ctx.action)
        if not any("{config_path}" in w or "{spec}" in w for w in words):
            words += ["-e", "{config_path}"]
        filled = placeholders.fill(words, ctx, config_path=str(ctx.spec_file))
        return Command("exec", filled[0], tuple(filled[1:]))
