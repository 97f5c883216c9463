"""skillrun: a skill bank and runtime that takes a detector from data to a deployed engine.

Names are imported on first use (PEP 562) so ``skillrun list`` pays only for what it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_bank": "skillrun.api",
    "compose": "skillrun.api",
    "validate": "skillrun.api",
    "Issue": "skillrun.contracts.report",
    "ValidationReport": "skillrun.contracts.report",
    "SkillrunError": "skillrun.errors",
    "SpecError": "skillrun.errors",
}

__all__ = ["Issue", "SkillrunError", "SpecError", "ValidationReport", "__version__", "compose", "load_bank", "validate"]

if TYPE_CHECKING:
    from skillrun.api import compose, load_bank, validate
    from skillrun.contracts.report import Issue, ValidationReport
    from skillrun.errors import SkillrunError, SpecError


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    msg = f"module 'skillrun' has no attribute {name!r}"
    raise AttributeError(msg)
