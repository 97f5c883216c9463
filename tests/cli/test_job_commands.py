"""``jobs``, ``status``, ``logs``, ``cancel`` and ``results`` on real jobs: they must all tell the same story.

Finished jobs are made once per module (each costs about half a second) in a
workspace of their own, passed as ``--workspace``; the cancel test starts its
own job in the per-test workspace so it cannot disturb the shared one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

SCRIPT_BANK = REPO / "tests" / "fixtures" / "script_bank"


@pytest.fixture(scope="module")
def script_bank() -> Any:
    import skillrun

    return skillrun.load_bank([SCRIPT_BANK], plugins=False)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, script_bank: Any) -> dict[str, Any]:
    """A workspace with a finished train-like job, a failed job, and a child of the first."""
    import skillrun

    root = tmp_path_factory.mktemp("jobs-ws")
    ok = skillrun.run("scriptjob", "succeed", overrides=["succeed.epochs=3"], bank=script_bank, workspace=root)
    bad = skillrun.run("scriptjob", "fail", bank=script_bank, workspace=root)
    child = skillrun.run("scriptjob", "consume", parent=ok.id, bank=script_bank, workspace=root)
    assert (ok.state.value, bad.state.value, child.state.value) == ("COMPLETE", "ERROR", "COMPLETE")
    return {"root": root, "ok": ok.id, "bad": bad.id, "child": child.id}


@pytest.fixture
def sr(cli: Any, ws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``skillrun --workspace WS --skills-dir script_bank ARGS``, with a wide terminal for tables."""
    monkeypatch.setenv("COLUMNS", "240")
    return lambda *args: cli("--workspace", ws["root"], "--skills-dir", SCRIPT_BANK, *args)


# -- jobs


def test_jobs_json_lists_every_job_newest_first(sr: Any, ws: dict[str, Any]) -> None:
    res = sr("jobs", "--json")
    assert res.code == 0, res.err
    doc = res.json()
    assert set(doc) == {"jobs", "count"} and doc["count"] == 3
    assert [j["id"] for j in doc["jobs"]] == [ws["child"], ws["bad"], ws["ok"]]
    assert {j["state"] for j in doc["jobs"]} == {"COMPLETE", "ERROR"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--state", "complete"), ["child", "ok"]),
        (("--state", "ERROR"), ["bad"]),
        (("--state", "RUNNING"), []),
        (("--skill", "scriptjob", "--state", "Complete"), ["child", "ok"]),
        (("--skill", "rtdetr"), []),
        (("--skill", "script"), []),
    ],
)
def test_jobs_filters(sr: Any, ws: dict[str, Any], args: tuple[str, ...], expected: list[str]) -> None:
    res = sr("jobs", *args, "--json")
    assert res.code == 0, res.err
    assert [j["id"] for j in res.json()["jobs"]] == [ws[k] for k in expected]


def test_jobs_parent_filter_takes_an_id_or_a_prefix(sr: Any, ws: dict[str, Any]) -> None:
    for text in (ws["ok"], ws["ok"][:-2]):
        doc = sr("jobs", "--parent", text, "--json").json()
        assert [j["id"] for j in doc["jobs"]] == [ws["child"]]
        assert doc["jobs"][0]["parent"]["job_id"] == ws["ok"]
    assert sr("jobs", "--parent", ws["bad"], "--json").json() == {"jobs": [], "count": 0}
    unknown = sr("jobs", "--parent", "nosuchjob", "--json")
    assert unknown.code == 3 and unknown.json()["error"] == "ResolutionError"


def test_jobs_limit_and_bad_state(sr: Any, ws: dict[str, Any]) -> None:
    res = sr("jobs", "--limit", "1", "--json")
    assert res.code == 0 and [j["id"] for j in res.json()["jobs"]] == [ws["child"]] and res.json()["count"] == 1
    table = sr("jobs", "--limit", "2")
    assert list(_rows(table.out)) == [ws["child"], ws["bad"]] and "newest 2 of 3" in table.err
    bad = sr("jobs", "--state", "DONE", "--json")
    assert bad.code == 2 and bad.json()["exit_code"] == 2


