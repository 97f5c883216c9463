"""The search space of a study, read from the packaged train schema (no optuna here).

Keys: ``automl.parameters`` as stated, or by default what TAO's AutoML would
search (``search_space/params.py: generate_hyperparams_to_search``): the root
``automl_default_parameters`` list (else every leaf flagged
``automl_enabled: true``, which TAO's list restates), less leaves under
another action's section and leaves removed from the spec; then any key
given a range in ``automl.ranges``. A leaf flagged ``automl_enabled: false``
or named in ``automl_disabled_parameters``, and anything inside such a leaf,
is never searched; an object section so named keeps its enabled leaves (TAO
disables sections and enables leaves in them). Bounds, in order: the user's
range, ``valid_min``/``valid_max``, the schema's own limits (a user range may
not leave those); an open side follows TAO (:mod:`skillrun.automl.tao_rules`).
``option_weights`` are the categorical prior; learning rates and weight decay
are sampled on a log scale. A relational ``math_cond`` against ``depends_on``
("<= depends_on") narrows the dependent key's bounds to the value just
sampled for the key it depends on, so such a rule holds by construction;
every other rule is checked on the sampled spec before launch
(:mod:`skillrun.automl.trial`).
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from skillrun.automl.settings import AutomlSettings, RangeSpec
from skillrun.automl.tao_rules import default_parameters, enabled, infinite_bounds, open_bounds
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


def build_space(
    schema: dict[str, Any],
    spec: dict[str, Any],
    settings: AutomlSettings,
    *,
    foreign: Collection[str] = (),
    infinite: Mapping[str, frozenset[str]] | None = None,
) -> Space:
    """The space ``settings`` asks for over ``schema``; problems are collected as issues, never raised.

    ``foreign``: top-level sections of the skill's other actions (the default
    space never samples what the train job does not read). ``infinite``: the
    bound sides declared infinite, by default those the loader recorded in
    ``schema`` (:func:`~skillrun.automl.tao_rules.infinite_bounds`); TAO
    expands them unlike an absent bound.
    """
    space = Space()
    infinite = infinite_bounds(schema) if infinite is None else infinite
    user_list = settings.parameters is not None
    names = list(settings.parameters) if user_list else default_parameters(schema)
    where = "automl.parameters" if user_list else "automl_default_parameters (train schema)"
    names += [k for k in settings.ranges if k not in names]
    if not names:
        space.issues.append(Issue(path="automl.parameters", message="the search space is empty: the train schema has no automl_default_parameters and no leaf with automl_enabled: true", hint="list keys to search: 'automl.parameters=[train.optim.lr]'", code="automl_empty"))
    known = _searchable(schema)
    disabled = {d for d in schema.get("automl_disabled_parameters", []) if isinstance(d, str)}
    defaults = schemas.defaults(schema)
    for name in dict.fromkeys(names):
        stated = user_list or name in settings.ranges
        loc = f'automl.ranges["{name}"]' if name in settings.ranges and name not in (settings.parameters or []) else where
        leaf = schemas.at(schema, paths.parse(name)) if _parses(name) else None
        if leaf is None:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            space.issues.append(Issue(path=loc, value=name, message=f"{name!r} is not a key of the train spec", allowed="leaf keys of the train schema (`skillrun schema SKILL train`)", hint=f"did you mean {', '.join(close)}?" if close else None, code="automl_unknown_parameter"))
            continue
        why = _refused(name, schema, disabled, settings) or (None if stated else _not_default(name, spec, defaults, foreign))
        if why:
            if stated:
                space.issues.append(Issue(path=loc, value=name, message=f"{name} cannot be searched: {why}", hint="remove it from the search space", code="automl_disabled_parameter"))
            else:
                space.notes.append(f"{name} skipped: {why}")
            continue
        param, issues = _param(name, leaf, settings.ranges.get(name), paths.get(spec, paths.parse(name)), loc, infinite.get(name, frozenset()))
        if param is None and not stated:  # TAO leaves a leaf it cannot sample out of its default space, too
            space.notes.extend(f"{name} skipped: {i.message}" for i in issues)
            continue
        space.issues.extend(issues)
        if param is not None:
            space.params.append(param)
            space.notes.extend(filter(None, [_baseline_outside(param)]))
    space.params = _ordered(space.params)
    return space


def _baseline_outside(param: Param) -> str | None:
    """A note when the spec's own value lies outside the drawn range (TAO's bounds follow the schema default, not the spec)."""
    value = param.baseline
    if param.kind == "categorical" or not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if param.low is not None and param.high is not None and param.low <= value <= param.high:
        return None
    return f"{param.path}: the spec's {value:g} lies outside [{param.low:g}, {param.high:g}]; the baseline trial runs it, the others draw inside"


def _refused(name: str, schema: dict[str, Any], disabled: set[str], settings: AutomlSettings) -> str | None:
    """Why ``name`` may never be searched, stated or not; None when it may.

    The study's own keys are skillrun's. Otherwise a disabling flag or a name in
    ``automl_disabled_parameters`` holds for a leaf and whatever lies inside it
    (an array's items), never for an object section's leaves: TAO disables a
    section and still enables leaves under it.
    """
    if name == settings.budget_key or name.startswith((settings.budget_key + ".", settings.budget_key + "[")):
        return f"{name} is the budget key: set automl.max_epochs instead"
    own = {"automl": "configures the study itself", "automl_policy": "configures the study itself", "results_dir": "is set per trial by the study"}
    own.update({k: "is fixed by automl.trial_overrides" for k in settings.trial_overrides})
    inside = next((k for k in own if name == k or name.startswith((k + ".", k + "["))), None)
    if inside is not None:
        return f"{inside!r} {own[inside]}"
    tokens = paths.parse(name)
    for end in range(1, len(tokens) + 1):
        node = schemas.at(schema, tokens[:end])
        here = paths.format(tokens[:end])
        if node is None or (end < len(tokens) and schemas.properties(node)):
            continue
        if here in disabled:
            return f"{here!r} is in automl_disabled_parameters"
        if enabled(node) is False:
            return "its schema leaf has automl_enabled: false" if here == name else f"it lies inside {here}, which has automl_enabled: false"
    return None


def _not_default(name: str, spec: dict[str, Any], defaults: dict[str, Any], foreign: Collection[str]) -> str | None:
    """Why a default-space key is left out although enabled: another action's section, or removed from the spec (as TAO does)."""
    tokens = paths.parse(name)
    if tokens[0] in foreign:
        return f"it belongs to the {tokens[0]} action's section, which a train job does not read"
    if paths.has(defaults, tokens) and not paths.has(spec, tokens):
        return "it was removed from the spec"
    return None


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


def _param(name: str, leaf: dict[str, Any], rng: RangeSpec | None, current: Any, loc: str, infinite: frozenset[str] = frozenset()) -> tuple[Param | None, list[Issue]]:
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
    bounds = _tao_bounds(leaf, rng, kind, infinite)
    if bounds is None:
        issues.append(Issue(path=loc, value=name, message=f"{name} has no finite bounds (no valid_min/valid_max or minimum/maximum in the schema) and no numeric default to expand them from", hint=f"give them: 'automl.ranges={{{name}: {{min: A, max: B}}}}'", code="automl_no_bounds"))
        return None, issues
    low, high, how = bounds
    source += f" ({how})" if how else ""
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


def _tao_bounds(leaf: dict[str, Any], rng: RangeSpec, kind: Kind, infinite: frozenset[str]) -> tuple[float, float, str] | None:
    """(low, high, how) as TAO samples a numeric leaf; ``how`` is "" when the schema (or the user) gave both sides.

    A side the user gives stands. A side the schema leaves open follows TAO
    (:func:`~skillrun.automl.tao_rules.open_bounds`), kept within the schema's
    own limits so that every draw is a valid spec. None: an open side and no
    numeric default to derive it from.
    """
    lo_hard, hi_hard = _hard_limits(leaf)
    low = rng.min if rng.min is not None else _finite(leaf.get("valid_min"), lo_hard)
    high = rng.max if rng.max is not None else _finite(leaf.get("valid_max"), hi_hard)
    default = leaf.get("default")
    if low is not None and high is not None:
        return low, high, ""
    if not isinstance(default, (int, float)) or isinstance(default, bool) or not math.isfinite(default):
        return None
    tao_low, tao_high, how = open_bounds(low, high, float(default), kind == "int", infinite)
    kept_low = max(tao_low, lo_hard) if lo_hard is not None else tao_low
    kept_high = min(tao_high, hi_hard) if hi_hard is not None else tao_high
    if (kept_low, kept_high) != (tao_low, tao_high):
        how += ", kept within the schema's limits"
    return (rng.min if rng.min is not None else kept_low), (rng.max if rng.max is not None else kept_high), how


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
