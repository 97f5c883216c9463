"""Validation: every problem at once, each with path, value, what is allowed and a suggestion."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import skillrun
from tests.conftest import seed_train_overrides

try:
    from PIL import Image
except ImportError:  # pragma: no cover - pillow comes with the test extra
    Image = None


def errors(report) -> dict[str, object]:
    return {i.path: i for i in report.errors}


def test_seed_002_train_example_validates_with_auto_classes(bank, sdg) -> None:
    report = skillrun.validate("rtdetr", "train", overrides=seed_train_overrides(sdg), bank=bank)
    assert report.ok, [i.render() for i in report.errors]
    assert report.spec["dataset"]["num_classes"] == 3
    assert report.spec["dataset"]["eval_class_ids"] == [201, 305, 412]
    assert {d.path for d in report.derived} == {"dataset.num_classes", "dataset.eval_class_ids"}
    assert report.provenance["dataset.num_classes"] == "derived"
    assert report.provenance["train.num_epochs"] == "override"


def test_new_user_mistakes_give_exactly_three_precise_messages(cli, sdg) -> None:
    res = cli("validate", "rtdetr", "train", *seed_train_overrides(sdg), "train.optim.lr=-1", "model.num_feature_levels=4", "train.num_epoch=3", "--json")
    assert res.code == 2
    errs = {e["path"]: e for e in res.json()["errors"]}
    assert set(errs) == {"train.optim.lr", "model.num_feature_levels", "train.num_epoch"}
    assert errs["train.optim.lr"]["value"] == -1 and "> 0" in errs["train.optim.lr"]["message"] and "0.0001" in errs["train.optim.lr"]["hint"]
    assert errs["train.num_epoch"]["code"] == "unknown_key" and "train.num_epochs" in errs["train.num_epoch"]["hint"]
    levels = errs["model.num_feature_levels"]
    assert levels["value"] == 4 and "3 entries" in levels["message"] and levels["hint"]
    human = cli("validate", "rtdetr", "train", *seed_train_overrides(sdg), "train.optim.lr=-1", "model.num_feature_levels=4", "train.num_epoch=3")
    assert human.code == 2 and human.out == ""
    assert human.err.count("✗") == 3 and "Traceback" not in human.err


def test_num_classes_contradicting_the_annotations_names_both_numbers(bank, sdg) -> None:
    report = skillrun.validate("rtdetr", "train", overrides=[*seed_train_overrides(sdg), "dataset.num_classes=80"], bank=bank)
    issue = errors(report)["dataset.num_classes"]
    assert "80" in issue.render() and "3 categories" in issue.message and "201, 305, 412" in issue.message
    assert "auto" in issue.hint


@pytest.mark.parametrize("value", [3, 413])
def test_category_count_and_tao_max_id_plus_one_are_both_accepted(bank, sdg, value) -> None:
    report = skillrun.validate("rtdetr", "train", overrides=[*seed_train_overrides(sdg), f"dataset.num_classes={value}"], bank=bank)
    assert report.ok, [i.render() for i in report.errors]


def test_eval_class_ids_must_be_categories(bank, sdg) -> None:
    report = skillrun.validate("rtdetr", "train", overrides=[*seed_train_overrides(sdg), "dataset.eval_class_ids=[201, 7]"], bank=bank)
    issue = errors(report)["dataset.eval_class_ids"]
    assert "7" in issue.message and "201" in issue.allowed


def test_missing_files_and_bad_coco_are_reported_together(bank, sdg, tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"id": 1, "image_id": 9, "category_id": 5, "bbox": [0, 0, 1, 1]}], "categories": [{"id": 1, "name": "x"}]}))
    overrides = [
        *seed_train_overrides(sdg),
        f"dataset.train_data_sources[0].image_dir={tmp_path / 'nope'}",
        f"dataset.val_data_sources.json_file={bad_json}",
    ]
    report = skillrun.validate("rtdetr", "train", overrides=overrides, bank=bank)
    errs = errors(report)
    assert errs["dataset.train_data_sources[0].image_dir"].message == "folder not found"
    coco = [i for i in report.errors if i.path == "dataset.val_data_sources.json_file"]
    messages = " | ".join(i.message for i in coco)
    assert "category ids not in 'categories'" in messages and "points to image ids not in 'images'" in messages
    assert any("missing" in i.message for i in report.errors if i.path == "dataset.val_data_sources.image_dir")


def test_no_data_skips_the_preflight_but_not_the_schema(bank) -> None:
    report = skillrun.validate("rtdetr", "train", overrides=["dataset.train_data_sources=[{image_dir: /nope, json_file: /nope.json}]", "dataset.val_data_sources={image_dir: /nope, json_file: /nope.json}", "train.num_epochs=-2"], check_data=False, bank=bank)
    assert [i.path for i in report.errors] == ["train.num_epochs"]


def test_template_markers_report_missing_values_with_parent_hint(bank) -> None:
    report = skillrun.validate("rtdetr", "evaluate", check_data=False, bank=bank)
    errs = errors(report)
    assert "--parent" in errs["evaluate.checkpoint"].hint
    assert "results_dir" not in errs, "output_dir fills results_dir at launch"


def test_sparse_category_ids_are_legal(bank, sdg) -> None:
    report = skillrun.validate("rtdetr", "evaluate", overrides=["evaluate.checkpoint=/ckpt.pth", f"dataset.test_data_sources={{image_dir: {sdg.splits['val'].image_dir}, json_file: {sdg.splits['val'].json_file}}}"], bank=bank)
    assert [i.path for i in report.errors] == ["evaluate.checkpoint"], "only the absent checkpoint file is wrong"
    assert report.spec["dataset"]["eval_class_ids"] == [201, 305, 412]


def test_export_size_rule_and_distill_teacher_rule(bank) -> None:
    report = skillrun.validate("rtdetr", "export", overrides=["export.checkpoint=/x.pth", "export.input_height=650"], check_data=False, bank=bank)
    issue = errors(report)["export.input_height"]
    assert issue.value == 650 and "32" in issue.message
    distill = skillrun.validate("rtdetr", "distill", overrides=["distill.pretrained_teacher_model_path=null"], check_data=False, bank=bank)
    assert "distill.pretrained_teacher_model_path" in errors(distill)


def test_gpu_ids_must_match_num_gpus(bank) -> None:
    report = skillrun.validate("rtdetr", "train", overrides=["train.num_gpus=8"], check_data=False, bank=bank)
    issue = errors(report)["train.num_gpus"]
    assert issue.value == 8 and "gpu_ids" in issue.render()


@pytest.mark.parametrize(
    ("overrides", "positions"),
    [
        (["dataset.augmentation.train_spatial_size=[64,64]", "dataset.augmentation.eval_spatial_size=[64,64]", "dataset.augmentation.multi_scales=[]"], 84),
        (["dataset.augmentation.multi_scales=[64,640]"], 84),  # the smallest multi-scale size counts
        (["dataset.augmentation.train_spatial_size=[96,64]", "dataset.augmentation.eval_spatial_size=[96,96]", "dataset.augmentation.multi_scales=[]"], 126),
    ],
)
def test_more_queries_than_encoder_positions_is_refused_before_launch(bank, overrides: list[str], positions: int) -> None:
    """RT-DETR's encoder top-k picks num_queries positions: 100 at 64 px (84 positions) used to fail on the first batch."""
    report = skillrun.validate("rtdetr", "train", overrides=[f"model.num_queries={positions + 1}", "model.num_select=50", *overrides], check_data=False, bank=bank)
    issue = errors(report)["model.num_queries"]
    assert issue.code == "rule:queries-within-encoder-positions" and issue.value == positions + 1 and f"the {positions} encoder positions" in issue.message
    fine = skillrun.validate("rtdetr", "train", overrides=[f"model.num_queries={positions}", "model.num_select=50", *overrides], check_data=False, bank=bank)
    assert "model.num_queries" not in errors(fine)