def test_jobs_table_for_people(sr: Any, ws: dict[str, Any]) -> None:
    res = sr("jobs")
    assert res.code == 0, res.err
    for key in ("ok", "bad", "child"):
        assert ws[key] in res.out
    assert "scriptjob/succeed" in res.out and "COMPLETE" in res.out and "ERROR" in res.out
    rows = _rows(res.out)
    assert "0.3" in rows[ws["ok"]]  # best_val_mAP
    child_line = rows[ws["child"]]
    assert ws["ok"] in child_line  # the parent column
    with pytest.raises(json.JSONDecodeError):
        json.loads(res.out)


def _rows(table: str) -> dict[str, str]:
    """Table lines keyed by their first cell, in order."""
    return {line.split("│")[1].strip(): line for line in table.splitlines() if line.count("│") > 2}


def test_jobs_in_an_empty_workspace(cli: Any) -> None:
    res = cli("jobs", "--json")
    assert res.code == 0 and res.json() == {"jobs": [], "count": 0}
    human = cli("jobs")
    assert human.code == 0 and human.out == "" and "no jobs yet" in human.err


def test_jobs_json_path_imports_no_rich_and_no_psutil(ws: dict[str, Any]) -> None:
    code = (
        "import sys, io, contextlib\n"
        "from skillrun.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    assert main(['--workspace', {str(ws['root'])!r}, 'jobs', '--json']) == 0\n"
        "assert __import__('json').loads(out.getvalue())['count'] == 3\n"
        "print(sorted(m for m in ('rich', 'psutil', 'torch') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# -- status, logs, results: one story


def test_status_jobs_and_results_agree(sr: Any, ws: dict[str, Any]) -> None:
    listed = next(j for j in sr("jobs", "--json").json()["jobs"] if j["id"] == ws["ok"])
    status = sr("status", ws["ok"][:-3], "--json")
    assert status.code == 0, status.err
    doc = status.json()
    job = doc["job"]
    assert job["id"] == ws["ok"] and job["state"] == listed["state"] == "COMPLETE"
    assert job["results_dir"] == listed["results_dir"] and job["metrics"] == listed["metrics"]
    assert job["metrics"]["best_val_mAP"] == 0.3 and job["exit_code"] == 0
    assert doc["events"] == 5 and doc["progress"]["status"] == "SUCCESS"
    found = sr("results", ws["ok"], "--json").json()
    assert (found["job_id"], found["state"], found["results_dir"]) == (job["id"], job["state"], job["results_dir"])
    assert found["metrics"] == job["metrics"] and found["events"] == doc["events"]
    names = [Path(f["path"]).name for f in found["outputs"]["checkpoints"]["files"]]
    assert names == ["model_epoch_000.pth", "model_epoch_001.pth", "model_epoch_002.pth"]
    assert [c["epoch"] for c in found["checkpoints"]] == [0, 1, 2]
    assert all(Path(c["path"]).is_absolute() and Path(c["path"]).is_relative_to(job["results_dir"]) for c in found["checkpoints"])
    assert found["declared"] is True and found["problems"] == []


def test_status_for_people(sr: Any, ws: dict[str, Any]) -> None:
    res = sr("status", ws["ok"])
    assert res.code == 0, res.err
    assert "COMPLETE" in res.out and "epoch 3/3" in res.out and "val_mAP=0.3" in res.out
    assert f"jobs/{ws['ok']}/results" in res.out and "output.log" in res.out
    assert "PENDING" in res.out and "runner" in res.out  # the transitions table


def test_failed_job_everywhere(sr: Any, ws: dict[str, Any]) -> None:
    job = sr("status", ws["bad"], "--json").json()["job"]
    assert job["state"] == "ERROR" and job["error_class"] == "ValueError" and job["exit_code"] == 1
    human = sr("status", ws["bad"])
    assert "ValueError: the data is wrong on purpose" in human.out
    assert "about to fail" in sr("logs", ws["bad"]).out
    found = sr("results", ws["bad"], "--json").json()
    assert found["state"] == "ERROR" and found["checkpoints"] == [] and found["results_dir"] == job["results_dir"]


def test_logs_and_tail(sr: Any, ws: dict[str, Any]) -> None:
    full = sr("logs", ws["ok"])
    assert full.code == 0 and "epoch 2: val_mAP=0.3" in full.out
    assert full.out.index("epoch 0") < full.out.index("epoch 1") < full.out.index("epoch 2")
    tail = sr("logs", ws["ok"], "--tail", "1")
    assert tail.code == 0 and tail.out.splitlines() == full.out.splitlines()[-1:]
    assert sr("logs", ws["ok"], "--tail", "2").out.splitlines() == full.out.splitlines()[-2:]
    followed = sr("logs", "-f", ws["ok"])  # a terminal job: prints everything and returns
    assert followed.code == 0 and followed.out == full.out


def test_results_for_people_and_without_the_skill(sr: Any, cli: Any, ws: dict[str, Any]) -> None:
    res = sr("results", ws["ok"])
    assert res.code == 0, res.err
    for name in ("model_epoch_000.pth", "model_epoch_001.pth", "model_epoch_002.pth", "best_val_mAP", "checkpoints"):
        assert name in res.out
    # the skill is not in the default bank: its files are still listed
    generic = cli("--workspace", ws["root"], "results", ws["ok"], "--json")
    assert generic.code == 0, generic.err
    doc = generic.json()
    assert doc["declared"] is False and doc["outputs"] == {}
    assert {Path(f["path"]).name for f in doc["files"]} >= {"model_epoch_002.pth", "metrics.json", "status.json"}
    assert [c["epoch"] for c in doc["checkpoints"]] == [0, 1, 2]
    assert "not in the bank" in cli("--workspace", ws["root"], "results", ws["ok"]).err


# -- unknown and ambiguous ids


@pytest.mark.parametrize("command", ["status", "cancel", "results"])
def test_unknown_job_exits_3_with_a_json_error(sr: Any, command: str) -> None:
    res = sr(command, "nosuchjob-train-000000", "--json")
    assert res.code == 3
    doc = res.json()
    assert doc["error"] == "ResolutionError" and doc["exit_code"] == 3 and "skillrun jobs" in doc["hint"]


def test_unknown_job_logs_exits_3(sr: Any) -> None:
    res = sr("logs", "nosuchjob")
    assert res.code == 3 and res.out == "" and "no job 'nosuchjob'" in res.err


@pytest.mark.parametrize("command", ["status", "logs", "cancel", "results"])
def test_ambiguous_prefix_exits_3(sr: Any, ws: dict[str, Any], command: str) -> None:
    res = sr(command, "scriptjob-")
    assert res.code == 3 and "matches 3 jobs" in res.err and res.out == ""


# -- cancel


def test_cancel_a_running_job(cli: Any, script_bank: Any, _isolated_home: Path) -> None:
    import psutil

    import skillrun

    job = skillrun.run("scriptjob", "sleep", overrides=["sleep.seconds=60"], bank=script_bank, wait=False)
    try:
        pids_file = job.action_dir / "pids.json"
        deadline = time.monotonic() + 15
        while not pids_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pids_file.exists(), "the sleep script never started"
        pids = json.loads(pids_file.read_text())
        assert cli("jobs", "--state", "running", "--json").json()["jobs"][0]["id"] == job.id
        res = cli("cancel", job.id, "--grace", "2", "--json")
        assert res.code == 0, res.err
        assert res.json() == {"job_id": job.id, "state": "CANCELED", "was": "RUNNING"}
    finally:
        job.cancel(1)
    assert cli("status", job.id, "--json").json()["job"]["state"] == "CANCELED"
    assert [j["id"] for j in cli("jobs", "--state", "CANCELED", "--json").json()["jobs"]] == [job.id]
    assert "sleeping 60 s" in cli("logs", job.id).out
    for pid in pids.values():  # the script and the child it started are gone
        assert not _alive(psutil, pid)
    again = cli("cancel", job.id[:-1], "--json")
    assert again.code == 0 and again.json() == {"job_id": job.id, "state": "CANCELED", "was": "CANCELED"}
    assert "already CANCELED" in again.err
    human = cli("cancel", job.id)
    assert human.code == 0 and human.out.strip() == "CANCELED"


def _alive(psutil: Any, pid: int, wait: float = 5.0) -> bool:
    """Still running after ``wait`` seconds (a zombie waiting to be reaped counts as gone)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        time.sleep(0.05)
    return True
