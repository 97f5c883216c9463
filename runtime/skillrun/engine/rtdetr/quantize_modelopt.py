"""``rtdetr quantize`` with ``backend: modelopt``: per-layer INT8 / FP8 through NVIDIA ModelOpt.

ModelOpt quantizes the PyTorch model (fake quantization: quantize-dequantize in the forward
pass, so it runs on CPU too), calibrated with max statistics on the calibration images.
``quantize.layers`` maps onto ModelOpt's ``quant_cfg`` in order (later entries win): the
``module_name`` glob picks the modules, ``weights`` / ``activations`` set their weight and
input quantizers (int8: 8 bits, per output channel for weights; float8_e4m3fn: E4M3 per
tensor; native: disabled). BatchNorm stays float, as in ModelOpt's defaults.

The report compares the fake-quantized PyTorch model with the float one on
``dataset.val_data_sources`` (same COCO evaluation as evaluate). The ONNX written holds
Q/DQ pairs: INT8 ones run in ONNX Runtime; FP8 ones are TensorRT operators, so an FP8 model
runs only on TensorRT (``deploy`` on a GPU machine) and the report says so.

The model comes from a checkpoint: ``quantize.model_path`` is a ``.pth``, or an export's ONNX
whose sidecar names the checkpoint it was exported from.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from skillrun.engine.rtdetr.quantize import DEFAULT_LAYERS, FP8, QuantizeError, write_report
from skillrun.record_io import atomic_write_text
from skillrun.results.status import StatusWriter

INSTALL_HINT = "ModelOpt is not installed: pip install nvidia-modelopt (or use quantize.backend=onnxruntime for INT8)"
FP8_NOTE = "FP8 Q/DQ nodes are TensorRT operators: this ONNX runs on TensorRT only (deploy it on a machine with an NVIDIA GPU and TensorRT); the mAP is the fake-quantized PyTorch model's"


def run_modelopt(spec: dict[str, Any], out: Path) -> int:
    q, ds = spec["quantize"], spec["dataset"]
    layers = q.get("layers") or DEFAULT_LAYERS
    status = StatusWriter(out)
    try:
        import modelopt.torch.quantization as mtq
    except ImportError:
        status.write("FAILURE", INSTALL_HINT, error_class="ModuleNotFoundError")
        raise QuantizeError(INSTALL_HINT) from None
    import torch

    from skillrun.engine.rtdetr import export
    from skillrun.engine.rtdetr.quantize import calibration_reader, evaluate_runner, graph_io
    from skillrun.engine.rtdetr.runner import TorchRunner, measure_latency

    checkpoint = checkpoint_of(Path(q["model_path"]))
    status.write("STARTED", f"ModelOpt quantization of {checkpoint} ({', '.join(describe(layers))})")
    wrapper, ckpt, class_map, num_select, letterbox = export.load_for_export(checkpoint, "postprocessed")
    size = (ds.get("augmentation") or {}).get("eval_spatial_size") or export._get(ckpt.get("spec"), "dataset", "augmentation", "eval_spatial_size") or [640, 640]
    h, w = int(size[0]), int(size[1])
    ex = {"checkpoint": str(checkpoint), "input_height": h, "input_width": w, "opset_version": 17, "batch_size": -1, "output_format": "postprocessed"}
    fp8 = any(FP8 in (str((layer.get(k) or {}).get("dtype")) for k in ("weights", "activations")) for layer in layers)
    out.mkdir(parents=True, exist_ok=True)
    name = f"{checkpoint.stem}_{'fp8' if fp8 else 'int8'}.onnx"
    with tempfile.TemporaryDirectory(dir=out, prefix=".work-") as scratch:
        sidecar = export.build_sidecar(ckpt, class_map, ex, num_select=num_select, letterbox=letterbox, onnx_file=Path(scratch) / name)
        io = graph_io(sidecar)
        model = wrapper.model
        float_row = evaluate_runner(TorchRunner(model), ds, io)
        float_row["latency_ms"] = measure_latency(TorchRunner(model), batch=1, height=h, width=w)
        reader = calibration_reader(ds, io, batches=int(q.get("calibration_batches", 16)))

        def forward_loop(m: Any) -> None:
            while (feeds := reader.get_next()) is not None:
                m(pixel_values=torch.from_numpy(feeds["images"]))

        with torch.no_grad():
            mtq.quantize(model, modelopt_config(mtq, layers), forward_loop)
        quant_row = evaluate_runner(TorchRunner(model), ds, io)
        quant_row["latency_ms"] = measure_latency(TorchRunner(model), batch=1, height=h, width=w)
        tmp = Path(scratch) / name
        export.export_onnx(wrapper, tmp, height=h, width=w, opset=17, batch_size=-1, output_format="postprocessed")
        final = out / name
        os.replace(tmp, final)
    f, qr = float_row, quant_row
    report = {"backend": "modelopt", "model_path": str(q["model_path"]), "checkpoint": str(checkpoint), "quantized_model": str(final), "layers": layers,
              "mAP_fp32": f["mAP"], "mAP_quantized": qr["mAP"], "mAP_delta": qr["mAP"] - f["mAP"], "mAP50_fp32": f["mAP50"], "mAP50_quantized": qr["mAP50"],
              "size_mb_fp32": round(sum(p.numel() * 4 for p in model.parameters()) / 2**20, 3), "size_mb_quantized": round(final.stat().st_size / 2**20, 3),
              "latency_ms_fp32": round(f["latency_ms"], 3), "latency_ms_quantized": round(qr["latency_ms"], 3),
              "latency": "PyTorch CPU fake quantization, batch 1 (simulates the numerics, not the speed of int8/fp8 kernels)",
              "calibration": reader.summary(), "runs_on": "tensorrt" if fp8 else "onnxruntime, tensorrt", "note": FP8_NOTE if fp8 else None,
              "models": {"fp32": f, "quantized": qr}}
    side = {**sidecar, "onnx_file": final.name, "quantization": {"backend": "modelopt", "layers": layers, "runs_on": report["runs_on"], "source": str(checkpoint)}}
    atomic_write_text(final.with_suffix(".json"), json.dumps(side, indent=2) + "\n")
    write_report(out, report)
    kpi = {k: report[k] for k in ("mAP_fp32", "mAP_quantized", "mAP_delta", "size_mb_quantized")}
    status.write("SUCCESS", f"{final.name}: mAP {qr['mAP']:.4f} vs float {f['mAP']:.4f} ({report['mAP_delta']:+.4f})" + (f"; {FP8_NOTE}" if fp8 else ""), kpi=kpi)
    return 0


def checkpoint_of(path: Path) -> Path:
    """The checkpoint to quantize: the path itself, or the one an export's sidecar names."""
    if path.suffix != ".onnx":
        return path
    side = path.with_suffix(".json")
    src = json.loads(side.read_text(encoding="utf-8")).get("source", {}).get("checkpoint") if side.is_file() else None
    if not src or not Path(src).is_file():
        msg = (f"quantize.model_path={path}: quantize.backend=modelopt quantizes the PyTorch model, and the checkpoint this ONNX was exported from "
               f"({src or 'not recorded: no sidecar'}) is not available; pass the checkpoint (--parent TRAIN_JOB) instead")
        raise QuantizeError(msg)
    return Path(src)


