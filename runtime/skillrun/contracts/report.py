"""Validation problems as data: what the CLI prints, ``--json`` emits and the API returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["error", "warning"]
Stage = Literal["compose", "schema", "rule", "preflight", "bank"]


class Issue(BaseModel):
    """One problem: where it is, the bad value, what is allowed and what to do."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    path: str = Field(description="Dotted spec path, or a file path for file-level problems.")
    message: str
    value: Any = None
    allowed: str | None = None
    hint: str | None = None
    severity: Severity = "error"
    stage: Stage = "schema"
    code: str = Field(default="invalid", description="Stable machine id, e.g. unknown_key, minimum, rule:<id>.")

    def render(self) -> str:
        """One line a person can act on: ``path = value: message (allowed: ...). hint``."""
        head = self.path if self.value is None else f"{self.path} = {_short(self.value)}"
        text = f"{head}: {self.message}"
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        if self.hint:
            text += f". {self.hint}"
        return text


class Derived(BaseModel):
    """A value the runtime computed instead of asking for (``auto`` fields)."""

    model_config = ConfigDict(defer_build=True)

    path: str
    value: Any
    reason: str


class ValidationReport(BaseModel):
    """Everything validation found, all at once; ``ok`` is false when any error exists."""

    model_config = ConfigDict(defer_build=True)

    skill: str
    action: str
    spec: dict[str, Any] = Field(default_factory=dict, description="The composed (and derived) spec.")
    provenance: dict[str, str] = Field(default_factory=dict, description="Dotted path -> layer that set it.")
    issues: list[Issue] = Field(default_factory=list)
    derived: list[Derived] = Field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json_dict(self) -> dict[str, Any]:
        """The ``--json`` document: errors first, then everything else."""
        data = self.model_dump(mode="json")
        data["ok"] = self.ok
        data["errors"] = [i.model_dump(mode="json") for i in self.errors]
        data["warnings"] = [i.model_dump(mode="json") for i in self.warnings]
        del data["issues"]
        return data


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
