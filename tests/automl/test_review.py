"""The launch review: what `plan` shows (text and JSON), the runtime estimate, and when `run` asks to confirm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import skillrun
from skillrun.automl import estimate
from tests.automl.conftest import SB
from tests.conftest import REPO, cli_imports

HYPERBAND = ("automl.max_trials=5", "automl.algorithm=hyperband", "automl.max_concurrent=2", "automl.metric=train_loss", "train.num_epochs=9")


def test_review_json_has_everything_a_launch_needs(cli: Any, _isolated_home: Path) -> None:
    res = cli(*SB, "plan", "scriptjob", "train", *HYPERBAND, "--json")
    assert res.code == 0, res.out
    doc = res.json()
    assert doc["automl"]["on"] and doc["engine"] == "automl"
    review = doc["automl"]["review"]
    assert (review["max_trials"], review["algorithm"], review["max_concurrent"], review["backend"]) == (5, "hyperband", 2, "local")
    assert (review["metric"], review["direction"]) == ("train_loss", "minimize") and "loss" in review["direction_source"]
    assert (review["max_epochs"], review["min_epochs"], review["budget_key"]) == (9, 1, "train.num_epochs")
    assert review["pruner"].startswith("HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3)")
    assert review["pruning_metric"] == "train_loss (minimize)"  # the study's own metric and direction (pruning_metric null)
    assert review["trial_resources"] == {"nproc_per_node": 1, "nnodes": 1}
    space = {row["path"]: row for row in review["space"]}
    assert space["train.lr"] == {"path": "train.lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True, "baseline": 0.01, "source": "schema"}
    assert space["train.optimizer"]["choices"] == ["sgd", "adam"] and space["train.optimizer"]["weights"] == [0.7, 0.3]
    assert space["train.lr_backbone"]["constraint"] == "<= train.lr"
    est = review["estimate"]
    assert est["epoch_s"] is None and est["source"].startswith("unknown") and est["trial_epochs_max"] == 45
    assert est["trial_epochs_expected"] < 45  # hyperband is expected to stop most trials early
    assert review["needs_confirmation"] is False and not (_isolated_home / "jobs").exists()


def test_review_text(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    res = cli(*SB, "plan", "scriptjob", "train", *HYPERBAND)
    assert res.code == 0, res.err
    for needle in ("AutoML launch review", "trials", "hyperband", "train_loss (minimize", "9 epochs (train.num_epochs)", "2 trial(s) at once", "expected runtime", "Search space", "train.lr_backbone", "log", "weights 0.7, 0.3"):
        assert needle in res.out, needle


def test_a_cached_epoch_time_gives_the_runtime_and_a_long_study_asks(cli: Any, sbank: Any, _isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = skillrun.plan("scriptjob", "train", overrides=list(HYPERBAND), bank=sbank)
    estimate.record(_isolated_home, p.study.cache_key, 100.0, "test")
    review = skillrun.plan("scriptjob", "train", overrides=list(HYPERBAND), bank=sbank).study.review
    assert review.estimate.epoch_s == 100.0 and review.estimate.source == "cached: test"
    assert review.estimate.wall_s_expected == pytest.approx(100.0 * review.estimate.trial_epochs_expected / 2, rel=1e-3)
    assert review.needs_confirmation is False  # under an hour
    monkeypatch.setenv("SKILLRUN_AUTOML_CONFIRM_S", "60")
    monkeypatch.setattr("skillrun.cli.commands.automl_review.interactive", lambda: True)
    asked: list[str] = []
    monkeypatch.setattr("click.confirm", lambda text, **kw: asked.append(text) or False)
    res = cli(*SB, "run", "scriptjob", "train", *HYPERBAND)
    assert res.code == 130 and asked and "Start it?" in asked[0]
    assert "AutoML launch review" in res.out
    assert not any((_isolated_home / "jobs").iterdir())  # declined: nothing recorded


def test_agents_get_the_review_as_json_and_no_prompt(cli: Any, _isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("click.confirm", lambda *a, **kw: pytest.fail("must not prompt"))
    monkeypatch.setenv("SKILLRUN_AUTOML_CONFIRM_S", "0")
    quick = ("automl.max_trials=1", "train.num_epochs=1")
    res = cli(*SB, "run", "scriptjob", "train", *quick, "--detach")
    assert res.code == 0, res.err
    line = next(ln for ln in res.err.splitlines() if ln.startswith("{"))
    assert json.loads(line)["automl_review"]["max_trials"] == 1
    job = skillrun.job(res.out.strip())
    assert job.wait(60).record.state.value == "COMPLETE"
    assert json.loads((job.action_dir / "review.json").read_text())["max_trials"] == 1


@pytest.mark.parametrize("args", [[*SB, "plan", "scriptjob", "train", "--json"], ["plan", "rtdetr", "train", "-e", "examples/rtdetr_train.yaml", "--no-data", "--json"]])
def test_plan_of_a_study_imports_neither_torch_nor_optuna(args: list[str]) -> None:
    res, loaded = cli_imports(args, ("torch", "optuna", "matplotlib"))
    assert res.code == 0, res.err
    assert loaded == [], res.err
    assert json.loads(res.out)["automl"]["review"] is not None


def test_nproc_is_refused_for_a_study(cli: Any, _isolated_home: Path) -> None:
    res = cli(*SB, "plan", "scriptjob", "train", "--nproc", "2", "--json")
    assert res.code == 2 and "AutoML study" in res.json()["message"] and "--automl off" in res.json()["hint"]


def test_a_slurm_study_review_says_the_coordinator_and_each_trial_are_separate_slurm_jobs(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "skillrun-config.yaml"
    config.write_text("slurm:\n  gpus_per_node: 8\n  cpus_per_task: 16\n  mem: 64G\n  sbatch_lines: [--constraint=a100, --exclusive, --gres=gpu:8]\n")
    monkeypatch.setenv("SKILLRUN_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "400")
    rtdetr = ("plan", "rtdetr", "train", "-e", "examples/rtdetr_train.yaml", "--no-data", "--backend", "slurm")
    res = cli(*rtdetr)
    assert res.code == 0, res.err
    line = next(ln for ln in res.out.splitlines() if "backend" in ln and "coordinator" in ln)
    assert "the study coordinator runs as one Slurm job" in line and "each trial as a separate Slurm job" in line, line
    doc = cli(*rtdetr, "--json").json()
    review = doc["automl"]["review"]
    assert review["backend"] == "slurm" and any("job slots" in n and "slurm.time" in n for n in review["notes"])
    # the coordinator's own job asks for one CPU and no GPU: it must not hold what its trials need
    script = doc["backend_plan"]["script"]
    assert "-m skillrun.automl" in doc["command"] and "--constraint=a100" in script and '--mem="2G"' in script
    for held in ("--gpus-per-node", "--cpus-per-task", "--exclusive", "--gres", "64G"):
        assert held not in script, held
    trial = cli(*rtdetr, "--automl", "off", "--json").json()["backend_plan"]["script"]  # a trial (one training) keeps the config's request
    assert all(want in trial for want in ("--gpus-per-node=8", "--cpus-per-task=16", '--mem="64G"', "--exclusive", "--gres=gpu:8"))


def test_rtdetr_prunes_on_its_train_loss_and_says_why_a_val_metric_would_need_more(cli: Any, sdg: Any, _isolated_home: Path) -> None:
    """The rtdetr schema's pruning_metric default (train_loss): maximise val_mAP, prune on the minimised loss."""
    from tests.conftest import seed_train_overrides

    spec = ("-e", str(REPO / "examples" / "rtdetr_tiny_cpu.yaml"), *seed_train_overrides(sdg), "dataset.batch_size=2", "automl.trial_overrides={}")
    doc = cli("plan", "rtdetr", "train", *spec, "automl.algorithm=hyperband", "--json").json()
    review = doc["automl"]["review"]
    assert (review["metric"], review["direction"], review["pruning_metric"]) == ("val_mAP", "maximize", "train_loss (minimize)")
    assert not any("validation every epoch" in n for n in review["notes"])
    doc = cli("plan", "rtdetr", "train", *spec, "automl.algorithm=asha", "automl.pruning_metric=val_mAP50", "--json").json()
    review = doc["automl"]["review"]
    assert review["pruning_metric"] == "val_mAP50 (maximize)" and any("validation every epoch" in n for n in review["notes"])
    doc = cli("plan", "rtdetr", "train", *spec, "automl.algorithm=bayesian", "--json").json()
    assert doc["automl"]["review"]["pruning_metric"] is None
