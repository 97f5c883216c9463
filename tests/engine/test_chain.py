"""The main job as a user types it: train → evaluate → inference → export (parity), chained with --parent."""

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

    return generate_coco(tmp_path_factory.mktemp("chain-data"), splits={"train": 8, "val": 4}, image_size=(64, 64), seed=5)


def test_train_evaluate_inference_export_chain(cli: Any, data: Any, _isolated_home: Path) -> None:
    tr, va = data.splits["train"], data.splits["val"]
    common = ["dataset.workers=0", "dataset.batch_size=4", "dataset.augmentation.eval_spatial_size=[64,64]"]
    train = cli(
        "run", "rtdetr", "train", "-e", str(REPO / "examples" / "rtdetr_tiny_cpu.yaml"), "--automl", "off", "--json",
        f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]",
        f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}",
        "train.num_epochs=2", "train.checkpoint_interval=1", "train.validation_interval=1",
        "model.num_queries=20", "model.num_select=20", "model.num_denoising=10",
        "dataset.augmentation.train_spatial_size=[64,64]", *common,
    )  # fmt: skip
    assert train.code == 0, train.out
    rec = train.json()["job"]
    folder = Path(rec["results_dir"]) / "train"
    assert sorted(p.name for p in folder.glob("model_epoch_*.pth")) == ["model_epoch_000.pth", "model_epoch_001.pth"]
    events = [json.loads(line) for line in (folder / "status.json").read_text().splitlines()]
    kpis = [e for e in events if e.get("kpi", {}).get("val_mAP") is not None]
    assert [e["epoch"] for e in kpis] == [0, 1] and {"AP_pallet", "AP_box", "AP_cone"} <= set(kpis[-1]["kpi"])
    assert "best_val_mAP" in rec["metrics"] and (folder / "metrics.jsonl").is_file()

    ev = cli("run", "rtdetr", "evaluate", "--parent", rec["id"], "--json", f"dataset.test_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}", *common)
    assert ev.code == 0, ev.out
    ev_rec = ev.json()["job"]
    assert ev_rec["parent"]["job_id"] == rec["id"] and ev_rec["parent"]["selector"] == "best"
    assert ev_rec["parent"]["resolved"]["evaluate.checkpoint"].endswith(".pth")
    metrics = json.loads((Path(ev_rec["results_dir"]) / "evaluate" / "metrics.json").read_text())
    assert 0.0 <= metrics["mAP"] <= 1.0 and {r["category_id"] for r in metrics["per_class"]} == {201, 305, 412}
    assert ev_rec["metrics"]["mAP"] == metrics["mAP"]

    inf = cli("run", "rtdetr", "inference", "--parent", f"{rec['id']}:latest", "--json", f"dataset.infer_data_sources={{image_dir: [{va.image_dir}]}}", "inference.conf_threshold=0.0", *common)
    assert inf.code == 0, inf.out
    inf_dir = Path(inf.json()["job"]["results_dir"]) / "inference"
    preds = json.loads((inf_dir / "predictions.json").read_text())
    assert preds and {p["category_id"] for p in preds} <= {201, 305, 412}
    assert {p["file_name"] for p in preds} <= {p.name for p in Path(va.image_dir).iterdir()}
    assert len(list((inf_dir / "images").iterdir())) == 4

    ex = cli("run", "rtdetr", "export", "--parent", f"{rec['id']}:epoch=0", "--json", "export.input_height=64", "export.input_width=64")
    assert ex.code == 0, ex.out
    ex_rec = ex.json()["job"]
    out = Path(ex_rec["results_dir"]) / "export"
    parity = json.loads((out / "onnx_parity.json").read_text())
    assert parity["passed"] is True
    onnx_files = list(out.glob("*.onnx"))
    assert len(onnx_files) == 1 and ex_rec["parent"]["resolved"]["export.checkpoint"].endswith("model_epoch_000.pth")
    # an export job is a parent too: its one ONNX model is what --parent yields
    plan = cli("plan", "rtdetr", "deploy", "--parent", ex_rec["id"], "--json", "--no-data")
    if plan.code == 0:
        assert plan.json()["spec"]["deploy"]["onnx_file"] == str(onnx_files[0])
