"""SkillBank: every skill folder the plugins, ``$SKILLRUN_PATH`` and ``--skills-dir`` name.

Precedence, highest first: ``--skills-dir`` (in the order given), then
``$SKILLRUN_PATH`` (in order), then entry-point plugins (last loaded first),
then the built-in skills. A skill defined twice is taken from the highest
source; the others are reported as shadowed (a warning, never silent).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Iterable, Iterator

from skillrun import settings
from skillrun.bank.cache import BankCache, signature
from skillrun.bank.loader import SKILL_MD, Skill
from skillrun.contracts.report import Issue
from skillrun.errors import BankError, ResolutionError
from skillrun.plugins.manager import SkillDir


#: how deep below a source folder skills are looked for (TAO: <bank>/skills/<category>/<skill> is 3)
MAX_DEPTH = 5
#: folders never searched for skills: tooling, caches, environments
_SKIP = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "env"})


def skill_folders(root: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """``root`` itself when it is a skill folder, else every skill folder below it, at any depth up to ``max_depth``.

    A folder with a SKILL.md is a skill and is not searched further (its
    ``references/`` and ``scripts/`` are the skill's own). Hidden folders and
    environments are skipped; the order is by path, so it is stable.
    """
    if (root / SKILL_MD).is_file():
        return [root]
    found: list[Path] = []
    level = [root]
    for _ in range(max_depth):
        below: list[Path] = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith((".", "_")) or entry.name in _SKIP or not entry.is_dir():
                    continue
                path = Path(entry.path)
                if (path / SKILL_MD).is_file():
                    found.append(path)
                else:
                    below.append(path)
        level = below
    return sorted(found)


class SkillBank:
    """The loaded skills, by name."""

    def __init__(self, sources: Iterable[SkillDir], *, cache: BankCache | None = None) -> None:
        """``sources`` in precedence order, highest first; ``cache`` keeps parses between processes (see bank.cache)."""
        self.sources = list(sources)
        self.skills: dict[str, Skill] = {}
        self.broken: dict[str, BankError] = {}
        self.warnings: list[Issue] = []
        self._cache = cache
        self._load()
        if cache is not None:
            cache.save()

    def _load(self) -> None:
        for src in self.sources:
            if not src.path.is_dir() and src.origin != "builtin":
                self.warnings.append(
                    Issue(path=str(src.path), message=f"skill folder from {src.origin} does not exist", severity="warning", stage="bank", code="no_dir")
                )
                continue
            folders = skill_folders(src.path)
            if not folders and src.origin != "builtin":
                self.warnings.append(
                    Issue(
                        path=str(src.path),
                        message=f"no skill found in this folder from {src.origin} (nor in its sub-folders, {MAX_DEPTH} levels down)",
                        hint="point it at a skill folder (one with a SKILL.md) or a bank that holds them",
                        severity="warning",
                        stage="bank",
                        code="no_skills",
                    )
                )
            for folder in folders:
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
            skill = self._parse(folder, origin)
        except BankError as exc:
            self.broken[name] = exc
            return
        self.skills[name] = skill
        self.warnings.extend(skill.warnings)

    def _parse(self, folder: Path, origin: str) -> Skill:
        """The skill in ``folder``, from the cache when its files are unchanged; a broken one raises BankError either way."""
        if self._cache is None:
            return Skill(folder, origin)
        sig = signature(folder)
        entry = self._cache.get(folder, sig)
        if entry is not None:
            if "error" in entry:
                err = entry["error"]
                raise BankError(err["message"], [Issue.model_validate(i) for i in err["issues"]], hint=err.get("hint"))
            return Skill.restore(folder, origin, entry)
        try:
            skill = Skill(folder, origin)
        except BankError as exc:
            issues = [i.model_dump(mode="json") for i in exc.issues or []]
            self._cache.put(folder, sig, {"error": {"message": exc.message, "hint": exc.hint, "issues": issues}})
            raise
        self._cache.put(folder, sig, skill.cached_form())
        return skill

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

    def problem_summary(self) -> list[Issue]:
        """What ``list`` shows: one line per broken skill, then the warnings counted, not dumped.

        A big bank (TAO's 76 skills) carries a warning or two per skill; ``skillrun
        show SKILL`` (or ``--json`` of it) lists a skill's own.
        """
        out = []
        for name, exc in sorted(self.broken.items()):
            first = (exc.issues or [None])[0]
            more = len(exc.issues or []) - 1
            message = (first.message if first else exc.message) + (f" (and {more} more)" if more > 0 else "")
            out.append(Issue(path=first.path if first else name, value=first.value if first else None, message=f"skill {name!r} not loaded: {message}",
                             hint=f"skillrun show {name} lists every problem", stage="bank", code="broken_skill"))
        bank_level = [w for w in self.warnings if w.code in ("no_dir", "no_skills", "shadowed")]
        out += bank_level
        per_skill = [w for w in self.warnings if w not in bank_level]
        if per_skill:
            owners = {n for n, s in self.skills.items() if s.warnings}
            out.append(
                Issue(
                    path="bank",
                    message=f"{len(per_skill)} warning(s) in {len(owners)} skill(s): {', '.join(sorted(owners)[:5])}{', ...' if len(owners) > 5 else ''}",
                    hint="skillrun show SKILL lists a skill's warnings",
                    severity="warning",
                    stage="bank",
                    code="warnings",
                )
            )
        return out


def sources(plugin_dirs: list[SkillDir], skills_dirs: Iterable[str | Path] = ()) -> list[SkillDir]:
    """All skill sources in precedence order, highest first."""
    cli = [SkillDir(Path(p).expanduser(), "cli:--skills-dir") for p in skills_dirs]
    env = [SkillDir(p, "env:SKILLRUN_PATH") for p in settings.extra_skill_paths()]
    return cli + env + list(reversed(plugin_dirs))