def test_validation_writes_nothing(bank, sdg, _isolated_home: Path) -> None:
    skillrun.validate("rtdetr", "train", overrides=seed_train_overrides(sdg), bank=bank)
    skillrun.validate("rtdetr", "train", overrides=["train.num_epochs=-1"], bank=bank)
    assert not _isolated_home.exists()


def test_raise_on_error_carries_the_report(bank) -> None:
    with pytest.raises(skillrun.SpecError) as err:
        skillrun.validate("rtdetr", "train", overrides=["train.num_epochs=-1"], check_data=False, bank=bank, raise_on_error=True)
    assert any(i.path == "train.num_epochs" for i in err.value.issues)
    assert err.value.exit_code == 2


def test_a_rule_still_fires_when_another_field_of_its_section_is_bad(bank) -> None:
    report = skillrun.validate("rtdetr", "export", overrides=["export.input_height=650", "export.checkpoint=/definitely/missing.pth"], bank=bank)
    assert {i.path for i in report.errors} == {"export.input_height", "export.checkpoint"}


def test_rules_skip_values_still_unset_anywhere_in_the_spec() -> None:
    from skillrun.contracts.skill import Rule
    from skillrun.validation.rules import check_rules

    spec = {"sizes": ["???", 3], "a": {"n": 2}}
    rules = [Rule(id="uses-sizes", expr="len(sizes) == 1", path="a.n", message="m"), Rule(id="plain", expr="a.n == 3", path="a.n", message="n is {a.n}")]
    issues = check_rules(spec, rules, bad_paths=set())
    assert [(i.code, i.message) for i in issues] == [("rule:plain", "n is 2")]


