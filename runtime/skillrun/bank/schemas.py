"""Action schemas: loading (TAO dialect, ``$ref`` across files) and walking.

Everything downstream — composition, validation, AutoML, generated docs —
works on one self-contained schema tree, so ``$ref``s are resolved here once,
with the ``referencing`` library over the JSON files beside the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from skillrun.bank.loader import read_json
from skillrun.contracts.report import Issue
from skillrun.errors import BankError

Token = str | int
MISSING = "???"  #: TAO/OmegaConf marker for a value the user must provide


def load_action_schema(file: Path) -> tuple[dict[str, Any], list[str]]:
    """Read, normalise and dereference ``file``; notes say what TAO normalisation changed."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    from skillrun.bank import tao_dialect

    if not file.is_file():
        msg = f"{file}: missing action schema"
        raise BankError(msg, [Issue(path=str(file), message="missing", stage="bank", code="no_schema")])
    notes: list[str] = []
    registry: Registry = Registry()
    for sibling in sorted(file.parent.glob("*.json")):
        contents = read_json(sibling)
        if not isinstance(contents, dict):
            continue
        if tao_dialect.is_tao_dialect(contents):
            contents, changed = tao_dialect.normalize_schema(contents)
            if sibling == file:
                notes.extend(changed)
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        registry = registry.with_resource(sibling.resolve().as_uri(), resource)
    uri = file.resolve().as_uri()
    root = registry[uri].contents
    resolver = registry.resolver(base_uri=uri)
    try:
        schema = _deref(root, resolver, ())
    except _RefCycle as exc:
        msg = f"{file}: $ref cycle through {' -> '.join(exc.args[0])}"
        raise BankError(msg, [Issue(path=str(file), message="$ref cycle", stage="bank", code="ref_cycle")]) from None
    except Exception as exc:  # referencing.exceptions.Unresolvable and friends
        msg = f"{file}: cannot resolve $ref ({exc})"
        raise BankError(msg, [Issue(path=str(file), message=str(exc), stage="bank", code="ref")]) from None
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        msg = f"{file}: not a valid JSON Schema at {where or '(root)'}: {exc.message}"
        raise BankError(msg, [Issue(path=f"{file}: {where}", message=exc.message, stage="bank", code="schema")]) from None
    return schema, notes


def default_defects(schema: dict[str, Any], file: Path) -> list[Issue]:
    """Warnings for defaults that break their own field's schema (a skill's defect, shown on the skill).

    ``???`` (a value the user must give) is not a defect.
    """
    from jsonschema import Draft202012Validator

    out = []
    for err in Draft202012Validator(schema).iter_errors(defaults(schema)):
        if err.instance == MISSING or err.validator in ("required", "additionalProperties"):
            continue
        where = ".".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(
            Issue(
                path=f"{file}: {where}",
                value=err.instance if not isinstance(err.instance, (dict, list)) else None,
                message=f"the skill's own default breaks its own schema ({err.message[:160]})",
                hint="validation reports it as a warning, not an error, while the value is the skill's; set the key to fix it for a run",
                severity="warning",
                stage="bank",
                code="default_breaks_schema",
            )
        )
    return out


class _RefCycle(Exception):
    pass


