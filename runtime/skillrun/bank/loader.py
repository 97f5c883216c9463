"""One skill folder -> :class:`Skill`.

Only ``SKILL.md`` and ``references/skill_info.yaml`` are read up front (that is
all ``skillrun list`` needs); schemas, templates and evals load on first use.
Every problem names the file and, inside it, the dotted path.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from skillrun import yamlio
from skillrun.contracts.report import Issue
from skillrun.errors import BankError, ResolutionError

if TYPE_CHECKING:
    from skillrun.contracts.skill import Evals, Frontmatter, SkillInfo

SKILL_MD = "SKILL.md"
#: actions that run a training loop and so read the ``train`` section too (TAO's distill takes its optimiser from it)
TRAINING_FAMILY = frozenset({"train", "distill", "retrain"})
SKILL_INFO = "references/skill_info.yaml"
_FRONTMATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)

def read_yaml(path: Path) -> Any:
    """``yaml.safe_load`` of a file, as a BankError naming the file and line on failure."""
    try:
        return yamlio.load_file(path)
    except FileNotFoundError:
        raise
    except yaml.YAMLError as exc:
        msg = yamlio.error_location(exc, path)
        raise BankError(msg, [Issue(path=msg.split(": not valid")[0], message="not valid YAML", stage="bank", code="yaml")]) from None


def read_json(path: Path) -> Any:
    """``json.load`` of a file (``Infinity`` allowed, as TAO writes it), errors naming file and line."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        where = f"{path}:{exc.lineno}"
        msg = f"{where}: not valid JSON ({exc.msg})"
        raise BankError(msg, [Issue(path=where, message=exc.msg, stage="bank", code="json")]) from None


def split_frontmatter(text: str) -> tuple[dict[str, Any], str]:
    """SKILL.md text -> (frontmatter mapping, body)."""
    match = _FRONTMATTER.match(text)
    if not match:
        return {}, text
    data = yamlio.loads(match.group(1))
    return (data if isinstance(data, dict) else {}), text[match.end() :]


