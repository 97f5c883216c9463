"""YAML in and out, the same way everywhere: safe, fast, and ``1e-4`` is a float.

PyYAML follows YAML 1.1, where ``1e-4`` (no dot) is a *string*; every spec
writer means a number, so the YAML 1.2 float form is added (OmegaConf does
the same). Never ``yaml.load`` with an unsafe loader.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class Loader(_Base):  # type: ignore[misc, valid-type]
    """Safe loader with YAML 1.2 floats (``1e-4``, ``-2E+3``)."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def loads(text: str) -> Any:
    return yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader


def load_file(path: str | Path) -> Any:
    return loads(Path(path).read_text(encoding="utf-8"))


def error_location(exc: Exception, path: str | Path) -> str:
    """``path:line: not valid YAML (problem)`` for a yaml error raised while reading ``path``."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark else str(path)
    return f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})"


def dumps(data: Any) -> str:
    """Block-style YAML that keeps key order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
