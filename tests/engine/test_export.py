"""``rtdetr export`` (skillrun.engine.rtdetr.export): ONNX graph, sidecar, parity check, loud failure."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from skillrun.data.sdg import generate_coco  # noqa: E402
from skillrun.engine.rtdetr import export  # noqa: E402
from skillrun.engine.rtdetr.checkpoint import save_checkpoint  # noqa: E402
from skillrun.engine.rtdetr.classmap import ClassMap  # noqa: E402
from skillrun.engine.rtdetr.model import build_model, model_config  # noqa: E402
from skillrun.results.summary import read_status  # noqa: E402

SPEC_MODEL = {"backbone": "tiny", "version": "v2", "num_queries": 30, "num_select": 30, "num_denoising": 0}
CLASSES = ClassMap((201, 305, 412), ("pallet", "box", "cone"))
SIZE = 96


def _untrained_model(*, degenerate: bool = False) -> Any:
    """A freshly built tiny RT-DETR.

    HF's init leaves the hybrid encoder's output near zero (~1e-7), so every encoder score
    ties exactly and top-k query selection is arbitrary in each runtime: parity cannot hold.
    PyTorch's default layer init (``reset_parameters``) gives an untrained but non-degenerate model.
    """
    torch.manual_seed(0)
    model = build_model(model_config(SPEC_MODEL, len(CLASSES), CLASSES.id2label()))
    if not degenerate:
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return model.eval()


def _checkpoint(folder: Path, data: Path, *, degenerate: bool = False) -> Path:
    split = generate_coco(data, splits={"val": 4}, image_size=(SIZE, SIZE)).splits["val"]
    spec = {"model": SPEC_MODEL,
            "dataset": {"val_data_sources": {"image_dir": str(split.image_dir), "json_file": str(split.json_file)},
                        "augmentation": {"eval_spatial_size": [SIZE, SIZE], "preserve_aspect_ratio": False}}}
    model = _untrained_model(degenerate=degenerate)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"model": model.state_dict(), "ema": None, "model_config": model_config(SPEC_MODEL, 3, CLASSES.id2label()),
               "class_map": CLASSES.to_dict(), "spec": spec, "epoch": 0}
    return save_checkpoint(folder, 0, payload)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export-ckpt")
    return _checkpoint(root / "train", root / "data")


def _spec(results: Path, ckpt: Path, **export_opts: Any) -> dict[str, Any]:
    ex = {"checkpoint": str(ckpt), "onnx_file": str(results / "export" / "model.onnx"), "input_height": SIZE,
          "input_width": SIZE, "opset_version": 17, "batch_size": -1, "output_format": "postprocessed", "verify_parity": True}
    return {"results_dir": str(results), "export": {**ex, **export_opts}}


def _dims(values: Any) -> dict[str, list[Any]]:
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


def _run(tmp_path: Path, ckpt: Path, **opts: Any) -> tuple[Path, Path]:
    spec = _spec(tmp_path, ckpt, **opts)
    out = tmp_path / "export"
    assert export.run(spec, out) == 0
    return Path(spec["export"]["onnx_file"]), out


def test_postprocessed_export_with_dynamic_batch(tmp_path: Path, ckpt: Path) -> None:
    onnx_file, out = _run(tmp_path, ckpt)
    onnx.checker.check_model(str(onnx_file))
    graph = onnx.load(str(onnx_file)).graph
    assert _dims(graph.input) == {"images": ["batch", 3, SIZE, SIZE], "orig_target_sizes": ["batch", 2]}
    assert [o.name for o in graph.output] == ["labels", "boxes", "scores"]

    sidecar = json.loads(onnx_file.with_suffix(".json").read_text())
    assert sidecar["class_map"]["category_ids"] == [201, 305, 412]
    assert sidecar["class_map"]["names"] == ["pallet", "box", "cone"]
    assert sidecar["preprocessing"]["rescale"] == pytest.approx(1 / 255)
    assert sidecar["preprocessing"]["mean"] is None and sidecar["preprocessing"]["std"] is None
    assert sidecar["preprocessing"]["resize"]["mode"] == "stretch"
    assert sidecar["inputs"][1] == {**sidecar["inputs"][1], "name": "orig_target_sizes", "dtype": "int64", "order": "(w, h)"}
    assert [o["name"] for o in sidecar["outputs"]] == ["labels", "boxes", "scores"]
    assert sidecar["num_select"] == 30 and sidecar["opset_version"] == 17 and sidecar["batch"] == "batch"
    assert sidecar["model"]["backbone"] == "tiny" and sidecar["model"]["version"] == "v2"
    assert sidecar["source"]["checkpoint"] == str(ckpt.resolve())

    parity = json.loads((out / "onnx_parity.json").read_text())
    assert parity["passed"] is True, parity["failures"]
    assert parity["summary"]["match_rate"] == 1.0
    assert parity["summary"]["max_score_diff"] <= export.PARITY_MAX_SCORE_DIFF
    assert parity["summary"]["num_images"] == 4 and parity["image_source"].endswith("images")

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    labels, boxes, scores = session.run(None, {"images": np.random.rand(2, 3, SIZE, SIZE).astype(np.float32),
                                              "orig_target_sizes": np.array([[640, 480], [96, 96]], dtype=np.int64)})
    assert labels.shape == (2, 30) and labels.dtype == np.int64
    assert boxes.shape == (2, 30, 4) and boxes.dtype == np.float32
    assert scores.shape == (2, 30) and scores.dtype == np.float32
    assert labels.max() < 3 and np.all(np.diff(scores, axis=1) <= 0)
    assert boxes[0, :, 0::2].max() > SIZE  # scaled to the (w, h) = (640, 480) given, not the input size

    events = read_status(out)
    assert [e.status for e in events] == ["STARTED", "SUCCESS"]
    assert set(events[-1].kpi) == {"parity_max_score_diff", "parity_match_rate", "onnx_size_mb"}
    assert events[-1].kpi["parity_match_rate"] == 1.0


def test_raw_export_with_fixed_batch(tmp_path: Path, ckpt: Path) -> None:
    onnx_file, out = _run(tmp_path, ckpt, output_format="raw", batch_size=2, input_height=128, input_width=128)
    graph = onnx.load(str(onnx_file)).graph
    assert _dims(graph.input) == {"images": [2, 3, 128, 128]}
    assert _dims(graph.output) == {"logits": [2, 30, 3], "pred_boxes": [2, 30, 4]}
    sidecar = json.loads(onnx_file.with_suffix(".json").read_text())
    assert sidecar["output_format"] == "raw" and sidecar["batch"] == 2
    assert [i["name"] for i in sidecar["inputs"]] == ["images"]
    parity = json.loads((out / "onnx_parity.json").read_text())
    assert parity["passed"] is True and parity["summary"]["match_rate"] == 1.0
    assert parity["summary"]["num_images"] == 4  # the padded repeat of the last batch is not counted twice


def _perturb_after_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scale every float weight of the exported graph: a model that computes something else."""
    real = export.export_onnx

    def broken(wrapper: Any, path: Path, **kw: Any) -> None:
        real(wrapper, path, **kw)
        model = onnx.load(str(path))
        for init in model.graph.initializer:
            arr = onnx.numpy_helper.to_array(init)
            if arr.dtype == np.float32 and arr.size >= 16:
                init.CopyFrom(onnx.numpy_helper.from_array(arr * np.float32(1.2), init.name))
        onnx.save(model, str(path))

    monkeypatch.setattr(export, "export_onnx", broken)