def pydantic_issues(exc: Any, file: Path) -> list[Issue]:
    """A pydantic ValidationError as issues naming ``file: dotted.path``."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        out.append(
            Issue(
                path=f"{file}: {loc}" if loc else str(file),
                value=err.get("input") if not isinstance(err.get("input"), dict) else None,
                message=err["msg"],
                stage="bank",
                code=err["type"],
            )
        )
    return out


class Skill:
    """A loaded skill folder. Cheap to build; heavier parts are loaded lazily."""

    def __init__(self, path: Path, origin: str = "builtin") -> None:
        self.path = path.resolve()
        self.origin = origin
        self.warnings: list[Issue] = []
        self._schemas: dict[str, dict[str, Any]] = {}
        self.schema_notes: dict[str, list[str]] = {}  #: per action: what TAO normalisation changed
        self.added_sections: set[str] = set()  #: top-level sections skillrun added to the train schema (never written for the job)
        self._raw: dict[str, Any] = {}
        self._frontmatter, self.body = self._load_frontmatter()
        self._info: SkillInfo | None = self._load_info()
        if self.info.name != self.frontmatter.name:  # skillrun's own format only: the others take the SKILL.md name
            self._fail(
                self.path / SKILL_INFO,
                f"name {self.info.name!r} differs from SKILL.md name {self.frontmatter.name!r}",
                hint="use the folder name in both files",
            )

    @classmethod
    def restore(cls, path: Path, origin: str, entry: dict[str, Any]) -> Skill:
        """A skill from its cached parse (:mod:`skillrun.bank.cache`): no YAML read, same object as a fresh load."""
        skill = cls.__new__(cls)
        skill.path = path.resolve()
        skill.origin = origin
        skill._schemas = {}
        skill.schema_notes = {}
        skill.added_sections = set()
        skill._raw = entry  # validated into models on first use: `list` and `route` never need them
        skill._frontmatter = None
        skill._info = None
        skill.body = None
        skill.warnings = [Issue.model_validate(w) for w in entry["warnings"]]
        return skill

    @property
    def info(self) -> SkillInfo:
        """The machine contract (``references/skill_info.yaml``, or TAO's adapted)."""
        if self._info is None:
            from skillrun.contracts.skill import SkillInfo

            self._info = SkillInfo.model_validate(self._raw["info"])
        return self._info

    @property
    def frontmatter(self) -> Frontmatter:
        if self._frontmatter is None:
            from skillrun.contracts.skill import Frontmatter

            self._frontmatter = Frontmatter.model_validate(self._raw["frontmatter"])
        return self._frontmatter

    def cached_form(self) -> dict[str, Any]:
        """What :meth:`restore` needs, as JSON data."""
        return {
            "frontmatter": self.frontmatter.model_dump(mode="json", by_alias=True),
            "info": self.info.model_dump(mode="json"),
            "warnings": [w.model_dump(mode="json") for w in self.warnings],
        }

    # -- identity -------------------------------------------------------
    @property
    def name(self) -> str:
        return self._info.name if self._info is not None else str(self._raw["info"]["name"])

    @property
    def actions(self) -> list[str]:
        return list(self._info.actions if self._info is not None else self._raw["info"].get("actions") or {})

    @property
    def description(self) -> str:
        return self._frontmatter.description if self._frontmatter is not None else str(self._raw["frontmatter"]["description"])

    def __repr__(self) -> str:
        return f"Skill({self.name!r}, {str(self.path)!r}, origin={self.origin!r})"

    def require_action(self, action: str) -> None:
        """Raise ResolutionError (exit 3) naming the actions there are."""
        if not self.info.actions:
            self.require_runnable(action)
        if action not in self.info.actions:
            import difflib

            close = difflib.get_close_matches(action, self.actions, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"choose one of: {', '.join(self.actions)}"
            msg = f"skill {self.name!r} has no action {action!r} (actions: {', '.join(self.actions)})"
            raise ResolutionError(msg, hint=hint, path="action", value=action, allowed=self.actions)

    def foreign_sections(self, action: str) -> frozenset[str]:
        """Top-level spec sections that belong to another action of the skill (``distill`` for ``train``).

        TAO specs carry every action's section; a section the action does not
        read needs no value (its ``???`` is not asked for) and is not searched by
        AutoML. The training family (distill, retrain) also reads ``train``.
        """
        own = action.removeprefix("deploy_")
        names = {a.removeprefix("deploy_") for a in self.actions} - {own}
        if own in TRAINING_FAMILY:
            names.discard("train")
        return frozenset(names)

    def require_runnable(self, action: str) -> None:
        """Raise ResolutionError (exit 3) when the skill or action is guidance only: nothing to plan or run."""
        if self.info.instructions_only:
            what = f"{self.name!r} is a guidance-only skill"
            why = self.info.metadata.get("guidance")
            msg = f"{what}: it has no machine contract (no command to run){f' ({why})' if why else ''}"
            hint = f"follow its instructions in {self.path / SKILL_MD} (`skillrun describe {self.name}`)"
            raise ResolutionError(msg, hint=hint, path="skill", value=self.name, code="guidance_only", data={"skill_md": str(self.path / SKILL_MD)})

    # -- eager parts ----------------------------------------------------
    def _fail(self, file: Path, message: str, *, issues: list[Issue] | None = None, hint: str | None = None) -> None:
        issues = issues or [Issue(path=str(file), message=message, hint=hint, stage="bank", code="bank")]
        raise BankError(f"{file}: {message}", issues, hint=hint)

    def _load_frontmatter(self) -> tuple[Frontmatter, str]:
        from skillrun.contracts.skill import Frontmatter

        md = self.path / SKILL_MD
        if not md.is_file():
            self._fail(md, "missing SKILL.md", hint="every skill folder needs a SKILL.md with name and description")
        data, body = split_frontmatter(md.read_text(encoding="utf-8"))
        if not data:
            self._fail(md, "no YAML frontmatter", hint="start SKILL.md with '---', name: and description:, then '---'")
        from pydantic import ValidationError

        try:
            fm = Frontmatter.model_validate(data)
        except ValidationError as exc:
            self._fail(md, "invalid frontmatter", issues=pydantic_issues(exc, md))
        for extra in fm.extra_fields:
            self.warnings.append(
                Issue(
                    path=f"{md}: {extra}",
                    message="not an Agent Skills frontmatter field; loaded and ignored",
                    allowed="name, description, license, compatibility, metadata, allowed-tools",
                    hint=f"move {extra!r} under 'metadata:'",
                    severity="warning",
                    stage="bank",
                    code="extra_frontmatter",
                )
            )
        if fm.name != self.path.name:
            self.warnings.append(
                Issue(
                    path=f"{md}: name",
                    value=fm.name,
                    message=f"differs from the folder name {self.path.name!r}",
                    hint="rename the folder or the skill",
                    severity="warning",
                    stage="bank",
                    code="name_mismatch",
                )
            )
        return fm, body

    def _load_info(self) -> SkillInfo:
        """``references/skill_info.yaml`` in skillrun's shape (strict) or TAO's (adapted, never refused).

        No file, or one that does not parse, leaves a guidance-only skill: its SKILL.md
        is still routed to and described, and ``plan`` says why it cannot run.
        """
        from pydantic import ValidationError

        from skillrun.bank import tao_adapter
        from skillrun.contracts.skill import SkillInfo

        file = self.path / SKILL_INFO
        name, description = self.frontmatter.name, self.frontmatter.description
        if not file.is_file():
            return SkillInfo.model_validate(tao_adapter.guidance_only(self.path, name, description))
        try:
            data = read_yaml(file)
        except BankError as exc:
            where = exc.issues[0].path if exc.issues else str(file)
            return self._guidance(where, "not valid YAML", "fix the YAML at that line; until then the skill is guidance only")
        if not isinstance(data, dict):
            return self._guidance(str(file), f"must be a mapping, not {type(data).__name__}", "see schemas/skill_info.schema.json")
        if tao_adapter.is_tao(data):
            fields, issues = tao_adapter.adapt(self.path, file, data, name, description)
            self.warnings.extend(issues)
            try:
                return SkillInfo.model_validate(fields)
            except ValidationError as exc:
                self.warnings.extend(i.model_copy(update={"severity": "warning"}) for i in pydantic_issues(exc, file))
                return self._guidance(str(file), "does not map onto a runnable contract", "see the warnings above")
        try:
            return SkillInfo.model_validate(data)
        except ValidationError as exc:
            self._fail(file, "does not match the skill_info meta-schema", issues=pydantic_issues(exc, file))
        raise AssertionError  # unreachable; _fail raises

    def _guidance(self, where: str, problem: str, hint: str) -> SkillInfo:
        """A guidance-only contract after a skill_info.yaml that cannot be used, and the one warning that says so."""
        from skillrun.bank import tao_adapter
        from skillrun.contracts.skill import SkillInfo

        self.warnings.append(Issue(path=where, message=f"{problem}; the skill loads as guidance only", hint=hint, severity="warning", stage="bank", code="guidance_only"))
        return SkillInfo.model_validate(tao_adapter.guidance_only(self.path, self.frontmatter.name, self.frontmatter.description, f"{where}: {problem}"))

    # -- lazy parts -----------------------------------------------------
    def schema_file(self, action: str) -> Path:
        info = self.info.actions.get(action)
        rel = info.schema_file if info is not None else None
        return self.path / (rel or f"schemas/{action}.schema.json")

    def schema(self, action: str) -> dict[str, Any]:
        """The action's JSON Schema: TAO dialect normalised, ``$ref``s resolved, self-contained."""
        self.require_action(action)
        if action not in self._schemas:
            from skillrun.bank.schemas import default_defects, load_action_schema

            file = self.schema_file(action)
            schema, notes = load_action_schema(file)
            if action == "train" and self.info.automl_enabled:
                self._add_automl_sections(schema, notes)
            self._schemas[action] = schema
            self.schema_notes[action] = notes
            seen = {w.path.split(": ", 1)[-1] for w in self.warnings if w.code == "default_breaks_schema"}
            self.warnings.extend(w for w in default_defects(schema, file) if w.path.split(": ", 1)[-1] not in seen)
        return self._schemas[action]

    def _add_automl_sections(self, schema: dict[str, Any], notes: list[str]) -> None:
        """The ``automl``/``automl_policy`` sections an AutoML-enabled train spec may carry, where the schema lacks them."""
        from skillrun.automl.settings import spec_sections

        props = schema.setdefault("properties", {})
        for name, sub in spec_sections().items():
            if name not in props:
                props[name] = sub
                self.added_sections.add(name)
                notes.append(f"{name}: skillrun's section added (AutoML settings); left out of the job's spec file")

    def has_schema(self, action: str) -> bool:
        return self.schema_file(action).is_file()

    def template_file(self, action: str, name: str = "default") -> Path:
        self.require_action(action)
        rel = self.info.actions[action].spec_templates.get(name)
        if rel is None and name != "default":
            known = ", ".join(self.info.actions[action].spec_templates) or "default"
            msg = f"{self.name} {action}: no spec template named {name!r} (templates: {known})"
            raise ResolutionError(msg)
        return self.path / (rel or f"references/spec_template_{action}.yaml")

    def template(self, action: str, name: str = "default") -> dict[str, Any]:
        """The action's spec template (an empty mapping when the skill ships none)."""
        file = self.template_file(action, name)
        if not file.is_file():
            return {}
        data = read_yaml(file)
        if data is None:
            return {}
        if not isinstance(data, dict):
            self._fail(file, "a spec template must be a mapping")
        return data

    def has_template(self, action: str) -> bool:
        return self.template_file(action).is_file()

    @cached_property
    def evals(self) -> Evals | None:
        """``evals/evals.json`` (routing cases), or None when the skill has none.

        skillrun's ``{skill_name, evals}`` or TAO's list of ``{id, question, expected_skill, ...}``
        (see :meth:`~skillrun.contracts.skill.Evals.read`); BankError naming the file when it is neither.
        """
        file = self.path / "evals" / "evals.json"
        if not file.is_file():
            return None
        from pydantic import ValidationError

        from skillrun.contracts.skill import Evals

        try:
            return Evals.read(read_json(file), self.name)
        except ValidationError as exc:
            self._fail(file, "does not match schemas/evals.schema.json", issues=pydantic_issues(exc, file))
        return None

    @cached_property
    def manifest(self) -> dict[str, Any] | None:
        """``schemas/manifest.json`` (TAO's action index), or None."""
        file = self.path / "schemas" / "manifest.json"
        return read_json(file) if file.is_file() else None

    def summary(self) -> dict[str, Any]:
        """The ``list``/``show`` view of the skill (from the cached parse when there is one: no model validation)."""
        info = self._info.model_dump(mode="json", include={"kind", "engine", "automl_enabled", "instructions_only"}) if self._info is not None else self._raw["info"]
        return {
            "name": self.name,
            "kind": info["kind"],
            "engine": info.get("engine", "builtin"),
            "description": self.description,
            "actions": self.actions,
            "automl_enabled": bool(info.get("automl_enabled", False)),
            "guidance_only": bool(info.get("instructions_only", False)),
            "path": str(self.path),
            "origin": self.origin,
        }
