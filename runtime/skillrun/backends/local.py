"""The ``local`` backend: a detached process group on this machine (torchrun for several processes).

The job runs under :mod:`skillrun.backends.runner`, which outlives the CLI and
records the exit status itself. ``cancel`` checks that the recorded pid still
belongs to the job (pid + start time), sends SIGTERM to the whole group, waits,
then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from skillrun.backends.base import DEFAULT_GRACE_S, Backend
from skillrun.contracts.job import JobRecord, JobState
from skillrun.errors import BackendUnavailable, SkillrunError, UsageError

if TYPE_CHECKING:
    from skillrun.contracts.job import Launch
    from skillrun.record.store import JobStore

_SUBMIT_TIMEOUT_S = 60


class LocalBackend(Backend):
    """Runs jobs on this machine."""

    NAME = "local"

    @classmethod
    def affinity(cls) -> int:
        return 1

    def check(self, launch: Launch) -> None:
        if launch.nnodes > 1:
            msg = f"the local backend runs on one node, but the spec asks for {launch.nnodes} nodes"
            raise UsageError(msg, hint="set the nodes key (train.num_nodes) to 1, or use a multi-node backend: --backend slurm")

    def submit(self, record: JobRecord, env: dict[str, str]) -> JobRecord:
        return start_supervisor(self.store, record, env, "skillrun.backends.runner", backend="local")

    def status(self, record: JobRecord) -> JobRecord:
        if record.state.terminal:
            return record
        ref = record.backend.ref
        if not ref:
            return record
        self._same_host(record)
        if _owned(ref):  # the runner, or what is left of its group (a reused pid's group is not ours)
            return record
        return self.store.move(
            record.id,
            JobState.ERROR,
            by="reconcile",
            error_class="LostProcess",
            error_message="the job's runner is gone without recording an exit status (killed, or the machine restarted)",
        )

    def cancel(self, record: JobRecord, grace: float = DEFAULT_GRACE_S) -> JobRecord:
        record = self.store.load(record.id)
        if record.state.terminal:
            return record
        ref = record.backend.ref
        if ref:
            self._same_host(record)
            if not _owned(ref):  # nothing of the job runs (a reused pid is not ours): it was lost, not canceled
                return self.status(record)
            _stop_group(ref["pgid"], grace)
        return self.store.move(record.id, JobState.CANCELED, by="cancel", note="canceled by request")

    def _same_host(self, record: JobRecord) -> None:
        host = record.backend.ref.get("host")
        if host and host != socket.gethostname():
            msg = f"job {record.id} runs on host {host}, not on {socket.gethostname()}"
            raise BackendUnavailable(msg, hint=f"run the command on {host}")


def _alive(ref: dict[str, Any]) -> bool:
    """The runner process recorded in ``ref`` is still running (same pid *and* same start time)."""
    import psutil

    try:
        proc = psutil.Process(ref["pid"])
        return abs(proc.create_time() - ref["create_time"]) < 0.05 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of the group."""
    import psutil

    out = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(proc.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def _owned(ref: dict[str, Any]) -> bool:
    """May we signal the group? Yes if the runner is ours, or if it is gone and only its group is left.

    A pid reused by another program fails the start-time check; a process-group id
    cannot be reused while any member of the old group is alive.
    """
    import psutil

    if _alive(ref):
        return True
    if psutil.pid_exists(ref["pid"]):
        try:
            if os.getpgid(ref["pid"]) == ref["pgid"] and abs(psutil.Process(ref["pid"]).create_time() - ref["create_time"]) >= 0.05:
                return False  # a new session leader reused the pid: not ours
        except (ProcessLookupError, psutil.Error):
            pass
    return bool(_members(ref["pgid"]))


def _stop_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, wait up to ``grace`` seconds, then SIGKILL whatever is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _members(pgid):
                return
            time.sleep(0.05)


def start_supervisor(store: JobStore, record: JobRecord, env: dict[str, str], module: str, *, backend: str) -> JobRecord:
    """Start ``python -m MODULE JOB_DIR`` (a detached supervisor that double-forks) and wait for it to report.

    A supervisor that fails to start marks the job ERROR (LaunchError) and raises with its stderr.
    """
    job_dir = store.job_dir(record.id)
    proc = subprocess.Popen(
        [sys.executable, "-m", module, str(job_dir)],
        cwd=record.launch.cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=_SUBMIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        err = f"the {backend} runner did not start within {_SUBMIT_TIMEOUT_S:.0f} s".encode()
    if proc.returncode != 0:
        why = err.decode(errors="replace").strip() or f"{backend} runner exited with {proc.returncode}"
        store.move(record.id, JobState.ERROR, by=f"backend:{backend}", error_class="LaunchError", error_message=why[-2000:])
        msg = f"could not start job {record.id}: {why}"
        raise SkillrunError(msg, hint=f"see {job_dir / 'logs'}")
    return store.load(record.id)
