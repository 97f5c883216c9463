"""The deployment path as a user types it: train → distill → export → quantize → deploy, each with --parent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")

from tests.conftest import REPO  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from skillrun.data.sdg import generate_coco

    return generate_coco(tmp_path_factory.mktemp("deploy-chain-data"), splits={"train": 8, "val": 4}, image_size=(64, 64), seed=5)


def test_train_distill_export_quantize_deploy_chain(cli: Any, data: Any, _isolated_home: Path) -> None:
    tr, va = data.splits["train"], data.splits["val"]
    train_src = f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]"
    val_src = f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}"
    common = ["dataset.workers=0", "dataset.batch_size=4", "dataset.augmentation.eval_spatial_size=[64,64]"]
    small = ["model.num_queries=20", "model.num_select=20", "model.num_denoising=10", "dataset.augmentation.train_spatial_size=[64,64]",
             "dataset.augmentation.multi_scales=[]", "train.checkpoint_interval=1", "train.validation_interval=1"]
    train = cli("run", "rtdetr", "train", "-e", str(REPO / "examples" / "rtdetr_tiny_cpu.yaml"), "--automl", "off", "--json",
                train_src, val_src, "train.num_epochs=1", *small, *common)
    assert train.code == 0, train.out
    train_id = train.json()["job"]["id"]

    dist = cli("run", "rtdetr", "distill", "--parent", train_id, "--json", train_src, val_src, "model.backbone=tiny", "model.hidden_dim=32",
               "train.num_epochs=1", "train.optim.warmup_steps=2",
               "distill.bindings=[{student_module_name: srcs, teacher_module_name: srcs, criterion: IOU, weight: 1.0}, "
               "{student_module_name: logits, teacher_module_name: logits, criterion: KL, weight: 1.0}]", *small, *common)
    assert dist.code == 0, dist.out
    d_rec = dist.json()["job"]
    assert d_rec["parent"]["resolved"]["distill.pretrained_teacher_model_path"].endswith("model_epoch_000.pth")
    d_out = Path(d_rec["results_dir"]) / "distill"
    assert (d_out / "model_epoch_000.pth").is_file() and "val_mAP" in (d_out / "status.json").read_text()

    ex = cli("run", "rtdetr", "export", "--parent", d_rec["id"], "--json", "export.input_height=64", "export.input_width=64", "export.verify_parity=false")
    assert ex.code == 0, ex.out
    ex_rec = ex.json()["job"]
    assert ex_rec["parent"]["resolved"]["export.checkpoint"].startswith(str(d_out))

    q = cli("run", "rtdetr", "quantize", "--parent", ex_rec["id"], "--json", "quantize.calibration_batches=2", *common,
            f"dataset.quant_calibration_data_sources={{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}", val_src)
    assert q.code == 0, q.out
    q_rec = q.json()["job"]
    assert q_rec["parent"]["resolved"]["quantize.model_path"].endswith(".onnx")
    report = json.loads((Path(q_rec["results_dir"]) / "quantize" / "report.json").read_text())
    assert {"mAP_fp32", "mAP_quantized", "size_mb_quantized", "latency_ms_quantized"} <= set(report)

    dep = cli("run", "rtdetr", "deploy", "--parent", q_rec["id"], "--json", "deploy.run_evaluate=true", "deploy.data_type=int8",
              f"dataset.test_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}", *common)
    assert dep.code == 0, dep.out
    dep_rec = dep.json()["job"]
    assert dep_rec["parent"]["resolved"]["deploy.onnx_file"].endswith("_int8.onnx")
    out = Path(dep_rec["results_dir"]) / "deploy"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["quantized"] and manifest["engine"]["data_type"] == "int8"
    assert "simplified" not in manifest["engine"]["build"]  # a QDQ graph is deployed as quantize wrote it
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["mAP"] <= 1.0 and metrics["engine"]["runtime"] in ("onnxruntime", "tensorrt")
    assert dep_rec["metrics"].get("mAP") == pytest.approx(metrics["mAP"])
