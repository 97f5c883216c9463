"""``describe SKILL [ACTION]``: one answer that holds everything needed to build an invocation.

Required inputs are the ``???`` leaves of the composed default spec (schema
defaults ← template), each marked with who fills it: a ``spec_params``
resolver (``results_dir`` at launch, a checkpoint from ``--parent``), a data
source entry, or you. Examples are command lines built from those, with
``/path/to/...`` placeholders, so an agent never has to guess a key.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from skillrun.contracts.agents import ActionDescription, Param, ParentRequirement, RequiredInput, SkillDescription
from skillrun.contracts.skill import param_name

if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank
    from skillrun.bank.loader import Skill

MISSING = "???"
_PARENT = ("parent_model", "parent_model_folder")
_LAUNCH = ("output_dir", "create_onnx_file", "key")  #: filled at launch, never asked for


def describe_skill(bank: SkillBank, name: str, action: str | None = None) -> SkillDescription:
    """The skill and its actions (only ``action`` when given; unknown names raise ResolutionError)."""
    skill = bank.get(name)
    if action is not None:
        skill.require_action(action)
    actions = [action] if action else skill.actions
    return SkillDescription(
        name=skill.name,
        kind=skill.info.kind.value,
        engine=skill.info.engine,
        description=skill.description,
        automl_enabled=skill.info.automl_enabled,
        triggers=[t.phrase for t in skill.info.triggers],
        path=str(skill.path),
        actions={a: describe_action(bank, skill, a) for a in actions},
    )


def describe_action(bank: SkillBank, skill: Skill, action: str) -> ActionDescription:
    info = skill.info.actions[action]
    schema = skill.schema(action) if skill.has_schema(action) else {}
    short_for = {dotted: short for short, dotted in info.spec_shorthand_keys.items()}
    resolvers = {k: param_name(v) for k, v in info.spec_params.items()}
    data_keys = [d.spec_key for d in info.data_sources]
    required = [r for r in _required(bank, skill, action, schema, resolvers, data_keys) if r is not None]
    parent_keys = {k: v for k, v in resolvers.items() if v in _PARENT}
    parent = None
    if parent_keys:
        parent = ParentRequirement(required=any(r.filled_by == "parent" for r in required), spec_keys=parent_keys)
    automl = {"applies": False}
    if action == "train" and skill.info.automl_enabled:
        automl = {"applies": True, "default": "on", "turn_off": "--automl off (or say 'no HPO' / 'plain training')"}
    desc = ActionDescription(
        skill=skill.name,
        action=action,
        description=info.description,
        required=required,
        data_sources=[d.model_dump() for d in info.data_sources],
        popular=[_param(p, sub, short_for.get(p)) for p, sub in _popular(schema)],
        shorthand=dict(info.spec_shorthand_keys),
        parent=parent,
        resources={"processes": info.resources.processes, "nodes": info.resources.nodes},
        automl=automl,
        outputs=dict(info.outputs),
        has_schema=skill.has_schema(action),
        has_template=skill.has_template(action),
    )
    desc.examples = examples(desc)
    return desc


def _required(bank: SkillBank, skill: Skill, action: str, schema: dict[str, Any], resolvers: dict[str, str], data_keys: list[str]) -> list[RequiredInput | None]:
    from skillrun.api import compose
    from skillrun.bank import schemas
    from skillrun.composition import paths

    spec = compose(skill.name, action, bank=bank).spec
    out: list[RequiredInput | None] = []
    for tokens, value in paths.leaves(spec):
        if value != MISSING:
            continue
        path = paths.format(tokens)
        resolver = resolvers.get(path)
        if resolver in _LAUNCH:
            continue
        sub = schemas.at(schema, tokens) or {}
        who = "parent" if resolver in _PARENT else "data_source" if any(path.startswith(k) for k in data_keys) else "you"
        out.append(RequiredInput(path=path, allowed=schemas.describe(sub) if sub else None, filled_by=who, description=sub.get("description")))  # type: ignore[arg-type]
    return out


def _popular(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    from skillrun.bank import schemas

    return [(p, sub) for p, sub in schemas.walk(schema) if sub.get("popular") and not schemas.properties(sub)]


def _param(path: str, sub: dict[str, Any], shorthand: str | None) -> Param:
    from skillrun.bank import schemas

    low = next((sub[k] for k in ("minimum", "exclusiveMinimum", "valid_min") if isinstance(sub.get(k), (int, float))), None)
    high = next((sub[k] for k in ("maximum", "exclusiveMaximum", "valid_max") if isinstance(sub.get(k), (int, float))), None)
    options = sub.get("enum") or sub.get("valid_options")
    return Param(path=path, default=sub.get("default"), allowed=schemas.describe(sub), minimum=low, maximum=high, options=options, description=sub.get("description"), shorthand=shorthand)


def examples(desc: ActionDescription) -> list[str]:
    """validate → plan → run command lines for the action, with placeholders for what you must provide."""
    words: list[str] = []
    for ds in desc.data_sources:
        if not ds.get("required", True):
            continue
        entry = "{" + ", ".join(f"{field}: /path/to/{field}" for field in ds.get("files") or {"path": ""}) + "}"
        words.append(f"{ds['spec_key']}=[{entry}]" if ds.get("list") else f"{ds['spec_key']}={entry}")
    data_keys = [ds["spec_key"] for ds in desc.data_sources]
    words += [f"{r.path}=/path/to/{r.path.rsplit('.', 1)[-1]}" for r in desc.required if r.filled_by == "you" and not any(r.path.startswith(k) for k in data_keys)]
    opts: list[str] = []
    if desc.parent is not None and desc.parent.required:
        opts += ["--parent", "JOB_ID"]
    if desc.automl.get("applies"):
        opts += ["--automl", "off"]
    base = [desc.skill, desc.action]
    return [
        shlex.join(["skillrun", "validate", *base, *words, "--json"]),
        shlex.join(["skillrun", "plan", *base, *opts, *words, "--json"]),
        shlex.join(["skillrun", "run", *base, *opts, *words, "--detach", "--json"]),
    ]
