"""describe, doctor and structured --json errors: what an agent reads to build a call and to fix one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import cli_imports

ERROR_KEYS = {"error", "code", "message", "path", "value", "allowed", "suggestion", "exit_code"}


def test_describe_action_gives_everything_to_build_a_call(cli: Any) -> None:
    res = cli("describe", "rtdetr", "evaluate", "--json")
    assert res.code == 0, res.err
    doc = res.json()
    act = doc["actions"]["evaluate"]
    assert list(doc["actions"]) == ["evaluate"] and doc["kind"] == "model"
    who = {r["path"]: r["filled_by"] for r in act["required"]}
    assert who == {"dataset.test_data_sources.image_dir": "data_source", "dataset.test_data_sources.json_file": "data_source", "evaluate.checkpoint": "parent"}
    assert act["parent"]["required"] is True and act["parent"]["spec_keys"] == {"evaluate.checkpoint": "parent_model"}
    assert act["data_sources"][0]["spec_key"] == "dataset.test_data_sources"
    batch = next(p for p in act["popular"] if p["path"] == "dataset.batch_size")
    assert batch["default"] == 4 and batch["minimum"] == 1 and batch["shorthand"] == "batch_size"
    assert [e.split()[1] for e in act["examples"]] == ["validate", "plan", "run"]
    assert "--parent JOB_ID" in act["examples"][2] and "dataset.test_data_sources={image_dir: " in act["examples"][2]


def test_describe_train_says_automl_and_bounds(cli: Any) -> None:
    act = cli("describe", "rtdetr", "train", "--json").json()["actions"]["train"]
    assert act["automl"]["applies"] is True and "--automl off" in act["automl"]["turn_off"]
    lr = next(p for p in act["popular"] if p["path"] == "train.optim.lr")
    assert lr["maximum"] == 1.0 and lr["default"] == 0.0001 and lr["shorthand"] == "lr"
    assert act["resources"] == {"processes": "train.num_gpus", "nodes": "train.num_nodes"}
    assert act["parent"] is None and "--automl off" in act["examples"][1]


def test_describe_examples_are_valid_commands(cli: Any, tmp_path: Any) -> None:
    """The validate example, placeholders filled in, passes validation as written."""
    ex = cli("describe", "dataset-convert", "coco-to-yolo", "--json").json()["actions"]["coco-to-yolo"]["examples"][0]
    args = ex.replace("/path/to/input", str(tmp_path / "in.json")).replace("/path/to/output", str(tmp_path / "labels")).split()[1:]
    res = cli(*args[:-1], "--no-data", "--json")
    assert res.code == 0, res.out


def test_describe_whole_skill(cli: Any) -> None:
    doc = cli("describe", "dataset-convert", "--json").json()
    assert set(doc["actions"]) == {"kitti-to-coco", "yolo-to-coco", "jsonl-to-coco", "coco-to-jsonl", "coco-to-yolo"}
    assert "convert KITTI labels to COCO" in doc["triggers"]
    assert cli("describe", "dataset-convert").code == 0


def test_doctor_reports_capabilities_and_names_credentials_only(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-not-a-real-id-4711")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-never-printed")
    res = cli("doctor", "--json")
    assert res.code == 0, res.err
    doc = res.json()
    checks = {c["name"]: c for c in doc["checks"]}
    assert {"torch", "transformers", "cuda", "slurm", "docker", "s3", "workspace"} <= set(checks)
    assert set(doc["can_run"]) == {"control_plane", "cpu_engine", "gpu", "slurm", "docker", "s3", "mcp", "automl"}
    assert checks["s3"]["ok"] and "AWS_SECRET_ACCESS_KEY" in checks["s3"]["detail"]
    assert "s3cr3t" not in res.out and "AKIA-not" not in res.out
    if checks["torch"]["ok"]:
        assert checks["torch"]["version"]


def test_doctor_does_not_import_torch() -> None:
    res, loaded = cli_imports(["doctor", "--json"], ("torch", "transformers"))
    assert res.code == 0 and loaded == [], res.err
    json.loads(res.out)


@pytest.mark.parametrize(
    ("args", "code", "exit_code", "path"),
    [
        (["describe", "rtdeter"], "not_found", 3, "skill"),
        (["describe", "rtdetr", "evalute"], "not_found", 3, "action"),
        (["plan", "rtdetr", "train", "--automl", "maybe"], "bad_value", 2, "--automl"),
        (["route", "x", "--bogus"], "unknown_option", 2, "--bogus"),
        (["validate", "rtdetr", "train", "train.num_epoch=3", "--no-data"], "invalid_spec", 2, "train.num_epoch"),
        (["status", "no-such-job"], "not_found", 3, "job"),
        (["describe"], "missing", 2, "skill"),
    ],
)
def test_every_json_error_has_the_same_shape(cli: Any, args: list[str], code: str, exit_code: int, path: str) -> None:
    res = cli(*args, "--json")
    assert res.code == exit_code, res.out
    doc = res.json()
    assert ERROR_KEYS <= set(doc) and doc["code"] == code and doc["path"] == path and doc["exit_code"] == exit_code
    assert doc["message"] and doc["suggestion"], doc


def test_structured_error_details(cli: Any) -> None:
    skill = cli("describe", "rtdeter", "--json").json()
    assert skill["value"] == "rtdeter" and "rtdetr" in skill["allowed"] and "rtdetr" in skill["suggestion"]
    spec = cli("validate", "rtdetr", "train", "train.num_epoch=3", "--no-data", "--json").json()
    assert spec["value"] == 3 and spec["suggestion"] == "did you mean train.num_epochs?"
    assert all({"code", "path", "value", "allowed", "suggestion"} <= set(e) for e in spec["errors"])
    choice = cli("plan", "rtdetr", "train", "--automl", "maybe", "--json").json()
    assert choice["allowed"] == ["on", "off"]


def test_an_internal_error_is_json_too(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import skillrun.route

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("kaput")

    monkeypatch.setattr(skillrun.route, "route", boom)
    res = cli("route", "train rtdetr", "--json")
    doc = res.json()
    assert res.code == 1 and doc["code"] == "internal" and "RuntimeError: kaput" in doc["message"] and "SKILLRUN_DEBUG" in doc["suggestion"]
