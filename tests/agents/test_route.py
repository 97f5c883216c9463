"""The router: accuracy over every skill's evals.json, abstains, modifiers, direction, the cached index."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, SKILLS


def test_routing_evaluation_meets_the_targets(bank: Any) -> None:
    from skillrun.route.evaluate import evaluate

    rep = evaluate(bank)
    assert rep.top1_accuracy >= 0.95, [f.model_dump() for f in rep.failures]
    assert rep.abstain_accuracy >= 0.90, [f.model_dump() for f in rep.failures]
    assert rep.abstain_cases >= 10 and set(rep.skills) >= {"rtdetr", "coco-prepare", "dataset-convert", "dataset-validate"}


def test_every_skill_has_enough_routing_cases(bank: Any) -> None:
    for skill in bank:
        cases = [c for c in (skill.evals.evals if skill.evals else []) if c.expected is not None]
        need = 15 if skill.info.kind.value == "model" else 5
        assert len(cases) >= need, f"{skill.name}: {len(cases)} routing cases, want {need}"
        assert all(c.expected.skill == skill.name for c in cases), f"{skill.name}'s evals.json routes elsewhere"


@pytest.mark.parametrize(
    ("request_text", "skill", "action"),
    [
        ("convert COCO to YOLO label files", "dataset-convert", "coco-to-yolo"),
        ("convert YOLO labels to COCO", "dataset-convert", "yolo-to-coco"),
        ("write YOLO labels from my COCO file", "dataset-convert", "coco-to-yolo"),
        ("evaluate rtdetr-train-3fa2c1 on the test split", "rtdetr", "evaluate"),
    ],
)
def test_word_order_and_job_ids(bank: Any, request_text: str, skill: str, action: str) -> None:
    """"X to Y" and "Y from X" name the same conversion; a job id is a reference, not the action."""
    from skillrun.route import route

    top = route(request_text, bank=bank).top
    assert top is not None and (top.skill, top.action) == (skill, action)


def test_off_topic_requests_abstain_with_a_reason(cli: Any) -> None:
    doc = cli("route", "write a haiku about autumn leaves", "--json").json()
    assert doc["abstain"] is True and "below the threshold" in doc["reason"] and doc["suggestion"] is None
    assert all(c["score"] < doc["threshold"] for c in doc["candidates"])
    empty = cli("route", "what's the weather in Paris?", "--json").json()
    assert empty["abstain"] is True and empty["candidates"] == []


def test_route_json_names_its_evidence_and_the_next_command(cli: Any) -> None:
    res = cli("route", "train RT-DETR on my COCO data on 4 GPUs, no HPO", "--top-k", "2", "--json")
    assert res.code == 0, res.err
    doc = res.json()
    top = doc["candidates"][0]
    assert (top["skill"], top["action"]) == ("rtdetr", "train") and len(doc["candidates"]) == 2
    assert "rt-detr" in top["matched_words"] and "train RT-DETR" in top["matched_triggers"]
    assert doc["modifiers"]["automl_policy"] == "off" and doc["modifiers"]["num_gpus"] == 4
    assert doc["suggestion"]["command"] == "skillrun plan rtdetr train --automl off train.num_gpus=4"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("turn off AutoML and train rtdetr", {"automl_policy": "off"}),
        ("disable AutoML for this run", {"automl_policy": "off"}),
        ("rtdetr, no HPO", {"automl_policy": "off"}),
        ("plain training of RT-DETR", {"automl_policy": "off"}),
        ("evaluate the latest checkpoint", {"parent_selector": "latest"}),
        ("evaluate model_epoch_009", {"parent_selector": "epoch=9"}),
        ("train on 4 GPUs", {"num_gpus": 4}),
        ("train on a single GPU for 20 epochs", {"num_gpus": 1, "epochs": 20}),
        ("launch on slurm with 2 nodes x 8 GPUs", {"num_gpus": 8, "num_nodes": 2}),
        ("export rtdetr-train-3fa2c1", {"parent_job": "rtdetr-train-3fa2c1"}),
        ("export the detector", {}),
    ],
)
def test_modifiers(text: str, expected: dict[str, Any]) -> None:
    from skillrun.route.modifiers import read

    got = read(text, skills={"rtdetr"}).model_dump(exclude={"phrases"}, exclude_none=True)
    assert got == expected


def test_modifiers_become_options_and_overrides_of_the_chosen_action(bank: Any) -> None:
    from skillrun.route import route

    ev = route("evaluate the latest checkpoint of rtdetr-train-3fa2c1", bank=bank)
    assert ev.top is not None and ev.top.action == "evaluate"
    assert ev.suggestion is not None and ev.suggestion.options == ["--parent", "rtdetr-train-3fa2c1:latest"]
    tr = route("train rtdetr with 2 nodes x 8 GPUs, plain training", bank=bank)
    assert tr.suggestion is not None and tr.suggestion.overrides == ["train.num_gpus=8", "train.num_nodes=2"]
    assert tr.suggestion.options == ["--automl", "off"]
    conv = route("convert KITTI labels to COCO, no HPO", bank=bank)
    assert conv.suggestion is not None and conv.suggestion.options == [] and "has no AutoML" in conv.suggestion.notes[0]


def test_bm25_is_rank_bm25s_okapi() -> None:
    rank_bm25 = pytest.importorskip("rank_bm25")
    from skillrun.route.index import impacts

    docs = [["train", "rtdetr", "coco", "train"], ["export", "onnx"], ["coco", "yolo", "convert", "label", "file"], ["onnx", "onnx", "quantiz"]]
    ours = impacts(docs, k1=1.5, b=0.75, epsilon=0.25)
    ref = rank_bm25.BM25Okapi(docs, k1=1.5, b=0.75, epsilon=0.25)
    for term, row in ours.items():
        assert row == pytest.approx(list(ref.get_scores([term])), abs=1e-5), term


def test_the_index_is_cached_and_rebuilt_when_a_skill_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skillrun.api import load_bank
    from skillrun.route import router

    skills = tmp_path / "skills"
    shutil.copytree(SKILLS / "dataset-convert", skills / "dataset-convert")
    cache = tmp_path / "cache"
    first = router.route("convert KITTI labels to COCO", bank=load_bank([skills], plugins=False), cache_dir=cache)
    assert (cache / router.CACHE_FILE).is_file()

    def no_build(bank: Any) -> Any:
        raise AssertionError("the cached index should have been used")

    with monkeypatch.context() as m:
        m.setattr(router.RouteIndex, "from_bank", no_build)
        again = router.route("convert KITTI labels to COCO", bank=load_bank([skills], plugins=False), cache_dir=cache)
    assert again.candidates == first.candidates
    info = skills / "dataset-convert" / "references" / "skill_info.yaml"
    info.write_text(info.read_text().replace("triggers:", 'triggers:\n  - {phrase: "make label soup", action: coco-to-yolo}', 1))
    changed = router.route("make label soup", bank=load_bank([skills], plugins=False), cache_dir=cache)
    assert changed.top is not None and changed.top.action == "coco-to-yolo" and "make label soup" in changed.top.matched_triggers


def test_route_and_eval_routing_stay_light() -> None:
    """Cold and warm, neither imports torch, transformers or numpy; eval-routing exits 1 below its targets."""
    code = (
        "import sys\n"
        "from skillrun.cli import main\n"
        "rc = main(['route', 'export my trained detector to onnx', '--json'])\n"
        "rc |= main(['route', 'quantize it to int8', '--json'])\n"
        "print('HEAVY=' + ','.join(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.rstrip().endswith("HEAVY="), proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["candidates"][0]["action"] for d in docs] == ["export", "quantize"]


def test_eval_routing_cli(cli: Any) -> None:
    res = cli("eval-routing", "--json", "--min-top1", "0.95", "--min-abstain", "0.9")
    assert res.code == 0, res.out
    doc = res.json()
    assert doc["routed_cases"] >= 50 and doc["lowest_correct_score"] > doc["threshold"] > doc["highest_offtopic_score"]
    assert cli("eval-routing", "--min-top1", "1.0").code == 1 or doc["top1_accuracy"] == 1.0
