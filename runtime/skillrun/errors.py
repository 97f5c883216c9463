"""Every error skillrun raises on purpose, and the exit code the CLI maps it to.

::

    SkillrunError                 exit 1   something failed
    ├── JobFailed                 exit 1   a job ended in ERROR
    ├── UsageError                exit 2   bad command line, bad override syntax
    │   └── SpecError             exit 2   the spec is invalid (carries the report)
    ├── BankError                 exit 2   a skill folder is malformed
    ├── ResolutionError           exit 3   unknown skill, action or parent
    └── BackendUnavailable        exit 4   the backend cannot be reached

Messages name the file or dotted path, the bad value, what is allowed and what
to do; the CLI prints them without a traceback (``SKILLRUN_DEBUG=1`` adds it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skillrun.contracts.report import Issue, ValidationReport


class SkillrunError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with, ``code`` a stable machine id."""

    exit_code = 1
    code = "failed"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        data: dict[str, Any] | None = None,
        code: str | None = None,
        path: str | None = None,
        value: Any = None,
        allowed: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data = data or {}
        if code is not None:
            self.code = code
        self.path = path
        self.value = value
        self.allowed = allowed

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: always ``code``, ``message``, ``path``, ``value``, ``allowed`` and ``suggestion``.

        An error that carries ``issues`` and names no path of its own takes them from its first issue.
        """
        issues = getattr(self, "issues", None)
        first = issues[0] if issues and self.path is None else None
        out: dict[str, Any] = {
            "error": type(self).__name__,
            "code": self.code,
            "message": self.message,
            "path": first.path if first else self.path,
            "value": first.value if first else self.value,
            "allowed": first.allowed if first else self.allowed,
            "suggestion": self.hint or (first.hint if first else None),
            "exit_code": self.exit_code,
        }
        if self.hint:
            out["hint"] = self.hint
        out.update(self.data)
        return out


class JobFailed(SkillrunError):
    exit_code = 1
    code = "job_failed"


class UsageError(SkillrunError):
    exit_code = 2
    code = "usage"


class SpecError(UsageError):
    """The composed spec has errors; ``report`` holds every one of them."""

    code = "invalid_spec"

    def __init__(self, report: ValidationReport) -> None:
        n = len(report.errors)
        super().__init__(f"{report.skill} {report.action}: {n} problem{'s' if n != 1 else ''} in the spec")
        self.report = report

    @property
    def issues(self) -> list[Issue]:
        return self.report.errors

    def to_dict(self) -> dict[str, Any]:
        """The first problem at the top level (path, value, allowed, suggestion); every one under ``errors``."""
        out = {**super().to_dict(), **self.report.to_json_dict()}
        out["errors"] = [{**e, "suggestion": e.get("hint")} for e in out["errors"]]
        return out


class BankError(SkillrunError):
    """A skill folder could not be loaded; ``issues`` lists every problem found in it."""

    exit_code = 2
    code = "bad_skill"

    def __init__(self, message: str, issues: list[Issue] | None = None, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.issues = issues or []

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "issues": [i.model_dump(mode="json") for i in self.issues]}


class ResolutionError(SkillrunError):
    exit_code = 3
    code = "not_found"


class BackendUnavailable(SkillrunError):
    exit_code = 4
    code = "backend_unavailable"