def _broken_train(sdg, tmp_path: Path, zero_width: int = 1) -> tuple[list[str], Path, Path, list[int]]:
    """The seed overrides with a copy of the train split: ``zero_width`` boxes of width 0, one grey image."""
    root = tmp_path / "train"
    shutil.copytree(sdg.splits["train"].json_file.parent, root)
    json_file, image_dir = root / "annotations.json", root / "images"
    coco = json.loads(json_file.read_text())
    bad = []
    for ann in coco["annotations"][:zero_width]:
        ann["bbox"][2] = 0
        bad.append(ann["id"])
    json_file.write_text(json.dumps(coco))
    grey = image_dir / coco["images"][0]["file_name"]
    Image.open(grey).convert("L").save(grey)
    overrides = [*seed_train_overrides(sdg), f"dataset.train_data_sources=[{{image_dir: {image_dir}, json_file: {json_file}}}]"]
    return overrides, json_file, image_dir, bad


def test_preflight_reports_dataset_validate_problems_on_dotted_paths(cli, sdg, tmp_path: Path) -> None:
    overrides, json_file, image_dir, bad = _broken_train(sdg, tmp_path)
    res = cli("validate", "rtdetr", "train", *overrides, "--json")
    assert res.code == 2
    errs = {e["code"]: e for e in res.json()["errors"]}
    boxes = errs["bad_boxes"]
    assert boxes["path"] == "dataset.train_data_sources[0].json_file" and boxes["value"] == str(json_file)
    assert f"annotation ids {bad[0]}" in boxes["message"] and boxes["allowed"] == "width > 0 and height > 0" and boxes["hint"]
    grey = errs["not_rgb"]
    assert grey["path"] == "dataset.train_data_sources[0].image_dir" and grey["value"] == str(image_dir) and "(L)" in grey["message"]
    human = cli("validate", "rtdetr", "train", *overrides)
    assert human.code == 2 and "dataset.train_data_sources[0].json_file" in human.err and "Traceback" not in human.err


def test_run_with_a_broken_dataset_stops_before_any_job(cli, sdg, tmp_path: Path, _isolated_home: Path) -> None:
    overrides, _, _, _ = _broken_train(sdg, tmp_path, zero_width=5)
    res = cli("run", "rtdetr", "train", *overrides, "--automl", "off", "--json")
    assert res.code == 2
    boxes = next(e for e in res.json()["errors"] if e["code"] == "bad_boxes")
    assert "5 annotations" in boxes["message"] and "and 2 more" in boxes["message"]
    assert "skillrun run dataset-validate validate json_file=" in boxes["hint"], "a long list points to the full report"
    assert not (_isolated_home / "jobs").exists() or not any((_isolated_home / "jobs").iterdir())
