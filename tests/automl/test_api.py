"""The Python API for outer HPO loops: metrics back as numbers, a failed job as data, the documented example."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import skillrun
from tests.automl.conftest import SCRIPT_BANK
from tests.conftest import REPO


def test_a_failed_trial_comes_back_as_data(sbank: Any) -> None:
    job = skillrun.run("scriptjob", "train", overrides=["train.num_epochs=1", "train.lr=0.5", "train.fail_above_lr=0.1"], automl="off", bank=sbank, timeout=60)
    out = job.outcome()
    assert not out.ok and out.state == "ERROR" and out.error_class == "FloatingPointError" and out.value() is None
    good = skillrun.run("scriptjob", "train", overrides=["train.num_epochs=2"], automl="off", bank=sbank, timeout=60).outcome()
    assert good.ok and math.isclose(good.value(), good.metrics["best_val_mAP"]) and good.value("val_mAP50") > good.value()


def test_the_external_optuna_example_runs(capsys: Any) -> None:
    spec = importlib.util.spec_from_file_location("external_optuna", REPO / "examples" / "external_optuna.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert module.main(["--skill", "scriptjob", "--skills-dir", str(SCRIPT_BANK), "--trials", "2", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "trial 1: COMPLETE" in out and "best: trial" in out
    assert len(skillrun.jobs(skill="scriptjob")) == 2 and all(j["automl"]["role"] == "single" for j in skillrun.jobs(skill="scriptjob"))