def describe(layers: list[dict[str, Any]]) -> list[str]:
    return [f"{layer.get('module_name', '*')}: w {(layer.get('weights') or {}).get('dtype', 'int8')}, a {(layer.get('activations') or {}).get('dtype', 'int8')}" for layer in layers]


def _pattern(glob: str, kind: str) -> str:
    """``model.decoder.*`` + weight -> ``model.decoder.*weight_quantizer``; ``*`` -> ``*weight_quantizer``."""
    return f"{glob}{kind}_quantizer" if glob.endswith("*") else f"{glob}.{kind}_quantizer"


def modelopt_config(mtq: Any, layers: list[dict[str, Any]]) -> dict[str, Any]:
    """ModelOpt's ``quant_cfg`` list for ``quantize.layers`` (everything off, then each entry in order, BatchNorm off)."""
    base = copy.deepcopy(mtq.INT8_DEFAULT_CFG)
    entries: list[dict[str, Any]] = [{"quantizer_name": "*", "enable": False}]
    for layer in layers:
        glob = str(layer.get("module_name", "*"))
        for kind, key in (("weight", "weights"), ("input", "activations")):
            dtype = str((layer.get(key) or {}).get("dtype", "int8"))
            name = _pattern(glob, kind)
            if dtype == "native":
                entries.append({"quantizer_name": name, "enable": False})
            elif dtype == "int8":
                entries.append({"quantizer_name": name, "cfg": {"num_bits": 8, "axis": 0 if kind == "weight" else None}, "enable": True})
            else:
                entries.append({"quantizer_name": name, "cfg": {"num_bits": (4, 3), "axis": None}, "enable": True})
    entries += [e for e in base["quant_cfg"] if isinstance(e, dict) and e.get("parent_class")]
    return {"quant_cfg": entries, "algorithm": base.get("algorithm", "max")}
