"""Composition precedence: schema defaults <- template <- spec file <- overrides-json <- k=v."""

from __future__ import annotations

from pathlib import Path

import skillrun


def test_each_layer_overrides_the_one_below_and_provenance_says_which(bank, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("train:\n  num_epochs: 5\n  seed: 7\n")
    c = skillrun.compose("rtdetr", "train", spec_file=spec, overrides_json='{"train.seed": 8}', overrides=["train.seed=9", "epochs=6"], bank=bank)
    assert c.spec["model"]["dropout_ratio"] == bank.get("rtdetr").schema("train")["properties"]["model"]["properties"]["dropout_ratio"]["default"]
    assert c.provenance["model.dropout_ratio"] == "schema"
    assert c.provenance["model.backbone"] == "template"
    assert (c.spec["train"]["num_epochs"], c.provenance["train.num_epochs"]) == (6, "shorthand")
    assert (c.spec["train"]["seed"], c.provenance["train.seed"]) == (9, "override")
    assert c.issues == []


def test_list_index_forms_and_appending(bank) -> None:
    c = skillrun.compose("rtdetr", "train", overrides=["dataset.train_data_sources[0].image_dir=/a", "dataset.train_data_sources.0.json_file=/a.json", "dataset.train_data_sources[1]={image_dir: /b, json_file: /b.json}"], bank=bank)
    assert c.spec["dataset"]["train_data_sources"] == [{"image_dir": "/a", "json_file": "/a.json"}, {"image_dir": "/b", "json_file": "/b.json"}]
    gap = skillrun.compose("rtdetr", "train", overrides=["dataset.train_data_sources[5].image_dir=/c"], bank=bank)
    assert [i.code for i in gap.issues] == ["bad_path"]


def test_unknown_keys_are_reported_with_close_matches_and_not_merged(bank, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("train:\n  optim:\n    learning_rate: 0.1\nmodle: {}\n")
    c = skillrun.compose("rtdetr", "train", spec_file=spec, overrides=["train.num_epoch=3", "+train.num_epoch=3"], bank=bank)
    by_path = {}
    for i in c.issues:
        by_path.setdefault(i.path, []).append(i)
    assert set(by_path) == {"train.optim.learning_rate", "modle", "train.num_epoch"}
    assert "model" in by_path["modle"][0].hint
    assert len(by_path["train.num_epoch"]) == 2, "+ does not make a closed section accept a typo"
    assert "learning_rate" not in c.spec["train"]["optim"] and "modle" not in c.spec


def test_delete_and_its_error(bank) -> None:
    c = skillrun.compose("rtdetr", "train", overrides=["~train.seed", "~train.nope"], bank=bank)
    assert "seed" not in c.spec["train"] and "train.seed" not in c.provenance
    assert [(i.path, i.code) for i in c.issues] == [("train.nope", "delete_missing")]


def test_a_train_spec_reused_for_evaluate_ignores_foreign_sections(bank, tmp_path: Path) -> None:
    spec = tmp_path / "rtdetr_train.yaml"
    spec.write_text("train:\n  num_epochs: 5\ndataset:\n  batch_size: 2\nevaluate:\n  checkpoint: /c.pth\n")
    c = skillrun.compose("rtdetr", "evaluate", spec_file=spec, bank=bank)
    assert "train" not in c.spec and c.spec["evaluate"]["checkpoint"] == "/c.pth"
    assert [(i.path, i.severity, i.code) for i in c.issues] == [("train", "warning", "ignored_section")]


def test_open_sections_accept_plus_keys(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "open-skill"
    shutil.copytree(Path(__file__).parents[2] / "skills" / "rtdetr", folder)
    (folder / "SKILL.md").write_text((folder / "SKILL.md").read_text().replace("name: rtdetr", "name: open-skill"))
    info = folder / "references" / "skill_info.yaml"
    info.write_text(info.read_text().replace("name: rtdetr", "name: open-skill", 1))
    schema = folder / "schemas" / "export.schema.json"
    schema.write_text(schema.read_text().replace('"properties": {', '"properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}, "default": {}},', 1))
    bank = skillrun.load_bank([tmp_path], plugins=False)
    c = skillrun.compose("open-skill", "export", overrides=["+labels.owner=me", "labels.other=x"], bank=bank)
    assert c.spec["labels"] == {"owner": "me", "other": "x"}, c.issues
    closed = skillrun.compose("open-skill", "export", overrides=["+export.owner=me"], bank=bank)
    assert [i.code for i in closed.issues] == ["unknown_key"]


def test_compose_does_not_mutate_templates_or_inputs(bank) -> None:
    skill = bank.get("rtdetr")
    before = skill.template("train")
    data = {"train": {"num_epochs": 4}}
    skillrun.compose("rtdetr", "train", spec=data, overrides=["train.optim.lr=1e-3"], bank=bank)
    assert skill.template("train") == before and data == {"train": {"num_epochs": 4}}
