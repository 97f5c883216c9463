"""Layer 1: JSON Schema (draft 2020-12), each error turned into an actionable issue."""

from __future__ import annotations

import difflib
from typing import Any, Iterator

from skillrun.bank import schemas
from skillrun.composition import paths
from skillrun.contracts.report import Issue

MISSING = schemas.MISSING
#: resolvers that always fill their field when the job is launched (no user input needed)
LAUNCH_RESOLVED = frozenset({"output_dir", "create_onnx_file", "key"})


def missing_values(spec: dict[str, Any], resolvers: dict[str, str] | None = None) -> list[Issue]:
    """Every leaf still ``???``: a value the user must provide (or a parent job, where a resolver says so)."""
    resolvers = resolvers or {}
    out = []
    for tokens, value in paths.leaves(spec):
        if value != MISSING:
            continue
        key = paths.format(tokens)
        resolver = resolvers.get(key)
        if resolver in LAUNCH_RESOLVED:
            continue
        hint = f"set it, e.g. {key}=VALUE"
        if resolver in ("parent_model", "parent_model_folder"):
            hint = f"pass --parent JOB_ID (the {resolver} resolver fills it from the parent's results) or set {key}=PATH"
        out.append(Issue(path=key, message="required value is missing", hint=hint, stage="schema", code="missing"))
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
        default = sub.get("default")
        hint = f"try {where}={default} (the default)" if default is not None else None
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
