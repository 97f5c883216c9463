"""``{name}`` placeholders in an action's command words: checked against an engine's own set, then filled.

Shared by the ``script`` and ``tao`` engines, so a bad placeholder is reported
the same way (the ``skill_info.yaml`` key and the allowed names) and the common
values (``{spec}``, ``{results_dir}``, ``{action}``, ``{job_id}``) mean the same
thing whichever engine runs the skill.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Iterable, Sequence

from skillrun.errors import BankError

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill
    from skillrun.engine.base import EngineContext


def command_key(skill: Skill, action: str) -> str:
    """Where the command is written, for error messages: ``<skill>/references/skill_info.yaml: actions.<action>.command``."""
    return f"{skill.path / 'references' / 'skill_info.yaml'}: actions.{action}.command"


def check(words: Iterable[str], allowed: Sequence[str], where: str) -> None:
    """Raise a BankError naming the first placeholder not in ``allowed`` (``where`` is the command's key)."""
    for word in words:
        bad = [f for _, f, _, _ in string.Formatter().parse(word) if f is not None and f not in allowed]
        if bad:
            msg = f"{where}: unknown placeholder {{{bad[0]}}} in {word!r}"
            raise BankError(msg, hint=f"allowed placeholders: {', '.join('{' + p + '}' for p in allowed)}")


def fill(words: Iterable[str], ctx: EngineContext, **extra: str) -> list[str]:
    """``words`` with the common values and the engine's ``extra`` ones filled in (call ``check`` first)."""
    values = {"spec": str(ctx.spec_file), "results_dir": str(ctx.results_dir), "action": ctx.action, "job_id": ctx.job_id, **extra}
    return [w.format(**values) for w in words]
