"""An AutoML study on the real local Slurm cluster: the coordinator is one Slurm job, each trial another.

The coordinator (``python -m skillrun.automl``) runs inside its own allocation and
sbatch-es every trial from there; hyperband prunes a trial by ``scancel``-ing its
Slurm job. The cluster has 2 nodes x 2 CPUs and each job here takes one CPU, so
the coordinator and ``max_concurrent=2`` trials fit at once (3 of 4 CPUs): the
study cannot wait on itself.

The trials ask for memory per CPU (an extra ``#SBATCH`` line) while the
coordinator asks for a small ``--mem``: a trial submitted with the coordinator's
``SLURM_MEM_PER_NODE`` still in its environment would have its ``srun`` refuse to
start ("mutually exclusive"), so this study also fails if the allocation's job
variables leak into the trials' sbatch, or if sbatch cannot run inside it at all.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

import skillrun
from skillrun.backends.slurm.config import SlurmOptions
from skillrun.backends.slurm.nested import coordinator_options, submit_env
from tests.backends.conformance import cancel_leftovers
from tests.integration import slurm_cluster

pytestmark = pytest.mark.xdist_group("slurm")
EPOCHS = 4


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    yield slurm_cluster.cluster()  # skips where none can run; stopped when the test process exits (atexit in slurm_cluster)


@pytest.fixture(autouse=True)
def _no_job_left_running() -> Iterator[None]:
    yield
    cancel_leftovers()


def _scontrol(slurm_id: str) -> dict[str, str]:
    """``scontrol -o show job`` as a dict ({} once Slurm has forgotten the job)."""
    res = subprocess.run(["scontrol", "-o", "show", "job", slurm_id], capture_output=True, text=True, timeout=30)
    return dict(w.split("=", 1) for w in res.stdout.split() if "=" in w) if res.returncode == 0 else {}


def _final(slurm_id: str, timeout: float = 30) -> str:
    """Slurm's JobState once the job has left RUNNING/COMPLETING (a record is written before the batch script exits)."""
    deadline = time.monotonic() + timeout
    while (state := _scontrol(slurm_id).get("JobState", "")) in ("RUNNING", "COMPLETING") and time.monotonic() < deadline:
        time.sleep(0.2)
    return state


