"""The safe expression evaluator behind cross-field rules (simpleeval; no eval/exec).

Names in an expression are spec sections, so ``model.num_feature_levels`` reads
``spec["model"]["num_feature_levels"]``. Reading a value that is still ``???``
or a missing key makes the rule undecidable (:class:`Undecided`), never false.
"""

from __future__ import annotations

import re
from typing import Any

from simpleeval import EvalWithCompoundTypes

from skillrun.bank.schemas import MISSING

FUNCTIONS = {"len": len, "min": min, "max": max, "abs": abs, "all": all, "any": any, "sum": sum, "sorted": sorted, "set": set, "int": int, "float": float, "str": str, "round": round}
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class Undecided(Exception):
    """The expression reads a value that is not known yet (``???``, ``auto``, missing)."""


class _View:
    """Attribute and item access into a spec mapping, and nothing else."""

    __slots__ = ("_data", "_path", "_touched")

    def __init__(self, data: dict[str, Any], path: str, touched: list[str]) -> None:
        self._data = data
        self._path = path
        self._touched = touched

    def _child(self, key: str) -> Any:
        path = f"{self._path}.{key}" if self._path else key
        if key not in self._data:
            raise Undecided(f"{path} is not set")
        return _wrap(self._data[key], path, self._touched)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return self._child(key)

    def __getitem__(self, key: str) -> Any:
        return self._child(key)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        return _unwrap(self) == _unwrap(other)

    def __hash__(self) -> int:
        return id(self)


def _wrap(value: Any, path: str, touched: list[str]) -> Any:
    touched.append(path)
    if value == MISSING:
        raise Undecided(f"{path} is not set yet")
    if isinstance(value, dict):
        return _View(value, path, touched)
    if isinstance(value, list):
        return [_wrap(v, f"{path}[{i}]", touched) for i, v in enumerate(value)]
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, _View):
        return value._data
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


class Evaluator:
    """Evaluates expressions against one spec; ``touched`` lists the paths the last one read."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.touched: list[str] = []
        self._names = {k: v for k, v in spec.items() if not k.startswith("_")}
        self._eval = EvalWithCompoundTypes(functions=dict(FUNCTIONS), names=self._lookup)

    def _lookup(self, node: Any) -> Any:
        name = node.id
        if name in ("None", "True", "False"):
            return {"None": None, "True": True, "False": False}[name]
        if name not in self._names:
            raise Undecided(f"{name} is not set")
        return _wrap(self._names[name], name, self.touched)

    def __call__(self, expr: str) -> Any:
        """The value of ``expr``; Undecided when it reads unknown values, ValueError when malformed."""
        self.touched = []
        try:
            return _unwrap(self._eval.eval(expr))
        except Undecided:
            raise
        except Exception as exc:  # simpleeval's InvalidExpression, TypeError on 'auto' arithmetic, ...
            raise ValueError(f"{expr!r}: {type(exc).__name__}: {exc}") from exc

    def render(self, template: str) -> str:
        """Fill ``{expression}`` placeholders; ones that cannot be evaluated stay as written."""

        def one(match: re.Match[str]) -> str:
            try:
                return str(self(match.group(1)))
            except (Undecided, ValueError):
                return match.group(0)

        return _PLACEHOLDER.sub(one, template)
