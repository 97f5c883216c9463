"""What agents get back: ``describe``, ``doctor`` and the MCP tools' typed results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True)


class Param(_Model):
    """One spec field an agent may set: where, its default, what is allowed and the search bounds."""

    path: str
    default: Any = None
    allowed: str = Field(description="What the schema allows, in words (e.g. 'number > 0').")
    minimum: float | None = None
    maximum: float | None = None
    options: list[Any] | None = Field(default=None, description="The enum, when the field has one.")
    description: str | None = None
    shorthand: str | None = Field(default=None, description="The short key (epochs=20) that sets it.")


class RequiredInput(_Model):
    """A value the spec needs before it can run (``???`` in the template)."""

    path: str
    allowed: str | None = None
    filled_by: Literal["you", "parent", "data_source"] = Field(description="you: set path=VALUE; parent: --parent JOB fills it; data_source: a dataset entry.")
    description: str | None = None


class ParentRequirement(_Model):
    """How the action takes a model from an earlier job (``--parent``)."""

    required: bool = Field(description="True when nothing else fills the key (it is ??? in the template).")
    spec_keys: dict[str, str] = Field(description="Spec key -> resolver (parent_model, parent_model_folder).")
    option: str = "--parent JOB[:best|:latest|:epoch=N]"
    selectors: list[str] = Field(default_factory=lambda: ["best (default: best validation metric)", "latest", "epoch=N (zero-indexed, model_epoch_NNN.pth)"])


class ActionDescription(_Model):
    """Everything an agent needs to build one invocation of an action."""

    skill: str
    action: str
    description: str
    required: list[RequiredInput] = Field(default_factory=list)
    data_sources: list[dict[str, Any]] = Field(default_factory=list)
    popular: list[Param] = Field(default_factory=list)
    shorthand: dict[str, str] = Field(default_factory=dict, description="Short key -> dotted spec key.")
    parent: ParentRequirement | None = None
    resources: dict[str, str | None] = Field(default_factory=dict, description="Spec keys for processes (GPUs) per node and nodes.")
    automl: dict[str, Any] = Field(default_factory=dict, description="applies, default policy and how to turn it off.")
    outputs: dict[str, str] = Field(default_factory=dict)
    has_schema: bool = True
    has_template: bool = True
    examples: list[str] = Field(default_factory=list, description="Command lines to start from (replace the /path/to placeholders).")


class SkillDescription(_Model):
    name: str
    kind: str
    engine: str
    description: str
    automl_enabled: bool
    triggers: list[str] = Field(default_factory=list)
    path: str
    actions: dict[str, ActionDescription]


class Check(_Model):
    """One capability of this machine."""

    name: str
    ok: bool
    detail: str
    version: str | None = None
    hint: str | None = None


class DoctorReport(_Model):
    """What this machine can run; environment variable names only, never their values."""

    python: str
    skillrun: str
    checks: list[Check]
    can_run: dict[str, bool] = Field(description="control_plane, cpu_engine, gpu, slurm, docker, s3, mcp, automl.")


class SkillSummary(_Model):
    name: str
    kind: str
    engine: str
    description: str = Field(description="The first sentence of the SKILL.md description (describe_skill gives all of it).")
    actions: list[str]
    automl_enabled: bool
    guidance_only: bool = Field(default=False, description="True: follow its SKILL.md; it has nothing to plan or run.")


class SkillList(_Model):
    skills: list[SkillSummary]
    problems: list[str] = Field(default_factory=list)


class ValidationResult(_Model):
    """A valid spec (an invalid one is a tool error naming every path)."""

    skill: str
    action: str
    ok: bool
    spec: dict[str, Any]
    warnings: list[str] = Field(default_factory=list)
    derived: dict[str, Any] = Field(default_factory=dict)


class PlanResult(_Model):
    skill: str
    action: str
    engine: str
    backend: str
    automl: dict[str, Any]
    parent: dict[str, Any] | None = None
    command: str
    spec: dict[str, Any]
    resolved: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class JobInfo(_Model):
    """A job as the tools report it: follow it with job_status / job_logs, read it with results."""

    job_id: str
    skill: str
    action: str
    state: str
    terminal: bool
    results_dir: str
    log_file: str
    exit_code: int | None = None
    error: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    progress: dict[str, Any] | None = Field(default=None, description="The newest status event of the engine.")


class LogTail(_Model):
    job_id: str
    state: str
    lines: list[str]
    log_file: str


class Results(_Model):
    job_id: str
    state: str
    results_dir: str
    outputs: dict[str, Any] = Field(default_factory=dict)
    checkpoints: list[dict[str, Any]] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    files: list[dict[str, Any]] = Field(default_factory=list)
    automl: dict[str, Any] | None = Field(default=None, description="An AutoML study's best_rec, trials table and plots (null for other jobs).")
