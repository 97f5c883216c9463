"""A composed spec and where each of its values came from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from skillrun.contracts.report import Issue

class ComposedSpec(BaseModel):
    """The merged spec, the layer that set each leaf, and the problems found while merging."""

    skill: str
    action: str
    spec: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, str] = Field(
        default_factory=dict,
        description="Dotted leaf path -> layer: schema, template, spec-file, overrides-json, shorthand, override, api, derived.",
    )
    issues: list[Issue] = Field(default_factory=list, description="Unknown keys, bad paths, ignored sections.")
