"""Layer 1: JSON Schema (draft 2020-12), each error turned into an actionable issue."""

from __future__ import annotations

import difflib
from typing import Any, Callable, Iterator

from skillrun.bank import schemas
from skillrun.composition import paths
from skillrun.contracts.report import Issue

MISSING = schemas.MISSING
def launch_resolved(name: str) -> bool:
    """Whether this resolver always fills its field when the job is launched (no user input needed)."""
    from skillrun.resolve.params import OUTPUT_FILES

    return name in ("output_dir", "key", "constant", "link") or name in {r.value for r in OUTPUT_FILES}


def missing_values(spec: dict[str, Any], resolvers: dict[str, str] | None = None, foreign: frozenset[str] = frozenset()) -> list[Issue]:
    """Every leaf still ``???``: a value the user must provide (or a parent job, where a resolver says so).

    Sections in ``foreign`` belong to other actions (a TAO train spec carries ``distill``): their ``???`` are not asked for.
    """
    resolvers = resolvers or {}
    out = []
    for tokens, value in paths.leaves(spec):
        if value != MISSING or (tokens and tokens[0] in foreign):
            continue
        key = paths.format(tokens)
        resolver = resolvers.get(key)
        if resolver is not None and launch_resolved(resolver):
            continue
        hint = f"set it, e.g. {key}=VALUE"
        if resolver in ("parent_model", "parent_model_folder", "parent_model_or_ptm"):
            hint = f"pass --parent JOB_ID (the {resolver} resolver fills it from the parent's results) or set {key}=PATH"
        out.append(Issue(path=key, message="required value is missing", hint=hint, stage="schema", code="missing"))
    return out


#: composition layers that are the skill's own, not the user's
SHIPPED = frozenset({"schema", "skill-defaults", "template"})


def shipped_defects(issues: list[Issue], provenance: dict[str, str], skill: str, shipped: Callable[[], dict[str, Any]]) -> list[Issue]:
    """Schema errors on values the skill itself ships (its defaults or template) become warnings.

    A skill whose default breaks its own schema (a TAO default below its own
    minimum, an enum that lost its options) is the skill's defect: the user is
    told, and can set the key, but is not blocked for a value they never wrote.
    A value counts as shipped when its layer says so, or when it equals what the
    skill ships there (an AutoML trial's spec arrives whole, its layers gone);
    ``shipped`` gives the skill's own spec, composed only if needed.
    """
    out = []
    own: dict[str, Any] | None = None
    for issue in issues:
        layer = provenance.get(issue.path)
        if issue.severity == "error" and layer not in SHIPPED and issue.value is not None:
            own = shipped() if own is None else own
            tokens = paths.parse(issue.path) if issue.path != "(spec)" else []
            if tokens and paths.has(own, tokens) and paths.get(own, tokens) == issue.value:
                layer = "template"
        if issue.severity == "error" and layer in SHIPPED:
            issue = issue.model_copy(
                update={
                    "severity": "warning",
                    "code": f"shipped_{issue.code}",
                    "message": f"{issue.message}: {skill} ships this value in its {layer} and it breaks the skill's own schema; left as shipped",
                    "hint": (issue.hint + "; " if issue.hint else "") + "set it yourself to silence this, and tell the skill's author",
                }
            )
        out.append(issue)
    return out


