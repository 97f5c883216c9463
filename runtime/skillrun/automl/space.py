"""The search space of a study, read from the packaged train schema (no optuna here).

Keys: ``automl.parameters`` (or the schema's ``automl_default_parameters``) plus
any key given a range in ``automl.ranges``, minus ``automl_disabled_parameters``
and leaves marked ``automl_enabled: false``. Bounds, in order: the user's range,
``valid_min``/``valid_max``/``valid_options``, the schema's own limits (a user
range may not leave those). ``option_weights`` are the categorical prior;
learning rates and weight decay are sampled on a log scale. A relational
``math_cond`` against ``depends_on`` ("<= depends_on") narrows the dependent
key's bounds to the value just sampled for the key it depends on, so such a
rule holds by construction; every other rule is checked on the sampled spec
before launch (:mod:`skillrun.automl.trial`).
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from skillrun.automl.settings import AutomlSettings, RangeSpec
from skillrun.bank import schemas
from skillrun.composition import paths
from skillrun.contracts.report import Issue

Kind = Literal["float", "int", "categorical"]
_LOG_NAME = re.compile(r"(^|_)(lr|learning_rate|weight_decay)($|_)")
_RELATIONAL = ("<", "<=", ">", ">=")
_SCALAR = (str, int, float, bool, type(None))


class Infeasible(Exception):
    """The bounds left for a key after narrowing are empty: the trial fails by constraint, unlaunched."""


@dataclass(frozen=True)
class Param:
    """One searched key."""

    path: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    weights: tuple[float, ...] | None = None
    depends_on: str | None = None
    cond: str | None = None  #: relational math_cond op against depends_on
    baseline: Any = None
    source: str = "schema"

    @property
    def encoded(self) -> tuple[Any, ...]:
        """Optuna-safe choices: scalars as they are, lists and mappings as JSON text."""
        return tuple(c if isinstance(c, _SCALAR) else json.dumps(c) for c in self.choices)

    def decode(self, value: Any) -> Any:
        if self.kind == "categorical" and isinstance(value, str) and value not in self.choices:
            return json.loads(value)
        return value

    def bounds(self, values: dict[str, Any]) -> tuple[float, float]:
        """(low, high) for this trial: narrowed by the value already drawn for ``depends_on``."""
        low, high = float(self.low), float(self.high)  # type: ignore[arg-type]
        other = values.get(self.depends_on) if self.depends_on else None
        if self.cond and isinstance(other, (int, float)):
            if self.cond in ("<", "<="):
                high = min(high, float(other))
            else:
                low = max(low, float(other))
        if low > high or (self.log and low <= 0):
            msg = f"{self.path} must be {self.cond} {self.depends_on} ({other}), which leaves no room in [{self.low}, {self.high}]"
            raise Infeasible(msg)
        return low, high

    def describe(self) -> dict[str, Any]:
        """The launch-review row."""
        out: dict[str, Any] = {"path": self.path, "type": self.kind}
        if self.kind == "categorical":
            out["choices"] = list(self.choices)
            if self.weights:
                out["weights"] = list(self.weights)
        else:
            out.update(low=self.low, high=self.high, log=self.log)
            if self.step:
                out["step"] = self.step
        if self.cond:
            out["constraint"] = f"{self.cond} {self.depends_on}"
        out["baseline"] = self.baseline
        out["source"] = self.source
        return out


@dataclass
class Space:
    params: list[Param] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Any:
        return iter(self.params)

    @property
    def names(self) -> list[str]:
        return [p.path for p in self.params]


def build_space(schema: dict[str, Any], spec: dict[str, Any], settings: AutomlSettings) -> Space:
    """The space ``settings`` asks for over ``schema``; problems are collected as issues, never raised."""
    space = Space()
    disabled = {*schema.get("automl_disabled_parameters", []), settings.budget_key, "automl", "automl_policy", "results_dir", *settings.trial_overrides}
    user_list = settings.parameters is not None
    names = list(settings.parameters) if user_list else list(schema.get("automl_default_parameters", []))
    where = "automl.parameters" if user_list else "automl_default_parameters (train schema)"
    names += [k for k in settings.ranges if k not in names]
    if not names:
        space.issues.append(Issue(path="automl.parameters", message="the search space is empty: the schema has no automl_default_parameters", hint="list keys to search: 'automl.parameters=[train.optim.lr]'", code="automl_empty"))
    known = _searchable(schema)
    for name in dict.fromkeys(names):
        loc = f'automl.ranges["{name}"]' if name in settings.ranges and name not in (settings.parameters or []) else where
        leaf = schemas.at(schema, paths.parse(name)) if _parses(name) else None
        if leaf is None:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            space.issues.append(Issue(path=loc, value=name, message=f"{name!r} is not a key of the train spec", allowed="leaf keys of the train schema (`skillrun schema SKILL train`)", hint=f"did you mean {', '.join(close)}?" if close else None, code="automl_unknown_parameter"))
            continue
        blocked = next((d for d in disabled if name == d or name.startswith((d + ".", d + "["))), None)
        off = leaf.get("automl_enabled") in (False, "FALSE", "false")
        if blocked or off:
            why = f"{blocked!r} is in automl_disabled_parameters" if blocked else "its schema leaf has automl_enabled: false"
            if blocked == settings.budget_key:
                why = f"{name} is the budget key: set automl.max_epochs instead"
            if user_list or name in settings.ranges:
                space.issues.append(Issue(path=loc, value=name, message=f"{name} cannot be searched: {why}", hint="remove it from the search space", code="automl_disabled_parameter"))
            else:
                space.notes.append(f"{name} skipped: {why}")
            continue
        param, issues = _param(name, leaf, settings.ranges.get(name), paths.get(spec, paths.parse(name)), loc)
        space.issues.extend(issues)
        if param is not None:
            space.params.append(param)
    space.params = _ordered(space.params)
    return space


def _parses(name: str) -> bool:
    try:
        paths.parse(name)
    except ValueError:
        return False
    return True


def _searchable(schema: dict[str, Any]) -> list[str]:
    return [p for p, sub in schemas.walk(schema) if "[]" not in p and not schemas.properties(sub)]


def _types(leaf: dict[str, Any]) -> list[str]:
    kind = leaf.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    return [k for k in kinds if k != "null"]


def _param(name: str, leaf: dict[str, Any], rng: RangeSpec | None, current: Any, loc: str) -> tuple[Param | None, list[Issue]]:
    rng = rng or RangeSpec()
    rloc = f'automl.ranges["{name}"]'
    issues: list[Issue] = []
    types = _types(leaf)
    options = rng.options if rng.options is not None else leaf.get("valid_options") or leaf.get("enum")
    source = "automl.ranges" if rng != RangeSpec() else "schema"
    dep, cond = leaf.get("depends_on"), str(leaf.get("math_cond") or "").strip()
    op, _, arg = cond.partition(" ")
    relational = op if op in _RELATIONAL and arg.strip() == "depends_on" and isinstance(dep, str) else None
    if options is not None or types == ["boolean"] or (types and types[0] in ("string", "array")):
        if rng.min is not None or rng.max is not None or rng.log:
            issues.append(Issue(path=rloc, message=f"{name} is categorical: give options (and weights), not min/max/log", allowed="options, weights", code="automl_range"))
        if options is None and types == ["boolean"]:
            options = [True, False]
        if not options:
            issues.append(Issue(path=loc, value=name, message=f"{name} has no valid_options or enum to choose from", hint=f"give them: 'automl.ranges={{{name}: {{options: [...]}}}}'", code="automl_no_bounds"))
            return None, issues
        hard = leaf.get("enum")
        bad = [o for o in options if hard is not None and o not in hard]
        if bad:
            issues.append(Issue(path=f"{rloc}.options", value=bad, message=f"not allowed for {name}", allowed=", ".join(map(repr, hard)), code="automl_range"))
        weights = rng.weights if rng.weights is not None else (leaf.get("option_weights") if rng.options is None else None)
        norm = _weights(weights, len(options), rloc if rng.weights is not None else f"{name} option_weights (schema)", issues)
        return Param(name, "categorical", choices=tuple(options), weights=norm, baseline=current, source=source), issues
    if rng.weights is not None:
        issues.append(Issue(path=f"{rloc}.weights", message=f"{name} is numeric: weights apply to options only", code="automl_range"))
    kind: Kind = "int" if types == ["integer"] else "float"
    if types and types[0] not in ("number", "integer"):
        issues.append(Issue(path=loc, value=name, message=f"{name} is of type {types[0]}: only numbers, integers, booleans and choices can be searched", code="automl_type"))
        return None, issues
    lo_hard, hi_hard = _hard_limits(leaf)
    low = rng.min if rng.min is not None else _finite(leaf.get("valid_min"), lo_hard)
    high = rng.max if rng.max is not None else _finite(leaf.get("valid_max"), hi_hard)
    if low is None or high is None:
        issues.append(Issue(path=loc, value=name, message=f"{name} has no finite bounds (no valid_min/valid_max or minimum/maximum in the schema)", hint=f"give them: 'automl.ranges={{{name}: {{min: A, max: B}}}}'", code="automl_no_bounds"))
        return None, issues
    for what, v in (("min", low), ("max", high)):
        if (lo_hard is not None and v < lo_hard) or (hi_hard is not None and v > hi_hard) or (leaf.get("exclusiveMinimum") is not None and v <= leaf["exclusiveMinimum"]):
            issues.append(Issue(path=f"{rloc}.{what}", value=v, message=f"outside what {name} allows", allowed=schemas.describe(leaf), code="automl_range"))
    if low > high:
        issues.append(Issue(path=rloc, value=[low, high], message=f"{name}: min is above max", code="automl_range"))
    log = rng.log if rng.log is not None else bool(_LOG_NAME.search(name.rsplit(".", 1)[-1])) and low > 0
    if log and low <= 0:
        issues.append(Issue(path=f"{rloc}.log", value=low, message=f"{name}: a log scale needs min > 0", hint="raise min or set log: false", code="automl_range"))
    if kind == "int":
        low, high = math.ceil(low), math.floor(high)
    step = rng.step
    if log and step:
        issues.append(Issue(path=f"{rloc}.step", value=step, message=f"{name}: step and log cannot be combined", code="automl_range"))
    return Param(name, kind, low, high, log, step, depends_on=dep if relational else None, cond=relational, baseline=current, source=source), issues


def _hard_limits(leaf: dict[str, Any]) -> tuple[float | None, float | None]:
    lo = _finite(leaf.get("minimum"), None)
    hi = _finite(leaf.get("maximum"), None)
    return lo, hi


def _finite(value: Any, fallback: float | None) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return fallback


def _weights(weights: Any, n: int, where: str, issues: list[Issue]) -> tuple[float, ...] | None:
    if weights is None:
        return None
    ok = isinstance(weights, list) and len(weights) == n and all(isinstance(w, (int, float)) and w >= 0 for w in weights) and sum(weights) > 0
    if not ok:
        issues.append(Issue(path=where, value=weights, message=f"option weights must be {n} non-negative numbers, not all zero", code="automl_range"))
        return None
    total = float(sum(weights))
    return tuple(round(w / total, 6) for w in weights)


def _ordered(params: list[Param]) -> list[Param]:
    """Keys a constraint depends on first, so the dependent key can be narrowed to the drawn value."""
    names = {p.path for p in params}
    first = [p for p in params if not (p.depends_on and p.depends_on in names)]
    return first + [p for p in params if p.depends_on and p.depends_on in names]


def suggest(trial: Any, space: Space) -> dict[str, Any]:
    """Draw one configuration through an Optuna ``trial``; raises Infeasible when narrowing leaves nothing."""
    values: dict[str, Any] = {}
    for p in space.params:
        if p.kind == "categorical":
            values[p.path] = p.decode(trial.suggest_categorical(p.path, list(p.encoded)))
            continue
        low, high = p.bounds(values)
        if p.kind == "int":
            values[p.path] = trial.suggest_int(p.path, int(low), int(high), step=int(p.step or 1), log=p.log)
        else:
            values[p.path] = trial.suggest_float(p.path, low, high, log=p.log, step=p.step)
    return values


def baseline(space: Space) -> dict[str, Any]:
    """The Optuna params of the baseline trial: the spec's own values (encoded like the choices).

    A value that is not one of a key's choices (or not a number for a numeric key)
    is left out, so that key is drawn instead.
    """
    out = {}
    for p in space.params:
        value = p.baseline
        if p.kind == "categorical":
            value = value if isinstance(value, _SCALAR) else json.dumps(value)
            if value not in p.encoded:
                continue
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        out[p.path] = value
    return out


def apply(spec: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with each dotted key set."""
    out = copy.deepcopy(spec)
    for key, value in values.items():
        paths.assign(out, paths.parse(key), value)
    return out
