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
    "plan": "skillrun.api",
    "run": "skillrun.api",
    "resume": "skillrun.api",
    "job": "skillrun.api",
    "jobs": "skillrun.api",
    "Job": "skillrun.launch.handle",
    "Outcome": "skillrun.launch.handle",
    "policy_from_text": "skillrun.policy.automl",
    "JobRecord": "skillrun.contracts.job",
    "JobState": "skillrun.contracts.job",
    "Issue": "skillrun.contracts.report",
    "ValidationReport": "skillrun.contracts.report",
    "SkillrunError": "skillrun.errors",
    "SpecError": "skillrun.errors",
    "JobFailed": "skillrun.errors",
    "ResolutionError": "skillrun.errors",
}

__all__ = [
    "Issue",
    "Job",
    "JobFailed",
    "JobRecord",
    "JobState",
    "Outcome",
    "ResolutionError",
    "SkillrunError",
    "SpecError",
    "ValidationReport",
    "__version__",
    "compose",
    "job",
    "jobs",
    "load_bank",
    "plan",
    "policy_from_text",
    "resume",
    "run",
    "validate",
]

if TYPE_CHECKING:
    from skillrun.api import compose, job, jobs, load_bank, plan, resume, run, validate
    from skillrun.contracts.job import JobRecord, JobState
    from skillrun.contracts.report import Issue, ValidationReport
    from skillrun.errors import JobFailed, ResolutionError, SkillrunError, SpecError
    from skillrun.launch.handle import Job, Outcome
    from skillrun.policy.automl import policy_from_text


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    msg = f"module 'skillrun' has no attribute {name!r}"
    raise AttributeError(msg)
