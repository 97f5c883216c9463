"""SkillBank: every skill folder the plugins, ``$SKILLRUN_PATH`` and ``--skills-dir`` name.

Precedence, highest first: ``--skills-dir`` (in the order given), then
``$SKILLRUN_PATH`` (in order), then entry-point plugins (last loaded first),
then the built-in skills. A skill defined twice is taken from the highest
source; the others are reported as shadowed (a warning, never silent).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable, Iterator

from skillrun import settings
from skillrun.bank.loader import SKILL_MD, Skill
from skillrun.contracts.report import Issue
from skillrun.errors import BankError, ResolutionError
from skillrun.plugins.manager import SkillDir


def skill_folders(root: Path) -> list[Path]:
    """``root`` itself when it is a skill folder, else its sub-folders that hold a SKILL.md."""
    if (root / SKILL_MD).is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / SKILL_MD).is_file())


class SkillBank:
    """The loaded skills, by name."""

    def __init__(self, sources: Iterable[SkillDir]) -> None:
        """``sources`` in precedence order, highest first."""
        self.sources = list(sources)
        self.skills: dict[str, Skill] = {}
        self.broken: dict[str, BankError] = {}
        self.warnings: list[Issue] = []
        for src in self.sources:
            if not src.path.is_dir() and src.origin != "builtin":
                self.warnings.append(
                    Issue(path=str(src.path), message=f"skill folder from {src.origin} does not exist", severity="warning", stage="bank", code="no_dir")
                )
            for folder in skill_folders(src.path):
                self._add(folder, src.origin)

    def _add(self, folder: Path, origin: str) -> None:
        name = folder.name
        winner = self.skills.get(name)
        if winner is not None or name in self.broken:
            where = winner.path if winner else "a broken folder"
            self.warnings.append(
                Issue(
                    path=str(folder),
                    message=f"skill {name!r} from {origin} is shadowed by {where} ({winner.origin if winner else 'higher precedence'})",
                    hint="remove one copy or reorder --skills-dir / SKILLRUN_PATH",
                    severity="warning",
                    stage="bank",
                    code="shadowed",
                )
            )
            return
        try:
            skill = Skill(folder, origin)
        except BankError as exc:
            self.broken[name] = exc
            return
        self.skills[name] = skill
        self.warnings.extend(skill.warnings)

    # -- lookup ---------------------------------------------------------
    def __iter__(self) -> Iterator[Skill]:
        return iter(sorted(self.skills.values(), key=lambda s: s.name))

    def __contains__(self, name: str) -> bool:
        return name in self.skills

    def __len__(self) -> int:
        return len(self.skills)

    @property
    def names(self) -> list[str]:
        return sorted(self.skills)

    def get(self, name: str) -> Skill:
        """The skill called ``name``; ResolutionError (exit 3) with close names otherwise."""
        if name in self.skills:
            return self.skills[name]
        if name in self.broken:
            raise self.broken[name]
        close = difflib.get_close_matches(name, self.names, n=3)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "run `skillrun list` to see the skills"
        msg = f"no skill named {name!r} (skills: {', '.join(self.names) or 'none'})"
        raise ResolutionError(msg, hint=hint, path="skill", value=name, allowed=self.names)

    def problems(self) -> list[Issue]:
        """Every broken folder's issues followed by load warnings."""
        out = [i for exc in self.broken.values() for i in (exc.issues or [Issue(path="?", message=exc.message, stage="bank")])]
        return out + self.warnings


def sources(plugin_dirs: list[SkillDir], skills_dirs: Iterable[str | Path] = ()) -> list[SkillDir]:
    """All skill sources in precedence order, highest first."""
    cli = [SkillDir(Path(p).expanduser(), "cli:--skills-dir") for p in skills_dirs]
    env = [SkillDir(p, "env:SKILLRUN_PATH") for p in settings.extra_skill_paths()]
    return cli + env + list(reversed(plugin_dirs))
