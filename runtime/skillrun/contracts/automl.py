"""What an AutoML study writes besides ``best_rec.json``: the launch review and the trials table.

``<results_dir>/train/review.json`` (:class:`Review`) is what ``plan`` shows
and what a study prints before it starts; ``trials.json`` is a list of
:class:`TrialRow` (``trials.csv`` holds the same rows flat). Meta-schemas in
``schemas/`` are generated from these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REVIEW_FILE = "review.json"
TRIALS_FILE = "trials.json"
TRIALS_CSV = "trials.csv"


class Estimate(BaseModel):
    """Expected runtime: seconds per trial epoch times the trial-epochs the algorithm is expected to spend."""

    model_config = ConfigDict(extra="forbid")

    epoch_s: float | None = Field(description="Seconds per trial epoch; null when unknown.")
    source: str = Field(description="Where epoch_s comes from: cached, measured, or why it is unknown.")
    trial_epochs_max: int = Field(description="max_trials x max_epochs: every trial runs to the end.")
    trial_epochs_expected: float = Field(description="With pruning (hyperband/asha), the successive-halving share.")
    total_s_max: float | None = None
    wall_s_expected: float | None = Field(default=None, description="trial_epochs_expected x epoch_s / max_concurrent.")


class Review(BaseModel):
    """The launch review of a study."""

    model_config = ConfigDict(extra="forbid")

    skill: str
    algorithm: str
    sampler: str
    pruner: str | None
    max_trials: int
    baseline: bool = Field(description="The first trial runs the spec's own values.")
    metric: str
    direction: Literal["maximize", "minimize"]
    direction_source: str = Field(description="'automl.direction' when explicit, else how it was inferred from the metric name.")
    budget_key: str
    max_epochs: int = Field(description="Budget per trial: epochs a trial may run.")
    min_epochs: int | None = Field(description="hyperband/asha: epochs before the first pruning decision.")
    pruning_metric: str | None = Field(default=None, description="hyperband/asha: the per-epoch kpi the pruner compares, with its direction (null: no pruning).")
    max_concurrent: int
    backend: str
    trial_resources: dict[str, int] = Field(description="nproc_per_node and nnodes of each trial job.")
    image: str | None = Field(default=None, description="Container image of the trials (tao engine).")
    space: list[dict[str, Any]] = Field(description="One row per searched key: type, low/high/log or choices/weights, constraint, baseline value.")
    trial_overrides: dict[str, Any] = Field(default_factory=dict)
    estimate: Estimate
    confirm_above_s: float = Field(description="Studies expected to take longer ask for confirmation on a terminal.")
    needs_confirmation: bool
    notes: list[str] = Field(default_factory=list)


class TrialRow(BaseModel):
    """One row of the trials table."""

    model_config = ConfigDict(extra="forbid")

    number: int
    state: Literal["COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"]
    value: float | None = Field(default=None, description="The study's metric: the trial's best epoch (COMPLETE), the last seen before pruning (PRUNED, null if none yet).")
    job_id: str | None = None
    job_state: str | None = None
    epochs: int = Field(default=0, description="Epochs the child ran (trial-epochs spent).")
    best_epoch: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    baseline: bool = False
    reason: str | None = Field(default=None, description="Why a trial failed or was pruned: constraint, error class, interrupted.")
    duration_s: float | None = None
