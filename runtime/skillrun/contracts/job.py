"""The job record, ``<workspace>/jobs/<job_id>/job.json``.

Written before the launch and then only through :class:`skillrun.record.store.JobStore`
(atomic, under a per-job lock). ``transitions`` is append-only: a record is
replaced only by one whose transitions start with the old ones. The meta-schema
``schemas/job_record.schema.json`` is generated from :class:`JobRecord`.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from skillrun.contracts.states import ALLOWED, TERMINAL, JobState

__all__ = ["ALLOWED", "TERMINAL", "AutomlInfo", "BackendRef", "JobRecord", "JobState", "Launch", "ParentRef", "Transition", "utcnow"]

JOB_ID = re.compile(r"^(?P<skill>[a-z0-9]+(?:-[a-z0-9]+)*)-(?P<action>[a-z][a-z0-9_]*)-(?P<hex>[0-9a-f]{6})$")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transition(_Model):
    """One state change: when, who wrote it, and why."""

    state: JobState
    at: datetime
    by: str = Field(description="Who wrote it: cli, api, runner, cancel, reconcile, backend:<name>.")
    note: str | None = None


class ParentRef(_Model):
    """The job this one takes its inputs from, and what was taken."""

    job_id: str
    selector: str = Field(description="best, latest, epoch=N, onnx (export parent), resume, or study (an AutoML trial's study job).")
    resolved: dict[str, str] = Field(default_factory=dict, description="Spec key -> file or folder taken from the parent.")
    via: list[str] = Field(default_factory=list, description="Jobs best_rec.json led to from job_id (an AutoML study -> its best child), in order.")


class BackendRef(_Model):
    """Where the job runs and the backend's handle on it (local: pid/pgid/create_time; slurm: job id)."""

    name: str
    ref: dict[str, Any] = Field(default_factory=dict)


class Launch(_Model):
    """The exact command the backend starts (argv, never a shell string)."""

    argv: list[str]
    cwd: str
    env: dict[str, str] = Field(default_factory=dict, description="Variables added to the job's environment (never secrets).")
    nproc_per_node: int = Field(default=1, ge=1)
    nnodes: int = Field(default=1, ge=1)


class AutomlInfo(_Model):
    """The AutoML policy a train job ran under, and its place in a study."""

    policy: Literal["on", "off"]
    reason: str = Field(description="Why: the --automl flag, the request's words, the spec's automl_policy, or the skill default.")
    role: Literal["study", "trial", "single"] = Field(description="study: runs the Optuna loop; trial: a child train job of a study; single: a plain training.")
    study: str | None = Field(default=None, description="For a trial: the study job id (also its parent).")
    trial: int | None = Field(default=None, ge=0, description="For a trial: the Optuna trial number.")
    trial_backend: str | None = Field(default=None, description="For a study: the backend its trials run on (the coordinator may run elsewhere).")


class JobRecord(_Model):
    """``job.json``."""

    schema_version: int = 1
    id: str = Field(pattern=JOB_ID.pattern)
    skill: str
    action: str
    engine: str
    backend: BackendRef
    parent: ParentRef | None = None
    results_dir: str
    spec_file: str
    launch: Launch
    state: JobState = JobState.PENDING
    transitions: list[Transition]
    attempts: int = Field(default=1, ge=1, description="1 + the number of times the job was resumed.")
    exit_code: int | None = None
    error_class: str | None = None
    error_message: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description="Summary read from <results_dir>/<action>/ at the end.")
    automl: AutomlInfo | None = Field(default=None, description="Train jobs of AutoML-enabled skills: the resolved policy and the study/trial role.")
    created_at: datetime

    def moved(self, state: JobState, *, by: str, note: str | None = None, **changes: Any) -> JobRecord:
        """A copy in ``state`` with one more transition; raises ValueError if the move is not allowed."""
        if state not in ALLOWED[self.state]:
            msg = f"job {self.id}: cannot go from {self.state.value} to {state.value}"
            raise ValueError(msg)
        step = Transition(state=state, at=utcnow(), by=by, note=note)
        return self.model_copy(update={"state": state, "transitions": [*self.transitions, step], **changes})

    def with_ref(self, **extra: Any) -> JobRecord:
        """A copy with ``extra`` merged into ``backend.ref`` (what the backend recorded before is kept)."""
        return self.model_copy(update={"backend": self.backend.model_copy(update={"ref": {**self.backend.ref, **extra}})})

    @property
    def started_at(self) -> datetime | None:
        return next((t.at for t in reversed(self.transitions) if t.state is JobState.RUNNING), None)

    @property
    def ended_at(self) -> datetime | None:
        last = self.transitions[-1]
        return last.at if last.state.terminal else None
