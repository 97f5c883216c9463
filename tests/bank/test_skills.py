"""Every skill in skills/: reference validator, schemas, templates, generated tables, meta-schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from skillrun.bank import schemas, skillmd
from skillrun.bank.bank import SkillBank, skill_folders
from skillrun.contracts.export import META_SCHEMAS, render
from skillrun.contracts.skill import SkillInfo
from skillrun.errors import BankError
from skillrun.plugins.manager import SkillDir
from tests.conftest import REPO, SKILLS, TAO_BANK

ALL_SKILLS = skill_folders(SKILLS)
RTDETR_ACTIONS = {"train", "distill", "quantize", "evaluate", "export", "inference", "deploy"}


@pytest.mark.parametrize("folder", ALL_SKILLS, ids=lambda p: p.name)
def test_skill_md_passes_the_agent_skills_reference_validator(folder: Path) -> None:
    from skills_ref import validate

    assert validate(folder) == []


@pytest.mark.parametrize("folder", ALL_SKILLS, ids=lambda p: p.name)
def test_skill_md_generated_tables_match_skill_info(folder: Path, bank) -> None:
    skill = bank.get(folder.name)
    text = (folder / "SKILL.md").read_text()
    assert skillmd.unknown_blocks(text) == []
    assert skillmd.render(text, skill.info) == text, "run `skillrun docs` to regenerate the tables"


def test_drift_is_detected_when_skill_info_changes(bank) -> None:
    skill = bank.get("rtdetr")
    text = (skill.path / "SKILL.md").read_text()
    assert {"data-requirements", "shorthand-keys", "spec-params"} <= set(skillmd.blocks(text))
    data = yaml.safe_load((skill.path / "references" / "skill_info.yaml").read_text())
    data["actions"]["train"]["spec_shorthand_keys"]["epochz"] = "train.num_epochs"
    changed = skillmd.render(text, SkillInfo.model_validate(data))
    assert changed != text and "`epochz=...`" in changed


def test_rtdetr_has_the_seven_actions_with_schema_and_template(bank) -> None:
    skill = bank.get("rtdetr")
    assert set(skill.actions) == RTDETR_ACTIONS
    assert set(skill.manifest["actions"]) == RTDETR_ACTIONS
    for action in RTDETR_ACTIONS:
        assert skill.has_schema(action) and skill.has_template(action)


def _fill_missing(node, value_for):
    if isinstance(node, dict):
        return {k: _fill_missing(v, value_for) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill_missing(v, value_for) for v in node]
    return value_for if node == "???" else node


@pytest.mark.parametrize("action", sorted(RTDETR_ACTIONS))
def test_every_template_validates_against_its_schema(bank, action: str) -> None:
    from jsonschema import Draft202012Validator

    skill = bank.get("rtdetr")
    schema = skill.schema(action)
    filled = _fill_missing(copy.deepcopy(skill.template(action)), "/data/x")
    merged = copy.deepcopy(schemas.defaults(schema))
    for key, value in filled.items():  # templates may leave keys to the schema defaults
        merged[key] = {**merged[key], **value} if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(merged)]
    assert errors == []


def test_schema_defaults_satisfy_their_own_leaf_schemas(bank) -> None:
    from jsonschema import Draft202012Validator

    skill = bank.get("rtdetr")
    for action in RTDETR_ACTIONS:
        for path, sub in schemas.walk(skill.schema(action)):
            if "default" in sub and sub["default"] != "???":
                assert not list(Draft202012Validator(sub).iter_errors(sub["default"])), f"{action}: {path}"


def test_automl_default_parameters_have_finite_bounds(bank) -> None:
    schema = bank.get("rtdetr").schema("train")
    params = schema.get("automl_default_parameters")
    assert params
    for param in params:
        leaf = schemas.at(schema, param.split("."))
        assert leaf is not None, param
        has_range = "valid_min" in leaf and "valid_max" in leaf
        assert has_range or leaf.get("valid_options") or leaf.get("enum"), param


@pytest.mark.parametrize("name", sorted(META_SCHEMAS))
def test_meta_schemas_are_generated_from_the_contracts(name: str) -> None:
    model, title = META_SCHEMAS[name]
    assert (REPO / "schemas" / name).read_text() == render(model, title), "run python -m skillrun.contracts.export schemas"


def test_every_skill_info_validates_against_the_json_meta_schema() -> None:
    """skillrun's own skill_info.yaml files as written; TAO's (which are not in skillrun's format) as the adapter reads them."""
    from jsonschema import Draft202012Validator

    meta = json.loads((REPO / "schemas" / "skill_info.schema.json").read_text())
    validator = Draft202012Validator(meta)
    for folder in ALL_SKILLS:
        data = yaml.safe_load((folder / "references" / "skill_info.yaml").read_text())
        assert [e.message for e in validator.iter_errors(data)] == [], folder.name
    tao_folders = skill_folders(TAO_BANK)
    assert {f.name for f in tao_folders} == {"tao-train-boxnet", "tao-boxnet-guide"}
    tao = SkillBank([SkillDir(TAO_BANK, "test")])
    assert not tao.broken
    for folder in tao_folders:
        contract = tao.get(folder.name).info.model_dump(mode="json")
        assert [e.message for e in validator.iter_errors(contract)] == [], folder.name


def copy_skill(src: Path, dst_root: Path, name: str | None = None) -> Path:
    import shutil

    dst = dst_root / (name or src.name)
    shutil.copytree(src, dst)
    return dst


def test_malformed_skill_info_names_file_and_dotted_path(tmp_path: Path) -> None:
    folder = copy_skill(SKILLS / "rtdetr", tmp_path)
    info = folder / "references" / "skill_info.yaml"
    data = yaml.safe_load(info.read_text())
    data["kind"] = "modle"
    data["actions"]["train"]["spec_params"]["results_dir"] = "output_folder"
    info.write_text(yaml.safe_dump(data))
    bank = SkillBank([SkillDir(tmp_path, "test")])
    assert "rtdetr" in bank.broken
    with pytest.raises(BankError) as err:
        bank.get("rtdetr")
    paths = [i.path for i in err.value.issues]
    assert any(p.endswith("skill_info.yaml: kind") for p in paths)
    assert any(p.endswith("actions.train.spec_params.results_dir") for p in paths)
    assert all(str(info) in p for p in paths)


def test_higher_precedence_folder_shadows_builtin_with_a_warning(tmp_path: Path, monkeypatch) -> None:
    from skillrun import load_bank

    copy_skill(SKILLS / "rtdetr", tmp_path / "mine")
    bank = load_bank([tmp_path / "mine"], plugins=False)
    assert bank.get("rtdetr").path == (tmp_path / "mine" / "rtdetr").resolve()
    assert bank.get("rtdetr").origin == "cli:--skills-dir"
    shadow = [w for w in bank.warnings if w.code == "shadowed"]
    assert len(shadow) == 1 and str(SKILLS / "rtdetr") in shadow[0].path
    # SKILLRUN_PATH sits between --skills-dir and plugins
    copy_skill(SKILLS / "rtdetr", tmp_path / "env")
    monkeypatch.setenv("SKILLRUN_PATH", str(tmp_path / "env"))
    assert load_bank(plugins=False).get("rtdetr").origin == "env:SKILLRUN_PATH"
    assert load_bank([tmp_path / "mine"], plugins=False).get("rtdetr").origin == "cli:--skills-dir"


def test_broken_skill_does_not_break_the_listing(tmp_path: Path, cli) -> None:
    bad = tmp_path / "broken-one"
    (bad / "references").mkdir(parents=True)
    (bad / "SKILL.md").write_text("---\nname: broken-one\ndescription: x\n---\n")
    (bad / "references" / "skill_info.yaml").write_text("name: broken-one\nkind: model\nactions: {}\n")
    res = cli("--skills-dir", tmp_path, "list", "--json")
    assert res.code == 0
    data = res.json()
    assert "rtdetr" in {s["name"] for s in data["skills"]}
    assert any("broken-one" in p["path"] and "actions" in p["path"] for p in data["problems"])
    shown = cli("--skills-dir", tmp_path, "show", "broken-one", "--json")
    assert shown.code == 2 and shown.json()["issues"]


def test_tao_fixture_composes_and_validates(tmp_path: Path, sdg) -> None:
    import skillrun

    bank = skillrun.load_bank([TAO_BANK], plugins=False)
    skill = bank.get("tao-train-boxnet")
    assert skill.info.engine == "tao" and skill.path == (TAO_BANK / "skills" / "models" / "tao-train-boxnet").resolve()
    assert skill.schema_notes.get("train") is None or isinstance(skill.schema_notes["train"], list)
    schema = skill.schema("train")
    assert "Infinity" not in json.dumps(schema) and "inf" not in json.dumps(schema).replace("info", "")
    assert any("automl_disabled_parameters" in n for n in skill.schema_notes["train"])  # TAO's list inside properties, lifted
    tr, va = sdg.splits["train"], sdg.splits["val"]
    sources = [f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]", f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}"]
    missing = skillrun.validate("tao-train-boxnet", "train", bank=bank, check_data=False)
    assert {i.code for i in missing.errors} == {"missing"}
    assert {i.path for i in missing.errors} == {"dataset.train_data_sources[0].image_dir", "dataset.train_data_sources[0].json_file",
                                                "dataset.val_data_sources.image_dir", "dataset.val_data_sources.json_file"}
    tao_default = skillrun.validate("tao-train-boxnet", "train", overrides=sources, bank=bank)
    assert [(i.path, i.value) for i in tao_default.errors] == [("dataset.num_classes", 91)], "TAO's default of 91 contradicts 3 categories"
    ok = skillrun.validate("tao-train-boxnet", "train", overrides=[*sources, "dataset.num_classes=3"], bank=bank)
    assert ok.ok, [i.render() for i in ok.errors]
    # the same sources by TAO's source names (data_sources grouped into entries): one folder each, expanded with the entry's files
    by_name = skillrun.validate("tao-train-boxnet", "train", overrides=[f"train_datasets={tr.json_file.parent}", f"eval_dataset={va.json_file.parent}", "dataset.num_classes=3"], bank=bank)
    assert by_name.ok, [i.render() for i in by_name.errors]
    assert by_name.spec["dataset"]["train_data_sources"][0]["json_file"] == str(tr.json_file.parent / "annotations.json")
    assert by_name.spec["dataset"]["val_data_sources"]["json_file"] == str(va.json_file.parent / "annotations.json")


