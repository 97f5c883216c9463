"""``rtdetr deploy``: an exported (or quantized) ONNX -> a deployable engine, checked and described.

* TensorRT (``deploy.runtime`` tensorrt or auto) where the ``tensorrt`` package and a GPU are
  here: FP32 / FP16 / INT8 (QDQ models), an optimisation profile up to ``max_batch_size``.
* ONNX Runtime otherwise: the graph optimised offline (extended level, portable across CPUs)
  and saved as ``model.ort.onnx`` (``SessionOptions.optimized_model_filepath``), run with all
  optimisations. Asking for TensorRT where it cannot run is not an error: the job builds the ONNX
  Runtime engine, says so in its status message, and the manifest's ``tensorrt`` block records
  why and the ``trtexec`` command that builds the engine on the target (a Jetson builds its own).

With ``run_evaluate`` / ``run_inference`` the engine is evaluated and run through the same code
as the PyTorch evaluate and inference actions (:mod:`runner`): ``metrics.json``,
``per_class_ap.txt``, ``detections.json``, ``pr_curves.png``, ``predictions.json``, ``images/``.

``manifest.json`` is what a deployer (Isaac ROS ``isaac_ros_rtdetr``) needs: engine path and
runtime, input/output tensor names, shapes and dtypes, class labels, preprocessing and
normalisation, and the Isaac ROS launch arguments (``references/deploy_manifest.md``).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from skillrun.engine.rtdetr import trt
from skillrun.engine.rtdetr.quantize import graph_io
from skillrun.record_io import atomic_write_text
from skillrun.results.status import StatusWriter

ISAAC_ROS_SIZE = 640
ISAAC_ROS_THRESHOLD = 0.9


class DeployError(ValueError):
    """A deploy spec that does not fit the model (named path, value, what is allowed)."""


def run(spec: dict[str, Any], out: Path) -> int:
    dep, ds, inf = spec["deploy"], spec.get("dataset") or {}, spec.get("inference") or {}
    onnx_file = Path(dep["onnx_file"])
    sidecar = _sidecar(onnx_file)
    io = graph_io(sidecar)
    quantized = bool(sidecar.get("quantization"))
    data_type = dep.get("data_type", "fp32")
    _check(dep, io, data_type, quantized, sidecar)
    status = StatusWriter(out)
    max_batch = int(dep.get("max_batch_size", 4))
    ok, reason = trt.availability()
    wanted = dep.get("runtime", "auto")
    runtime = "tensorrt" if wanted == "tensorrt" or (wanted == "auto" and ok) else "onnxruntime"
    notes = []
    if runtime == "tensorrt" and not ok:
        runtime = "onnxruntime"
        notes.append(f"TensorRT is not available here: {reason}; built the ONNX Runtime engine instead (manifest.tensorrt has the trtexec command for the target)")
    if runtime == "onnxruntime" and data_type == "fp16":
        notes.append("ONNX Runtime on CPU runs fp32: deploy.data_type=fp16 applies to the TensorRT build command only")
    status.write("STARTED", f"deploying {onnx_file.name} with {runtime} ({data_type}, max batch {max_batch})" + (f"; {notes[0]}" if notes else ""))
    out.mkdir(parents=True, exist_ok=True)
    default_name = "model.engine" if runtime == "tensorrt" else "model.ort.onnx"
    engine_file = Path(dep.get("engine_file") or out / default_name)
    dynamic = io["batch"] is None
    inputs = sidecar["inputs"]
    build: dict[str, Any]
    if runtime == "tensorrt":
        from skillrun.engine.rtdetr.runner import TrtRunner

        build = trt.build_engine(onnx_file, engine_file, inputs, data_type=data_type, max_batch=max_batch, workspace_mb=int(dep.get("workspace_size_mb", 1024)))
        runner: Any = TrtRunner(engine_file, max_batch=max_batch)
    else:
        build, runner = _ort_engine(onnx_file, engine_file, max_batch, quantized=quantized)
    target_engine = engine_file if runtime == "tensorrt" else engine_file.parent / "model.engine"
    trt_block = {"available": ok, "reason": reason, "used": runtime == "tensorrt", "target_engine": str(target_engine.resolve()),
                 "build_command": trt.trtexec_command(onnx_file.resolve(), target_engine.resolve(), inputs, data_type=data_type,
                                                      max_batch=max_batch, workspace_mb=int(dep.get("workspace_size_mb", 1024)), dynamic=dynamic)}
    latency = _latency(runner, io, max_batch)
    manifest = build_manifest(sidecar, onnx_file, engine_file, runtime=runtime, data_type=data_type, max_batch=max_batch, build=build,
                              trt_block=trt_block, latency=latency, quantized=quantized, notes=notes)
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    kpi: dict[str, Any] = {"latency_ms_batch1": latency.get("batch_1")}
    if dep.get("run_evaluate"):
        kpi.update(_evaluate(runner, ds, io, out, engine_info={"runtime": runtime, "engine": str(engine_file), "data_type": data_type}))
    if dep.get("run_inference"):
        kpi.update(_infer(runner, ds, inf, io, out))
    metric = f", mAP {kpi['mAP']:.4f}" if "mAP" in kpi else ""
    status.write("SUCCESS", f"{runtime} engine {engine_file.name}{metric}; manifest.json" + "".join(f"; {n}" for n in notes), kpi=kpi)
    return 0


def _sidecar(onnx_file: Path) -> dict[str, Any]:
    side = onnx_file.with_suffix(".json")
    if not onnx_file.is_file():
        msg = f"deploy.onnx_file={onnx_file}: no such file (use --parent EXPORT_JOB or --parent QUANTIZE_JOB)"
        raise DeployError(msg)
    if not side.is_file():
        msg = f"deploy.onnx_file={onnx_file}: no sidecar {side.name} next to it (input layout, classes); deploy ONNX files written by export or quantize"
        raise DeployError(msg)
    return json.loads(side.read_text(encoding="utf-8"))


def _check(dep: dict[str, Any], io: dict[str, Any], data_type: str, quantized: bool, sidecar: dict[str, Any]) -> None:
    problems = []
    for key, have in (("input_height", io["height"]), ("input_width", io["width"])):
        if dep.get(key) not in (None, have):
            problems.append(f"deploy.{key}={dep[key]} but the ONNX model's input is {io['height']}x{io['width']} (fixed at export): leave it null or re-export")
    if data_type == "int8" and not quantized:
        problems.append("deploy.data_type=int8 needs a quantized (QDQ) model: run quantize and deploy its output (--parent QUANTIZE_JOB), or use fp32/fp16")
    if io["batch"] is not None and int(dep.get("max_batch_size", 4)) != io["batch"]:
        problems.append(f"deploy.max_batch_size={dep.get('max_batch_size')} but the ONNX model has a fixed batch of {io['batch']}: set {io['batch']} or export with export.batch_size=-1")
    if (sidecar.get("quantization") or {}).get("runs_on") == "tensorrt" and (dep.get("runtime") == "onnxruntime" or not trt.availability()[0]):
        why = "deploy.runtime=onnxruntime" if dep.get("runtime") == "onnxruntime" else f"TensorRT is not available here ({trt.availability()[1]})"
        problems.append(f"deploy.onnx_file={dep['onnx_file']} is an FP8 model, which runs on TensorRT only, and {why}: deploy it on a machine with TensorRT and a GPU")
    if problems:
        raise DeployError("; ".join(problems))


def _ort_engine(onnx_file: Path, engine_file: Path, max_batch: int, *, quantized: bool) -> tuple[dict[str, Any], Any]:
    """Simplify (fp32), optimise offline to ``engine_file`` (extended: portable), then load it with every optimisation on."""
    import onnxruntime as ort

    from skillrun.engine.rtdetr.runner import OrtRunner, ort_session_options

    engine_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = engine_file.with_name(f".{engine_file.name}.tmp")
    slim = engine_file.with_name(f".{engine_file.stem}.slim.onnx")
    build: dict[str, Any] = {"onnxruntime": ort.__version__, "providers": ["CPUExecutionProvider"]}
    source = onnx_file
    if not quantized:  # a QDQ graph stays as quantize wrote it: folding its weight DequantizeLinear nodes would make it float again
        build["simplified"] = simplify(onnx_file, slim)
        source = slim
    try:
        ort.InferenceSession(str(source), ort_session_options(level="extended", optimized_path=tmp), providers=["CPUExecutionProvider"])
    finally:
        slim.unlink(missing_ok=True)
    tmp.replace(engine_file)
    runner = OrtRunner(engine_file, level="all")
    runner.max_batch = max_batch
    build["optimization"] = ("onnxslim, then " if not quantized else "") + "ONNX Runtime extended offline (saved), all at load"
    return build, runner


def simplify(onnx_file: Path, out: Path) -> dict[str, Any]:
    """``onnxslim``: fold the shape arithmetic a dynamic-batch TorchScript export carries and fuse what ORT does not.

    Measured on the tiny preset at 128 px: 2358 -> 541 nodes, and 1.06x faster (median of 9
    interleaved rounds at batch 1 and at batch 8) than the same graph optimised by ONNX Runtime
    alone, which folds much of the shape arithmetic itself. ``benchmarks/deploy.py`` prints both.
    """
    import contextlib
    import io

    import onnx
    import onnxslim

    before = len(onnx.load(str(onnx_file), load_external_data=False).graph.node)
    with contextlib.redirect_stdout(io.StringIO()):  # its summary table would land in the job's log
        model = onnxslim.slim(str(onnx_file))
    onnx.save(model, str(out))
    return {"tool": f"onnxslim {onnxslim.__version__}", "nodes_before": before, "nodes_after": len(model.graph.node)}


def _latency(runner: Any, io: dict[str, Any], max_batch: int) -> dict[str, Any]:
    from skillrun.engine.rtdetr.runner import measure_latency

    out: dict[str, Any] = {"unit": "ms per image, mean of 10 runs after 2 warm-up runs, random input"}
    for b in sorted({1, max_batch}):
        out[f"batch_{b}"] = round(measure_latency(runner, batch=b, height=io["height"], width=io["width"], iters=5 if b > 1 else 10), 3)
    return out


def _evaluate(runner: Any, ds: dict[str, Any], io: dict[str, Any], out: Path, engine_info: dict[str, Any]) -> dict[str, Any]:
    from skillrun.engine.rtdetr.data import CocoDetection, build_loader, collate
    from skillrun.engine.rtdetr.evaluate import check_classes, write_evaluation
    from skillrun.engine.rtdetr.loop import predict_with
    from skillrun.engine.rtdetr.quantize import _eval_transforms

    source, cm = ds["test_data_sources"], io["class_map"]
    check_classes(cm, source, ds)
    loader = build_loader(CocoDetection([source], cm, _eval_transforms(io)), batch_size=int(ds.get("batch_size", 4)), workers=int(ds.get("workers", 0)),
                          shuffle=False, drop_last=False, collate_fn=collate, seed=0)
    results = predict_with(runner, loader, num_select=io["num_select"], category_ids=list(cm.category_ids))
    ids = ds.get("eval_class_ids")
    m = write_evaluation(out, source, results, cm, list(ids) if isinstance(ids, list) else list(cm.category_ids), extra={"engine": engine_info})
    return {"mAP": m.stats["mAP"], "mAP50": m.stats["mAP50"], "mAP75": m.stats["mAP75"]}


def _infer(runner: Any, ds: dict[str, Any], inf: dict[str, Any], io: dict[str, Any], out: Path) -> dict[str, Any]:
    from skillrun.engine.rtdetr.inference import folder_loader, infer
    from skillrun.engine.rtdetr.quantize import _eval_transforms

    loader, names, count = folder_loader(ds, io["class_map"], _eval_transforms(io))
    preds = infer(runner, loader, io["class_map"], names, out=out, threshold=float(inf.get("conf_threshold", 0.5)), num_select=io["num_select"],
                  save_images=inf.get("save_images", True), outline_width=int(inf.get("outline_width", 3)))
    return {"num_images": count, "num_detections": len(preds)}


def build_manifest(sidecar: dict[str, Any], onnx_file: Path, engine_file: Path, *, runtime: str, data_type: str, max_batch: int, build: dict[str, Any],
                   trt_block: dict[str, Any], latency: dict[str, Any], quantized: bool, notes: list[str]) -> dict[str, Any]:
    """The deployment manifest (``references/deploy_manifest.md`` documents every field)."""
    inputs, outputs = sidecar["inputs"], sidecar["outputs"]
    h, w = int(inputs[0]["shape"][2]), int(inputs[0]["shape"][3])
    in_names, out_names = [i["name"] for i in inputs], [o["name"] for o in outputs]
    letterbox = sidecar["preprocessing"]["resize"]["mode"] == "letterbox"
    issues = []
    if in_names != ["images", "orig_target_sizes"] or out_names != ["labels", "boxes", "scores"]:
        issues.append("isaac_ros_rtdetr needs the postprocessed interface (export.output_format=postprocessed)")
    if (h, w) != (ISAAC_ROS_SIZE, ISAAC_ROS_SIZE):
        issues.append(f"isaac_ros_rtdetr feeds {ISAAC_ROS_SIZE}x{ISAAC_ROS_SIZE}; this model takes {h}x{w} (re-export at 640)")
    if not letterbox:
        issues.append("isaac_ros_rtdetr letterboxes (keeps the aspect ratio, pads bottom-right); this model was trained with stretch resizing: train with dataset.augmentation.preserve_aspect_ratio=true, or accept lower accuracy on non-square cameras")
    if (sidecar.get("quantization") or {}).get("runs_on") == "tensorrt" and runtime != "tensorrt":
        issues.append("FP8 model: runs on TensorRT only")
    target_engine = Path(trt_block["target_engine"])
    return {
        "format": "skillrun-rtdetr-deploy", "format_version": 1,
        "engine": {"path": str(engine_file.resolve()), "runtime": runtime, "data_type": data_type, "max_batch_size": max_batch, "build": build,
                   "host": {"machine": platform.machine(), "python": platform.python_version()}},
        "model": {"onnx_file": str(onnx_file.resolve()), "output_format": sidecar.get("output_format"), "quantized": quantized,
                  "quantization": sidecar.get("quantization"), "num_select": sidecar.get("num_select"), "source": sidecar.get("source"),
                  "architecture": sidecar.get("model")},
        "inputs": inputs, "outputs": outputs,
        "preprocessing": sidecar["preprocessing"],
        "class_labels": sidecar["class_map"]["labels"],
        "tensorrt": trt_block,
        "isaac_ros": {
            "package": "isaac_ros_rtdetr", "launch_fragment": "rtdetr", "compatible": not issues, "issues": issues,
            "launch_arguments": {"model_file_path": str(onnx_file.resolve()), "engine_file_path": str(target_engine.resolve()),
                                 "input_tensor_names": in_names, "input_binding_names": in_names, "output_tensor_names": out_names,
                                 "output_binding_names": out_names, "confidence_threshold": ISAAC_ROS_THRESHOLD, "force_engine_update": False},
            "network_image_width": w, "network_image_height": h,
            "orig_target_sizes": "[max(h, w)] * 2 of the camera image (letterbox)" if letterbox else "(w, h) of the camera image",
        },
        "latency_ms": latency, "notes": notes,
    }
