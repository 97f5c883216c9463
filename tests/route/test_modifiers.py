"""A request that asks for AutoML says so in modifiers.automl_policy; a negation keeps it off."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("train rtdetr with an AutoML sweep", "on"),
        ("run AutoML for RT-DETR", "on"),
        ("tune the hyperparameters of my detector", "on"),
        ("launch an HPO study", "on"),
        ("search the hyperparameters of RT-DETR with optuna", "on"),
        ("train rtdetr, no HPO", "off"),
        ("train without AutoML", "off"),
        ("train rtdetr without any hyperparameter search", "off"),
        ("do not use AutoML for this run", "off"),
        ("train rtdetr on my data", None),
    ],
)
def test_automl_policy_from_the_request(builtin: Any, text: str, policy: str | None) -> None:
    from skillrun.route import route

    res = route(text, bank=builtin)
    assert res.modifiers.automl_policy == policy
    if policy is not None and res.top is not None and (res.top.skill, res.top.action) == ("rtdetr", "train"):
        assert res.suggestion is not None and res.suggestion.options[:2] == ["--automl", policy]


def test_an_automl_request_still_routes_to_training(builtin: Any) -> None:
    from skillrun.route import route

    res = route("train rtdetr with an AutoML sweep", bank=builtin)
    assert res.top is not None and (res.top.skill, res.top.action) == ("rtdetr", "train")
    assert res.suggestion is not None and res.suggestion.command == "skillrun plan rtdetr train --automl on"
