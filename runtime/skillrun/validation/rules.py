"""Layer 2: cross-field rules from skill_info.yaml, and math_cond / depends_on from the schema."""

from __future__ import annotations

import math
import operator
from typing import Any

from skillrun.bank import schemas
from skillrun.composition import paths
from skillrun.contracts.report import Issue
from skillrun.contracts.skill import Rule
from skillrun.validation.expressions import Evaluator, Undecided

UNRESOLVED = (schemas.MISSING, "auto", None)
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}


USER_LAYERS = frozenset({"spec-file", "shorthand", "override", "overrides-json", "api"})


def check_rules(spec: dict[str, Any], rules: list[Rule], *, bad_paths: set[str], provenance: dict[str, str] | None = None) -> list[Issue]:
    """Issues for every rule whose expression is false; rules reading bad or unknown values are skipped.

    The issue is reported on the rule's ``path`` unless the user set another field the
    rule reads while ``path`` kept its default: then on the field the user changed.
    """
    provenance = provenance or {}
    ev = Evaluator(spec)
    out = []
    for rule in rules:
        try:
            if rule.when is not None and not ev(rule.when):
                continue
            ok = ev(rule.expr)
        except Undecided:
            continue
        except ValueError as exc:
            if _reads(ev.touched, bad_paths) or _reads_auto(spec, ev.touched):
                continue  # the value is already reported, or 'auto' is not derived yet
            out.append(
                Issue(path=rule.path, message=f"rule {rule.id} could not be evaluated: {exc}", severity="warning", stage="rule", code=f"rule_error:{rule.id}")
            )
            continue
        if ok or _reads(ev.touched, bad_paths):
            continue
        where = _blame(rule.path, ev.touched, provenance)
        out.append(
            Issue(
                path=where,
                value=paths.get(spec, paths.parse(where)),
                message=ev.render(rule.message),
                allowed=rule.expr,
                hint=ev.render(rule.hint) if rule.hint else None,
                severity=rule.severity,
                stage="rule",
                code=f"rule:{rule.id}",
            )
        )
    return out


def _blame(path: str, touched: list[str], provenance: dict[str, str]) -> str:
    def by_user(p: str) -> bool:
        return any(provenance.get(k) in USER_LAYERS for k in provenance if k == p or k.startswith((p + ".", p + "[")))

    if by_user(path):
        return path
    changed = [t for t in dict.fromkeys(touched) if "." in t and by_user(t)]
    return changed[0] if changed else path


def _reads(touched: list[str], bad: set[str]) -> bool:
    """True when the expression read a value at or under an already-reported path."""
    return any(t == b or t.startswith((b + ".", b + "[")) for t in touched for b in bad)


def _reads_auto(spec: dict[str, Any], touched: list[str]) -> bool:
    return any(paths.get(spec, paths.parse(t)) == "auto" for t in touched)


def check_conditions(spec: dict[str, Any], schema: dict[str, Any], *, bad_paths: set[str]) -> list[Issue]:
    """``math_cond`` ("^ 2", "/ 32", "> depends_on", ...) and ``depends_on`` on schema leaves."""
    out: list[Issue] = []
    for dotted, sub in schemas.walk(schema):
        cond, dep = sub.get("math_cond"), sub.get("depends_on")
        if not cond and not dep or "[]" in dotted or dotted in bad_paths:
            continue
        tokens = paths.parse(dotted)
        if not paths.has(spec, tokens):
            continue
        value = paths.get(spec, tokens)
        if not isinstance(value, (list, dict)) and value in UNRESOLVED:
            continue
        if cond:
            if isinstance(dep, str) and dep in bad_paths:
                continue  # the field it is compared with is already reported
            issue = _math_cond(dotted, value, str(cond).strip(), dep, spec, sub)
            if issue:
                out.append(issue)
        elif dep:
            out.extend(_depends_on(dotted, value, dep, spec, sub))
    return out


def _math_cond(path: str, value: Any, cond: str, dep: Any, spec: dict[str, Any], sub: dict[str, Any]) -> Issue | None:
    op, _, arg = cond.partition(" ")
    arg = arg.strip()
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    if arg == "depends_on" and op in _OPS and isinstance(dep, str):
        other = paths.get(spec, paths.parse(dep))
        if not isinstance(other, (int, float)) or other in UNRESOLVED:
            return None
        if all(_OPS[op](v, other) for v in values):
            return None
        return Issue(path=path, value=value, message=f"must be {op} {dep} ({other})", allowed=f"a value {op} {other}", hint=f"change {path} or {dep}", stage="rule", code="math_cond")
    try:
        n = float(arg)
    except ValueError:
        return None
    if op == "/" and n:
        bad = [v for v in values if v % n]
        if bad:
            near = max(int(n), int(round(bad[0] / n) * n))
            return Issue(path=path, value=value, message=f"must be divisible by {arg}", allowed=f"multiples of {arg}", hint=f"try {near}", stage="rule", code="math_cond")
    if op == "^" and n > 1:
        bad = [v for v in values if v <= 0 or not math.isclose(math.log(v, n), round(math.log(v, n)))]
        if bad:
            lower = int(n ** math.floor(math.log(bad[0], n))) if bad[0] > 0 else 1
            return Issue(path=path, value=value, message=f"must be a power of {arg}", allowed=f"{lower}, {int(lower * n)}, ...", hint=f"try {lower}", stage="rule", code="math_cond")
    return None


def _depends_on(path: str, value: Any, dep: Any, spec: dict[str, Any], sub: dict[str, Any]) -> list[Issue]:
    """Without a relational math_cond, depends_on means: only takes effect when ``dep`` is on."""
    deps = dep if isinstance(dep, list) else [dep]
    out = []
    for d in deps:
        if not isinstance(d, str):
            continue
        try:
            enabled = paths.get(spec, paths.parse(d))
        except ValueError:
            continue
        if not enabled and "default" in sub and value != sub["default"]:
            out.append(
                Issue(
                    path=path,
                    value=value,
                    message=f"has no effect while {d} is {enabled!r}",
                    hint=f"set {d}=true, or leave {path} at its default",
                    severity="warning",
                    stage="rule",
                    code="depends_on",
                )
            )
    return out
