"""``rtdetr quantize``: post-training quantization of an exported model, with its accuracy cost measured.

``backend: onnxruntime`` (default) - INT8 static quantization in ONNX Runtime: QDQ format,
per-channel int8 weights, uint8 activations calibrated (MinMax) on
``dataset.quant_calibration_data_sources``. Only the ops that carry weights (Conv, MatMul,
Gemm) are quantized; found by inspecting the graph, these stay in float:

* MatMuls whose two inputs are both activations (attention scores and attention x values):
  one int8 range cannot cover them and they hold no weights to compress;
* the detection heads, i.e. the last weighted op on every path back from a graph output (class
  scores and box regressions have wide ranges: quantizing them zeroed confidences, PITFALLS §8);
* whatever ``quantize.layers`` sets to ``native`` (globs over the PyTorch module path the
  exporter wrote into each node name, e.g. ``model.decoder.layers.0.*``).

``backend: modelopt`` - NVIDIA ModelOpt with the per-layer dtypes (int8, float8_e4m3fn), see
:mod:`skillrun.engine.rtdetr.quantize_modelopt`.

Input: ``quantize.model_path``, the ONNX of an export job (its sidecar JSON is required: it says
how to feed the graph), or a ``.pth`` checkpoint, exported here first. Output, in
``<results_dir>/quantize/``: ``<stem>_int8.onnx`` (the one ONNX model, so ``--parent`` picks it),
its sidecar, and ``report.json`` / ``metrics.json``: size, latency and mAP of fp32 vs quantized
on ``dataset.val_data_sources``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from onnxruntime.quantization import CalibrationDataReader

from skillrun.record_io import atomic_write_text
from skillrun.results.status import StatusWriter

WEIGHTED_OPS = ("Conv", "MatMul", "Gemm")
SHAPE_OPS = ("Shape", "Size")
DEFAULT_LAYERS = [{"module_name": "*", "weights": {"dtype": "int8"}, "activations": {"dtype": "int8"}}]
FP8 = "float8_e4m3fn"


class QuantizeError(ValueError):
    """A quantize spec this backend cannot honour (named path, value, what is allowed)."""


def run(spec: dict[str, Any], out: Path) -> int:
    q = spec["quantize"]
    layers = q.get("layers") or DEFAULT_LAYERS
    if q.get("backend", "onnxruntime") == "modelopt":
        from skillrun.engine.rtdetr.quantize_modelopt import run_modelopt

        return run_modelopt(spec, out)
    check_layers_for_ort(layers)
    status = StatusWriter(out)
    status.write("STARTED", f"INT8 static quantization (ONNX Runtime, QDQ) of {q['model_path']}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".work-") as scratch:
        work = Path(scratch)
        fp32, sidecar = source_onnx(Path(q["model_path"]), spec["dataset"], work)
        io = graph_io(sidecar)
        pre = preprocess(fp32, work / "pre.onnx")
        plan = exclusions(pre, layers)
        reader = calibration_reader(spec["dataset"], io, batches=int(q.get("calibration_batches", 16)))
        quantized = work / "quantized.onnx"
        quantize_ort(pre, quantized, reader, nodes_to_exclude=sorted(plan["excluded"]), per_channel=bool(q.get("per_channel", True)))
        final = out / f"{fp32.stem}_int8.onnx"
        os.replace(quantized, final)
        report = compare(fp32, final, spec["dataset"], io)
    report.update(backend="onnxruntime", model_path=str(q["model_path"]), quantized_model=str(final), calibration=reader.summary(),
                  excluded={k: sorted(v) for k, v in plan.items() if k != "excluded"}, quantized_ops=plan_counts(final))
    side = {**sidecar, "onnx_file": final.name, "quantization": {"backend": "onnxruntime", "format": "QDQ", "weights": "int8 per-channel" if q.get("per_channel", True) else "int8 per-tensor",
                                                                 "activations": "uint8", "excluded_nodes": len(plan["excluded"]), "source": str(q["model_path"])}}
    atomic_write_text(final.with_suffix(".json"), json.dumps(side, indent=2) + "\n")
    write_report(out, report)
    kpi = {k: report[k] for k in ("mAP_fp32", "mAP_quantized", "mAP_delta", "size_mb_fp32", "size_mb_quantized", "latency_ms_fp32", "latency_ms_quantized")}
    status.write("SUCCESS", f"{final.name}: mAP {report['mAP_quantized']:.4f} vs fp32 {report['mAP_fp32']:.4f} ({report['mAP_delta']:+.4f}), "
                            f"{report['size_mb_quantized']} MB vs {report['size_mb_fp32']} MB, {report['latency_ms_quantized']:.2f} vs {report['latency_ms_fp32']:.2f} ms/image", kpi=kpi)
    return 0


def check_layers_for_ort(layers: list[dict[str, Any]]) -> None:
    """The onnxruntime backend quantizes weights and activations of a node together, and only to int8."""
    problems = []
    for i, layer in enumerate(layers):
        w, a = _dtype(layer, "weights"), _dtype(layer, "activations")
        for kind, d in (("weights", w), ("activations", a)):
            if d == FP8:
                problems.append(f"quantize.layers[{i}].{kind}.dtype={d!r}: FP8 needs quantize.backend=modelopt (and TensorRT to run the FP8 model)")
        if FP8 not in (w, a) and w != a:
            problems.append(f"quantize.layers[{i}]: weights {w} with activations {a} is not possible with ONNX Runtime static quantization "
                            "(allowed: both int8 or both native); use quantize.backend=modelopt for weight-only quantization")
    if problems:
        raise QuantizeError("; ".join(problems))


def _dtype(layer: dict[str, Any], kind: str) -> str:
    return str((layer.get(kind) or {}).get("dtype", "int8"))


def source_onnx(path: Path, ds: dict[str, Any], work: Path) -> tuple[Path, dict[str, Any]]:
    """The fp32 ONNX to quantize and its sidecar; a checkpoint is exported (postprocessed, dynamic batch) first."""
    if path.suffix == ".onnx":
        side = path.with_suffix(".json")
        if not side.is_file():
            msg = f"quantize.model_path={path}: no sidecar {side.name} next to it (how to feed the graph, its classes); use an ONNX file from an export job"
            raise QuantizeError(msg)
        return path, json.loads(side.read_text(encoding="utf-8"))
    from skillrun.engine.rtdetr import export

    wrapper, ckpt, class_map, num_select, letterbox = export.load_for_export(path, "postprocessed")
    size = (ds.get("augmentation") or {}).get("eval_spatial_size") or export._get(ckpt.get("spec"), "dataset", "augmentation", "eval_spatial_size") or [640, 640]
    ex = {"checkpoint": str(path), "input_height": int(size[0]), "input_width": int(size[1]), "opset_version": 17, "batch_size": -1, "output_format": "postprocessed"}
    onnx_file = work / f"{path.stem}.onnx"
    export.export_onnx(wrapper, onnx_file, height=ex["input_height"], width=ex["input_width"], opset=17, batch_size=-1, output_format="postprocessed")
    return onnx_file, export.build_sidecar(ckpt, class_map, ex, num_select=num_select, letterbox=letterbox, onnx_file=onnx_file)


def graph_io(sidecar: dict[str, Any]) -> dict[str, Any]:
    """What feeding the graph needs: input size, fixed batch (or None), letterbox, classes, num_select."""
    from skillrun.engine.rtdetr.classmap import ClassMap

    shape = next(i["shape"] for i in sidecar["inputs"] if i["name"] == "images")
    cm = sidecar["class_map"]
    return {"height": int(shape[2]), "width": int(shape[3]), "batch": shape[0] if isinstance(shape[0], int) else None,
            "letterbox": sidecar["preprocessing"]["resize"]["mode"] == "letterbox", "class_map": ClassMap(tuple(cm["category_ids"]), tuple(cm["names"])),
            "num_select": int(sidecar.get("num_select") or 300), "postprocessed": sidecar.get("output_format", "postprocessed") == "postprocessed"}


def preprocess(src: Path, dst: Path) -> Path:
    """ORT's recommended pre-processing (shape inference, graph clean-up); the original graph if it fails."""
    from onnxruntime.quantization import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    except Exception as exc:  # noqa: BLE001 - optional step: quantizing the unprocessed graph is still correct
        print(f"quant_pre_process skipped ({type(exc).__name__}: {exc})", flush=True)
        return src
    return dst


