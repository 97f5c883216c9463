"""The backend conformance suite: what every backend (local now; slurm and docker later) must do.

A backend's test module subclasses :class:`BackendConformance` and names the backend::

    class TestLocalConformance(BackendConformance):
        backend_name = "local"

The class is not collected by itself (its name does not start with ``Test``).
Every test drives the ``scriptjob`` skill of ``tests/fixtures/script_bank``
through the public API only — ``skillrun.run``, the :class:`~skillrun.launch.handle.Job`
handle and the records on disk — so the same assertions hold for any backend:

- a succeeding job goes PENDING → RUNNING → COMPLETE, exit code 0, metrics from ``status.json``;
- a failing job ends ERROR with its exit code and error class;
- ``logs`` returns the job's output (``follow`` ends once the job is terminal);
- ``cancel`` ends CANCELED and leaves no process of the job alive, also when the job ignores SIGTERM;
- ``cancel`` and ``status`` of a terminal job change nothing;
- every record validates as ``JobRecord`` (and against ``schemas/job_record.schema.json``)
  and its transitions follow ``ALLOWED``;
- secrets (``*_TOKEN``/``AWS_*`` variables, the ``key``) reach the job but never the disk.

Hooks a backend's subclass may override: :meth:`BackendConformance.require_backend`
(skip when the backend cannot run here), :meth:`~BackendConformance.backend_processes`
(host processes the backend itself owns, e.g. the local runner) and
:meth:`~BackendConformance.live_processes` (how to tell that a job process still
runs; a container backend checks inside its container).
"""

from __future__ import annotations

import json
import shutil
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, ClassVar

import pytest

import skillrun
from skillrun.contracts.job import ALLOWED, JobRecord, JobState
from skillrun.errors import JobFailed
from skillrun.launch.handle import Job

REPO = Path(__file__).resolve().parents[2]
SCRIPT_BANK = REPO / "tests" / "fixtures" / "script_bank"
SKILL = "scriptjob"

#: secrets handed to the job (environment and ``key``); none may be written anywhere
TOKEN_VALUE = "s3cr3t-value-123"
AWS_VALUE = "aws-s3cr3t-Qx7vLm2Rp9"
KEY_VALUE = "k3y-value-xyz"
MASK = "***"

#: (pid, create_time) of one process, so a reused pid is never mistaken for the job's
Proc = tuple[int, float]

P, R, C, E, X = JobState.PENDING, JobState.RUNNING, JobState.COMPLETE, JobState.ERROR, JobState.CANCELED


# -- helpers usable by any backend's tests


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


@lru_cache(maxsize=1)
def _record_schema() -> dict[str, Any]:
    return json.loads((REPO / "schemas" / "job_record.schema.json").read_text(encoding="utf-8"))


def check_history(rec: JobRecord) -> None:
    """The record's transitions start PENDING, follow ALLOWED, end in its state, and never go back in time."""
    states = [t.state for t in rec.transitions]
    assert states, f"{rec.id}: no transitions"
    assert states[0] is P, f"{rec.id}: history starts {states[0].value}, not PENDING"
    for a, b in zip(rec.transitions, rec.transitions[1:]):
        assert b.state in ALLOWED[a.state], f"{rec.id}: {a.state.value} -> {b.state.value} is not allowed ({[s.value for s in states]})"
        assert b.at >= a.at, f"{rec.id}: transition to {b.state.value} is dated before the one to {a.state.value}"
    assert rec.state is states[-1], f"{rec.id}: state {rec.state.value} but last transition {states[-1].value}"
    assert rec.created_at <= rec.transitions[0].at
    assert all(t.by for t in rec.transitions)
    if rec.state is C:
        assert rec.exit_code == 0 and rec.error_class is None, f"{rec.id}: COMPLETE with exit {rec.exit_code} / {rec.error_class}"
    if rec.state is E:
        assert rec.error_class, f"{rec.id}: ERROR without an error_class"
    if not rec.state.terminal:
        assert rec.exit_code is None, f"{rec.id}: {rec.state.value} but already has exit code {rec.exit_code}"


def load_record(path: Path) -> JobRecord:
    """``job.json`` parsed as a JobRecord and checked against the meta-schema."""
    import jsonschema

    raw = path.read_bytes()
    rec = JobRecord.model_validate_json(raw)
    jsonschema.validate(json.loads(raw), _record_schema())
    check_history(rec)
    return rec


