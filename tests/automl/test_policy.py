"""The AutoML policy table (seed 002): flags, phrases, the spec's automl_policy, a missing schema, non-train actions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import skillrun
from skillrun.errors import UsageError
from skillrun.policy.automl import decide, policy_from_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("turn off AutoML", "off"),
        ("Disable AutoML for this one", "off"),
        ("train RT-DETR, no HPO", "off"),
        ("just plain training please", "off"),
        ("train without AutoML", "off"),
        ("automl off", "off"),
        ("train with AutoML", "on"),
        ("run a hyperparameter search for RT-DETR", "on"),
        ("train RT-DETR on my data", None),
        ("", None),
        (None, None),
    ],
)
def test_phrases(text: str | None, expected: str | None) -> None:
    assert policy_from_text(text) == expected


@pytest.mark.parametrize(
    ("flag", "text", "spec", "on", "source"),
    [
        (None, None, {}, True, "default"),
        ("off", None, {}, False, "flag"),
        ("on", None, {"automl_policy": "off"}, True, "flag"),
        ("no HPO", None, {}, False, "flag"),
        (None, "plain training", {"automl_policy": "on"}, False, "request"),
        (None, "turn off AutoML", {}, False, "request"),
        (None, "disable AutoML", {}, False, "request"),
        (None, "no HPO", {}, False, "request"),
        ("on", "no HPO", {}, True, "flag"),
        (None, None, {"automl_policy": "off"}, False, "spec"),
        (None, None, {"automl_policy": False}, False, "spec"),
        (None, None, {"automl_policy": "on"}, True, "spec"),
    ],
)
def test_policy_table(bank: Any, flag: str | None, text: str | None, spec: dict[str, Any], on: bool, source: str) -> None:
    decision = decide(bank.get("rtdetr"), "train", spec, flag, text=text)
    assert (decision.on, decision.source, decision.applies) == (on, source, True)
    assert decision.reason


def test_other_actions_and_bad_flags(bank: Any) -> None:
    assert decide(bank.get("rtdetr"), "export", {}, "on").applies is False
    with pytest.raises(UsageError) as err:
        decide(bank.get("rtdetr"), "train", {}, "maybe")
    assert "--automl on" in (err.value.hint or "")


def test_missing_train_schema_is_enabled_but_not_runnable(tmp_path: Path, sbank: Any) -> None:
    skill_dir = tmp_path / "bank" / "scriptjob"
    shutil.copytree(sbank.get("scriptjob").path, skill_dir)
    (skill_dir / "schemas" / "train.schema.json").unlink()
    bank = skillrun.load_bank([tmp_path / "bank"], plugins=False)
    decision = decide(bank.get("scriptjob"), "train", {}, None)
    assert not decision.on and decision.applies and decision.source == "not-runnable"
    assert "not runnable" in decision.reason and "schemas/train.schema.json" in decision.reason
    plan = skillrun.plan("scriptjob", "train", bank=bank)
    assert plan.study is None and plan.automl.reason == decision.reason  # a plain run, said aloud


def test_a_plain_run_records_its_policy_and_reason(sbank: Any, _isolated_home: Path) -> None:
    job = skillrun.run("scriptjob", "train", overrides=["train.num_epochs=1"], automl="off", bank=sbank, timeout=60)
    automl = job.record.automl
    assert job.record.state.value == "COMPLETE" and job.record.engine == "script"
    assert automl is not None and (automl.policy, automl.role, automl.reason) == ("off", "single", "--automl off")
    assert skillrun.job(job.id).record.model_dump()["automl"]["reason"] == "--automl off"


def test_the_train_schemas_automl_section_matches_the_settings_model() -> None:
    """The automl block of a train schema is written by hand: every AutomlSettings field, no other, same defaults."""
    import json

    from skillrun.automl.settings import AutomlSettings
    from tests.conftest import REPO

    skill_defaults = {"rtdetr": {"pruning_metric": "train_loss", "trial_overrides": {"train.validation_interval": 1}}, "scriptjob": {}}  # where a skill's schema sets its own
    for skill, path in (("rtdetr", REPO / "skills/rtdetr/schemas/train.schema.json"), ("scriptjob", REPO / "tests/fixtures/script_bank/scriptjob/schemas/train.schema.json")):
        props = json.loads(path.read_text())["properties"]["automl"]["properties"]
        assert set(props) == set(AutomlSettings.model_fields), (path, set(props) ^ set(AutomlSettings.model_fields))
        for name, field in AutomlSettings.model_fields.items():
            default = field.get_default(call_default_factory=True)
            expected = skill_defaults[skill].get(name, default.model_dump() if hasattr(default, "model_dump") else default)
            assert props[name].get("default", expected) == expected, (path, name, props[name].get("default"), expected)
