"""Routing with the TAO sample ($TAO_SKILL_BANK) and the builtin skills on the path, as `skillrun --skills-dir` loads them.

Skips with the reason when TAO_SKILL_BANK is unset; nothing of the bank is copied here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.route.conftest import TAO_BANK, needs_tao

pytestmark = needs_tao

#: TAO's own cases, top-1 on the skill (measured 13/14 on the 12-skill sample)
MIN_TAO_TOP1 = 0.85


def _tao_skills(tao: Any) -> list[Any]:
    return [s for s in tao if s.origin != "builtin"]


def test_taos_own_routing_cases(tao: Any) -> None:
    from skillrun.route.evaluate import evaluate

    rep = evaluate(tao)
    tally = rep.by_origin["cli:--skills-dir"]
    assert tally.routed_cases >= len(_tao_skills(tao)), "every TAO skill of the sample has cases"
    assert tally.top1_accuracy >= MIN_TAO_TOP1, [f.model_dump() for f in rep.failures if f.skill_file.startswith("tao-")]
    assert not rep.unloaded and not rep.missing_skills


def test_every_tao_skill_wins_when_named(tao: Any) -> None:
    from skillrun.route import route

    for skill in _tao_skills(tao):
        res = route(f"Use the {skill.name} skill.", bank=tao)
        assert res.top is not None and res.top.skill == skill.name, (skill.name, res.candidates[:2])


def test_guidance_only_tao_skills_route_with_no_action(tao: Any) -> None:
    from skillrun.route import route

    guidance = [s for s in _tao_skills(tao) if not s.actions]
    assert guidance, "the sample has guidance-only skills"
    for skill in guidance:
        res = route(f'A user request: "Use the {skill.name} skill." Identify which TAO skill applies.', bank=tao)
        top = res.top
        assert top is not None and top.skill == skill.name and top.action is None and top.guidance_only
        assert res.suggestion is not None and res.suggestion.command == f"skillrun describe {skill.name}"


def test_a_model_the_builtin_bank_lacks_routes_once_the_tao_bank_is_loaded(tao: Any, builtin: Any) -> None:
    from skillrun.route import route

    assert route("train a PointPillars LiDAR detector", bank=builtin).abstain
    top = route("train a PointPillars LiDAR detector", bank=tao).top
    assert top is not None and (top.skill, top.action) == ("tao-train-pointpillars", "train")


def test_route_cli_with_the_tao_bank(cli: Any) -> None:
    doc = cli("--skills-dir", TAO_BANK, "route", "Use the tao-launch-workflow skill.", "--json").json()
    assert doc["candidates"][0]["skill"] == "tao-launch-workflow" and doc["candidates"][0]["action"] is None
    assert doc["suggestion"]["command"] == "skillrun describe tao-launch-workflow"
    rep = cli("--skills-dir", TAO_BANK, "eval-routing", "--json").json()
    assert rep["by_origin"]["cli:--skills-dir"]["top1_accuracy"] >= MIN_TAO_TOP1
    assert json.dumps(rep["unloaded"]) == "[]"


@pytest.mark.parametrize("request_text", ["fine-tune cosmos reason on my videos", "train YOLOv8 on my images"])
def test_models_neither_bank_has_still_abstain(tao: Any, request_text: str) -> None:
    from skillrun.route import route

    assert route(request_text, bank=tao).abstain
