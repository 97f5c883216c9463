"""What an engine writes under ``<results_dir>/<action>/``, as read by the runtime.

``status.json`` is JSON lines in TAO's shape (one :class:`StatusEvent` per line,
appended); ``epoch`` is zero-indexed, like the checkpoint names
``model_epoch_NNN.pth``. An AutoML study writes ``best_rec.json``
(:class:`BestRec`) naming its best child job. Meta-schemas in ``schemas/`` are
generated from these models.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

STATUS_FILE = "status.json"
METRICS_FILE = "metrics.json"
BEST_REC_FILE = "best_rec.json"
#: a finished checkpoint; temp names (``.model_epoch_003.pth.tmp``, ``...pth.part``) never match
CHECKPOINT = re.compile(r"^model_epoch_(?P<epoch>\d+)\.pth$")
LATEST_LINK = "model_latest.pth"


def checkpoint_name(epoch: int) -> str:
    """``model_epoch_003.pth`` for the fourth epoch (zero-indexed, at least three digits)."""
    return f"model_epoch_{epoch:03d}.pth"


class StatusEvent(BaseModel):
    """One line of ``status.json``. Unknown keys are kept: engines may add their own."""

    model_config = ConfigDict(extra="allow")

    date: str | None = None
    time: str | None = None
    status: Literal["STARTED", "RUNNING", "SUCCESS", "FAILURE", "SKIPPED"] = "RUNNING"
    verbosity: str = "INFO"
    message: str | None = None
    epoch: int | None = Field(default=None, ge=0, description="Zero-indexed epoch the event is about.")
    max_epoch: int | None = Field(default=None, ge=0, description="Total number of epochs of the run.")
    step: int | None = None
    max_step: int | None = None
    eta: str | float | None = None
    kpi: dict[str, Any] = Field(default_factory=dict, description="Validation numbers: val_mAP, val_mAP50, val_loss, ...")
    error_class: str | None = Field(default=None, description="On FAILURE: the exception class name.")


class BestRec(BaseModel):
    """``best_rec.json`` of an AutoML study: the child job a ``--parent STUDY`` follows."""

    model_config = ConfigDict(extra="allow")

    job_id: str = Field(description="The best child train job.")
    metric: str = "val_mAP"
    direction: Literal["maximize", "minimize"] = "maximize"
    value: float | None = None
    trial: int | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="The winning configuration (dotted spec keys), without budget keys.")
    study: str | None = Field(default=None, description="The study job that wrote this file.")
    checkpoint: str | None = Field(default=None, description="The best child's checkpoint a --parent STUDY resolves to.")
    epoch: int | None = Field(default=None, ge=0, description="Zero-indexed epoch of that checkpoint.")
    budget: dict[str, Any] = Field(default_factory=dict, description="Budget keys the child ran with (e.g. train.num_epochs), kept apart from params.")