def test_a_bank_root_is_searched_at_any_depth_and_an_empty_folder_is_a_warning(tmp_path: Path) -> None:
    deep = copy_skill(SKILLS / "dataset-validate", tmp_path / "bank" / "skills" / "data")
    (tmp_path / "bank" / ".hidden" / "x").mkdir(parents=True)
    (tmp_path / "empty" / "nested").mkdir(parents=True)
    bank = SkillBank([SkillDir(tmp_path / "bank", "test"), SkillDir(tmp_path / "empty", "test")])
    assert bank.get("dataset-validate").path == deep.resolve()
    empty = [w for w in bank.warnings if w.code == "no_skills"]
    assert [w.path for w in empty] == [str(tmp_path / "empty")] and "SKILL.md" in (empty[0].hint or "")


def test_a_bound_hint_never_suggests_a_value_that_fails_the_same_bound() -> None:
    from skillrun.validation.schema import check

    schema = {"type": "object", "properties": {"port": {"type": "integer", "minimum": 49152, "default": 18888}, "n": {"type": "integer", "exclusiveMinimum": 0, "default": 4}}}
    issues = {i.path: i for i in check({"port": 80, "n": 0}, schema)}
    assert issues["port"].hint == "try port=49152 (the lowest allowed)"  # not the default 18888: it fails too
    assert issues["n"].hint == "try n=4 (the default)"
