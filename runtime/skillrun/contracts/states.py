"""Job states and the moves allowed between them; no pydantic, so ``skillrun jobs`` stays fast."""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    """One vocabulary for every backend: local, slurm and docker states map onto it."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobState.COMPLETE, JobState.ERROR, JobState.CANCELED})

#: state -> states it may move to. A terminal state goes back to PENDING only when the job is resumed;
#: a RUNNING one only when its scheduler requeues it (Slurm preemption, node failure, ``scontrol requeue``).
ALLOWED = {
    JobState.PENDING: frozenset({JobState.RUNNING, JobState.ERROR, JobState.CANCELED}),
    JobState.RUNNING: frozenset({JobState.PENDING, JobState.COMPLETE, JobState.ERROR, JobState.CANCELED}),
    JobState.COMPLETE: frozenset({JobState.PENDING}),
    JobState.ERROR: frozenset({JobState.PENDING}),
    JobState.CANCELED: frozenset({JobState.PENDING}),
}
