"""The index: Lucene idf, guidance-only skills, exact names, what the bank does not know, the JSON cache."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SKILLS
from tests.route.conftest import guidance_skill


def test_lucene_idf_keeps_words_half_the_skills_use() -> None:
    """Okapi's idf is 0 for a word in 2 of 4 documents; Lucene's is log(2): the action words of a small bank count."""
    from skillrun.route.index import B, K1, impacts

    docs = [["export", "onnx"], ["export", "coco"], ["coco", "yolo"], ["train"]]
    okapi = impacts(docs, epsilon=0.25)
    lucene = impacts(docs, idf="lucene")
    assert okapi["export"][0] == 0.0
    norm = K1 * (1 - B + B * 2 / (7 / 4))
    assert lucene["export"][0] == pytest.approx(math.log(2) * (K1 + 1) / (1 + norm), abs=1e-6)
    assert lucene["train"][3] > lucene["export"][0] > 0


def test_action_words_weigh_in_the_builtin_bank(builtin: Any) -> None:
    from skillrun.route.router import index_for

    idx = index_for(builtin)
    for term in ("export", "evalu", "draw"):  # in two of the four skills' texts
        assert any(v > 0.5 for v in idx.skill_impacts[term].values()), term


def test_a_compound_counts_as_one_word(builtin: Any) -> None:
    from skillrun.route.router import index_for

    idx = index_for(builtin)
    joined = {r.key: r.score for r in idx.score("finetune the detector")}
    split = {r.key: r.score for r in idx.score("fine-tune the detector")}
    spaced = {r.key: r.score for r in idx.score("fine tune the detector")}
    assert max(split.values()) <= max(spaced.values()) + 1e-9  # two words at most, never three (fine + tune + finetune)
    assert joined[("rtdetr", "train")] > 0 and split[("rtdetr", "train")] > 0


def _bank(tmp_path: Path, *extra: Path) -> Any:
    from skillrun import load_bank

    return load_bank([tmp_path / "skills", *extra], plugins=False, cache=False)


def test_a_guidance_only_skill_is_routable(tmp_path: Path) -> None:
    from skillrun.route import route

    guidance_skill(tmp_path, "tao-run-on-lustre", "Run TAO jobs on a Lustre parallel file system cluster. Trigger phrases include \"stage data on Lustre\", \"Lustre striping\".")
    bank = _bank(tmp_path)
    assert bank.get("tao-run-on-lustre").info.instructions_only and not bank.get("tao-run-on-lustre").actions
    res = route("stage my dataset on Lustre with striping", bank=bank, cache_dir=tmp_path / "cache")
    top = res.top
    assert top is not None and (top.skill, top.action, top.guidance_only) == ("tao-run-on-lustre", None, True)
    assert res.suggestion is not None and res.suggestion.command == "skillrun describe tao-run-on-lustre"
    assert any("SKILL.md" in n for n in res.suggestion.notes)
    assert json.loads(res.model_dump_json())["candidates"][0]["action"] is None
    # the cached index (no skill_info.yaml to fingerprint) gives the same answer in a new process
    again = route("stage my dataset on Lustre with striping", bank=_bank(tmp_path), cache_dir=tmp_path / "cache")
    assert again.candidates == res.candidates


def test_an_exact_skill_name_wins(builtin: Any) -> None:
    from skillrun.route import route

    top = route("use the coco-prepare skill to train RT-DETR on my data", bank=builtin).top
    assert top is not None and top.skill == "coco-prepare" and "coco-prepare" in top.matched_triggers
    top = route("run rtdetr on my images and draw the boxes", bank=builtin).top
    assert top is not None and (top.skill, top.action) == ("rtdetr", "inference")
    # inside a job id a name is a reference, not a choice of skill
    res = route("validate the data of rtdetr-train-3fa2c1", bank=builtin)
    assert res.top is not None and res.top.skill == "dataset-validate"


def test_what_the_bank_knows_decides_what_abstains(tmp_path: Path, builtin: Any) -> None:
    """No list of models: the same request abstains without a skill for it and routes once one is loaded."""
    from skillrun.route import route

    request = "fine-tune cosmos reason on my videos"
    assert route(request, bank=builtin).abstain
    guidance_skill(tmp_path, "tao-finetune-cosmos-reason", "Cosmos Reason video QA supervised fine-tuning. Use when fine-tuning Cosmos Reason on videos.", category="models")
    top = route(request, bank=_bank(tmp_path)).top
    assert top is not None and top.skill == "tao-finetune-cosmos-reason"


@pytest.mark.parametrize(
    "request_text",
    [
        "train RT-DETR with a ConvNeXt backbone on my COCO data",  # names a model the bank has
        "train my forklift detector on the warehouse images",  # "detector" is a word the bank uses
        "fine-tune the model for 20 epochs",
        "export rtdetr-train-3fa2c1 to ONNX",
    ],
)
def test_known_models_and_plain_requests_do_not_abstain_as_unknown(builtin: Any, request_text: str) -> None:
    from skillrun.route import route

    res = route(request_text, bank=builtin)
    assert res.unknown is None and not res.abstain, res.reason


def test_the_cache_keeps_guidance_keys_and_the_unknown_vocabulary(tmp_path: Path) -> None:
    from skillrun.route.index import RouteIndex

    shutil.copytree(SKILLS / "rtdetr", tmp_path / "skills" / "rtdetr")
    guidance_skill(tmp_path, "tao-run-on-lustre", "Run TAO jobs on a Lustre cluster.")
    idx = RouteIndex.from_bank(_bank(tmp_path))
    back = RouteIndex.from_json(json.loads(json.dumps(idx.to_json())))
    assert ("tao-run-on-lustre", None) in back.keys and back.entries[("tao-run-on-lustre", None)].guidance
    assert back.models == idx.models and back.verbs == idx.verbs and "rtdetr" in back.models
    for request in ("stage data on the Lustre cluster", "train PointPillars", "export rtdetr to onnx"):
        assert back.score(request) == idx.score(request)
        assert back.unknown(request) == idx.unknown(request)


def test_the_threshold_sits_between_off_topic_and_right_answers(builtin: Any) -> None:
    from skillrun.route.evaluate import evaluate
    from skillrun.route.router import THRESHOLD

    rep = evaluate(builtin)
    assert rep.highest_offtopic_score is not None and rep.lowest_correct_score is not None
    assert rep.highest_offtopic_score < THRESHOLD < rep.lowest_correct_score