def _constants(graph: Any) -> set[str]:
    """Tensor names that do not depend on a graph input: initializers and ops over them only."""
    const = {i.name for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" or (node.input and all(not n or n in const for n in node.input)):
            const.update(node.output)
    return const


def exclusions(model_path: Path, layers: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Node names to keep in float, by reason (``activation_matmul``, ``head``, ``native``) and all together (``excluded``)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    const = _constants(graph)
    weighted = [n for n in graph.node if n.op_type in WEIGHTED_OPS]
    act = {n.name for n in weighted if n.op_type in ("MatMul", "Gemm") and not any(i in const for i in n.input[:2])}
    producer = {o: n for n in graph.node for o in n.output}
    heads: set[str] = set()
    seen: set[str] = set()
    stack = [o.name for o in graph.output]
    while stack:  # walk back from the outputs; the first weighted op on each path is a head
        node = producer.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in WEIGHTED_OPS and node.name not in act:
            heads.add(node.name)
            continue
        if node.op_type in SHAPE_OPS:  # reads only the shape, not the values, of its input
            continue
        stack.extend(i for i in node.input if i and i not in const)
    native = {n.name for n in weighted if _layer_dtype(n.name, layers) == "native"}
    return {"activation_matmul": act, "head": heads, "native": native, "excluded": act | heads | native}


def module_path(node_name: str) -> str:
    """``/model/model/decoder/layers.0/self_attn/MatMul`` -> ``model.decoder.layers.0.self_attn`` (the PyTorch module path)."""
    parts = [p for p in node_name.strip("/").split("/") if p]
    if parts and parts[0] == "model":  # the export wrapper's attribute
        parts = parts[1:]
    return ".".join(parts[:-1])


def _layer_dtype(node_name: str, layers: list[dict[str, Any]]) -> str:
    """The weights dtype the last matching ``quantize.layers`` entry gives this node."""
    found = "int8"
    mod = module_path(node_name)
    for layer in layers:
        glob = str(layer.get("module_name", "*"))
        if fnmatch.fnmatchcase(mod, glob) or fnmatch.fnmatchcase(node_name, glob):
            found = _dtype(layer, "weights")
    return found


class CalibrationReader(CalibrationDataReader):
    """CalibrationDataReader over image folders, in the graph's batch (padded when the batch is fixed)."""

    def __init__(self, loader: Any, io: dict[str, Any], batches: int) -> None:
        self.loader, self.io, self.batches = loader, io, batches
        self._it: Any = None
        self.images = 0
        self.done = 0

    def get_next(self) -> dict[str, Any] | None:
        import numpy as np
        import torch

        if self._it is None:
            self._it = iter(self.loader)
        if self.done >= self.batches:
            return None
        try:
            pixels, metas = next(self._it)
        except StopIteration:
            return None
        self.done += 1
        self.images += pixels.shape[0]
        batch = self.io["batch"]
        if batch and pixels.shape[0] < batch:
            pixels = torch.cat([pixels, pixels[-1:].expand(batch - pixels.shape[0], -1, -1, -1)])
        feeds = {"images": np.ascontiguousarray(pixels.numpy().astype(np.float32))}
        if self.io["postprocessed"]:
            feeds["orig_target_sizes"] = np.array([[self.io["width"], self.io["height"]]] * pixels.shape[0], dtype=np.int64)
        return feeds

    def summary(self) -> dict[str, Any]:
        return {"batches": self.done, "images": self.images, "method": "MinMax"}


def calibration_reader(ds: dict[str, Any], io: dict[str, Any], *, batches: int) -> CalibrationReader:
    """Calibration images from ``dataset.quant_calibration_data_sources.image_dir`` (annotations are not needed)."""
    from skillrun.engine.rtdetr.data import ImageFolderDataset, build_loader
    from skillrun.engine.rtdetr.inference import _collate

    src = ds["quant_calibration_data_sources"]
    dataset = ImageFolderDataset(src["image_dir"], _eval_transforms(io))
    loader = build_loader(dataset, batch_size=int(io["batch"] or ds.get("batch_size", 4)), workers=0, shuffle=False, drop_last=False, collate_fn=_collate, seed=0)
    return CalibrationReader(loader, io, batches)


def _eval_transforms(io: dict[str, Any]) -> Any:
    from skillrun.engine.rtdetr.transforms import build_transforms

    return build_transforms({"eval_spatial_size": [io["height"], io["width"]], "preserve_aspect_ratio": io["letterbox"]}, train=False)


def quantize_ort(src: Path, dst: Path, reader: Any, *, nodes_to_exclude: list[str], per_channel: bool) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(str(src), str(dst), reader, quant_format=QuantFormat.QDQ, op_types_to_quantize=list(WEIGHTED_OPS), per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=nodes_to_exclude,
                    calibrate_method=CalibrationMethod.MinMax, extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})


def plan_counts(path: Path) -> dict[str, int]:
    """How many weighted ops the quantized graph computes on int8 inputs, and how many stayed float."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {o: n.op_type for n in graph.node for o in n.output}
    weighted = [n for n in graph.node if n.op_type in WEIGHTED_OPS]
    q = sum(1 for n in weighted if producer.get(n.input[0]) == "DequantizeLinear")
    return {"int8": q, "float": len(weighted) - q}


def val_loader(ds: dict[str, Any], io: dict[str, Any]) -> Any:
    from skillrun.engine.rtdetr.data import CocoDetection, build_loader, collate
    from skillrun.engine.rtdetr.evaluate import check_classes

    source = ds["val_data_sources"]
    check_classes(io["class_map"], source, ds)
    dataset = CocoDetection([source], io["class_map"], _eval_transforms(io))
    return build_loader(dataset, batch_size=int(ds.get("batch_size", 4)), workers=0, shuffle=False, drop_last=False, collate_fn=collate, seed=0)


def evaluate_runner(runner: Any, ds: dict[str, Any], io: dict[str, Any]) -> dict[str, Any]:
    """COCO mAP of ``runner`` on ``dataset.val_data_sources``."""
    from skillrun.engine.rtdetr.coco_eval import evaluate_coco
    from skillrun.engine.rtdetr.loop import predict_with

    cm = io["class_map"]
    results = predict_with(runner, val_loader(ds, io), num_select=io["num_select"], category_ids=list(cm.category_ids))
    ids = ds.get("eval_class_ids")
    m = evaluate_coco(ds["val_data_sources"]["json_file"], results, category_ids=list(ids) if isinstance(ids, list) else list(cm.category_ids),
                      names=dict(zip(cm.category_ids, cm.names)))
    return {"mAP": m.stats["mAP"], "mAP50": m.stats["mAP50"], "mAP75": m.stats["mAP75"], "per_class": m.per_class}


def compare(fp32: Path, quantized: Path, ds: dict[str, Any], io: dict[str, Any]) -> dict[str, Any]:
    """Size, batch-1 latency and val mAP of both models in ONNX Runtime (CPU)."""
    from skillrun.engine.rtdetr.runner import OrtRunner, measure_latency

    rows = {}
    for name, path in (("fp32", fp32), ("quantized", quantized)):
        runner = OrtRunner(path)
        rows[name] = {**evaluate_runner(runner, ds, io), "size_mb": round(path.stat().st_size / 2**20, 3),
                      "latency_ms": measure_latency(runner, batch=1, height=io["height"], width=io["width"])}
    f, q = rows["fp32"], rows["quantized"]
    return {"mAP_fp32": f["mAP"], "mAP_quantized": q["mAP"], "mAP_delta": q["mAP"] - f["mAP"], "mAP50_fp32": f["mAP50"], "mAP50_quantized": q["mAP50"],
            "size_mb_fp32": f["size_mb"], "size_mb_quantized": q["size_mb"], "latency_ms_fp32": round(f["latency_ms"], 3), "latency_ms_quantized": round(q["latency_ms"], 3),
            "speedup": round(f["latency_ms"] / max(q["latency_ms"], 1e-9), 3), "latency": "ONNX Runtime CPU, batch 1, mean ms per image", "models": rows}


def write_report(out: Path, report: dict[str, Any]) -> None:
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out / "metrics.json", json.dumps({k: v for k, v in report.items() if not isinstance(v, (dict, list))}, indent=2) + "\n")