def _in_queue(slurm_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", slurm_id, "-o", "%T"], capture_output=True, text=True, timeout=30).stdout.strip()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))  # records say ...Z; Python 3.10 reads only +00:00


def _span(rec: dict[str, Any]) -> tuple[datetime, datetime]:
    """RUNNING -> terminal, from the record's transitions."""
    moves = rec["transitions"]
    start = next(_at(t["at"]) for t in moves if t["state"] == "RUNNING")
    end = next(_at(t["at"]) for t in reversed(moves) if t["state"] in ("COMPLETE", "ERROR", "CANCELED"))
    return start, end


def _most_at_once(spans: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_a_hyperband_study_on_slurm_runs_its_trials_as_slurm_jobs_and_scancels_the_pruned(cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sbank: Any) -> None:
    config = tmp_path / "skillrun-config.yaml"
    config.write_text("slurm:\n  sbatch_lines: [--mem-per-cpu=300]\n")
    monkeypatch.setenv("SKILLRUN_CONFIG", str(config))
    # one hyperband bracket (min 2 of 4 epochs < reduction factor 3): the rung at epoch 2 prunes every trial
    # worse than the best one there, so lr=0.635 (trial 2) is pruned whatever the timing
    overrides = ["automl.algorithm=hyperband", "automl.max_trials=5", "automl.max_concurrent=2", "automl.min_epochs=2", "automl.parameters=[train.lr]",
                 "automl.metric=val_mAP50", "automl.direction=maximize", f"train.num_epochs={EPOCHS}", "train.sleep_per_epoch=0.8"]
    study = skillrun.run("scriptjob", "train", overrides=overrides, backend="slurm", bank=sbank, timeout=150)
    rec = study.record
    assert rec.state.value == "COMPLETE", study.log_text()[-4000:]

    # the coordinator ran as a Slurm job of its own, with a small request (one CPU, --mem, not the trials' per-CPU memory)
    coord_id = rec.backend.ref["job_id"]
    assert rec.backend.name == "slurm" and coord_id.isdigit() and rec.backend.ref["batch_host"] in ("n1", "n2")
    coord = _scontrol(coord_id)
    assert _final(coord_id) == "COMPLETED" and coord["NumCPUs"] == "1" and coord.get("MinMemoryNode") == "2G", coord
    coord_start, coord_end = _span(rec.model_dump(mode="json"))

    # each trial a separate Slurm job, submitted by the coordinator from inside its allocation
    trials = json.loads((study.action_dir / "trials.json").read_text())
    launched = [t for t in trials if t["job_id"]]
    kids = {k["id"]: k for k in skillrun.jobs(parent=study.id)}
    assert len(launched) == 5 and set(kids) == {t["job_id"] for t in launched}, trials
    slurm_ids = {k["backend"]["ref"]["job_id"] for k in kids.values()}
    assert all(k["backend"]["name"] == "slurm" for k in kids.values()) and len(slurm_ids) == 5 and coord_id not in slurm_ids
    for kid in kids.values():
        submitted = _at(kid["transitions"][0]["at"])
        assert kid["transitions"][0]["by"] == "automl" and coord_start < submitted < coord_end, kid["transitions"]
        info = _scontrol(kid["backend"]["ref"]["job_id"])
        assert info["NumCPUs"] == "1" and info.get("MinMemoryCPU") == "300M", info  # the config's request, not the coordinator's
    spans = [_span(k) for k in kids.values()]
    assert _most_at_once(spans) == 2, spans  # two trial jobs ran side by side, never a third

    # hyperband pruned: the trial's Slurm job was really cancelled, and its record says so
    pruned = [t for t in trials if t["state"] == "PRUNED"]
    assert pruned and any(t["params"]["train.lr"] > 0.5 for t in pruned), trials
    for t in pruned:
        kid = kids[t["job_id"]]
        slurm_id = kid["backend"]["ref"]["job_id"]
        assert t["job_state"] == kid["state"] == "CANCELED" and t["epochs"] < EPOCHS and kid["backend"]["ref"].get("cancel_requested")
        assert _final(slurm_id) == "CANCELLED" and _in_queue(slurm_id) in ("", "CANCELLED")  # Slurm's own record too
        assert not (Path(kid["results_dir"]) / "train" / f"model_epoch_{EPOCHS - 1:03d}.pth").exists()  # stopped before its last epoch
    done = [t for t in trials if t["state"] == "COMPLETE"]
    assert done and all(_final(kids[t["job_id"]]["backend"]["ref"]["job_id"]) == "COMPLETED" for t in done)
    assert len(done) + len(pruned) == 5

    best = study.best_rec()
    assert best is not None and json.loads((study.action_dir / "best_rec.json").read_text())["job_id"] == best.job_id
    assert best.value == max(t["value"] for t in done) and best.job_id in {t["job_id"] for t in done if t["value"] == best.value}
    assert Path(best.checkpoint).is_file() and best.job_id in best.checkpoint


#: what a trial's sbatch saw in the coordinator's step before the fix (from a real step of this cluster), plus a requeue
COORDINATOR_STEP_ENV = {
    "SLURM_CONF": "/etc/slurm/slurm.conf", "SLURM_JOB_ID": "7", "SLURM_JOBID": "7", "SLURM_STEP_ID": "0", "SLURM_STEPID": "0",
    "SLURM_MEM_PER_NODE": "2048", "SLURM_CPUS_PER_TASK": "1", "SLURM_RESTART_COUNT": "1", "SLURM_DISTRIBUTION": "cyclic",
    "SLURM_SRUN_COMM_PORT": "38587", "SLURM_JOB_CPUS_PER_NODE_PACK_GROUP_0": "1", "SLURMD_NODENAME": "n1", "SRUN_DEBUG": "3",
    "SLURM_CPU_BIND": "quiet,mask_cpu:0x1", "SBATCH_ACCOUNT": "ml", "SKILLRUN_KEY": "s3cret", "PATH": "/usr/bin", "CUDA_VISIBLE_DEVICES": "",
}


def test_sbatch_from_inside_an_allocation_gets_none_of_its_job_variables() -> None:
    env = submit_env(COORDINATOR_STEP_ENV)
    assert env == {"SLURM_CONF": "/etc/slurm/slurm.conf", "SBATCH_ACCOUNT": "ml", "SKILLRUN_KEY": "s3cret", "PATH": "/usr/bin", "CUDA_VISIBLE_DEVICES": ""}
    login = {k: v for k, v in COORDINATOR_STEP_ENV.items() if k not in ("SLURM_JOB_ID", "SLURM_JOBID")}
    assert submit_env(login) == login  # outside an allocation (a login node) the environment passes on as it is


def test_the_coordinator_asks_for_one_cpu_no_gpu_and_little_memory() -> None:
    trial = SlurmOptions(partition="gpu", time="04:00:00", gpus_per_node="auto", cpus_per_task=16, mem="64G", sbatch_lines=["--constraint=a100", "--exclusive", "--gres=gpu:8", "-c 4", "--mem-per-gpu=8G"])
    coord = coordinator_options(trial)
    assert (coord.partition, coord.time, coord.gpus(8), coord.cpus_per_task, coord.mem, coord.sbatch_lines) == ("gpu", "04:00:00", None, None, "2G", ["--constraint=a100"])
    assert coordinator_options(SlurmOptions(mem="512M")).mem == "512M" and coordinator_options(SlurmOptions()).mem is None
    assert coordinator_options(SlurmOptions(sbatch_lines=["--mem-per-cpu=300"])).mem == "2G"  # memory asked for another way: still bounded
