"""The ``script`` engine: runs a command a skill ships under ``scripts/``, as an argv list.

``skill_info.yaml`` names it per action, e.g.
``command: [python, scripts/train.py, --spec, "{spec}"]``. ``python`` means the
interpreter skillrun runs under; relative paths resolve inside the skill folder;
``{spec}``, ``{results_dir}``, ``{action}``, ``{skill_dir}`` and ``{job_id}`` are
filled in. Nothing passes through a shell.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from skillrun.engine import placeholders
from skillrun.engine.base import Command, Engine, EngineContext
from skillrun.errors import BankError

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill

PLACEHOLDERS = ("spec", "results_dir", "action", "skill_dir", "job_id")
_PYTHON = ("python", "python3")


class ScriptEngine(Engine):
    """Runs ``actions.<action>.command`` from the skill folder."""

    NAME = "script"

    def check(self, skill: Skill, action: str) -> None:
        argv = skill.info.actions[action].command
        where = placeholders.command_key(skill, action)
        if not isinstance(argv, list) or not argv:
            msg = f"{where} must be a non-empty argv list for the script engine, got {argv!r}"
            raise BankError(msg, hint='write it as a list, e.g. command: [python, scripts/run.py, --spec, "{spec}"]')
        placeholders.check(argv, PLACEHOLDERS, where)

    def command(self, ctx: EngineContext) -> Command:
        self.check(ctx.skill, ctx.action)
        argv = list(ctx.skill.info.actions[ctx.action].command or [])
        words = placeholders.fill(argv, ctx, skill_dir=str(ctx.skill.path))
        if words[0] in _PYTHON:
            if len(words) > 2 and words[1] == "-m":
                return Command("module", words[2], tuple(words[3:]))
            return Command("script", _in_skill(ctx.skill.path, words[1]), tuple(words[2:]))
        return Command("exec", _in_skill(ctx.skill.path, words[0]), tuple(words[1:]))


def _in_skill(skill_dir: Path, word: str) -> str:
    """A relative path that exists in the skill folder becomes absolute; anything else is left alone (PATH lookup)."""
    candidate = skill_dir / word
    return str(candidate) if not Path(word).is_absolute() and candidate.exists() else word
