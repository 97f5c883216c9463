"""The engine interface: an engine turns (skill, action, spec file) into the command a backend starts.

An engine says *what* runs; the backend decides *where* and *how many*. The
command is kept structured (module, script or executable) so a backend can wrap
it in ``torchrun`` or ``srun`` without parsing a shell string.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill

#: torchrun as a module of the running interpreter: no reliance on PATH
TORCHRUN = (sys.executable, "-m", "torch.distributed.run")


@dataclass(frozen=True)
class Command:
    """What to run: ``python -m target args``, ``python target args`` or ``target args``."""

    kind: Literal["module", "script", "exec"]
    target: str
    args: tuple[str, ...] = ()
    python: str = field(default=sys.executable)

    def argv(self) -> list[str]:
        """The single-process command line."""
        if self.kind == "module":
            return [self.python, "-m", self.target, *self.args]
        if self.kind == "script":
            return [self.python, self.target, *self.args]
        return [self.target, *self.args]

    def torchrun_argv(self, nproc_per_node: int, nnodes: int = 1, rdzv: list[str] | None = None) -> list[str]:
        """The same command under torchrun; one node uses ``--standalone`` (a free port, no rendezvous server)."""
        opts = ["--nnodes", str(nnodes), "--nproc-per-node", str(nproc_per_node)]
        opts += rdzv if rdzv is not None else ["--standalone"]
        head = [self.python, "-m", "torch.distributed.run", *opts]
        if self.kind == "module":
            return [*head, "-m", self.target, *self.args]
        if self.kind == "script":
            return [*head, self.target, *self.args]
        return [*head, "--no-python", self.target, *self.args]


@dataclass(frozen=True)
class EngineContext:
    """What an engine may use to build its command; all paths absolute."""

    skill: Skill
    action: str
    spec_file: Path
    results_dir: Path
    job_id: str


class Engine(ABC):
    """Base class of engine plugins (``register_engines``); ``NAME`` is what ``skill_info.engine`` names."""

    NAME: ClassVar[str]

    @abstractmethod
    def command(self, ctx: EngineContext) -> Command:
        """The command that runs ``ctx.action`` of ``ctx.skill`` with ``ctx.spec_file``."""

    def check(self, skill: Skill, action: str) -> None:
        """Raise a SkillrunError if this engine cannot run ``action`` of ``skill`` (called by plan and run)."""
