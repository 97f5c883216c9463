"""The search space from the train schema: defaults, disabled keys, bounds, weights, log scale, rules, errors."""

from __future__ import annotations

from typing import Any

import pytest

import skillrun
from skillrun.automl.settings import AutomlSettings, read_settings
from skillrun.automl.space import apply, baseline, build_space, suggest


def _space(bank: Any, skill: str = "rtdetr", **settings: Any) -> Any:
    sk = bank.get(skill)
    spec = skillrun.compose(skill, "train", bank=bank).spec
    return build_space(sk.schema("train"), spec, AutomlSettings(**settings))


def test_rtdetr_defaults_come_from_the_schema(bank: Any) -> None:
    space = _space(bank)
    schema = bank.get("rtdetr").schema("train")
    assert space.names == [p for p in schema["automl_default_parameters"] if p != "train.optim.lr_backbone"] + ["train.optim.lr_backbone"]
    assert not space.issues
    by = {p.path: p for p in space.params}
    lr, wd, clip = by["train.optim.lr"], by["train.optim.weight_decay"], by["train.clip_grad_norm"]
    assert (lr.kind, lr.low, lr.high, lr.log) == ("float", 1e-5, 5e-4, True)
    assert wd.log and not clip.log  # learning rates and weight decay on a log scale, the rest linear
    assert by["model.num_queries"].kind == "int" and (by["model.num_queries"].low, by["model.num_queries"].high) == (300, 600)
    sched = by["train.optim.lr_scheduler"]
    assert sched.kind == "categorical" and sched.choices == ("MultiStep", "Cosine") and sched.weights == (0.5, 0.5)
    bb = by["train.optim.lr_backbone"]
    assert (bb.depends_on, bb.cond) == ("train.optim.lr", "<=")  # math_cond "<= depends_on"


def test_user_list_ranges_and_their_errors(bank: Any) -> None:
    space = _space(bank, parameters=["train.optim.lr", "train.num_epochs", "train.optim.lrr", "dataset.augmentation.hflip_prob"], ranges={"train.optim.lr": {"min": 2e-5, "max": 0.01, "log": False}, "model.backbone": {"options": ["resnet_18", "tiny"], "weights": [3, 1]}})
    codes = {(i.code, str(i.value)) for i in space.issues}
    assert ("automl_disabled_parameter", "train.num_epochs") in codes  # the budget key is not searchable
    unknown = next(i for i in space.issues if i.code == "automl_unknown_parameter")
    assert unknown.value == "train.optim.lrr" and "train.optim.lr" in (unknown.hint or "") and unknown.path == "automl.parameters"
    by = {p.path: p for p in space.params}
    assert (by["train.optim.lr"].low, by["train.optim.lr"].high, by["train.optim.lr"].log) == (2e-5, 0.01, False)
    assert by["model.backbone"].choices == ("resnet_18", "tiny") and by["model.backbone"].weights == (0.75, 0.25)
    assert "dataset.augmentation.hflip_prob" in by  # schema limits 0..1 stand in for valid_min/valid_max


@pytest.mark.parametrize(
    ("ranges", "path", "code"),
    [
        ({"train.optim.lr": {"max": 5.0}}, 'automl.ranges["train.optim.lr"].max', "automl_range"),
        ({"model.backbone": {"options": ["resnet_9000"]}}, 'automl.ranges["model.backbone"].options', "automl_range"),
        ({"train.optim.lr": {"options": [1e-4]}, "train.optim.lr_scheduler": {"min": 1}}, 'automl.ranges["train.optim.lr_scheduler"]', "automl_range"),
        ({"train.optim.lrr": {"min": 1e-5}}, 'automl.ranges["train.optim.lrr"]', "automl_unknown_parameter"),
    ],
)
def test_bad_ranges_name_the_path(bank: Any, ranges: dict[str, Any], path: str, code: str) -> None:
    space = _space(bank, ranges=ranges)
    assert any(i.path == path and i.code == code for i in space.issues), [i.render() for i in space.issues]


def test_unknown_settings_keys_are_errors_with_a_suggestion() -> None:
    _, issues = read_settings({"automl": {"algoritm": "random", "ranges": {"train.optim.lr": {"maxx": 1}}}})
    rendered = {i.path: i for i in issues}
    assert rendered["automl.algoritm"].hint == "did you mean 'algorithm'?"
    assert 'automl.ranges["train.optim.lr"].maxx' in rendered and "max" in (rendered['automl.ranges["train.optim.lr"].maxx'].allowed or "")
    assert read_settings({"automl": {"metric": "val_loss"}})[0].resolved_direction == "minimize"
    assert read_settings({"automl": {"metric": "val_loss", "direction": "maximize"}})[0].resolved_direction == "maximize"


def test_plan_reports_every_space_error_before_anything_is_written(cli: Any, _isolated_home: Any) -> None:
    from tests.automl.conftest import SB

    res = cli(*SB, "plan", "scriptjob", "train", "automl.parameters=[train.lrr, train.num_epochs]", "automl.algorithm=grid", "--json")
    assert res.code == 2, res.out
    doc = res.json()
    paths = {e["path"] for e in doc["errors"]}
    assert "automl.algorithm" in paths and "automl.parameters" in paths
    assert "Traceback" not in res.out + res.err and not (_isolated_home / "jobs").exists()


def test_sampled_configurations_respect_constraints_and_rules(sbank: Any) -> None:
    """lr_backbone <= lr holds by construction; the odd-width rule is caught by the same validation a launch runs."""
    import optuna

    from skillrun.validation import validate_composed
    from skillrun.contracts.spec import ComposedSpec

    skill = sbank.get("scriptjob")
    spec = skillrun.compose("scriptjob", "train", bank=sbank, overrides=["results_dir=/tmp/x"]).spec
    space = build_space(skill.schema("train"), spec, AutomlSettings())
    assert baseline(space) == {"train.lr": 0.01, "train.width": 16, "train.optimizer": "sgd", "train.lr_backbone": 0.001}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    broken = 0
    for _ in range(30):
        trial = study.ask()
        values = suggest(trial, space)
        assert values["train.lr_backbone"] <= values["train.lr"]
        report = validate_composed(skill, ComposedSpec(skill="scriptjob", action="train", spec=apply(spec, values)), check_data=False)
        broken += not report.ok
        assert report.ok == (values["train.width"] % 2 == 0)
        study.tell(trial, 0.0)
    assert broken  # some draws break the rule: the study fails those trials without a job
