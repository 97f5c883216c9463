"""Slurm job states mapped onto :class:`JobState`, and what ended a job that did not record its own end.

Slurm has two dozen states; skillrun has five. A state maps to ``None`` when it
says nothing new (the job is still on its way: completing, suspended, being
requeued after preemption), so ``status`` leaves the record alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from skillrun.contracts.states import JobState

#: Slurm state -> ours; absent or None = no change
SLURM_STATES: dict[str, JobState | None] = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": None,  # the batch script ended; the supervisor has written (or not) the outcome
    "SUSPENDED": None,
    "STOPPED": None,
    "SIGNALING": None,
    "STAGE_OUT": None,
    "RESIZING": None,
    "PREEMPTED": None,  # --requeue: it goes back to PENDING
    "COMPLETED": JobState.COMPLETE,
    "CANCELLED": JobState.CANCELED,
    "FAILED": JobState.ERROR,
    "TIMEOUT": JobState.ERROR,
    "NODE_FAIL": JobState.ERROR,
    "OUT_OF_MEMORY": JobState.ERROR,
    "BOOT_FAIL": JobState.ERROR,
    "DEADLINE": JobState.ERROR,
    "REVOKED": JobState.ERROR,
    "SPECIAL_EXIT": JobState.ERROR,
}

#: the error class recorded when Slurm ended the job before it could record its own end
ERROR_CLASSES = {
    "TIMEOUT": "SlurmTimeout",
    "NODE_FAIL": "SlurmNodeFail",
    "OUT_OF_MEMORY": "SlurmOutOfMemory",
    "BOOT_FAIL": "SlurmBootFail",
    "DEADLINE": "SlurmDeadline",
    "REVOKED": "SlurmRevoked",
    "SPECIAL_EXIT": "SlurmSpecialExit",
    "FAILED": "LaunchError",  # the batch script failed before (or without) the supervisor recording an exit
    "COMPLETED": "LostProcess",
}

#: what each of those means, for the error message
_WHY = {
    "TIMEOUT": "it reached its time limit (slurm.time in the config file, or --time)",
    "NODE_FAIL": "a node it ran on failed",
    "OUT_OF_MEMORY": "it ran out of memory (raise slurm.mem in the config file)",
    "BOOT_FAIL": "a node failed to boot",
    "DEADLINE": "it reached its deadline",
    "REVOKED": "a sibling cluster took it",
    "SPECIAL_EXIT": "its epilog asked for a special exit",
    "FAILED": "the batch script failed before the job could record its end",
    "COMPLETED": "the batch script ended without the job recording its end",
}


@dataclass(frozen=True)
class SlurmJob:
    """What Slurm says about one job (from squeue, scontrol or sacct)."""

    job_id: str
    state: str  #: the Slurm state name, e.g. RUNNING, CANCELLED (a trailing "+" or " by UID" removed)
    reason: str = ""
    exit_code: str = ""  #: "code:signal"
    restarts: int | None = None
    source: str = "squeue"

    @property
    def ours(self) -> JobState | None:
        return SLURM_STATES.get(self.state)

    @property
    def terminal(self) -> bool:
        ours = self.ours
        return ours is not None and ours.terminal

    @property
    def exit_status(self) -> int | None:
        """The batch script's exit code (``scontrol`` writes ``code:signal``)."""
        code, _, sig = self.exit_code.partition(":")
        try:
            return -int(sig) if sig and int(sig) else int(code)
        except ValueError:
            return None

    def explain(self) -> str:
        """A sentence for ``error_message``: what Slurm says ended the job."""
        why = _WHY.get(self.state, f"Slurm reports it {self.state}")
        extra = f", exit code {self.exit_code}" if self.exit_code else ""
        reason = f", reason {self.reason}" if self.reason and self.reason not in ("None", "(null)") else ""
        return f"Slurm job {self.job_id} ended {self.state}{extra}{reason}: {why}"


def normalize(state: str) -> str:
    """``CANCELLED by 0`` -> ``CANCELLED``; ``COMPLETING+`` -> ``COMPLETING``."""
    return state.strip().split()[0].rstrip("+").upper() if state.strip() else ""