def test_parity_failure_is_loud(tmp_path: Path, ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _perturb_after_export(monkeypatch)
    spec = _spec(tmp_path, ckpt)
    out = tmp_path / "export"
    with pytest.raises(export.ParityError, match="disagree"):
        export.run(spec, out)
    parity = json.loads((out / "onnx_parity.json").read_text())
    assert parity["passed"] is False and parity["failures"]
    assert parity["summary"]["max_score_diff"] > export.PARITY_MAX_SCORE_DIFF or parity["summary"]["match_rate"] < 1
    events = read_status(out)
    assert events[-1].status == "FAILURE" and events[-1].error_class == "ParityError"


def test_tied_encoder_scores_are_named_in_the_failure() -> None:
    """HF-initialised weights tie every encoder score: top-k then picks arbitrary queries per runtime."""
    x = torch.rand(2, 3, SIZE, SIZE)
    assert export._encoder_ties(_untrained_model(degenerate=True), x) == 1.0
    assert export._encoder_ties(_untrained_model(), x) < 0.5
    row = export.match_detections(*[{"scores": np.array([0.5]), "labels": np.array([k]), "boxes": np.array([[0.0, 0, 9, 9]])} for k in (0, 1)])
    report = export.summarize([{**row, "sorted_max_abs_diff": 0.0}], encoder_ties=1.0)
    assert report["passed"] is False and "tied" in report["hint"]
    assert export.summarize([{**row, "sorted_max_abs_diff": 0.0}])["hint"] is None


def test_letterbox_sidecar(ckpt: Path) -> None:
    from skillrun.engine.rtdetr.checkpoint import load_checkpoint

    raw = load_checkpoint(ckpt)
    ex = _spec(ckpt.parent, ckpt, input_height=128, input_width=160)["export"]
    side = export.build_sidecar(raw, CLASSES, ex, num_select=30, letterbox=True, onnx_file=Path(ex["onnx_file"]))
    resize = side["preprocessing"]["resize"]
    assert resize["mode"] == "letterbox" and resize["keep_aspect_ratio"] is True and resize["pad"] == "bottom-right"
    assert side["inputs"][0]["shape"] == ["batch", 3, 128, 160]
    assert "max(h, w)" in side["inputs"][1]["meaning"]


def test_options_are_checked(tmp_path: Path, ckpt: Path) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        export.run(_spec(tmp_path, ckpt, input_height=100), tmp_path / "export")
    with pytest.raises(ValueError, match="opset_version"):
        export.run(_spec(tmp_path, ckpt, opset_version=13), tmp_path / "export")


def test_matching_ignores_query_order() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 40], [5, 5, 30, 30]], dtype=np.float64)
    t = {"scores": np.array([0.9, 0.5, 0.5]), "labels": np.array([0, 1, 2]), "boxes": boxes}
    o = {"scores": t["scores"][[0, 2, 1]], "labels": t["labels"][[0, 2, 1]], "boxes": boxes[[0, 2, 1]]}
    row = export.match_detections(t, o)
    assert row["match_rate"] == 1.0 and row["max_score_diff"] == 0.0 and row["min_iou"] == 1.0
    o["labels"] = np.array([0, 1, 1])
    assert export.match_detections(t, o)["unmatched_torch"] == 1
