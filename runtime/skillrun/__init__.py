"""skillrun: a skill bank and runtime that takes a detector from data to a deployed engine."""

from skillrun.api import compose, load_bank, validate
from skillrun.contracts.report import Issue, ValidationReport
from skillrun.errors import SkillrunError, SpecError

__version__ = "0.1.0"

__all__ = ["Issue", "SkillrunError", "SpecError", "ValidationReport", "__version__", "compose", "load_bank", "validate"]
