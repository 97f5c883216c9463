"""The ``slurm`` backend on a real local Slurm cluster: the conformance suite, plus what only Slurm shows.

- the conformance suite (script-engine jobs, through sbatch/squeue/scontrol/scancel);
- a job requeued while it runs (``scontrol requeue``) goes RUNNING -> PENDING -> RUNNING and
  resumes from its newest checkpoint;
- paths and spec values holding ``$(touch ...)`` or ``"; rm -rf`` run nothing;
- a job canceled outside skillrun (``scancel``), a pending job canceled, a batch script that
  fails before the job starts, and a request sbatch refuses each end with the right record.

The cluster comes from ``tests/integration/slurm_cluster.py`` (installed and started when
needed; these tests skip, with how to enable them, where that is impossible).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

if "tests.backends.conformance" not in sys.modules:
    pytest.register_assert_rewrite("tests.backends.conformance")

import skillrun  # noqa: E402
from skillrun.contracts.job import JobRecord, JobState  # noqa: E402
from skillrun.errors import SkillrunError  # noqa: E402
from tests.backends.conformance import SCRIPT_BANK, SKILL, BackendConformance, Proc, cancel_leftovers, load_record, states, wait_until  # noqa: E402
from tests.integration import slurm_cluster  # noqa: E402

pytestmark = pytest.mark.xdist_group("slurm")
P, R, C, E, X = JobState.PENDING, JobState.RUNNING, JobState.COMPLETE, JobState.ERROR, JobState.CANCELED


@pytest.fixture(scope="module", autouse=True)
def _cluster() -> Iterator[Any]:
    yield slurm_cluster.cluster()  # stopped when the test process exits (atexit in slurm_cluster)


class TestSlurmConformance(BackendConformance):
    backend_name = "slurm"
    job_timeout = 90.0

    def require_backend(self) -> None:
        slurm_cluster.cluster()
        super().require_backend()

    def backend_processes(self, rec: JobRecord) -> dict[str, Proc]:
        """The supervisor in the allocation must be gone after a cancel too."""
        ref = rec.backend.ref
        assert {"job_id", "step_pid", "step_create_time", "batch_host"} <= set(ref), f"slurm backend ref lacks fields: {ref}"
        return {"supervisor": (ref["step_pid"], ref["step_create_time"])}


# -- slurm-only


@pytest.fixture(autouse=True)
def _no_job_left_running() -> Iterator[None]:
    yield
    cancel_leftovers()


@pytest.fixture(scope="module")
def bank() -> Any:
    return skillrun.load_bank([SCRIPT_BANK], plugins=False)


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "skillrun-config.yaml"
    path.write_text(text)
    monkeypatch.setenv("SKILLRUN_CONFIG", str(path))


def _slurm(*argv: str) -> str:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, f"{' '.join(argv)}: {res.stderr}"
    return res.stdout


def _finish(job: Any, timeout: float = 90) -> JobRecord:
    job.wait(timeout, poll=0.2)
    return load_record(job.store.job_dir(job.id) / "job.json")


def test_requeued_job_resumes_from_its_newest_checkpoint(tmp_path: Path, bank: Any) -> None:
    ptm = tmp_path / "ptm.pth"
    ptm.write_bytes(b"weights")
    job = skillrun.run(SKILL, "succeed", overrides=["succeed.epochs=8", "succeed.sleep_per_epoch=0.7", f"succeed.pretrained={ptm}"], backend="slurm", bank=bank, wait=False)
    slurm_id = job.refresh().backend.ref["job_id"]
    wait_until(lambda: len(list(job.action_dir.glob("model_epoch_*.pth"))) >= 2, 60, "two checkpoints")
    _slurm("scontrol", "requeue", slurm_id)
    wait_until(lambda: "BeginTime" in _slurm("squeue", "-h", "-j", slurm_id, "-o", "%r") or job.refresh().state is P, 30, "the requeue")
    slurm_cluster.start_requeued_job_now(slurm_id)
    rec = _finish(job)
    assert rec.state is C, f"{rec.error_class}: {rec.error_message}\n{job.log_text()[-2000:]}"
    assert states(rec) == [P, R, P, R, C]
    requeued = rec.transitions[2]
    assert requeued.by == "backend:slurm" and "requeued by Slurm" in (requeued.note or "")
    resumed = rec.transitions[3].note or ""
    assert "restart 1" in resumed and "resuming from model_epoch_" in resumed, resumed
    epoch = int(resumed.split("model_epoch_")[1][:3])
    assert rec.backend.ref["restarts"] == 1 and rec.backend.ref["job_id"] == slurm_id
    log = job.log_text()
    assert f"resuming after {job.action_dir / f'model_epoch_{epoch:03d}.pth'}" in log
    assert rec.metrics["epochs_run"] == 8 - (epoch + 1) and rec.metrics["last_epoch"] == 7
    job_dir = job.store.job_dir(job.id)
    from skillrun import yamlio

    spec = yamlio.load_file(job_dir / "spec.yaml")
    before = yamlio.load_file(job_dir / "spec.restart0.yaml")
    assert spec["succeed"]["resume_from"] == str(job.action_dir / f"model_epoch_{epoch:03d}.pth") and spec["succeed"]["pretrained"] is None
    assert before["succeed"]["resume_from"] is None and before["succeed"]["pretrained"] == str(ptm)
    assert sorted(p.name for p in job.action_dir.glob("model_epoch_*.pth")) == [f"model_epoch_{i:03d}.pth" for i in range(8)]


def test_a_cancel_rides_out_a_controller_restart(bank: Any) -> None:
    """squeue/scancel answering "Unable to contact slurm controller (connect failure)" for a moment is asked again."""
    import threading

    job = skillrun.run(SKILL, "sleep", overrides=["sleep.seconds=60"], backend="slurm", bank=bank, wait=False)
    wait_until(lambda: job.refresh().state is R, 60, "the job running")
    down = threading.Thread(target=slurm_cluster.restart_controller, kwargs={"down_s": 1.5})
    down.start()
    ping = lambda: subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30).stdout  # noqa: E731
    wait_until(lambda: "DOWN" in ping(), 20, "the controller down")  # the cancel starts while nothing answers
    try:
        assert job.refresh().state is R  # status during the outage: no answer is not "lost"
        job.cancel(grace=5)
    finally:
        down.join(30)
    rec = job.record
    assert rec.state is X, f"{rec.error_class}: {rec.error_message}"
    gone = _slurm("scontrol", "-o", "show", "job", rec.backend.ref["job_id"])
    assert "JobState=CANCELLED" in gone or "JobState=COMPLETING" in gone


def test_paths_and_spec_values_cannot_break_out_of_the_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bank: Any) -> None:
    Path("/tmp/pwned").unlink(missing_ok=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    payloads = ["$(touch /tmp/pwned)", f'"; rm -rf {victim}; echo "', "`touch pwned_b`"]
    home = tmp_path / 'ws $(touch pwned_c) "; rm -rf victim; #x %j'
    cwd = tmp_path / "cwd `touch pwned_d`"
    cwd.mkdir()
    (cwd / "victim").mkdir()
    ptm = tmp_path / 'ptm $(touch pwned_e) "; rm -rf victim; echo ".pth'
    ptm.write_bytes(b"weights")
    monkeypatch.setenv("SKILLRUN_HOME", str(home))
    monkeypatch.chdir(cwd)
    _config(tmp_path, monkeypatch, "slurm:\n  env:\n    NOTE: '$(touch /tmp/pwned)\"; rm -rf victim'\n")
    overrides = [f"succeed.pretrained={json.dumps(str(ptm))}", f"succeed.print_env={json.dumps(['NOTE', *payloads])}", "succeed.epochs=1"]
    job = skillrun.run(SKILL, "succeed", overrides=overrides, backend="slurm", bank=bank, wait=False)
    rec = _finish(job)
    assert rec.state is C, f"{rec.error_class}: {rec.error_message}\n{job.log_text()[-2000:]}"
    assert not Path("/tmp/pwned").exists() and not list(tmp_path.rglob("pwned_*")), "a hostile value was executed"
    assert victim.is_dir() and (cwd / "victim").is_dir()
    log = job.log_text()
    assert f"pretrained: {ptm}" in log and "$(touch /tmp/pwned)=\n" in log  # the spec values reached the job as data
    assert "NOTE=$(touch /tmp/pwned)\"; rm -rf victim" in log
    assert str(home) in rec.results_dir and (job.store.job_dir(job.id) / "logs" / f"slurm-{rec.backend.ref['job_id']}.out").exists()


def test_scancel_outside_skillrun_is_reconciled_to_canceled(bank: Any) -> None:
    job = skillrun.run(SKILL, "sleep", overrides=["sleep.seconds=60"], backend="slurm", bank=bank, wait=False)
    wait_until(lambda: job.refresh().state is R, 60, "the job to run")
    _slurm("scancel", job.record.backend.ref["job_id"])
    rec = _finish(job, 60)
    assert rec.state is X and states(rec) == [P, R, X] and rec.transitions[-1].by == "reconcile"


def test_a_pending_job_is_canceled_straight_out_of_the_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bank: Any) -> None:
    _config(tmp_path, monkeypatch, "slurm:\n  sbatch_lines: [--begin=now+600]\n")
    job = skillrun.run(SKILL, "succeed", overrides=["succeed.epochs=1"], backend="slurm", bank=bank, wait=False)
    slurm_id = job.refresh().backend.ref["job_id"]
    assert _slurm("squeue", "-h", "-j", slurm_id, "-o", "%T").strip() == "PENDING" and job.state is P
    t0 = time.monotonic()
    job.cancel(grace=5)
    assert time.monotonic() - t0 < 5, "a pending job has no process to give a grace to"
    rec = load_record(job.store.job_dir(job.id) / "job.json")
    assert rec.state is X and states(rec) == [P, X]
    assert _slurm("squeue", "-h", "-j", slurm_id, "-o", "%T").strip() == ""


def test_a_batch_script_that_fails_before_the_job_starts_is_a_launch_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bank: Any) -> None:
    _config(tmp_path, monkeypatch, "slurm:\n  python: /nonexistent/bin/python3\n")
    job = skillrun.run(SKILL, "succeed", overrides=["succeed.epochs=1"], backend="slurm", bank=bank, wait=False)
    rec = _finish(job, 60)
    assert rec.state is E and rec.error_class == "LaunchError" and rec.transitions[-1].by == "reconcile"
    assert "FAILED" in (rec.error_message or "") and "/nonexistent/bin/python3" in (rec.error_message or "")


def test_a_request_sbatch_refuses_ends_the_job_with_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bank: Any) -> None:
    _config(tmp_path, monkeypatch, "slurm:\n  cpus_per_task: 64\n")  # EnforcePartLimits=ALL: refused at once, never pending forever
    with pytest.raises(SkillrunError) as info:
        skillrun.run(SKILL, "succeed", backend="slurm", bank=bank, wait=False)
    assert "sbatch refused" in info.value.message and info.value.data["job_id"]
    rec = load_record(skillrun.job(info.value.data["job_id"]).store.job_dir(info.value.data["job_id"]) / "job.json")
    assert rec.state is E and rec.error_class == "LaunchError" and states(rec) == [P, E]
