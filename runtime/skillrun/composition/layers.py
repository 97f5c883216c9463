"""Merge the layers of a spec, pure and with provenance.

Precedence, lowest first: schema ``default``s -> the skill's ``key_defaults`` -> the action's template ->
``-e spec.yaml`` -> ``--overrides-json`` -> shorthand keys and ``key=value``
words (in the order given). Keys the schema does not know are reported with
close matches instead of being merged; nothing is raised, so validation can
report every problem at once.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from skillrun import yamlio
from skillrun.bank import schemas
from skillrun.composition import paths
from skillrun.composition.overrides import Override, load_overrides_json, overrides_from_mapping, parse_override
from skillrun.contracts.report import Issue
from skillrun.contracts.spec import ComposedSpec
from skillrun.errors import UsageError

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill


def compose(
    skill: Skill,
    action: str,
    *,
    spec_file: str | Path | None = None,
    spec: dict[str, Any] | None = None,
    overrides: Iterable[str | Override] = (),
    overrides_json: str | dict[str, Any] | None = None,
    template: str = "default",
) -> ComposedSpec:
    """Compose the spec ``skill action`` would run with. Never mutates its inputs."""
    skill.require_action(action)
    schema = skill.schema(action) if skill.has_schema(action) else None
    out = ComposedSpec(skill=skill.name, action=action)
    merger = _Merger(skill, action, schema, out)
    if schema is not None:
        merger.merge(schemas.defaults(schema), "schema", check=False)
    key_defaults = skill.info.actions[action].key_defaults
    if key_defaults:
        nested: dict[str, Any] = {}
        for key, value in key_defaults.items():
            paths.assign(nested, paths.parse(key), copy.deepcopy(value))
        merger.merge(nested, "skill-defaults", origin=f"{skill.path / 'references' / 'skill_info.yaml'}: key_defaults")
    merger.merge(skill.template(action, template), "template", origin=str(skill.template_file(action, template)))
    if spec_file is not None:
        merger.merge(_read_spec_file(Path(spec_file)), "spec-file", origin=str(spec_file), foreign_ok=True)
    if spec is not None:
        merger.merge(copy.deepcopy(spec), "spec-file", origin="spec", foreign_ok=True)
    if overrides_json is not None:
        items = load_overrides_json(overrides_json) if isinstance(overrides_json, str) else overrides_from_mapping(overrides_json)
        for item in items:
            merger.apply(item)
    for item in overrides:
        merger.apply(parse_override(item) if isinstance(item, str) else item)
    return out


def _read_spec_file(file: Path) -> dict[str, Any]:
    if not file.is_file():
        msg = f"{file}: spec file not found"
        raise UsageError(msg, hint="pass -e with the path of a YAML spec (see `skillrun template SKILL ACTION`)")
    try:
        data = yamlio.load_file(file)
    except Exception as exc:  # yaml.YAMLError
        raise UsageError(yamlio.error_location(exc, file), hint="check the indentation and quoting at that line") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"{file}: a spec must be a mapping of sections, got {type(data).__name__}"
        raise UsageError(msg, hint="see `skillrun template SKILL ACTION` for the expected layout")
    return data


def suggest(key: str, schema: dict[str, Any] | None, limit: int = 3) -> list[str]:
    """Known paths close to ``key``: fuzzy matches, then paths ending with its last segment."""
    if not schema:
        return []
    known = schemas.known_paths(schema)
    found = difflib.get_close_matches(key, known, n=limit, cutoff=0.75)
    if found and difflib.SequenceMatcher(None, key, found[0]).ratio() >= 0.9:
        return found[:1]  # one obvious typo fix; more would be noise
    last = key.rsplit(".", 1)[-1]
    found += [p for p in known if p.endswith("." + last) and p not in found]
    if len(found) < limit:
        lasts = {p.rsplit(".", 1)[-1]: p for p in known}
        found += [lasts[m] for m in difflib.get_close_matches(last, list(lasts), n=limit, cutoff=0.8) if lasts[m] not in found]
    return found[:limit]


class _Merger:
    """Applies layers to ``out.spec`` and records provenance and issues on ``out``."""

    def __init__(self, skill: Skill, action: str, schema: dict[str, Any] | None, out: ComposedSpec) -> None:
        self.skill = skill
        self.action = action
        self.schema = schema
        self.out = out

    # -- whole layers ---------------------------------------------------
    def merge(self, data: dict[str, Any], layer: str, *, origin: str = "", check: bool = True, foreign_ok: bool = False) -> None:
        data = copy.deepcopy(data)
        if check and self.schema is not None:
            self._drop_unknown(data, layer, origin, foreign_ok)
        self._merge_into(self.out.spec, data, [], layer)

    def _merge_into(self, dst: dict[str, Any], src: dict[str, Any], prefix: list[paths.Token], layer: str) -> None:
        for key, value in src.items():
            here = [*prefix, key]
            if isinstance(value, dict) and isinstance(dst.get(key), dict) and value:
                self._merge_into(dst[key], value, here, layer)
            else:
                dst[key] = value
                self._record(here, value, layer)

    def _record(self, tokens: list[paths.Token], value: Any, layer: str) -> None:
        head = paths.format(tokens)
        for stale in [k for k in self.out.provenance if k == head or k.startswith((head + ".", head + "["))]:
            del self.out.provenance[stale]
        for sub, _ in paths.leaves(value, list(tokens)):
            self.out.provenance[paths.format(sub)] = layer

    def _drop_unknown(self, data: dict[str, Any], layer: str, origin: str, foreign_ok: bool) -> None:
        """Remove keys the schema does not know from ``data``, reporting each."""
        assert self.schema is not None
        unknown = [k for k in data if schemas.child(self.schema, k) is None]
        foreign = self._foreign_sections() if foreign_ok and unknown else set()  # loads other schemas: only when needed
        for key in unknown:
            if key in foreign:
                self.out.issues.append(
                    Issue(
                        path=key,
                        message=f"section not read by {self.skill.name} {self.action}; ignored",
                        hint=f"fine when reusing a spec written for another action ({origin})",
                        severity="warning",
                        stage="compose",
                        code="ignored_section",
                    )
                )
            else:
                self._unknown([key], data[key], origin)
            del data[key]
        self._drop_nested(data, [], origin)

    def _drop_nested(self, node: Any, prefix: list[paths.Token], origin: str) -> None:
        assert self.schema is not None
        sub_schema = schemas.at(self.schema, prefix) if prefix else self.schema
        if sub_schema is None:
            return
        if isinstance(node, dict):
            props = schemas.properties(sub_schema)
            if not props:
                return
            for key in list(node):
                if key not in props and not schemas.is_open(sub_schema):
                    self._unknown([*prefix, key], node.pop(key), origin)
                else:
                    self._drop_nested(node[key], [*prefix, key], origin)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                self._drop_nested(item, [*prefix, i], origin)

    def _foreign_sections(self) -> set[str]:
        """Top-level sections other actions of the skill read (a train spec reused for evaluate)."""
        names: set[str] = set()
        for other in self.skill.actions:
            if other != self.action and self.skill.has_schema(other):
                names.update(schemas.properties(self.skill.schema(other)))
        return names

    def _unknown(self, tokens: list[paths.Token], value: Any, origin: str = "") -> None:
        key = paths.format(tokens)
        close = suggest(key, self.schema)
        parent = schemas.at(self.schema, tokens[:-1]) if self.schema is not None and len(tokens) > 1 else self.schema
        names = sorted(schemas.properties(parent)) if parent else []
        allowed = None
        if names:
            where = paths.format(tokens[:-1]) or "the top level"
            allowed = f"keys under {where}: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}"
        self.out.issues.append(
            Issue(
                path=key,
                value=value if not isinstance(value, (dict, list)) else None,
                message="unknown key" + (f" (in {origin})" if origin else ""),
                allowed=allowed,
                hint=f"did you mean {' or '.join(close)}?" if close else f"see `skillrun schema {self.skill.name} {self.action}`",
                stage="compose",
                code="unknown_key",
            )
        )

    # -- single overrides -----------------------------------------------
    def apply(self, item: Override) -> None:
        tokens = list(item.tokens)
        layer = item.source
        shorthand = self.skill.info.actions[self.action].spec_shorthand_keys
        if len(tokens) == 1 and isinstance(tokens[0], str) and tokens[0] in shorthand:
            tokens = paths.parse(shorthand[tokens[0]])
            layer = "shorthand"
        key = paths.format(tokens)
        if item.op == "delete":
            if not paths.remove(self.out.spec, tokens):
                self.out.issues.append(
                    Issue(path=key, message="nothing to delete: the key is not in the spec", hint="check the path with `skillrun validate ... --print-spec`", stage="compose", code="delete_missing")
                )
            else:
                self._record(tokens, None, layer)
                self.out.provenance.pop(key, None)
            return
        if self.schema is not None and not self._allowed(tokens, item.op):
            self._unknown(tokens, item.value)
            return
        try:
            paths.assign(self.out.spec, tokens, copy.deepcopy(item.value))
        except paths.PathError as exc:
            self.out.issues.append(
                Issue(path=exc.path, value=item.value, message=exc.message, hint="set the whole list, e.g. key=[...], or use the next free index", stage="compose", code="bad_path")
            )
            return
        self._record(tokens, item.value, layer)

    def _allowed(self, tokens: list[paths.Token], op: str) -> bool:
        assert self.schema is not None
        if schemas.at(self.schema, tokens) is not None:
            return True
        parent = schemas.at(self.schema, tokens[:-1]) if len(tokens) > 1 else self.schema
        return op == "add" and parent is not None and schemas.is_open(parent)
