"""``plan`` and ``run`` from the command line, as a new user would try them (script-engine test skill)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_skillrun

SCRIPT_BANK = REPO / "tests" / "fixtures" / "script_bank"
SB = ("--skills-dir", str(SCRIPT_BANK))


def jobs_in(home: Path) -> list[str]:
    root = home / "jobs"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_plan_shows_the_launch_command_and_writes_nothing(cli: Any, _isolated_home: Path) -> None:
    res = cli(*SB, "plan", "scriptjob", "succeed", "succeed.epochs=2", "--json")
    assert res.code == 0, res.err
    plan = res.json()
    assert plan["engine"] == "script" and plan["backend"] == "local"
    argv = plan["launch"]["argv"]
    assert argv[0] == sys.executable and argv[1].endswith("scriptjob/scripts/job.py") and argv[2] == "succeed"
    assert argv[3] == str(_isolated_home / "jobs" / "<job_id>" / "spec.yaml")
    assert plan["command"] == shlex.join(argv)
    assert {"key": "results_dir", "value": str(_isolated_home / "jobs" / "<job_id>" / "results"), "resolver": "output_dir", "note": None} in plan["resolved"]
    assert plan["spec"]["succeed"]["epochs"] == 2
    assert jobs_in(_isolated_home) == []
    human = cli(*SB, "plan", "scriptjob", "succeed")
    assert human.code == 0 and "Launch command:" in human.out and "scripts/job.py succeed" in human.out
    assert "nothing was run or written" in human.err
    assert jobs_in(_isolated_home) == []


def test_plan_of_a_multi_process_action_goes_through_torchrun(cli: Any) -> None:
    plan = cli(*SB, "plan", "scriptjob", "dist", "dist.num_procs=2", "--json").json()
    argv = plan["launch"]["argv"]
    assert argv[1:3] == ["-m", "torch.distributed.run"]
    assert argv[argv.index("--nproc-per-node") + 1] == "2" and "--standalone" in argv
    assert plan["resources"] == {"nproc_per_node": 2, "nnodes": 1}
    assert cli(*SB, "plan", "scriptjob", "dist", "dist.num_procs=1", "--nproc", "3", "--json").json()["resources"]["nproc_per_node"] == 3


def test_run_follows_the_job_to_a_summary(_isolated_home: Path) -> None:
    res = run_skillrun(*SB, "run", "scriptjob", "succeed", "succeed.epochs=3")
    assert res.code == 0, res.err
    (job_id,) = jobs_in(_isolated_home)
    assert f"{job_id}: epoch 3/3" in res.err  # one progress line per status event when not on a terminal
    assert "COMPLETE" in res.out and "best_val_mAP" in res.out
    record = json.loads((_isolated_home / "jobs" / job_id / "job.json").read_text())
    assert record["state"] == "COMPLETE" and record["metrics"]["best_epoch"] == 2


def test_run_of_a_failing_job_exits_1_with_the_error_class(cli: Any) -> None:
    res = cli(*SB, "run", "scriptjob", "fail", "fail.mode=exception", "--json")
    assert res.code == 1
    doc = res.json()
    assert doc["error"] == "JobFailed" and doc["state"] == "ERROR"
    assert doc["job"]["error_class"] == "ValueError" and "wrong on purpose" in doc["job"]["error_message"]
    assert doc["hint"] == f"see `skillrun logs {doc['job_id']}`"


def test_run_detach_returns_at_once(cli: Any) -> None:
    res = cli(*SB, "run", "scriptjob", "sleep", "sleep.seconds=20", "--detach", "--json")
    assert res.code == 0, res.err
    doc = res.json()
    assert doc["state"] in ("PENDING", "RUNNING") and Path(doc["log_file"]).name == "output.log"
    import skillrun

    job = skillrun.job(doc["job_id"])
    job.cancel(grace=2)
    assert job.state.value == "CANCELED"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("scriptjob", "succeed", "succeed.epochs=-1"), 2, "succeed.epochs"),
        (("scriptjob", "succeed", "succeed.epoch=3"), 2, "did you mean"),
        (("scriptjob", "consume", "--parent", "scriptjob-succeed-000000"), 3, "no job"),
        (("scriptjob", "succeed", "--parent", "x:sometimes"), 2, "sometimes"),
        (("scriptjob", "dist", "dist.num_nodes=2"), 2, "one node"),
        (("scriptjob", "succeed", "--backend", "moon"), 2, "moon"),
        (("scriptjob", "nope"), 3, "nope"),
    ],
)
def test_bad_requests_fail_before_anything_is_written(cli: Any, _isolated_home: Path, args: tuple[str, ...], code: int, needle: str) -> None:
    res = cli(*SB, "run", *args, "--json")
    assert res.code == code, res.out
    doc = res.json()
    assert needle in json.dumps(doc)
    assert "Traceback" not in res.out + res.err
    assert jobs_in(_isolated_home) == []


def test_rtdetr_train_plans_a_study_unless_automl_off(cli: Any, _isolated_home: Path) -> None:
    study = cli("plan", "rtdetr", "train", "-e", str(REPO / "examples" / "rtdetr_train.yaml"), "--no-data", "--json")
    assert study.code == 0, study.out
    doc = study.json()
    assert doc["automl"]["on"] and doc["automl"]["source"] == "default" and doc["engine"] == "automl"
    assert doc["automl"]["review"]["metric"] == "val_mAP" and doc["launch"]["argv"][1:3] == ["-m", "skillrun.automl"]
    assert doc["spec"]["automl_policy"] == "on"
    assert jobs_in(_isolated_home) == []
    plan = cli("plan", "rtdetr", "train", "-e", str(REPO / "examples" / "rtdetr_train.yaml"), "--automl", "off", "--json")
    assert plan.code == 0, plan.out
    doc = plan.json()
    assert {k: doc["automl"][k] for k in ("on", "applies", "reason", "review")} == {"on": False, "applies": True, "reason": "--automl off", "review": None}
    assert doc["spec"]["automl_policy"] == "off"
    assert doc["launch"]["argv"][1:5] == ["-m", "skillrun.engine", "rtdetr", "train"]


def test_builtin_engine_entry_point_is_what_the_job_runs(cli: Any, _isolated_home: Path) -> None:
    """The rtdetr job reaches ``python -m skillrun.engine`` (its handlers land with the PyTorch engine)."""
    res = cli("run", "rtdetr", "train", "-e", str(REPO / "examples" / "rtdetr_train.yaml"), "--automl", "off", "train.num_epochs=1", "--json")
    (job_id,) = jobs_in(_isolated_home)
    record = json.loads((_isolated_home / "jobs" / job_id / "job.json").read_text())
    if res.code == 0:  # the engine has a train handler: the job must have produced a checkpoint
        assert record["state"] == "COMPLETE"
        assert list((_isolated_home / "jobs" / job_id / "results" / "train").glob("model_epoch_*.pth"))
    else:
        assert record["state"] == "ERROR" and record["error_class"] == "NotImplementedError"
        status = (_isolated_home / "jobs" / job_id / "results" / "train" / "status.json").read_text()
        assert '"FAILURE"' in status


def test_resume_continues_in_the_same_folder(cli: Any, _isolated_home: Path) -> None:
    first = cli(*SB, "run", "scriptjob", "succeed", "succeed.epochs=2", "--json")
    assert first.code == 0, first.out
    job_id = first.json()["job"]["id"]
    again = cli(*SB, "resume", job_id[:-2], "succeed.epochs=4", "--json")
    assert again.code == 0, again.out
    rec = again.json()["job"]
    assert rec["id"] == job_id and rec["attempts"] == 2
    assert [t["state"] for t in rec["transitions"]] == ["PENDING", "RUNNING", "COMPLETE", "PENDING", "RUNNING", "COMPLETE"]
    assert rec["transitions"][3]["note"].endswith("model_epoch_001.pth")
    folder = _isolated_home / "jobs" / job_id / "results" / "succeed"
    assert sorted(p.name for p in folder.glob("model_epoch_*.pth")) == [f"model_epoch_00{i}.pth" for i in range(4)]
    assert (_isolated_home / "jobs" / job_id / "spec.attempt1.yaml").is_file()
    running = cli(*SB, "run", "scriptjob", "sleep", "sleep.seconds=20", "--detach", "--json").json()["job_id"]
    busy = cli(*SB, "resume", running, "--json")
    assert busy.code == 2 and "cancel" in busy.json()["hint"]
    cli("cancel", running, "--grace", "1")
