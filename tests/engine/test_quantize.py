"""``rtdetr quantize``: INT8 in ONNX Runtime within a stated mAP tolerance of fp32; ModelOpt or its absence said clearly."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from skillrun.engine.rtdetr import export, quantize  # noqa: E402
from tests.engine.conftest import SIZE, Trained, one_thread  # noqa: E402

#: INT8 may cost at most this much COCO mAP (absolute, 0..1) on the 16 generated val images
MAP_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def exported(trained: Trained) -> Path:
    res = trained.root / "export-job"
    onnx_file = res / "export" / "model.onnx"
    if not onnx_file.exists():
        ex = {"checkpoint": str(trained.checkpoint), "onnx_file": str(onnx_file), "input_height": SIZE, "input_width": SIZE,
              "opset_version": 17, "batch_size": -1, "output_format": "postprocessed", "verify_parity": False}
        assert export.run({"results_dir": str(res), "export": ex}, res / "export") == 0
    return onnx_file


def _spec(trained: Trained, results: Path, model_path: Path, **q: Any) -> dict[str, Any]:
    ds = {"quant_calibration_data_sources": trained.train, "val_data_sources": trained.val, "batch_size": 4, "workers": 0,
          "augmentation": {"eval_spatial_size": [SIZE, SIZE]}}
    return {"results_dir": str(results), "dataset": ds, "quantize": {"model_path": str(model_path), "calibration_batches": 4, "per_channel": True, **q}}


def test_int8_runs_in_onnxruntime_within_tolerance(trained: Trained, exported: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    out = tmp_path / "quantize"
    assert quantize.run(_spec(trained, tmp_path, exported), out) == 0
    onnx_files = list(out.glob("*.onnx"))
    assert [p.name for p in onnx_files] == ["model_int8.onnx"]  # exactly one: --parent QUANTIZE_JOB picks it
    report = json.loads((out / "report.json").read_text())
    print(f"\nquantize: mAP fp32 {report['mAP_fp32']:.4f} -> int8 {report['mAP_quantized']:.4f} ({report['mAP_delta']:+.4f}), "
          f"{report['size_mb_fp32']} -> {report['size_mb_quantized']} MB, {report['latency_ms_fp32']} -> {report['latency_ms_quantized']} ms/image")
    assert report["mAP_fp32"] > 0.02  # the model has learned something, so the comparison means something
    assert abs(report["mAP_delta"]) <= MAP_TOLERANCE
    assert report["size_mb_quantized"] < report["size_mb_fp32"] / 2
    graph = onnx.load(str(onnx_files[0])).graph
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    excluded = report["excluded"]
    assert excluded["activation_matmul"] and all("self_attn/MatMul" in n for n in excluded["activation_matmul"])
    assert any("class_embed" in n for n in excluded["head"]) and any("bbox_embed" in n for n in excluded["head"])
    side = json.loads((out / "model_int8.json").read_text())
    assert side["quantization"]["backend"] == "onnxruntime" and side["onnx_file"] == "model_int8.onnx"
    sess = ort.InferenceSession(str(onnx_files[0]), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["labels", "boxes", "scores"]
    assert not list(out.glob(".work-*"))


def test_native_layers_stay_float(trained: Trained, exported: Path) -> None:
    plan = quantize.exclusions(exported, [{"module_name": "*"}, {"module_name": "model.decoder.*", "weights": {"dtype": "native"}, "activations": {"dtype": "native"}}])
    assert plan["native"] and all(quantize.module_path(n).startswith("model.decoder") for n in plan["native"])
    assert quantize.module_path("/model/model/decoder/layers.0/self_attn/MatMul") == "model.decoder.layers.0.self_attn"


def test_a_checkpoint_is_exported_first(trained: Trained, tmp_path: Path) -> None:
    onnx_file, side = quantize.source_onnx(trained.checkpoint, {"augmentation": {"eval_spatial_size": [SIZE, SIZE]}}, tmp_path)
    assert onnx_file.parent == tmp_path and side["inputs"][0]["shape"] == ["batch", 3, SIZE, SIZE]
    assert quantize.graph_io(side)["class_map"].category_ids == (201, 305, 412)
    with pytest.raises(quantize.QuantizeError, match="no sidecar"):
        quantize.source_onnx(onnx_file.with_name("elsewhere.onnx"), {}, tmp_path)


def test_fp8_with_onnxruntime_is_refused() -> None:
    with pytest.raises(quantize.QuantizeError, match=r"quantize.layers\[0\].weights.dtype='float8_e4m3fn'.*quantize.backend=modelopt"):
        quantize.check_layers_for_ort([{"module_name": "*", "weights": {"dtype": "float8_e4m3fn"}, "activations": {"dtype": "float8_e4m3fn"}}])


def test_modelopt_missing_says_how_to_install(trained: Trained, exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_modelopt(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("modelopt"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_modelopt)
    with pytest.raises(quantize.QuantizeError, match="ModelOpt is not installed: pip install nvidia-modelopt"):
        quantize.run(_spec(trained, tmp_path, exported, backend="modelopt"), tmp_path / "quantize")
    assert "ModelOpt is not installed" in (tmp_path / "quantize" / "status.json").read_text()
    assert not list((tmp_path / "quantize").glob("*.onnx"))


@pytest.mark.skipif(importlib.util.find_spec("modelopt") is None, reason="nvidia-modelopt is not installed")
def test_modelopt_int8_from_the_export_sidecar_checkpoint(trained: Trained, exported: Path, tmp_path: Path) -> None:
    out = tmp_path / "quantize"
    layers = [{"module_name": "*", "weights": {"dtype": "int8"}, "activations": {"dtype": "int8"}},
              {"module_name": "*class_embed*", "weights": {"dtype": "native"}, "activations": {"dtype": "native"}}]
    with one_thread():
        assert quantize.run(_spec(trained, tmp_path, exported, backend="modelopt", layers=layers, calibration_batches=1), out) == 0
    report = json.loads((out / "report.json").read_text())
    print(f"\nmodelopt int8: mAP {report['mAP_fp32']:.4f} -> {report['mAP_quantized']:.4f}")
    assert report["checkpoint"] == str(trained.checkpoint) and abs(report["mAP_delta"]) <= MAP_TOLERANCE
    assert [p.name for p in out.glob("*.onnx")] == ["model_epoch_049_int8.onnx"]


def test_missing_calibration_data_fails_validation(cli: Any, trained: Trained, exported: Path) -> None:
    res = cli("validate", "rtdetr", "quantize", "--json", "results_dir=/tmp/unused", f"quantize.model_path={exported}",
              f"dataset.val_data_sources={{image_dir: {trained.val['image_dir']}, json_file: {trained.val['json_file']}}}")
    assert res.code == 2, res.out
    assert "dataset.quant_calibration_data_sources.image_dir" in {e["path"] for e in res.json()["errors"]}
    res = cli("validate", "rtdetr", "quantize", "--no-data", "--json", "results_dir=/tmp/unused", f"quantize.model_path={exported}",
              "dataset.quant_calibration_data_sources={image_dir: /a, json_file: /b}", "dataset.val_data_sources={image_dir: /a, json_file: /b}",
              "quantize.layers=[{module_name: '*', weights: {dtype: float8_e4m3fn}, activations: {dtype: float8_e4m3fn}}]")
    assert res.code == 2 and {e["path"] for e in res.json()["errors"]} == {"quantize.layers"}
