"""eval-routing over TAO's evals.json shape, guidance-only skills, and what it could not load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.route.conftest import guidance_skill, tao_case


def test_evals_read_both_shapes() -> None:
    from pydantic import ValidationError

    from skillrun.contracts.skill import Evals

    tao = Evals.read([tao_case("tao-run-on-lustre", "Use the tao-run-on-lustre skill.")], "tao-run-on-lustre")
    case = tao.evals[0]
    assert tao.skill_name == "tao-run-on-lustre" and case.id == "tao-run-on-lustre-basic"
    assert case.prompt.startswith("A user request:") and case.expected is not None and (case.expected.skill, case.expected.action) == ("tao-run-on-lustre", None)
    own = Evals.read({"skill_name": "x", "evals": [{"prompt": "do x", "expected": {"skill": "x", "action": "run"}}]}, "ignored")
    assert own.skill_name == "x" and own.evals[0].expected.action == "run"  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        Evals.read([{"id": 1, "expected_skill": "x"}], "x")  # no question
    with pytest.raises(ValidationError):
        Evals.read([{"id": 1, "question": "do x"}], "x")  # no expected_skill


def _bank(tmp_path: Path) -> Any:
    from skillrun import load_bank

    return load_bank([tmp_path / "skills"], plugins=False, cache=False)


@pytest.fixture
def small_tao(tmp_path: Path) -> Path:
    """Two guidance-only skills with TAO-shaped evals, one broken skill, one bad evals.json, one evals.json with no SKILL.md."""
    guidance_skill(
        tmp_path,
        "tao-run-on-lustre",
        "Run TAO jobs on a Lustre parallel file system cluster: striping, staging, quotas.",
        evals=[tao_case("tao-run-on-lustre", "Use the tao-run-on-lustre skill."), tao_case("tao-run-on-lustre", "Stage my dataset on Lustre with striping.", wrapped=False, case_id="stage")],
    )
    guidance_skill(
        tmp_path,
        "tao-convert-pcd",
        "Convert point-cloud PCD files to KITTI bin files for LiDAR training.",
        evals=[tao_case("tao-convert-pcd", "Convert my PCD point clouds to KITTI bins.")],
        category="data",
    )
    broken = tmp_path / "skills" / "data" / "tao-broken"
    broken.mkdir(parents=True)
    (broken / "SKILL.md").write_text("no frontmatter here\n", encoding="utf-8")
    guidance_skill(tmp_path, "tao-bad-evals", "A skill whose evals file is not JSON.", evals="[{not json")
    orphan = tmp_path / "skills" / "models" / "tao-train-missing" / "evals"
    orphan.mkdir(parents=True)
    (orphan / "evals.json").write_text(json.dumps([tao_case("tao-train-missing", "Train the missing model.")]), encoding="utf-8")
    return tmp_path


def test_eval_routing_scores_tao_cases_and_names_what_it_could_not_load(small_tao: Path) -> None:
    from skillrun.route.evaluate import evaluate

    bank = _bank(small_tao)
    assert "tao-broken" in bank.broken
    rep = evaluate(bank)
    tally = rep.by_origin["cli:--skills-dir"]
    assert (tally.routed_cases, tally.top1_correct) == (3, 3), [f.model_dump() for f in rep.failures]
    assert {"tao-run-on-lustre", "tao-convert-pcd"} <= set(rep.skills)
    unloaded = {u.skill: u for u in rep.unloaded}
    assert set(unloaded) == {"tao-broken", "tao-bad-evals", "tao-train-missing"}
    assert "frontmatter" in unloaded["tao-broken"].reason.lower()
    assert "json" in unloaded["tao-bad-evals"].reason.lower() and unloaded["tao-bad-evals"].path.endswith("evals.json")
    assert "no SKILL.md" in unloaded["tao-train-missing"].reason
    assert rep.by_origin["builtin"].routed_cases > 50


def test_a_case_that_expects_a_skill_the_bank_lacks_is_wrong_and_named(tmp_path: Path) -> None:
    from skillrun.route.evaluate import evaluate

    guidance_skill(tmp_path, "tao-run-on-lustre", "Run TAO jobs on a Lustre cluster.", evals=[tao_case("tao-run-elsewhere", "Run it on the other cluster.")])
    rep = evaluate(_bank(tmp_path))
    assert rep.missing_skills == ["tao-run-elsewhere"]
    fail = next(f for f in rep.failures if f.skill_file == "tao-run-on-lustre")
    assert fail.expected == "tao-run-elsewhere" and "not in the bank" in (fail.note or "")


def test_eval_routing_cli_names_unloaded_skills(cli: Any, small_tao: Path) -> None:
    res = cli("--skills-dir", small_tao / "skills", "eval-routing", "--json")
    doc = res.json()
    assert {u["skill"] for u in doc["unloaded"]} == {"tao-broken", "tao-bad-evals", "tao-train-missing"}
    assert doc["by_origin"]["cli:--skills-dir"]["top1_correct"] == 3
    human = cli("--skills-dir", small_tao / "skills", "eval-routing")
    text = human.out + human.err
    assert "not evaluated" in text and "tao-broken" in text and "tao-bad-evals" in text and "tao-train-missing" in text
