"""The backend protocol: four verbs, ``submit``, ``status``, ``logs``, ``cancel``.

Every backend maps its own states onto :class:`JobState` and keeps ``job.json``
current through the store; a conformance suite (``tests/backends``) holds every
backend to the same behaviour. ``affinity()`` scores how well a backend fits
this machine: -1 unavailable, 0 only when asked for by name, higher is better.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill
    from skillrun.contracts.job import JobRecord, Launch
    from skillrun.engine.base import Command
    from skillrun.record.store import JobStore

#: how long ``cancel`` waits after SIGTERM before it sends SIGKILL
DEFAULT_GRACE_S = 10.0


@dataclass(frozen=True)
class LaunchContext:
    """What a backend may know about a run beyond its command line (image, requeue keys, data mounts)."""

    skill: Skill
    action: str
    job_id: str
    job_dir: Path
    results_dir: Path
    spec: dict[str, Any] = field(repr=False)
    parent: JobRecord | None = None  #: the parent job's record (a container lineage keeps its image tag)


class Backend(ABC):
    """Base class of backend plugins (``register_backends``); ``NAME`` is what ``--backend`` takes."""

    NAME: ClassVar[str]
    #: whether an AutoML study's coordinator (skillrun's own Python) can run here; a backend that runs
    #: container images cannot host it, so its studies coordinate from this machine and launch trials here
    HOSTS_COORDINATOR: ClassVar[bool] = True

    def __init__(self, store: JobStore) -> None:
        self.store = store

    @classmethod
    def affinity(cls) -> int:
        return 0

    def check(self, launch: Launch) -> None:
        """Raise a SkillrunError (before anything is written) if this backend cannot start ``launch``."""

    def launch_argv(self, command: Command, nproc: int, nnodes: int) -> list[str]:
        """One launcher's command line: the command itself, or torchrun for several processes (one node: --standalone)."""
        return command.torchrun_argv(nproc, nnodes) if nproc * nnodes > 1 else command.argv()

    def plan(self, ctx: LaunchContext, launch: Launch) -> dict[str, Any]:
        """What this backend will run, as data without secrets: ``plan`` shows it, ``run`` records it as ``backend.ref``.

        Computed before anything is written, so a bad cluster or container setting fails the run cleanly.
        """
        return {}

    def describe(self, plan: dict[str, Any]) -> list[tuple[str, str]]:
        """``plan``'s text form: (title, text block) pairs that ``skillrun plan`` prints (the sbatch script, the container run)."""
        return []

    def preflight(self) -> None:
        """Raise BackendUnavailable if no job can start now (no ``sbatch``, no Docker daemon).

        ``run`` calls it before anything is written; ``plan`` does not, so a plan works on any machine.
        """

    @abstractmethod
    def submit(self, record: JobRecord, env: dict[str, str]) -> JobRecord:
        """Start the job recorded in ``record`` (state PENDING, already on disk); return the updated record.

        ``env`` is the full environment of the job, secrets included: it must never be written anywhere.
        """

    @abstractmethod
    def status(self, record: JobRecord) -> JobRecord:
        """The record reconciled with what the backend sees (a vanished job becomes ERROR)."""

    @abstractmethod
    def cancel(self, record: JobRecord, grace: float = DEFAULT_GRACE_S) -> JobRecord:
        """Stop the job and everything it started; the record ends CANCELED (or stays terminal)."""

    def logs(self, record: JobRecord, *, follow: bool = False, poll: float = 0.3) -> Iterator[str]:
        """The job's output, chunk by chunk; with ``follow``, until the job is terminal."""
        path = self.store.log_file(record.id)
        pos = 0
        while True:
            chunk = ""
            if path.exists():
                with open(path, encoding="utf-8", errors="replace") as fh:
                    fh.seek(pos)
                    chunk = fh.read()
                    pos = fh.tell()
            if chunk:
                yield chunk
            if not follow:
                return
            if not chunk:
                record = self.status(self.store.load(record.id))
                if record.state.terminal:
                    # one last read: the runner writes its final lines before the terminal state
                    if path.exists():
                        with open(path, encoding="utf-8", errors="replace") as fh:
                            fh.seek(pos)
                            rest = fh.read()
                        if rest:
                            yield rest
                    return
                time.sleep(poll)
