"""The TAO-format fixture bank, through the adapter: what TAO writes is what skillrun runs.

``tests/fixtures/tao_bank`` is a bank root laid out as NVIDIA publishes the TAO
skill bank: ``versions.yaml`` (the image table), a model skill
``skills/models/tao-train-boxnet`` (a fictional network: ``skill_info.yaml`` in
TAO's shape, a deploy sub-skill whose image is the versions key
``tao_toolkit.deploy``, TAO-dialect schemas, ``evals/evals.json`` as a list) and a
guidance-only core skill ``skills/core/tao-boxnet-guide`` (no ``skill_info.yaml``).
Each test here fails when the adapter stops reading one part of that format.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import skillrun
from skillrun.bank.bank import SkillBank
from skillrun.contracts.skill import SkillKind
from skillrun.plugins.manager import SkillDir
from tests.conftest import TAO_BANK

MODEL, GUIDE = "tao-train-boxnet", "tao-boxnet-guide"
MODEL_DIR = TAO_BANK / "skills" / "models" / MODEL
GUIDE_DIR = TAO_BANK / "skills" / "core" / GUIDE
VERSIONS = yaml.safe_load((TAO_BANK / "versions.yaml").read_text(encoding="utf-8"))["images"]["tao_toolkit"]
PYT, DEPLOY = VERSIONS["pyt"], VERSIONS["deploy"]
SOURCES = ["train_datasets=/d", "eval_dataset=/e", "dataset.num_classes=3"]


def load(root: Path) -> SkillBank:
    """The skills under ``root`` only, parsed now (no cache, no built-in skills)."""
    return SkillBank([SkillDir(root, "test")])


@pytest.fixture(scope="module")
def tao() -> SkillBank:
    return load(TAO_BANK)


@pytest.fixture
def bank_copy(tmp_path: Path) -> Path:
    """A copy of the whole bank root (versions.yaml included) to break."""
    root = tmp_path / "bank"
    shutil.copytree(TAO_BANK, root)
    return root


def tao_warnings(skill: Any, code: str) -> list[Any]:
    return [w for w in skill.warnings if w.code == code]


# -- the model skill ----------------------------------------------------------------
def test_the_fixture_is_laid_out_as_tao_publishes_a_bank() -> None:
    assert sorted(p.parent.relative_to(TAO_BANK).as_posix() for p in TAO_BANK.rglob("SKILL.md")) == ["skills/core/tao-boxnet-guide", "skills/models/tao-train-boxnet"]
    info = yaml.safe_load((MODEL_DIR / "references" / "skill_info.yaml").read_text(encoding="utf-8"))
    assert "kind" not in info and "triggers" not in info  # skillrun's own format says kind; TAO's never does
    assert set(info["data_sources"]) == set(info["spec_params"]) == set(info["spec_templates"]) == set(info["actions"]) == {"train", "evaluate"}
    assert not (GUIDE_DIR / "references" / "skill_info.yaml").exists()
    for folder in (MODEL_DIR, GUIDE_DIR):
        cases = json.loads((folder / "evals" / "evals.json").read_text(encoding="utf-8"))
        assert isinstance(cases, list) and cases and all({"id", "question", "expected_skill"} <= set(c) for c in cases)
        assert {c["expected_skill"] for c in cases} == {folder.name}


def test_the_model_skill_loads_with_engine_tao_and_four_actions(tao: SkillBank) -> None:
    assert not tao.broken and tao.names == [GUIDE, MODEL]
    skill = tao.get(MODEL)
    info = skill.info
    assert (info.engine, info.kind, info.network_arch, info.automl_enabled, info.instructions_only) == ("tao", SkillKind.model, "boxnet", True, False)
    assert info.container_image == PYT  # the stamped literal of skill_info.yaml, the same image as versions.yaml's pyt
    assert skill.actions == ["train", "evaluate", "gen_trt_engine", "deploy_evaluate"]
    commands = {a: info.actions[a].command for a in skill.actions}
    assert commands == {"train": "boxnet train -e {config_path}", "evaluate": "boxnet evaluate -e {config_path}",
                        "gen_trt_engine": "boxnet gen_trt_engine -e {config_path}", "deploy_evaluate": "boxnet evaluate -e {config_path}"}
    assert {a: info.actions[a].spec_templates["default"] for a in skill.actions} == {
        "train": "references/spec_template_train.yaml", "evaluate": "references/spec_template_evaluate.yaml",
        "gen_trt_engine": "references/spec_template_deploy_gen_trt_engine.yaml", "deploy_evaluate": "references/spec_template_deploy_evaluate.yaml"}
    assert all(skill.has_template(a) for a in skill.actions)
    assert skill.has_schema("train") and skill.has_schema("evaluate")
    assert not skill.has_schema("gen_trt_engine") and not skill.has_schema("deploy_evaluate")  # TAO ships none: the template rules
    # gpu_spec_key sizes the training action only
    assert info.actions["train"].resources.processes == "train.num_gpus" and info.actions["evaluate"].resources.processes is None
    # spec_params keyed by action: resolvers by name
    params = {a: {k: getattr(v, "value", v) for k, v in info.actions[a].spec_params.items()} for a in skill.actions}
    assert params["train"] == {"encryption_key": "key", "results_dir": "output_dir", "model.pretrained_backbone_path": "ptm_if_no_resume_model",
                               "train.pretrained_model_path": "ptm_if_no_resume_model", "train.resume_training_checkpoint_path": "resume_model"}
    assert params["evaluate"]["evaluate.checkpoint"] == "parent_model"
    assert params["gen_trt_engine"]["gen_trt_engine.onnx_file"] == "parent_model" and params["gen_trt_engine"]["gen_trt_engine.trt_engine"] == "create_engine_file"
    assert params["deploy_evaluate"]["evaluate.trt_engine"] == "parent_model"
    # typed inputs: spec key -> {type, optional}
    inputs = info.actions["train"].path_inputs
    assert inputs["dataset.train_data_sources[0].image_dir"].model_dump() == {"type": "folder", "optional": False}
    assert inputs["train.pretrained_model_path"].model_dump() == {"type": "file", "optional": True}
    assert info.actions["evaluate"].path_inputs["evaluate.checkpoint"].model_dump() == {"type": "file", "optional": False}
    assert info.actions["gen_trt_engine"].path_outputs["gen_trt_engine.trt_engine"].model_dump() == {"type": "file", "optional": False}
    # spec_shorthand_keys for every action of the file that writes them; pretrained_model is the fine-tune input
    assert info.actions["train"].spec_shorthand_keys["num_epochs"] == "train.num_epochs"
    assert info.actions["gen_trt_engine"].spec_shorthand_keys["trt_data_type"] == "gen_trt_engine.tensorrt.data_type"
    assert info.actions["train"].inputs == {"pretrained_model": "train.pretrained_model_path"}
    # the quoted trigger phrases of the description, tied to the action they name
    assert [(t.phrase, t.action) for t in info.triggers] == [("train BoxNet", "train"), ("BoxNet object detection", None),
                                                             ("evaluate BoxNet", "evaluate"), ("fine-tune BoxNet detector", None)]
    # every field is one the adapter reads: the only load warning is TAO's `tags` frontmatter field
    assert [(w.code, w.path.rsplit(": ", 1)[-1]) for w in skill.warnings if w.stage == "bank" and w.code != "default_breaks_schema"] == [("extra_frontmatter", "tags")]


def test_tensorrt_actions_carry_the_deploy_image_from_versions_yaml(tao: SkillBank) -> None:
    info = tao.get(MODEL).info
    assert DEPLOY != PYT and DEPLOY.endswith("-deploy")
    assert info.actions["gen_trt_engine"].container_image == DEPLOY
    assert info.actions["deploy_evaluate"].container_image == DEPLOY
    assert info.actions["train"].container_image is None and info.actions["evaluate"].container_image is None  # the skill's image
    assert "TensorRT" in info.actions["deploy_evaluate"].description
    assert info.actions["deploy_evaluate"].schema_file == "schemas/deploy_evaluate.schema.json"  # not the PyTorch evaluate's


def test_the_deploy_key_outside_the_bank_warns_and_resolves_from_a_stamp_or_tao_versions_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alone = tmp_path / "alone" / MODEL  # the skill folder without the bank root above it
    shutil.copytree(MODEL_DIR, alone)
    sub = alone / "references" / "tao-deploy-boxnet.skill_info.yaml"
    skill = load(alone.parent).get(MODEL)
    keyed = [w for w in tao_warnings(skill, "tao_field") if w.path == f"{sub.resolve()}: container_image"]
    assert len(keyed) == 1 and "tao_toolkit.deploy" in keyed[0].message and "versions.yaml" in keyed[0].message
    assert skill.info.actions["gen_trt_engine"].container_image != DEPLOY
    # the bank's own way to keep a published folder standalone: a stamped literal in the skill's files
    stamped = "nvcr.io/nvidia/tao/tao-toolkit:0.0.1-deploy"
    (alone / "references" / "tao-deploy-boxnet.md").write_text(f"TAO_DEPLOY_IMAGE={stamped}  # versions-key: images.tao_toolkit.deploy\n")
    assert load(alone.parent).get(MODEL).info.actions["gen_trt_engine"].container_image == stamped
    (alone / "references" / "tao-deploy-boxnet.md").unlink()
    # TAO's SDK variable naming the versions file
    monkeypatch.setenv("TAO_VERSIONS_FILE", str(TAO_BANK / "versions.yaml"))
    again = load(alone.parent).get(MODEL)
    assert again.info.actions["gen_trt_engine"].container_image == DEPLOY and not tao_warnings(again, "tao_field")


def test_data_sources_are_grouped_into_entries(tao: SkillBank) -> None:
    info = tao.get(MODEL).info
    train = [d.model_dump(exclude={"required"}) for d in info.actions["train"].data_sources]
    coco = {"image_dir": "images.tar.gz", "json_file": "annotations.json"}
    assert train == [
        {"spec_key": "dataset.train_data_sources", "source": "train_datasets", "files": coco, "list": True, "format": "coco", "path": None},
        {"spec_key": "dataset.val_data_sources", "source": "eval_dataset", "files": coco, "list": False, "format": "coco", "path": None},
    ]
    for action in ("evaluate", "deploy_evaluate"):
        [test] = info.actions[action].data_sources
        assert (test.spec_key, test.source, test.files, test.list) == ("dataset.test_data_sources", "eval_dataset", coco, False)
    [cal] = info.actions["gen_trt_engine"].data_sources  # a lone leaf stays a path of its own
    assert (cal.spec_key, cal.source, cal.files, cal.list, cal.path) == ("gen_trt_engine.tensorrt.calibration.cal_image_dir", "calibration_dataset", {}, True, "images.tar.gz")


def test_tao_source_names_expand_into_the_entries(tao: SkillBank) -> None:
    report = skillrun.validate(MODEL, "train", overrides=SOURCES, bank=tao, check_data=False)
    assert report.ok, [i.render() for i in report.errors]
    assert report.spec["dataset"]["train_data_sources"] == [{"image_dir": "/d/images.tar.gz", "json_file": "/d/annotations.json"}]
    assert report.spec["dataset"]["val_data_sources"] == {"image_dir": "/e/images.tar.gz", "json_file": "/e/annotations.json"}
    two = skillrun.validate(MODEL, "train", overrides=["train_datasets=[/d1, /d2]", *SOURCES[1:]], bank=tao, check_data=False)
    assert [e["json_file"] for e in two.spec["dataset"]["train_data_sources"]] == ["/d1/annotations.json", "/d2/annotations.json"]
    plan = skillrun.plan(MODEL, "evaluate", overrides=["eval_dataset=/e", "evaluate.checkpoint=/m/boxnet.pth"], backend="docker", check_data=False, bank=tao)
    assert plan.spec["dataset"]["test_data_sources"] == {"image_dir": "/e/images.tar.gz", "json_file": "/e/annotations.json"}


# -- the shipped default that breaks its own bound -------------------------------------------
def test_a_shipped_default_that_breaks_its_bound_is_a_warning_not_an_error(tao: SkillBank) -> None:
    report = skillrun.validate(MODEL, "train", overrides=SOURCES, bank=tao, check_data=False)
    assert report.ok and report.spec["train"]["tcp_port"] == 18888
    assert [i.path for i in report.warnings if "tcp_port" in i.path] == ["train.tcp_port"]
    skill = tao.get(MODEL)
    skill.schema("train")
    [defect] = tao_warnings(skill, "default_breaks_schema")
    assert defect.path == f"{skill.path / 'schemas' / 'train.schema.json'}: train.tcp_port" and defect.value == 18888
    # the user's own value is checked as strictly as any other
    bad = skillrun.validate(MODEL, "train", overrides=[*SOURCES, "train.tcp_port=80"], bank=tao, check_data=False)
    assert [(i.path, i.severity) for i in bad.errors] == [("train.tcp_port", "error")]
    fixed = skillrun.validate(MODEL, "train", overrides=[*SOURCES, "train.tcp_port=50000"], bank=tao, check_data=False)
    assert fixed.ok and not [i for i in fixed.issues if "tcp_port" in i.path]


def test_an_automl_plan_keeps_the_shipped_default_a_warning(tao: SkillBank) -> None:
    plan = skillrun.plan(MODEL, "train", overrides=SOURCES, backend="docker", check_data=False, bank=tao)  # AutoML on: the skill's default
    assert plan.automl.on and plan.spec["train"]["tcp_port"] == 18888
    # a trial's spec arrives whole (no layers): the shipped value is still the skill's, not the user's
    trial = skillrun.validate(MODEL, "train", spec=plan.spec, bank=tao, check_data=False)
    assert trial.ok and any(i.path == "train.tcp_port" and i.severity == "warning" for i in trial.issues)


# -- the guidance-only skill -----------------------------------------------------------------------
def test_the_guidance_only_skill_loads_without_actions(tao: SkillBank) -> None:
    guide = tao.get(GUIDE)
    assert guide.info.instructions_only and guide.info.engine == "none" and guide.actions == []
    assert guide.info.kind == SkillKind.core  # from its category folder
    assert [t.phrase for t in guide.info.triggers] == ["before I launch BoxNet", "BoxNet launch checklist"]
    assert [w.code for w in guide.warnings] == ["extra_frontmatter"]  # no skill_info.yaml is not a problem


def test_planning_the_guidance_only_skill_exits_3_naming_its_skill_md(cli: Any) -> None:
    res = cli("--skills-dir", TAO_BANK, "plan", GUIDE, "anything", "--json")
    assert res.code == 3, (res.out, res.err)
    doc = res.json()
    assert doc["code"] == "guidance_only" and doc["skill_md"] == str((GUIDE_DIR / "SKILL.md").resolve())
    text = cli("--skills-dir", TAO_BANK, "plan", GUIDE, "anything")
    assert text.code == 3 and str((GUIDE_DIR / "SKILL.md").resolve()) in text.out + text.err


# -- what a TAO file may hold that skillrun does not read, and what it cannot read ----------------------
def test_an_unknown_top_level_field_is_one_warning_naming_file_and_key(bank_copy: Path) -> None:
    info = bank_copy / "skills" / "models" / MODEL / "references" / "skill_info.yaml"
    info.write_text(info.read_text(encoding="utf-8") + "flavour: spicy\n", encoding="utf-8")
    skill = load(bank_copy).get(MODEL)
    field = tao_warnings(skill, "tao_field")
    assert len(field) == 1 and field[0].path == f"{info.resolve()}: flavour" and field[0].severity == "warning"
    assert skill.actions == ["train", "evaluate", "gen_trt_engine", "deploy_evaluate"] and skill.info.engine == "tao"


def test_a_broken_skill_info_leaves_a_guidance_only_skill_and_the_others_load(bank_copy: Path, cli: Any) -> None:
    info = bank_copy / "skills" / "models" / MODEL / "references" / "skill_info.yaml"
    info.write_text("name: tao-train-boxnet\nactions: [train, {command: boxnet train\n", encoding="utf-8")
    bank = load(bank_copy)
    assert not bank.broken and bank.names == [GUIDE, MODEL]
    skill = bank.get(MODEL)
    assert skill.info.instructions_only and skill.info.engine == "none" and skill.actions == []
    about = [w for w in skill.warnings if str(info.resolve()) in w.path]
    assert len(about) == 1 and about[0].code == "guidance_only" and about[0].severity == "warning"
    assert bank.get(GUIDE).info.instructions_only  # the other skill is untouched
    res = cli("--skills-dir", bank_copy, "plan", MODEL, "train", "--json")
    assert res.code == 3 and res.json()["code"] == "guidance_only"
    listed = cli("--skills-dir", bank_copy, "list", "--json")
    assert listed.code == 0 and {GUIDE, MODEL} <= {s["name"] for s in listed.json()["skills"]}


def test_a_broken_deploy_sub_skill_drops_only_its_actions(bank_copy: Path) -> None:
    sub = bank_copy / "skills" / "models" / MODEL / "references" / "tao-deploy-boxnet.skill_info.yaml"
    sub.write_text("actions: {gen_trt_engine: [\n", encoding="utf-8")
    skill = load(bank_copy).get(MODEL)
    assert skill.actions == ["train", "evaluate"] and skill.info.engine == "tao"
    about = [w for w in skill.warnings if str(sub.resolve()) in w.path]
    assert len(about) == 1 and about[0].severity == "warning"


# -- skillrun's AutoML settings on a skill whose schema has none ------------------------------------
def test_automl_settings_are_checked_on_a_tao_skill_and_never_reach_its_spec_file(tao: SkillBank, tmp_path: Path) -> None:
    from skillrun.launch.prepare import Request, prepare
    from skillrun.launch.submit import _write_spec
    from skillrun.record.store import JobStore

    plan = skillrun.plan(MODEL, "train", overrides=[*SOURCES, "train.tcp_port=50000", "automl.max_trials=3", "automl.algorithm=hyperband"], backend="docker", check_data=False, bank=tao)
    assert plan.study is not None and plan.study.settings.max_trials == 3 and plan.study.review.algorithm == "hyperband"
    bad = skillrun.validate(MODEL, "train", overrides=[*SOURCES, "automl.max_trial=3"], bank=tao, check_data=False)
    assert [(i.path, i.code) for i in bad.errors] == [("automl.max_trial", "unknown_key")] and "automl.max_trials" in (bad.errors[0].hint or "")
    assert "automl" in tao.get(MODEL).added_sections and "automl" not in json.loads((MODEL_DIR / "schemas" / "train.schema.json").read_text())["properties"]
    store = JobStore(tmp_path / "ws")
    req = Request(MODEL, "train", overrides=[*SOURCES, "train.tcp_port=50000", "automl.max_trials=3"], backend="docker", automl="off", check_data=False)
    plain = prepare(tao, store, req, job_id="tao-train-boxnet-train-abc123")
    assert plain.spec["automl"] == {"max_trials": 3}
    store.job_dir(plain.job_id).mkdir(parents=True)
    _write_spec(store, plain)
    written = yaml.safe_load((store.job_dir(plain.job_id) / "spec.yaml").read_text())
    assert "automl" not in written and "automl_policy" not in written and written["train"]["tcp_port"] == 50000
