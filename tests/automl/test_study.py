"""Studies end to end on the fake ``scriptjob train``: results, crash and resume, pruning, --parent STUDY."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import skillrun
from tests.automl.conftest import SB


def _trials(job: Any) -> list[dict[str, Any]]:
    return json.loads((job.action_dir / "trials.json").read_text())


def _children(job: Any) -> list[dict[str, Any]]:
    return skillrun.jobs(parent=job.id)


def test_a_four_trial_study_writes_best_rec_and_hands_its_best_child_on(cli: Any, _isolated_home: Path) -> None:
    res = cli(*SB, "run", "scriptjob", "train", "automl.max_trials=4", "--json")  # an agent: the review comes inside the one JSON document
    assert res.code == 0, res.out
    doc = res.json()
    assert doc["automl_review"]["max_trials"] == 4 and doc["job"]["state"] == "COMPLETE"
    study = skillrun.job(doc["job"]["id"])
    rec = study.record
    assert rec.state.value == "COMPLETE", study.log_text()
    assert rec.engine == "automl" and rec.automl is not None and rec.automl.role == "study"
    trials = _trials(study)
    done = [t for t in trials if t["state"] == "COMPLETE"]
    assert len(done) == 4 and done[0]["baseline"] and done[0]["params"]["train.lr"] == 0.01
    assert all(t["job_id"] is None for t in trials if t["state"] == "FAIL")  # broke a rule: never launched
    kids = _children(study)
    assert sorted(k["id"] for k in kids) == sorted(t["job_id"] for t in done)
    assert all(k["automl"]["role"] == "trial" and k["parent"]["selector"] == "study" and k["spec_file"] for k in kids)
    best = study.best_rec()
    assert best is not None and best.study == study.id and best.direction == "maximize" and best.metric == "val_mAP"
    assert best.value == max(t["value"] for t in done) and best.job_id == next(t["job_id"] for t in done if t["value"] == best.value)
    assert set(best.params) == {"train.lr", "train.lr_backbone", "train.width", "train.optimizer"} and best.budget == {"train.num_epochs": 4}
    assert best.epoch == 3 and Path(best.checkpoint).name == "model_epoch_003.pth" and best.job_id in best.checkpoint
    assert {"best_rec.json", "trials.csv", "trials.json", "review.json", "study.journal", "optimization_history.png"} <= {p.name for p in study.action_dir.iterdir()}
    assert study.metrics["best_val_mAP"] == best.value and study.outcome().value() == best.value
    # --parent STUDY follows best_rec.json to the best child's checkpoint
    res = cli(*SB, "run", "scriptjob", "export", "--parent", study.id, "--json")
    assert res.code == 0, res.out
    export = res.json()["job"]
    assert export["parent"]["job_id"] == study.id and export["parent"]["via"] == [best.job_id]
    assert export["parent"]["resolved"]["export.checkpoint"] == best.checkpoint
    shown = cli(*SB, "results", study.id, "--json").json()
    assert shown["automl"]["best_rec"]["job_id"] == best.job_id and len(shown["automl"]["trials"]) == len(trials)


def test_killing_the_study_then_resuming_finishes_only_the_remaining_trials(sbank: Any) -> None:
    overrides = ["automl.max_trials=4", "automl.parameters=[train.lr]", "automl.metric=train_loss", "train.num_epochs=3", "train.sleep_per_epoch=0.3"]
    study = skillrun.run("scriptjob", "train", overrides=overrides, bank=sbank, wait=False)
    deadline = time.monotonic() + 90
    while not (len(kids := _children(study)) >= 2 and any(k["state"] == "COMPLETE" for k in kids)):
        assert time.monotonic() < deadline, study.log_text()
        time.sleep(0.1)
    before = {k["automl"]["trial"]: k["id"] for k in kids}
    os.killpg(study.record.backend.ref["pgid"], signal.SIGKILL)  # the runner and the coordinator, as in a crash
    time.sleep(0.3)
    assert study.refresh().state.value == "ERROR" and study.record.error_class == "LostProcess"
    resumed = skillrun.run("scriptjob", "train", overrides=overrides, bank=sbank, timeout=120)  # the same command again continues it
    assert resumed.id == study.id and resumed.record.attempts == 2  # (as `skillrun resume STUDY` does)
    assert resumed.record.state.value == "COMPLETE", resumed.log_text()
    kids = _children(study)
    by_trial = {k["automl"]["trial"]: k for k in kids}
    assert len(kids) == len(by_trial) == 4 and all(k["state"] == "COMPLETE" for k in kids)  # one job per trial, none repeated
    assert all(by_trial[n]["id"] == job for n, job in before.items())  # the running trial was re-attached, not redone
    assert "re-attached" in resumed.log_text()
    done = [t for t in _trials(study) if t["state"] == "COMPLETE"]
    best = resumed.best_rec()
    assert len(done) == 4 and best.direction == "minimize" and best.value == min(t["value"] for t in done)


def test_hyperband_prunes_and_the_pruned_jobs_end_canceled(sbank: Any) -> None:
    overrides = ["automl.algorithm=hyperband", "automl.max_trials=5", "automl.parameters=[train.lr]", "automl.metric=val_mAP50", "automl.direction=maximize", "train.num_epochs=4", "train.sleep_per_epoch=0.4"]
    study = skillrun.run("scriptjob", "train", overrides=overrides, bank=sbank, timeout=180)
    assert study.record.state.value == "COMPLETE", study.log_text()
    trials = _trials(study)
    pruned = [t for t in trials if t["state"] == "PRUNED"]
    assert pruned, trials
    assert all(t["job_state"] == "CANCELED" and t["epochs"] < 4 for t in pruned)
    states = {k["id"]: k["state"] for k in _children(study)}
    assert all(states[t["job_id"]] == "CANCELED" for t in pruned)
    assert study.metrics["trial_epochs"] < 4 * sum(1 for t in trials if t["job_id"])
    assert (study.action_dir / "intermediate_values.png").is_file()
    assert study.best_rec().metric == "val_mAP50"
