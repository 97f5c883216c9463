"""The ``local`` backend: the conformance suite, plus what only a detached local process group can show.

- the job outlives a CLI killed with SIGKILL, and records its own end;
- a runner killed with SIGKILL is reconciled to ERROR/LostProcess once its group is gone;
- many processes submitting into one workspace leave intact, unique records;
- torchrun on CPU (gloo), with OMP_NUM_THREADS set (PITFALLS §5), and ``nproc`` overriding the spec;
- several nodes are refused before anything is written;
- a recorded pid that now belongs to another process is never signalled.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

if "tests.backends.conformance" not in sys.modules:  # plain asserts in the shared suite get pytest's messages
    pytest.register_assert_rewrite("tests.backends.conformance")

import skillrun  # noqa: E402
from skillrun.contracts.job import BackendRef, JobRecord, JobState, Launch, Transition, utcnow  # noqa: E402
from skillrun.errors import UsageError  # noqa: E402
from skillrun.record.store import JobStore  # noqa: E402
from tests.conftest import run_skillrun  # noqa: E402
from tests.backends.conformance import (  # noqa: E402
    REPO,
    SCRIPT_BANK,
    SKILL,
    BackendConformance,
    Proc,
    cancel_leftovers,
    host_alive,
    load_record,
    process_of,
    states,
    wait_until,
)

P, R, C, E, X = JobState.PENDING, JobState.RUNNING, JobState.COMPLETE, JobState.ERROR, JobState.CANCELED


class TestLocalConformance(BackendConformance):
    backend_name = "local"

    def backend_processes(self, rec: JobRecord) -> dict[str, Proc]:
        """The runner (the job's supervisor) must be gone after a cancel too."""
        ref = rec.backend.ref
        assert {"pid", "pgid", "create_time", "host"} <= set(ref), f"local backend ref lacks fields: {ref}"
        return {"runner": (ref["pid"], ref["create_time"])}


# -- local-only tests


@pytest.fixture(autouse=True)
def _no_job_left_running() -> Any:
    yield
    cancel_leftovers()


@pytest.fixture(scope="module")
def script_bank() -> Any:
    return skillrun.load_bank([SCRIPT_BANK], plugins=False)


def _store() -> JobStore:
    from skillrun import settings

    return JobStore(settings.workspace())


def _job_ids(store: JobStore) -> list[str]:
    return [r["id"] for r in store.query()]


def _group_alive(pgid: int) -> bool:
    """Some non-zombie process is still in process group ``pgid``."""
    import psutil

    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return False


def _sleep_pids(job: Any, timeout: float = 60) -> dict[str, Proc]:
    path = job.action_dir / "pids.json"

    def read() -> dict[str, int] | None:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    found = wait_until(read, timeout, f"{path}")
    procs = {name: process_of(pid) for name, pid in found.items()}
    assert all(procs.values()), procs
    return procs  # type: ignore[return-value]


# ---- the job outlives its CLI


def _cli_run_argv(*overrides: str) -> list[str]:
    """``skillrun --skills-dir BANK run scriptjob succeed OVERRIDES``: records the job, then follows it to the end."""
    return [sys.executable, "-m", "skillrun", "--skills-dir", str(SCRIPT_BANK), "run", SKILL, "succeed", *overrides]


@pytest.mark.parametrize("kill", ["cli-pid", "cli-group"])
def test_sigkill_of_the_cli_leaves_the_job_running_to_a_correct_end(kill: str, tmp_path: Path) -> None:
    store = _store()
    err = tmp_path / "cli.err"
    with open(err, "wb") as err_fh:
        cli = subprocess.Popen(
            _cli_run_argv("succeed.epochs=4", "succeed.sleep_per_epoch=0.5"),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_fh,
            start_new_session=True,  # its own group, as a terminal gives a foreground command
        )
    try:
        job_id = wait_until(lambda: next(iter(_job_ids(store)), None), 60, "the CLI to record a job")
        wait_until(lambda: store.load(job_id).state is R, 60, f"job {job_id} to be RUNNING")
        assert cli.poll() is None, f"the CLI ended early ({cli.returncode}): {err.read_text()[-3000:]}"
        if kill == "cli-pid":
            os.kill(cli.pid, signal.SIGKILL)
        else:  # like closing the terminal: the whole foreground group
            os.killpg(cli.pid, signal.SIGKILL)
        assert cli.wait(10) == -signal.SIGKILL
        assert not store.load(job_id).state.terminal, "the job ended before its CLI was killed: nothing was shown"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    job = skillrun.job(job_id)
    job.wait(60, poll=0.1)
    rec = load_record(store.job_dir(job_id) / "job.json")
    assert rec.state is C and states(rec) == [P, R, C]
    assert rec.exit_code == 0 and rec.transitions[-1].by == "runner"
    assert sorted(p.name for p in job.action_dir.glob("model_epoch_*.pth")) == [f"model_epoch_{i:03d}.pth" for i in range(4)]
    assert rec.metrics["epochs_run"] == 4 and rec.metrics["last_epoch"] == 3


# ---- a lost runner


def test_runner_killed_is_reconciled_to_lost_process_once_its_group_is_gone(script_bank: Any) -> None:
    job = skillrun.run(SKILL, "sleep", overrides=["sleep.seconds=30"], bank=script_bank, wait=False)
    procs = _sleep_pids(job)
    rec = job.refresh()
    ref = rec.backend.ref
    runner: Proc = (ref["pid"], ref["create_time"])
    assert host_alive(runner) and ref["pgid"] == os.getpgid(procs["script"][0])
    try:
        os.kill(ref["pid"], signal.SIGKILL)
        wait_until(lambda: not host_alive(runner), 10, "the runner to die")
        # the job itself still runs in the group: not lost yet
        assert all(host_alive(p) for p in procs.values())
        assert job.refresh().state is R and job.refresh() == rec
    finally:
        try:
            os.killpg(ref["pgid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_until(lambda: not _group_alive(ref["pgid"]), 10, "the job's group to end")
    res = run_skillrun("status", job.id, "--json")  # a fresh process reconciles and records it
    assert res.code == 0, res.err
    shown = res.json()["job"]
    assert shown["state"] == "ERROR" and shown["error_class"] == "LostProcess"
    lost = job.refresh()
    assert lost.state is E and lost.error_class == "LostProcess"
    assert lost.transitions[-1].by == "reconcile" and states(lost) == [P, R, E]
    assert load_record(job.store.job_dir(job.id) / "job.json") == lost
    assert job.refresh() == lost  # and stays so


# ---- many submitters, one workspace

_SUBMITTER = r"""
import json, sys, time
from pathlib import Path
import skillrun
bank = skillrun.load_bank([sys.argv[1]], plugins=False)
go, n = Path(sys.argv[2]), int(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
ids = [skillrun.run("scriptjob", "succeed", overrides=["succeed.epochs=0"], bank=bank, wait=False).id for _ in range(n)]
print(json.dumps(ids))
"""

N_SUBMITTERS, JOBS_EACH = 8, 25


def test_concurrent_submitters_leave_intact_unique_records(tmp_path: Path) -> None:
    store = _store()
    go = tmp_path / "go"
    subs = [
        subprocess.Popen([sys.executable, "-c", _SUBMITTER, str(SCRIPT_BANK), str(go), str(JOBS_EACH)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(N_SUBMITTERS)
    ]
    try:
        time.sleep(1.0)  # let them import; they start together on `go`
        t0 = time.monotonic()
        go.touch()
        ids: list[str] = []
        for sub in subs:
            out, err = sub.communicate(timeout=300)
            assert sub.returncode == 0, err[-3000:]
            ids += json.loads(out)
        submitted = time.monotonic() - t0
    finally:
        for sub in subs:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
    total = N_SUBMITTERS * JOBS_EACH
    assert len(ids) == total and len(set(ids)) == total
    assert sorted(p.name for p in store.root.iterdir()) == sorted(ids)

    def all_terminal() -> bool:
        return sum(1 for r in store.iter_raw() if JobState(r["state"]).terminal) == total

    wait_until(all_terminal, 300, f"{total} jobs to end", poll=0.25)
    finished = time.monotonic() - t0
    for job_id in ids:
        rec = load_record(store.job_dir(job_id) / "job.json")
        assert rec.id == job_id
        assert rec.state is C and states(rec) == [P, R, C], f"{job_id}: {[s.value for s in states(rec)]} {rec.error_class} {rec.error_message}"
        assert rec.exit_code == 0 and rec.metrics.get("epochs_run") == 0
    print(f"\n{N_SUBMITTERS}x{JOBS_EACH} jobs: submitted in {submitted:.1f} s, all COMPLETE after {finished:.1f} s")


# ---- torchrun on CPU

_TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.skipif(not _TORCH, reason="torch is not installed")
def test_two_process_torchrun_job_on_cpu(script_bank: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with monkeypatch.context() as m:
        # pretend to have 8 cores: the job must get 8 // 2 = 4 threads, not torchrun's forced 1 (PITFALLS §5)
        m.setattr(os, "cpu_count", lambda: 8)
        job = skillrun.run(SKILL, "dist", overrides=["dist.num_procs=2"], bank=script_bank, wait=False)
    job.wait(180, poll=0.2)
    rec = load_record(job.store.job_dir(job.id) / "job.json")
    assert rec.state is C, f"{rec.error_class}: {rec.error_message}\n{job.log_text()[-3000:]}"
    argv = rec.launch.argv
    assert "torch.distributed.run" in argv and "--nproc-per-node" in argv
    assert argv[argv.index("--nproc-per-node") + 1] == "2" and rec.launch.nproc_per_node == 2
    assert rec.launch.env.get("OMP_NUM_THREADS") == "4"
    for rank in (0, 1):
        data = json.loads((job.action_dir / f"rank{rank}.json").read_text())
        assert data == {"rank": rank, "world": 2, "sum": 3.0, "omp": "4"}


@pytest.mark.skipif(not _TORCH, reason="torch is not installed")
def test_nproc_overrides_the_spec_process_count(script_bank: Any) -> None:
    job = skillrun.run(SKILL, "dist", overrides=["dist.num_procs=1"], nproc=2, bank=script_bank, wait=False)
    job.wait(180, poll=0.2)
    rec = load_record(job.store.job_dir(job.id) / "job.json")
    assert rec.state is C, f"{rec.error_class}: {rec.error_message}\n{job.log_text()[-3000:]}"
    assert rec.launch.nproc_per_node == 2 and "--nproc-per-node" in rec.launch.argv
    assert "OMP_NUM_THREADS" in rec.launch.env or "OMP_NUM_THREADS" in os.environ
    worlds = [json.loads((job.action_dir / f"rank{r}.json").read_text())["world"] for r in (0, 1)]
    assert worlds == [2, 2]


def test_several_nodes_are_refused_before_anything_is_written(script_bank: Any) -> None:
    store = _store()
    with pytest.raises(UsageError) as info:
        skillrun.run(SKILL, "dist", overrides=["dist.num_nodes=2"], bank=script_bank, wait=False)
    assert info.value.exit_code == 2
    assert "2 nodes" in info.value.message and "slurm" in (info.value.hint or "")
    assert not store.root.exists() or not any(store.root.iterdir())


def test_several_nodes_are_refused_by_the_cli_with_exit_2() -> None:
    res = run_skillrun("--skills-dir", SCRIPT_BANK, "run", SKILL, "dist", "dist.num_nodes=2")
    assert res.code == 2, res.err
    store = _store()
    assert not store.root.exists() or not any(store.root.iterdir())


# ---- the pid in the record is checked before it is signalled


def _running_record(store: JobStore, ref: dict[str, Any]) -> JobRecord:
    """A RUNNING local record whose runner is ``ref`` (written through the store, as the runner would)."""
    job_id = store.reserve(SKILL, "sleep")
    d = store.job_dir(job_id)
    now = utcnow()
    rec = JobRecord(
        id=job_id,
        skill=SKILL,
        action="sleep",
        engine="script",
        backend=BackendRef(name="local", ref=ref),
        results_dir=str(d / "results"),
        spec_file=str(d / "spec.yaml"),
        launch=Launch(argv=[sys.executable, "-c", "pass"], cwd=str(d)),
        state=R,
        transitions=[Transition(state=P, at=now, by="api", note="recorded before launch"), Transition(state=R, at=now, by="runner")],
        created_at=now,
    )
    return store.create(rec)


def _foreign_ref(pid: int) -> dict[str, Any]:
    # the pid and group of a live session leader, but a start time that is not its own: what a record
    # looks like after a reboot or after pid wrap-around handed the runner's pid to an unrelated program
    return {"pid": pid, "pgid": os.getpgid(pid), "create_time": 1.0, "host": socket.gethostname()}


@pytest.fixture
def stranger() -> Any:
    """An unrelated long-running session leader (pid == pgid, like a runner)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    wait_until(lambda: process_of(proc.pid), 10, "the stranger to start")
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("via", ["job", "backend"])
def test_cancel_never_signals_a_pid_that_is_no_longer_the_runner(stranger: Any, via: str) -> None:
    # Chosen behaviour: cancel proves the pid is the runner (pid + start time) before it signals the
    # group. Here it is not, so nothing is signalled, and the job is recorded as what it is: lost
    # (ERROR/LostProcess by reconcile), since nothing of it was running when the cancel came, rather
    # than CANCELED, which would claim that the cancel stopped it. `skillrun cancel` then reports the
    # job "ended ERROR before the cancel took effect". Job.cancel and Backend.cancel agree.
    store = _store()
    rec = _running_record(store, _foreign_ref(stranger.pid))
    job = skillrun.job(rec.id)
    if via == "job":
        job.cancel(grace=0.5)
    else:
        job.backend.cancel(store.load(rec.id), 0.5)
    time.sleep(0.2)
    assert stranger.poll() is None, f"cancel signalled an unrelated process (exit {stranger.returncode})"
    after = load_record(store.job_dir(rec.id) / "job.json")
    assert after.state is E and after.error_class == "LostProcess"
    assert states(after) == [P, R, E] and after.transitions[-1].by == "reconcile"


def test_status_reconciles_a_reused_runner_pid_to_lost_process(stranger: Any) -> None:
    # The group of a reused pid belongs to the stranger, not to the job: status must not count it as
    # the job still running (that would keep the record RUNNING for as long as the stranger lives).
    store = _store()
    rec = _running_record(store, _foreign_ref(stranger.pid))
    lost = skillrun.job(rec.id).refresh()
    assert lost.state is E and lost.error_class == "LostProcess" and lost.transitions[-1].by == "reconcile"
    assert stranger.poll() is None


_SELF_CANCEL = r"""
import os, socket, sys, json
sys.path.insert(0, sys.argv[1])
import skillrun
from tests.backends.test_local import _running_record, _store
rec = _running_record(_store(), {"pid": os.getpid(), "pgid": os.getpgid(0), "create_time": 1.0, "host": socket.gethostname()})
job = skillrun.job(rec.id).cancel(grace=0.5)  # SIGTERM/SIGKILL here would end this process
print(json.dumps({"state": job.record.state.value, "by": job.record.transitions[-1].by}))
"""


def test_cancel_from_the_process_the_record_names_does_not_kill_it(tmp_path: Path) -> None:
    # The record points at the canceling process itself (pid and group), with a wrong start time.
    # It runs in its own session, so a wrong signal could only hit that child, never pytest.
    proc = subprocess.run([sys.executable, "-c", _SELF_CANCEL, str(REPO)], cwd=tmp_path, capture_output=True, text=True, timeout=60, start_new_session=True)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-3000:]}"
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"state": "ERROR", "by": "reconcile"}
