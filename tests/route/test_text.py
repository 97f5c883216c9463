"""What the router reads out of a request: the wrapped request, negations, paths, compounds, name-shaped words, what a verb acts on."""

from __future__ import annotations

import pytest

from skillrun.route.text import name_shaped, object_phrases, request_text, terms, tokens

WRAPPER = (
    'A user request: "{}" Identify which TAO skill applies and, reading only that skill\'s documentation, outline the steps it '
    "prescribes. Do NOT run any commands, scripts, web searches, or other tools \u2014 describe the plan only."
)


def test_a_wrapped_request_is_its_quoted_request() -> None:
    assert request_text(WRAPPER.format("SegFormer for semantic segmentation.")) == "SegFormer for semantic segmentation."
    assert request_text('A user says: "Use the tao-run-deft-pas skill to plan a PAS DEFT run." Identify the skill.') == "Use the tao-run-deft-pas skill to plan a PAS DEFT run."
    # no wrapper: the words stay (a quote inside a request is part of it)
    assert request_text('convert "my labels" to COCO') == 'convert "my labels" to COCO'


def test_the_wrapper_adds_no_words_to_the_request() -> None:
    """Every TAO question shares the wrapper: none of its words may weigh for one skill."""
    inner = "PointPillars for 3D object detection from LiDAR point clouds."
    assert terms(request_text(WRAPPER.format(inner))) == terms(inner)


@pytest.mark.parametrize(
    ("request_", "gone", "kept"),
    [
        ("The user chose local Docker but did not mention venv execution.", {"venv", "execut"}, {"docker", "local"}),
        ("train rtdetr, no HPO", {"hpo"}, {"train", "rtdetr"}),
        ("Plan a DEFT AOI loop. Do not launch anything.", {"launch"}, {"deft", "aoi", "loop"}),
        ("don't use AutoML, just train rtdetr", set(), {"train", "rtdetr"}),
        ("not sure how to convert KITTI to COCO", set(), {"convert", "kitti", "coco"}),
    ],
)
def test_what_a_negation_takes_back_is_not_routed(request_: str, gone: set[str], kept: set[str]) -> None:
    got = set(terms(request_text(request_)))
    assert not got & gone and kept <= got, got


def test_paths_and_urls_are_not_words() -> None:
    assert terms("detect pallets in /data/frames and ~/more/train and s3://bucket/val") == ["detect", "pallet"]


def test_a_compound_word_has_two_readings_and_counts_once() -> None:
    toks = tokens("fine-tune RT-DETR")
    assert {(t.term, t.reading) for t in toks if t.word == "fine-tune"} == {("fine", 0), ("tune", 0), ("finetun", 1)}
    assert {t.pos for t in toks} == {0, 1}
    assert terms("PyTorch-based TAO-ready") == ["pytorch", "tao"]


def test_split_names_and_participles_read_apart_from_the_verbs() -> None:
    assert terms("the validation set")[0] == terms("a held-out split")[0] == "=val-split"
    assert terms("run validation on my data")[0] == "valid"  # the action noun, not a split
    assert terms("the trained model") == ["=trained", "model"]
    assert terms("trained a model") == ["train", "model"]


@pytest.mark.parametrize(
    ("word", "shaped"),
    [
        ("PointPillars", True),
        ("LiDAR", True),
        ("YOLOv8", True),
        ("llama3", True),
        ("gpt-2", True),
        ("Mask2Former", True),
        ("Cosmos-Reason1", True),
        ("coco2017", False),
        ("A100", False),
        ("detector", False),
        ("RT-DETR", False),
        ("rtdetr-train-3fa2c1", False),
        ("model_epoch_009", False),
        ("annotations.json", False),
    ],
)
def test_name_shaped_words(word: str, shaped: bool) -> None:
    assert name_shaped(word) is shaped


def test_object_phrases() -> None:
    verbs = frozenset({"train", "fine-tune", "export"})
    assert [p.words for p in object_phrases("fine-tune cosmos reason on my videos", verbs)] == [["cosmos", "reason"]]
    assert [p.words for p in object_phrases("fine tune cosmos reason", verbs)] == [["cosmos", "reason"]]
    assert [p.words for p in object_phrases("train a PointPillars LiDAR detector", verbs)] == [["PointPillars", "LiDAR", "detector"]]
    assert [p.words for p in object_phrases("train on my data", verbs)] == [[]]
    assert [(p.verb, p.words) for p in object_phrases("SegFormer for semantic segmentation", verbs)] == [("", ["SegFormer"])]
    assert object_phrases("Explain how the GenAI branch works", verbs) == []
