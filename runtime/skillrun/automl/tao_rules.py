"""TAO's AutoML rules, restated for skillrun's search space (pure functions, no I/O).

TAO (nvidia-tao-automl) decides what a study searches from the flags of its
train schema and samples open bounds around the schema default; skillrun's
:mod:`skillrun.automl.space` follows it, so that a TAO skill's launch review
shows what TAO's own AutoML would search. The sources cited are TAO's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from skillrun.bank import schemas
from skillrun.bank.tao_dialect import INFINITE



def default_parameters(schema: dict[str, Any]) -> list[str]:
    """The default search space: the root ``automl_default_parameters`` list, else every leaf flagged ``automl_enabled: true``.

    TAO searches its flagged leaves, and its schema generator writes exactly
    those into the root list (``schema/dataclass2json_converter.py``), so the
    two agree there. skillrun's own schemas flag more leaves as searchable than
    they search by default, and say which in the list.
    """
    listed = [n for n in schema.get("automl_default_parameters", []) if isinstance(n, str)]
    return listed or [path for path, leaf in tao_leaves(schema) if enabled(leaf) is True]


def tao_leaves(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, leaf) as TAO's ``flatten_properties`` sees them: object sections with properties open, arrays are leaves."""
    for key, sub in schemas.properties(schema).items():
        path = f"{prefix}.{key}" if prefix else key
        if schemas.properties(sub):
            yield from tao_leaves(sub, path)
        else:
            yield path, sub


def enabled(node: dict[str, Any]) -> bool | None:
    """A node's own ``automl_enabled`` (TAO writes booleans or "TRUE"/"FALSE"); None when unflagged."""
    flag = node.get("automl_enabled")
    if isinstance(flag, bool):
        return flag
    return {"TRUE": True, "FALSE": False}.get(str(flag).strip().upper()) if isinstance(flag, str) else None


def infinite_bounds(schema: dict[str, Any], prefix: str = "") -> dict[str, frozenset[str]]:
    """Leaves whose ``min``/``max`` side the TAO schema declared infinite.

    JSON Schema cannot carry an infinite bound, so the loader drops it and
    records the side (:data:`~skillrun.bank.tao_dialect.INFINITE`); TAO tells
    it from an absent one: an infinite side is expanded from the default, an
    absent one makes its brains draw around the default (:func:`open_bounds`).
    """
    out: dict[str, frozenset[str]] = {}
    for key, sub in schemas.properties(schema).items():
        path = f"{prefix}.{key}" if prefix else key
        if sub.get(INFINITE):
            out[path] = frozenset(sub[INFINITE])
        out.update(infinite_bounds(sub, path))
    return out


def open_bounds(low: float | None, high: float | None, default: float, is_int: bool, infinite: frozenset[str]) -> tuple[float, float, str]:
    """TAO's bounds for a leaf with an open side (``low``/``high`` None), and how they were made.

    A side that is simply absent sends TAO's brains to their no-range branch
    (``brain/bayesian.py``, ``brain/base.py``): :func:`_around`, the
    schema's other side unused. A side declared infinite is expanded from
    the default (``utils/math_utils.get_valid_range``): :func:`_expand`.
    """
    absent = [side for side, v in (("min", low), ("max", high)) if v is None and side not in infinite]
    if absent:
        lo, hi, rule = _around(default, is_int)
        return lo, hi, f"TAO: no {' or '.join(absent)} in the schema, {rule}"
    told = []
    if high is None:
        high, rule = _expand(default, is_int, "max")
        told.append(rule)
    if low is None:
        low, rule = _expand(default, is_int, "min")
        told.append(rule)
    return low, high, "TAO: unbounded " + "; ".join(told)


def _around(default: float, is_int: bool) -> tuple[float, float, str]:
    """The brains' range for a leaf without one: default//2 .. x2 (at least 1) for integers, /10 .. x10 for floats."""
    if is_int:
        whole = int(default)
        if whole <= 0:
            return 1.0, 100.0, "TAO's fallback 1 .. 100 (default not positive)"
        return max(1.0, float(whole // 2)), whole * 2.0, f"drawn around default {whole}: /2 .. x2, at least 1"
    if default == 0:
        return -1.0, 1.0, "TAO's fallback -1 .. 1 (default 0)"
    lo, hi = sorted((default / 10, default * 10))
    return lo, hi, f"drawn around default {default:g}: /10 .. x10"


def _expand(default: float, is_int: bool, side: str) -> tuple[float, str]:
    """get_valid_range's value for an infinite ``side``: the default x2 or /2 (integers, at least 1), x10 or /10 (floats)."""
    factor = 2.0 if is_int else 10.0
    grow = (side == "max") == (default > 0)  # multiply for a positive max or a negative min, divide otherwise
    if default == 0:
        value = {("max", True): 100.0, ("max", False): 1.0, ("min", True): 1.0, ("min", False): 0.0}[(side, is_int)]
        return value, f"{side} = {value:g} (TAO's value for a default of 0)"
    value = default * factor if grow else default / factor
    if is_int and side == "min":
        value = max(1.0, value)
    return value, f"{side} = default {default:g} {'x' if grow else '/'}{factor:g}" + (", at least 1" if is_int and side == "min" else "")