def process_of(pid: int) -> Proc | None:
    """(pid, create_time) of a live process, None if it is gone."""
    import psutil

    try:
        return pid, psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def host_alive(proc: Proc) -> bool:
    """The very process (same pid and start time) still runs; a zombie counts as gone."""
    import psutil

    pid, created = proc
    try:
        p = psutil.Process(pid)
        return abs(p.create_time() - created) < 0.05 and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def states(rec: JobRecord) -> list[JobState]:
    return [t.state for t in rec.transitions]


def cancel_leftovers(grace: float = 0.5) -> None:
    """Cancel every job of the test's workspace that is not terminal (teardown of a failed test)."""
    for raw in skillrun.jobs():
        if not JobState(raw["state"]).terminal:
            try:
                skillrun.job(raw["id"]).cancel(grace)
            except Exception:  # noqa: BLE001 - best effort; the test has already reported
                pass


class BackendConformance:
    """Tests every backend must pass; subclass it as ``Test<Name>Conformance`` and set ``backend_name``."""

    backend_name: ClassVar[str] = ""
    #: seconds a script-bank job may take from submit to its terminal state (a queue adds latency)
    job_timeout: ClassVar[float] = 60.0
    #: the grace given to ``cancel`` before SIGKILL: small, so the tests stay fast
    cancel_grace: ClassVar[float] = 1.0
    #: how long after ``cancel`` returned the job's processes may take to disappear
    reap_timeout: ClassVar[float] = 10.0

    # -- hooks

    def require_backend(self) -> None:
        """Skip the test when the backend cannot run on this machine (override for sbatch, docker, ...)."""
        from skillrun.launch.prepare import registry

        assert self.backend_name, f"{type(self).__name__} must set backend_name"
        backends = registry().backends
        if self.backend_name not in backends:
            pytest.skip(f"backend {self.backend_name!r} is not registered")
        if backends[self.backend_name].affinity() < 0:
            pytest.skip(f"backend {self.backend_name!r} is not available on this machine")

    def backend_processes(self, rec: JobRecord) -> dict[str, Proc]:
        """Host processes the backend itself runs for the job (the local runner); none by default."""
        return {}

    def live_processes(self, job: Job, procs: dict[str, Proc]) -> list[str]:
        """Names of ``procs`` (the job's own, from pids.json, and the backend's) still running."""
        return [name for name, proc in procs.items() if host_alive(proc)]

    # -- fixtures

    @pytest.fixture(autouse=True)
    def _backend_ready(self) -> Any:
        self.require_backend()
        yield
        cancel_leftovers()

    @pytest.fixture(scope="class")
    @classmethod
    def bank(cls) -> Any:
        """The test bank with the ``scriptjob`` skill (built-in skills, no plugins)."""
        return skillrun.load_bank([SCRIPT_BANK], plugins=False)

    # -- helpers

    def submit(self, bank: Any, action: str, *overrides: str, **kwargs: Any) -> Job:
        """``skillrun.run`` of ``scriptjob <action>`` on this backend, without waiting."""
        job = skillrun.run(SKILL, action, overrides=list(overrides), backend=self.backend_name, bank=bank, wait=False, **kwargs)
        rec = self.record(job)
        assert rec.backend.name == self.backend_name
        assert rec.state in (P, R, C, E), f"a fresh job is {rec.state.value}"
        return job

    def record(self, job: Job) -> JobRecord:
        """The job's ``job.json`` straight from disk, fully checked."""
        return load_record(job.store.job_dir(job.id) / "job.json")

    def finish(self, job: Job, timeout: float | None = None) -> JobRecord:
        """Wait until the job is terminal; its checked record."""
        job.wait(timeout or self.job_timeout, poll=0.1)
        rec = self.record(job)
        assert rec.state.terminal
        return rec

    def sleeping(self, job: Job) -> dict[str, Proc]:
        """Wait until the ``sleep`` action runs; its processes (script, its child, the backend's own)."""
        path = job.action_dir / "pids.json"

        def pids() -> dict[str, int] | None:
            try:
                return json.loads(path.read_text())
            except (FileNotFoundError, ValueError):
                return None  # not written yet, or half-written

        found = wait_until(pids, self.job_timeout, f"{path} (the sleep action to start)")
        wait_until(lambda: job.state is R, self.job_timeout, f"job {job.id} to be RUNNING")
        procs = {name: process_of(pid) for name, pid in found.items()}
        assert all(procs.values()), f"job processes gone before cancel: {procs}"
        procs.update(self.backend_processes(self.record(job)))
        assert sorted(self.live_processes(job, procs)) == sorted(procs)
        return procs  # type: ignore[return-value]

    def assert_stopped(self, job: Job, procs: dict[str, Proc]) -> None:
        """Every process in ``procs`` ends within ``reap_timeout`` (zombies count as ended)."""
        deadline = time.monotonic() + self.reap_timeout
        while left := self.live_processes(job, procs):
            if time.monotonic() > deadline:
                pytest.fail(f"still alive {self.reap_timeout:g} s after cancel: {left} of {procs}")
            time.sleep(0.05)

    # -- the suite

    def test_succeeding_job_goes_pending_running_complete(self, bank: Any) -> None:
        job = self.submit(bank, "succeed", "succeed.epochs=3", "succeed.sleep_per_epoch=0.3", "succeed.scores=[0.2,0.5,0.4]")
        seen = [self.record(job).state]
        deadline = time.monotonic() + self.job_timeout
        while not seen[-1].terminal and time.monotonic() < deadline:
            state = job.state
            if state is not seen[-1]:
                seen.append(state)
            time.sleep(0.05)
        rec = self.finish(job)
        assert states(rec) == [P, R, C]
        assert R in seen, f"never saw the job RUNNING (saw {[s.value for s in seen]})"
        assert seen == [s for s in (P, R, C) if s in seen], f"states seen out of order: {[s.value for s in seen]}"
        assert rec.exit_code == 0 and rec.error_class is None and rec.error_message is None
        assert rec.started_at is not None and rec.ended_at is not None and rec.ended_at >= rec.started_at
        # metrics: last epoch's kpi and best epoch from status.json, scalars of metrics.json
        m = rec.metrics
        assert m["val_mAP"] == pytest.approx(0.4) and m["last_epoch"] == 2
        assert m["best_epoch"] == 1 and m["best_val_mAP"] == pytest.approx(0.5)
        assert m["epochs_run"] == 3
        assert job.metrics == m
        assert sorted(p.name for p in job.action_dir.glob("model_epoch_*.pth")) == [f"model_epoch_{i:03d}.pth" for i in range(3)]
        assert [e.status for e in job.events()][-1] == "SUCCESS"

    @pytest.mark.parametrize(
        ("mode", "exit_code", "error_class", "message"),
        [
            ("exception", 1, "ValueError", "the data is wrong on purpose"),  # the traceback's last line
            ("status", 3, "OutOfMemoryError", "CUDA out of memory (simulated)"),  # the FAILURE event wins
            ("exit", 3, "NonZeroExit", None),  # nothing else to go by
        ],
    )
    def test_failing_job_ends_error_with_exit_code_and_class(self, bank: Any, mode: str, exit_code: int, error_class: str, message: str | None) -> None:
        job = self.submit(bank, "fail", f"fail.mode={mode}", "fail.code=3")
        rec = self.finish(job)
        assert states(rec) == [P, R, E]
        assert rec.exit_code == exit_code
        assert rec.error_class == error_class
        assert rec.error_message is not None
        if message:
            assert message in rec.error_message
        assert "about to fail" in job.log_text()
        with pytest.raises(JobFailed) as info:
            job.wait(self.job_timeout, raise_on_error=True)
        assert info.value.exit_code == 1 and info.value.data["exit_code"] == exit_code

    def test_logs_hold_the_output_and_follow_ends_with_the_job(self, bank: Any) -> None:
        job = self.submit(bank, "succeed", "succeed.epochs=3", "succeed.sleep_per_epoch=0.2")
        followed = "".join(job.logs(follow=True))  # returns once the job is terminal
        assert self.record(job).state is C
        for epoch, score in ((0, 0.1), (1, 0.2), (2, 0.3)):
            assert f"epoch {epoch}: val_mAP={score}" in followed
        assert followed.index("epoch 0:") < followed.index("epoch 2:")
        assert job.log_text().startswith(followed)

    def test_cancel_stops_the_job_and_every_process_it_started(self, bank: Any) -> None:
        job = self.submit(bank, "sleep", "sleep.seconds=30")
        procs = self.sleeping(job)
        t0 = time.monotonic()
        job.cancel(grace=self.cancel_grace)
        took = time.monotonic() - t0
        rec = self.record(job)
        assert rec.state is X and states(rec) == [P, R, X]
        assert took < 15, f"cancel took {took:.1f} s"
        self.assert_stopped(job, procs)
        assert job.state is X  # a later reconcile leaves it alone

    def test_cancel_kills_a_job_that_ignores_sigterm(self, bank: Any) -> None:
        job = self.submit(bank, "sleep", "sleep.seconds=30", "sleep.ignore_term=true")
        procs = self.sleeping(job)
        t0 = time.monotonic()
        job.cancel(grace=self.cancel_grace)
        took = time.monotonic() - t0
        rec = self.record(job)
        assert rec.state is X and states(rec) == [P, R, X]
        assert took >= self.cancel_grace * 0.9, f"cancel returned after {took:.2f} s, before the grace was over"
        assert took < self.cancel_grace + 15, f"cancel took {took:.1f} s"
        self.assert_stopped(job, procs)

    def test_cancel_of_a_terminal_job_changes_nothing(self, bank: Any) -> None:
        job = self.submit(bank, "succeed", "succeed.epochs=0")
        rec = self.finish(job)
        path = job.store.job_dir(job.id) / "job.json"
        before = path.read_bytes()
        job.cancel(grace=self.cancel_grace)
        assert job.record == rec and job.state is C
        assert job.backend.cancel(rec, self.cancel_grace) == rec
        assert path.read_bytes() == before

    def test_status_of_terminal_jobs_is_stable(self, bank: Any) -> None:
        done = self.submit(bank, "succeed", "succeed.epochs=0")
        failed = self.submit(bank, "fail", "fail.mode=exit")
        canceled = self.submit(bank, "sleep", "sleep.seconds=30")
        self.sleeping(canceled)
        canceled.cancel(grace=self.cancel_grace)
        for job, state in ((done, C), (failed, E), (canceled, X)):
            rec = self.finish(job)
            assert rec.state is state
            path = job.store.job_dir(job.id) / "job.json"
            before = path.read_bytes()
            for _ in range(3):
                assert job.refresh() == rec
                assert job.backend.status(rec) == rec
                assert job.state is state
                time.sleep(0.05)
            assert path.read_bytes() == before
        listed = {r["id"]: r for r in skillrun.jobs()}
        assert set(listed) == {done.id, failed.id, canceled.id}
        for raw in listed.values():
            check_history(JobRecord.model_validate(raw))

    def test_secrets_reach_the_job_but_never_the_disk(self, bank: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MY_API_TOKEN", TOKEN_VALUE)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_VALUE)
        job = self.submit(bank, "succeed", "succeed.epochs=1", "succeed.print_env=[MY_API_TOKEN,AWS_SECRET_ACCESS_KEY]", key=KEY_VALUE)
        rec = self.finish(job)
        assert rec.state is C
        job_dir = job.store.job_dir(job.id)
        written = [job_dir / "job.json", job_dir / "spec.yaml", *sorted(p for p in (job_dir / "logs").rglob("*") if p.is_file())]
        # everything the runtime writes (all but results/, which belongs to the job)
        written += [p for p in job_dir.rglob("*") if p.is_file() and "results" not in p.relative_to(job_dir).parts and p not in written]
        for path in written:
            data = path.read_bytes()
            for secret in (TOKEN_VALUE, AWS_VALUE, KEY_VALUE):
                assert secret.encode() not in data, f"{secret!r} written to {path.relative_to(job_dir)}"
        assert "MY_API_TOKEN" not in rec.launch.env and "AWS_SECRET_ACCESS_KEY" not in rec.launch.env
        log = job.log_text()
        # the job printed the real values (it received them); the log shows them masked
        assert f"MY_API_TOKEN={MASK}\n" in log
        assert f"AWS_SECRET_ACCESS_KEY={MASK}\n" in log
        assert f"key from env: {MASK}\n" in log
        assert KEY_VALUE not in (job_dir / "spec.yaml").read_text()

    def test_secrets_in_the_jobs_metrics_are_masked_in_the_record(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # a copy of scriptjob whose metrics.json quotes its environment: job.json keeps the number, masks the text
        skill = tmp_path / "bank" / SKILL
        shutil.copytree(SCRIPT_BANK / SKILL, skill)
        script = skill / "scripts" / "job.py"
        original = 'json.dumps({"epochs_run": epochs - start})'
        assert original in script.read_text(), "tests/fixtures/script_bank changed; update this test"
        script.write_text(script.read_text().replace(original, 'json.dumps({"epochs_run": epochs - start, "auth": "token " + os.environ["MY_API_TOKEN"]})'))
        monkeypatch.setenv("MY_API_TOKEN", TOKEN_VALUE)
        job = self.submit(skillrun.load_bank([skill.parent], plugins=False), "succeed", "succeed.epochs=1")
        rec = self.finish(job)
        assert rec.state is C
        assert TOKEN_VALUE in (job.action_dir / "metrics.json").read_text()  # the job had it
        assert rec.metrics["epochs_run"] == 1 and rec.metrics["auth"] == f"token {MASK}"
        assert TOKEN_VALUE.encode() not in (job.store.job_dir(job.id) / "job.json").read_bytes()
