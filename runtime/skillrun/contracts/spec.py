"""A composed spec and where each of its values came from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from skillrun.contracts.report import Issue

#: Layers, lowest precedence first (spec_params and data sources come later, at resolve time).
LAYERS = ("schema", "template", "spec-file", "shorthand", "override", "overrides-json", "derived")


class ComposedSpec(BaseModel):
    """The merged spec, the layer that set each leaf, and the problems found while merging."""

    skill: str
    action: str
    spec: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, str] = Field(default_factory=dict, description="Dotted leaf path -> layer name.")
    issues: list[Issue] = Field(default_factory=list, description="Unknown keys, bad paths, ignored sections.")