def check(spec: dict[str, Any], schema: dict[str, Any], *, skip: set[str] = frozenset()) -> list[Issue]:
    """Schema errors, except those at or under a path in ``skip`` (already reported)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    out: list[Issue] = []
    for err in sorted(validator.iter_errors(spec), key=lambda e: list(map(str, e.absolute_path))):
        for issue in _issues(err, schema):
            if not any(issue.path == s or issue.path.startswith((s + ".", s + "[")) for s in skip):
                out.append(issue)
    return _dedupe(out)


def _issues(err: Any, root: dict[str, Any]) -> Iterator[Issue]:
    tokens = list(err.absolute_path)
    where = paths.format(tokens) or "(spec)"
    kind = err.validator
    sub = err.schema if isinstance(err.schema, dict) else {}
    value = err.instance if not isinstance(err.instance, (dict, list)) or kind in ("minItems", "maxItems", "uniqueItems") else None
    if kind == "additionalProperties":
        known = sorted(schemas.properties(sub))
        for key in sorted(set(err.instance) - set(known)):
            close = difflib.get_close_matches(key, known, n=1)
            yield Issue(
                path=paths.format([*tokens, key]),
                message="unknown key",
                allowed=f"keys under {where}: {', '.join(known)}",
                hint=f"did you mean {paths.format([*tokens, close[0]])}?" if close else None,
                code="unknown_key",
            )
        return
    if kind == "required":
        for key in sub.get("required", []):
            if isinstance(err.instance, dict) and key not in err.instance:
                full = paths.format([*tokens, key])
                yield Issue(path=full, message="required key is missing", hint=f"set {full}=...", code="missing")
        return
    if kind in ("anyOf", "oneOf"):
        deeper = [e for e in (err.context or []) if e.relative_path]
        if deeper:  # one branch matched the value's shape: report what is wrong inside it
            for inner in deeper:
                yield from _issues(inner, root)
            return
    allowed = schemas.describe(sub) if kind not in ("enum",) else None
    hint = None
    if kind == "enum":
        options = sub.get("enum", [])
        allowed = ", ".join(repr(o) for o in options)
        close = difflib.get_close_matches(str(err.instance), [str(o) for o in options], n=1)
        message = "not one of the allowed values"
        if close:
            hint = f"did you mean {where}={close[0]}?"
    elif kind in ("anyOf", "oneOf"):
        message = "does not match any allowed form"
        allowed = " or ".join(schemas.describe(b) for b in sub.get(kind, []))
    elif kind == "type":
        message = f"must be {_a(sub.get('type'))}, got {type(err.instance).__name__}"
        if isinstance(err.instance, str):
            hint = "numbers and booleans are written without quotes"
    elif kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        message = f"must be {op} {sub[kind]}"
        hint = _bound_hint(where, sub, kind)
    elif kind == "multipleOf":
        message = f"must be a multiple of {sub['multipleOf']}"
        if isinstance(err.instance, (int, float)):
            step = sub["multipleOf"]
            hint = f"try {where}={round(err.instance / step) * step or step}"
    elif kind == "const":
        message = f"must be {sub['const']!r} here"
        allowed = repr(sub["const"])
        hint = "a rule of the schema ties this value to a neighbouring field: see `skillrun schema`"
    elif kind in ("minItems", "maxItems"):
        message = f"must have {'at least' if kind == 'minItems' else 'at most'} {sub[kind]} item(s), has {len(err.instance)}"
    else:
        message = err.message
    yield Issue(path=where, value=value, message=message, allowed=allowed, hint=hint, code=kind)


def _bound_hint(where: str, sub: dict[str, Any], kind: str) -> str | None:
    """The default when it satisfies the field's own schema, else the nearest allowed value: never a value that fails again."""
    from jsonschema import Draft202012Validator

    default = sub.get("default")
    if default is not None and Draft202012Validator(sub).is_valid(default):
        return f"try {where}={default} (the default)"
    bound = sub[kind]
    if kind.startswith("exclusive"):
        types = sub.get("type") if isinstance(sub.get("type"), list) else [sub.get("type")]
        if "integer" not in types:
            return f"use a value {'above' if kind == 'exclusiveMinimum' else 'below'} {bound}"
        bound = bound + 1 if kind == "exclusiveMinimum" else bound - 1
    return f"try {where}={bound} (the {'lowest' if 'inimum' in kind else 'highest'} allowed)"


def _a(kind: Any) -> str:
    if isinstance(kind, list):
        return " or ".join(_a(k) for k in kind)
    return {"integer": "an integer", "array": "a list", "object": "a mapping", "number": "a number", "boolean": "true or false", "string": "a string", "null": "null"}.get(str(kind), str(kind))


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[str, str]] = set()
    out = []
    for issue in issues:
        if (issue.path, issue.message) not in seen:
            seen.add((issue.path, issue.message))
            out.append(issue)
    return out
