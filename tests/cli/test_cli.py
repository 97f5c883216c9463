"""The control-plane CLI: one JSON document with --json, documented exit codes, no torch."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, TAO_BANK, cli_imports, run_skillrun, seed_train_overrides


def test_list_json_is_one_document_with_rtdetr_and_its_seven_actions(cli) -> None:
    res = cli("list", "--json")
    assert res.code == 0
    data = res.json()
    rtdetr = next(s for s in data["skills"] if s["name"] == "rtdetr")
    assert set(rtdetr["actions"]) == {"train", "distill", "quantize", "evaluate", "export", "inference", "deploy"}
    assert rtdetr["origin"] == "builtin"


def test_list_human_is_a_table_on_stdout(cli) -> None:
    res = cli("list")
    assert res.code == 0 and "rtdetr" in res.out and "skill" in res.out
    with pytest.raises(json.JSONDecodeError):
        json.loads(res.out)


def test_show_names_actions_data_and_popular_parameters(cli) -> None:
    data = cli("show", "rtdetr", "--json").json()
    train = data["action_details"]["train"]
    assert train["schema"] and train["template"]
    assert "dataset.train_data_sources" in {d["spec_key"] for d in train["data_sources"]}
    assert train["popular"], "the train schema marks popular parameters"
    assert train["spec_params"]["results_dir"] == "output_dir"


def test_unknown_skill_exits_3_with_a_suggestion(cli) -> None:
    res = cli("show", "rtdeter", "--json")
    assert res.code == 3
    err = res.json()
    assert err["error"] == "ResolutionError" and "rtdetr" in err["hint"]
    human = cli("show", "rtdeter")
    assert human.code == 3 and "did you mean 'rtdetr'" in human.err and human.out == ""


def test_unknown_action_exits_3(cli) -> None:
    res = cli("validate", "rtdetr", "trian", "--json")
    assert res.code == 3 and "did you mean 'train'" in res.json()["hint"]


def test_schema_and_template_commands(cli) -> None:
    schema = cli("schema", "rtdetr", "export", "--json").json()
    assert "$ref" not in json.dumps(schema), "schemas are served self-contained"
    assert schema["properties"]["export"]["properties"]["input_height"]["default"] == 640
    tpl = cli("template", "rtdetr", "evaluate", "--json").json()
    assert tpl["template"]["evaluate"]["checkpoint"] == "???"
    text = cli("template", "rtdetr", "train")
    assert text.code == 0 and "train:" in text.out
    assert "train.optim.lr" in cli("schema", "rtdetr", "train").out


def test_validate_json_ok_and_error_documents(cli, sdg) -> None:
    ok = cli("validate", "rtdetr", "train", *seed_train_overrides(sdg), "--json")
    assert ok.code == 0, ok.out
    doc = ok.json()
    assert doc["ok"] is True and doc["errors"] == []
    assert doc["spec"]["dataset"]["num_classes"] == 3
    bad = cli("validate", "rtdetr", "train", *seed_train_overrides(sdg), "train.num_epochs=0", "--json")
    assert bad.code == 2
    doc = bad.json()
    assert doc["ok"] is False and [e["path"] for e in doc["errors"]] == ["train.num_epochs"]


def test_bad_override_word_is_a_usage_error(cli) -> None:
    res = cli("validate", "rtdetr", "train", "train.num_epochs", "--json")
    assert res.code == 2 and "key=value" in res.json()["message"]


def test_tao_fixture_loads_with_a_warning(cli) -> None:
    res = cli("--skills-dir", TAO_BANK, "list", "--json")
    assert res.code == 0, res.err
    data = res.json()
    skills = {s["name"]: s for s in data["skills"]}
    assert skills["tao-train-boxnet"]["engine"] == "tao" and skills["tao-train-boxnet"]["guidance_only"] is False
    assert skills["tao-boxnet-guide"]["guidance_only"] is True and skills["tao-boxnet-guide"]["actions"] == []
    # list summarises the skills' warnings into one problem, naming the skills that carry them
    assert [p["code"] for p in data["problems"]] == ["warnings"], data["problems"]
    summary = data["problems"][0]
    assert summary["severity"] == "warning" and "tao-train-boxnet" in summary["message"] and "tao-boxnet-guide" in summary["message"]
    assert "skillrun show" in summary["hint"]
    # show lists the skill's own: TAO's `tags` frontmatter field is the extra_frontmatter warning
    shown = cli("--skills-dir", TAO_BANK, "show", "tao-train-boxnet", "--json")
    assert shown.code == 0, shown.err
    doc = shown.json()
    tags = [w for w in doc["warnings"] if w["code"] == "extra_frontmatter"]
    assert len(tags) == 1 and tags[0]["path"].endswith("tao-train-boxnet/SKILL.md: tags") and tags[0]["severity"] == "warning"
    assert doc["frontmatter"]["tags"] == ["detection", "tao"]
    assert all(w["severity"] == "warning" for w in doc["warnings"])


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--json"],
        ["validate", "rtdetr", "train", "-e", "examples/rtdetr_train.yaml", "--json"],
        ["show", "rtdetr", "--json"],
        ["plan", "rtdetr", "train", "-e", "examples/rtdetr_train.yaml", "--automl", "off", "train.num_gpus=2", "train.gpu_ids=[0,1]", "--json"],
        ["jobs", "--json"],
        ["route", "train RT-DETR on my COCO data on 4 GPUs, no HPO", "--json"],
        ["describe", "rtdetr", "--json"],
    ],
)
def test_control_plane_never_imports_torch(args: list[str]) -> None:
    res, loaded = cli_imports(args)
    assert res.code == 0, res.err
    assert loaded == [], res.err
    json.loads(res.out)


def test_cold_start_cli_emits_only_json_on_stdout() -> None:
    res = run_skillrun("validate", "rtdetr", "train", "-e", "examples/rtdetr_train.yaml", "--json", cwd=REPO)
    assert res.code == 0, res.err
    assert res.json()["ok"] is True


def test_help_documents_exit_codes(cli) -> None:
    res = cli("--help")
    assert res.code == 0
    for line in ("0  ok", "2  usage or spec error", "3  resolution error", "4  backend unavailable"):
        assert line in res.out
