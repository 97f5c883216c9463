"""Studies end to end on the fake ``scriptjob train``: results, crash and resume, pruning, --parent STUDY."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime
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
    from skillrun.agents.tools import Toolbox

    mcp = Toolbox((str(SB[1]),)).results(study.id)  # the MCP results tool shows the same study
    assert mcp.automl is not None and mcp.automl["best_rec"]["job_id"] == best.job_id and len(mcp.automl["trials"]) == len(trials)


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


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))  # records say ...Z; Python 3.10 reads only +00:00


def _running_intervals(kids: list[dict[str, Any]]) -> dict[str, tuple[datetime, datetime]]:
    """Each child job's RUNNING -> terminal interval, from the timestamps of its recorded transitions."""
    out = {}
    for kid in kids:
        moves = kid["transitions"]
        start = next(_at(t["at"]) for t in moves if t["state"] == "RUNNING")
        end = next(_at(t["at"]) for t in reversed(moves) if t["state"] in ("COMPLETE", "ERROR", "CANCELED"))
        out[kid["id"]] = (start, end)
    return out


def _most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    """The largest number of intervals running at one instant (an end frees its slot before a start at that instant)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda ev: (ev[0], ev[1]))
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_max_concurrent_two_runs_two_trials_at_once_and_never_three(sbank: Any) -> None:
    overrides = ["automl.max_trials=5", "automl.max_concurrent=2", "automl.algorithm=random", "automl.parameters=[train.width, train.optimizer]", "train.num_epochs=3", "train.sleep_per_epoch=0.4"]
    study = skillrun.run("scriptjob", "train", overrides=overrides, bank=sbank, timeout=60)
    assert study.record.state.value == "COMPLETE", study.log_text()
    kids = _children(study)
    trials = _trials(study)
    assert len(kids) == 5 and all(k["state"] == "COMPLETE" for k in kids), kids
    ran = [t for t in trials if t["job_id"]]
    assert len(ran) == 5 and all(t["state"] == "COMPLETE" for t in ran), trials  # exactly max_trials ran, one job each
    assert all(t["state"] == "FAIL" and t["reason"].startswith("constraint") for t in trials if not t["job_id"])  # odd widths: no job, not counted
    assert sorted(k["id"] for k in kids) == sorted(t["job_id"] for t in ran)
    spans = _running_intervals(kids)
    assert _most_at_once(list(spans.values())) == 2, spans  # two really ran together, a third never joined them
    first, second = (spans[t["job_id"]] for t in ran[:2])
    assert max(first[0], second[0]) < min(first[1], second[1]), spans  # the first two launched trials overlapped
    best = study.best_rec()
    assert best is not None and best.value == max(t["value"] for t in ran)
    assert best.job_id in {t["job_id"] for t in ran if t["value"] == best.value} and best.study == study.id
    assert json.loads((study.action_dir / "best_rec.json").read_text())["job_id"] == best.job_id
    assert study.metrics["best_val_mAP"] == best.value


def test_pruning_on_train_loss_before_any_validation_ranks_the_right_way(sbank: Any) -> None:
    """metric val_mAP (maximised), pruning_metric train_loss (minimised): the pruner sees the loss from epoch 1."""
    overrides = ["automl.algorithm=asha", "automl.max_trials=7", "automl.parameters=[train.lr]", "automl.pruning_metric=train_loss",
                 "train.num_epochs=4", "train.validation_interval=4", "train.sleep_per_epoch=0.15"]
    study = skillrun.run("scriptjob", "train", overrides=overrides, bank=sbank, timeout=180)
    assert study.record.state.value == "COMPLETE", study.log_text()
    trials = _trials(study)
    pruned = [t for t in trials if t["state"] == "PRUNED"]
    assert pruned, trials
    assert all(t["epochs"] < 4 and "train_loss=" in t["reason"] for t in pruned)  # before the only validation (epoch 4)
    assert all(t["value"] is None for t in pruned)  # no val_mAP yet; the (negated) loss the pruner saw is not shown as one
    losses = {}  # trial -> per-epoch train_loss, from each child's own status.json
    for t in trials:
        if t["job_id"]:
            events = [json.loads(line) for line in (Path(skillrun.job(t["job_id"]).action_dir) / "status.json").read_text().splitlines()]
            losses[t["number"]] = [e["kpi"]["train_loss"] for e in events if e.get("epoch") is not None and "train_loss" in (e.get("kpi") or {})]
    for t in pruned:  # a pruned trial never had the lowest loss at its rung so far: the sign flip ranks losses low = good
        rung = t["epochs"] - 1
        earlier = [losses[n][rung] for n in losses if n < t["number"] and len(losses[n]) > rung]
        assert earlier and losses[t["number"]][rung] > min(earlier), (t, earlier)
    best = study.best_rec()
    assert best.metric == "val_mAP" and best.direction == "maximize"
    assert next(t for t in trials if t["number"] == best.trial)["state"] == "COMPLETE"
    review = json.loads((study.action_dir / "review.json").read_text())
    assert review["pruning_metric"] == "train_loss (minimize)"


def test_a_seeded_study_is_named_by_its_seed_so_hyperband_brackets_repeat(tmp_path: Path) -> None:
    """Optuna's Hyperband hashes study name + trial number into a bracket: a name from the job id made pruning a coin toss."""
    import optuna

    from skillrun.automl import engine
    from skillrun.automl.settings import AutomlSettings

    seeded, unseeded = AutomlSettings(algorithm="hyperband", seed=7), AutomlSettings(algorithm="hyperband", seed=None)
    first, second = engine.storage(tmp_path / "a"), engine.storage(tmp_path / "b")
    assert engine.study_name(first, seeded, "job-1") == engine.study_name(second, seeded, "job-2") == "study-seed7"
    assert engine.study_name(first, unseeded, "job-1") == "job-1"
    optuna.create_study(storage=first, study_name="job-1")  # a study begun before names came from seeds
    assert engine.study_name(first, seeded, "job-1") == "job-1"  # its resume keeps the journal's name


def test_bootstrap_count_stops_a_rungs_first_trial_from_going_on_unexamined() -> None:
    import optuna

    from skillrun.automl import engine
    from skillrun.automl.settings import AutomlSettings

    for algorithm in ("hyperband", "asha"):
        for boot, first_pruned in ((0, False), (1, True)):
            s = AutomlSettings(algorithm=algorithm, bootstrap_count=boot)
            assert ("bootstrap_count=1" in engine.describe(s, 9)[1]) == bool(boot)  # the launch review says so
            study = optuna.create_study(study_name="study-seed42", direction="maximize", pruner=engine.pruner(s, 9))
            first = study.ask()
            first.report(0.9, step=1)  # the best value this rung will ever see
            assert first.should_prune() is first_pruned, (algorithm, boot)
