"""``Job``: the handle ``skillrun.run`` returns — state, metrics, results, wait, cancel, logs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from skillrun.errors import JobFailed, SkillrunError

if TYPE_CHECKING:
    from skillrun.backends.base import Backend
    from skillrun.contracts.job import JobRecord, JobState
    from skillrun.contracts.results import BestRec, StatusEvent
    from skillrun.record.store import JobStore


class Job:
    """A recorded job. Attributes read ``job.json`` afresh (reconciled with the backend)."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store = store
        self.id = store.resolve_id(job_id)
        self._record: JobRecord | None = None

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.record.state.value}>"

    @property
    def backend(self) -> Backend:
        from skillrun.launch.prepare import get_backend

        return get_backend(self.record.backend.name, self.store)

    def refresh(self) -> JobRecord:
        """Reload the record and let the backend reconcile it (a vanished process becomes ERROR)."""
        rec = self.store.load(self.id)
        if not rec.state.terminal:
            from skillrun.launch.prepare import get_backend

            rec = get_backend(rec.backend.name, self.store).status(rec)
        self._record = rec
        return rec

    @property
    def record(self) -> JobRecord:
        return self._record if self._record is not None and self._record.state.terminal else self.refresh()

    @property
    def state(self) -> JobState:
        return self.refresh().state

    @property
    def done(self) -> bool:
        return self.state.terminal

    @property
    def metrics(self) -> dict[str, Any]:
        rec = self.record
        if rec.metrics or rec.state.terminal:
            return dict(rec.metrics)
        from skillrun.results.summary import summarize

        return summarize(rec.results_dir, rec.action)

    @property
    def results_dir(self) -> Path:
        return Path(self.record.results_dir)

    @property
    def action_dir(self) -> Path:
        """``<results_dir>/<action>/``: where the engine writes status, checkpoints and metrics."""
        return self.results_dir / self.record.action

    def events(self) -> list[StatusEvent]:
        from skillrun.results.summary import read_status

        return read_status(self.action_dir)

    def wait(self, timeout: float | None = None, *, poll: float = 0.25, raise_on_error: bool = False) -> Job:
        """Block until the job is terminal; ``raise_on_error`` turns ERROR/CANCELED into JobFailed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (rec := self.refresh()).state.terminal:
            if deadline is not None and time.monotonic() > deadline:
                msg = f"job {self.id} is still {rec.state.value} after {timeout:g} s"
                raise SkillrunError(msg, hint=f"keep waiting with `skillrun logs -f {self.id}`, or stop it with `skillrun cancel {self.id}`")
            time.sleep(poll)
        if raise_on_error and rec.state.value != "COMPLETE":
            raise failed(rec)
        return self

    def outcome(self) -> Outcome:
        """The job's result as data (an HPO objective's view): state, ok, metrics, error; never raises for a failure."""
        rec = self.record
        return Outcome(rec.id, rec.state.value, rec.state.value == "COMPLETE", dict(rec.metrics) or self.metrics, rec.error_class, rec.error_message, rec.results_dir)

    def best_rec(self) -> BestRec | None:
        """An AutoML study's ``best_rec.json`` (the best child, its checkpoint and configuration); None otherwise."""
        from skillrun.contracts.results import BEST_REC_FILE, BestRec

        path = self.action_dir / BEST_REC_FILE
        return BestRec.model_validate_json(path.read_bytes()) if path.is_file() else None

    def cancel(self, grace: float | None = None) -> Job:
        from skillrun.backends.base import DEFAULT_GRACE_S

        self._record = self.backend.cancel(self.store.load(self.id), DEFAULT_GRACE_S if grace is None else grace)
        return self

    def logs(self, *, follow: bool = False) -> Iterator[str]:
        return self.backend.logs(self.store.load(self.id), follow=follow)

    def log_text(self) -> str:
        return "".join(self.logs())


@dataclass(frozen=True)
class Outcome:
    """What a finished job gave: ``ok`` is COMPLETE; ``metrics`` is the job.json summary."""

    job_id: str
    state: str
    ok: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    error_class: str | None = None
    error_message: str | None = None
    results_dir: str = ""

    def value(self, metric: str = "val_mAP", default: float | None = None) -> float | None:
        """``best_<metric>`` when the job reported one, else the last ``metric``, else ``default``."""
        for key in (f"best_{metric}", metric):
            v = self.metrics.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return float(v)
        return default


def failed(rec: JobRecord) -> JobFailed:
    """The JobFailed error for a job that ended ERROR or CANCELED."""
    what = f"{rec.error_class}: {rec.error_message}" if rec.error_class else (rec.error_message or "")
    msg = f"job {rec.id} ended {rec.state.value}" + (f" ({what})" if what else "")
    return JobFailed(msg, hint=f"see `skillrun logs {rec.id}`", data={"job_id": rec.id, "state": rec.state.value, "exit_code": rec.exit_code})