def _deref(node: Any, resolver: Any, chain: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_deref(x, resolver, chain) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in chain:
            raise _RefCycle((*chain, ref))
        resolved = resolver.lookup(ref)
        target = _deref(resolved.contents, resolved.resolver, (*chain, ref))
        siblings = {k: _deref(v, resolver, chain) for k, v in node.items() if k != "$ref"}
        return {**target, **siblings} if isinstance(target, dict) else target
    return {k: (v if k in ("default", "const", "enum", "examples") else _deref(v, resolver, chain)) for k, v in node.items()}


# -- walking --------------------------------------------------------------
def branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema itself plus its allOf/anyOf/oneOf branches (one level), objects only."""
    out = [schema]
    for key in ("allOf", "anyOf", "oneOf"):
        out.extend(b for b in schema.get(key, []) if isinstance(b, dict))
    return out


def child(schema: dict[str, Any], token: Token) -> dict[str, Any] | None:
    """The sub-schema for one path step, or None when the schema does not allow it."""
    for branch in branches(schema):
        if isinstance(token, int):
            items = branch.get("items")
            if isinstance(items, dict):
                return items
        if isinstance(token, str):
            props = branch.get("properties", {})
            if token in props:
                return props[token]
    for branch in branches(schema):
        extra = branch.get("additionalProperties")
        if isinstance(token, str) and isinstance(extra, dict):
            return extra
        if isinstance(token, str) and extra is True and branch.get("type") in (None, "object"):
            return {}
    if isinstance(token, str) and _free_form(schema):
        return {}
    return None


def _free_form(schema: dict[str, Any]) -> bool:
    """An object section that names no keys at all (TAO emits these for optional sub-configs): any key goes."""
    kinds = schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
    return "object" in kinds and not properties(schema) and schema.get("additionalProperties") is not False and not any(
        b.get("properties") or b.get("additionalProperties") is False for b in branches(schema)
    )


def at(schema: dict[str, Any], tokens: list[Token]) -> dict[str, Any] | None:
    """The sub-schema at ``tokens``, or None."""
    node: dict[str, Any] | None = schema
    for tok in tokens:
        if node is None:
            return None
        node = child(node, tok)
    return node


def is_open(schema: dict[str, Any]) -> bool:
    """True when an object schema accepts keys it does not name (``+key=`` may add them)."""
    return any(b.get("additionalProperties", True) is not False for b in branches(schema))


def properties(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Named properties of an object schema, across its branches."""
    out: dict[str, dict[str, Any]] = {}
    for branch in branches(schema):
        out.update(branch.get("properties", {}))
    return out


def defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """The default spec a schema describes: leaf ``default``s, nested by section."""
    return _defaults(schema, root=True) or {}


def _defaults(schema: dict[str, Any], *, root: bool = False) -> Any:
    if "default" in schema:
        return schema["default"]
    props = properties(schema)
    if not props:
        return None
    out = {}
    for key, sub in props.items():
        value = _defaults(sub)
        if "default" in sub or value:  # a section with no defaults at all stays absent
            out[key] = value
    required = {k for b in branches(schema) for k in b.get("required", [])}
    if not root and required - set(out):  # defaults alone cannot make this object valid
        return None
    return out or None


def walk(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (dotted path, sub-schema) pair; array items appear as ``path[]``."""
    for key, sub in properties(schema).items():
        path = f"{prefix}.{key}" if prefix else key
        yield path, sub
        yield from walk(sub, path)
        for branch in branches(sub):
            items = branch.get("items")
            if isinstance(items, dict) and properties(items):
                yield from walk(items, f"{path}[]")


def known_paths(schema: dict[str, Any]) -> list[str]:
    """All dotted paths a spec may set (array items as ``[0]``), for suggestions."""
    return [p.replace("[]", "[0]") for p, _ in walk(schema)]


def describe(schema: dict[str, Any]) -> str:
    """What a schema allows, in words: ``integer >= 1``, ``one of 'a', 'b'``, ``'auto'``."""
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    alts = schema.get("anyOf") or schema.get("oneOf")
    if alts:
        return " or ".join(describe(a) for a in alts)
    kind = schema.get("type", "any value")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    parts = [kind]
    for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in schema:
            parts.append(f"{op} {schema[key]}")
    if "multipleOf" in schema:
        parts.append(f"multiple of {schema['multipleOf']}")
    if "minItems" in schema:
        parts.append(f"with at least {schema['minItems']} item(s)")
    if "maxItems" in schema:
        parts.append(f"with at most {schema['maxItems']} item(s)")
    if isinstance(schema.get("items"), dict) and schema["items"]:
        parts.append(f"of {describe(schema['items'])}")
    return " ".join(str(p) for p in parts)
