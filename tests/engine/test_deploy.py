"""``rtdetr deploy``: the ONNX Runtime engine evaluates like PyTorch; TensorRT's absence is said, not hidden."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from skillrun.engine.rtdetr import deploy, evaluate, trt  # noqa: E402
from tests.engine.conftest import SIZE, Trained  # noqa: E402
from tests.engine.test_quantize import exported  # noqa: E402, F401 - the module fixture

#: COCO mAP of the ONNX Runtime engine and of the PyTorch checkpoint may differ by at most this
PARITY_TOLERANCE = 1e-3


def _data(trained: Trained) -> dict[str, Any]:
    return {"test_data_sources": trained.val, "infer_data_sources": {"image_dir": [trained.val["image_dir"]]}, "batch_size": 4, "workers": 0,
            "augmentation": {"eval_spatial_size": [SIZE, SIZE]}}


def _deploy(trained: Trained, results: Path, onnx_file: Path, **dep: Any) -> Path:
    spec = {"results_dir": str(results), "dataset": _data(trained), "inference": {"conf_threshold": 0.2, "save_images": True},
            "deploy": {"onnx_file": str(onnx_file), "runtime": "auto", "data_type": "fp32", "max_batch_size": 4, "run_evaluate": True, "run_inference": True, **dep}}
    assert deploy.run(spec, results / "deploy") == 0
    return results / "deploy"


def test_deploy_evaluate_equals_pytorch_evaluate(trained: Trained, exported: Path, tmp_path: Path) -> None:
    out = _deploy(trained, tmp_path / "dep", exported)
    ev = tmp_path / "ev" / "evaluate"
    assert evaluate.run({"results_dir": str(tmp_path / "ev"), "dataset": _data(trained), "evaluate": {"checkpoint": str(trained.checkpoint)}}, ev) == 0
    got, ref = json.loads((out / "metrics.json").read_text()), json.loads((ev / "metrics.json").read_text())
    print(f"\ndeploy (onnxruntime) mAP {got['mAP']:.5f} mAP50 {got['mAP50']:.5f}; PyTorch evaluate mAP {ref['mAP']:.5f} mAP50 {ref['mAP50']:.5f}")
    assert ref["mAP"] > 0.02
    for key in ("mAP", "mAP50", "mAP75"):
        assert got[key] == pytest.approx(ref[key], abs=PARITY_TOLERANCE)
    assert [r["category_id"] for r in got["per_class"]] == [r["category_id"] for r in ref["per_class"]]
    assert {p.name for p in out.iterdir()} >= {"manifest.json", "model.ort.onnx", "metrics.json", "per_class_ap.txt", "detections.json", "predictions.json", "images"}
    assert len(list((out / "images").iterdir())) == 16
    preds = json.loads((out / "predictions.json").read_text())
    assert preds and all(p["score"] > 0.2 and p["category_id"] in (201, 305, 412) for p in preds)


def test_manifest_has_what_isaac_ros_needs(trained: Trained, exported: Path, tmp_path: Path) -> None:
    out = _deploy(trained, tmp_path, exported, runtime="tensorrt", run_evaluate=False, run_inference=False)
    m = json.loads((out / "manifest.json").read_text())
    available, reason = trt.availability()
    assert m["tensorrt"]["available"] is available and m["tensorrt"]["build_command"].startswith("trtexec --onnx=")
    if not available:  # asked for TensorRT where it cannot run: the ORT engine, and why, in the manifest and the status
        assert m["engine"]["runtime"] == "onnxruntime" and m["tensorrt"]["reason"] == reason
        assert "TensorRT is not available here" in (out / "status.json").read_text()
    assert [i["name"] for i in m["inputs"]] == ["images", "orig_target_sizes"] and [o["name"] for o in m["outputs"]] == ["labels", "boxes", "scores"]
    assert m["outputs"][0]["dtype"] == "int64" and m["preprocessing"]["mean"] is None and m["preprocessing"]["rescale"] == pytest.approx(1 / 255)
    assert [c["category_id"] for c in m["class_labels"]] == [201, 305, 412]
    ros = m["isaac_ros"]
    assert ros["launch_arguments"]["input_binding_names"] == ["images", "orig_target_sizes"]
    assert not ros["compatible"] and any("640x640" in i for i in ros["issues"])  # a 64 px model, said plainly
    assert m["latency_ms"]["batch_1"] > 0 and Path(m["engine"]["path"]).is_file()
    if m["engine"]["runtime"] == "onnxruntime":  # the fp32 graph was simplified first (no leftover temporary file)
        slim = m["engine"]["build"]["simplified"]
        assert slim["tool"].startswith("onnxslim") and 0 < slim["nodes_after"] < slim["nodes_before"]
        assert not list(out.glob(".*"))


def test_int8_needs_a_quantized_model(trained: Trained, exported: Path, tmp_path: Path) -> None:
    spec = {"results_dir": str(tmp_path), "deploy": {"onnx_file": str(exported), "data_type": "int8"}}
    with pytest.raises(deploy.DeployError, match="deploy.data_type=int8 needs a quantized"):
        deploy.run(spec, tmp_path / "deploy")
    assert not (tmp_path / "deploy").exists()


def test_evaluate_without_test_data_fails_validation(cli: Any, exported: Path) -> None:
    res = cli("validate", "rtdetr", "deploy", "--no-data", "--json", "results_dir=/tmp/unused", f"deploy.onnx_file={exported}", "deploy.run_evaluate=true")
    assert res.code == 2
    assert {e["path"] for e in res.json()["errors"]} == {"dataset.test_data_sources"}
