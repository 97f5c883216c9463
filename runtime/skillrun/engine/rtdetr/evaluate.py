"""``rtdetr evaluate``: COCO mAP of a checkpoint on a test split, per-class AP, PR curves, metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skillrun.engine.rtdetr import runtime
from skillrun.record_io import atomic_write_text
from skillrun.results.status import StatusWriter


def run(spec: dict[str, Any], out: Path) -> int:
    from skillrun.engine.rtdetr.checkpoint import model_from_checkpoint
    from skillrun.engine.rtdetr.classmap import ClassMap
    from skillrun.engine.rtdetr.loop import predict_with
    from skillrun.engine.rtdetr.runner import TorchRunner

    ctx = runtime.setup(0, "fp32")
    status = StatusWriter(out)
    ds = spec["dataset"]
    model, ckpt = model_from_checkpoint(spec["evaluate"]["checkpoint"])
    model = runtime.place_model(model, ctx)
    class_map = ClassMap.from_dict(ckpt["class_map"])
    source = ds["test_data_sources"]
    check_classes(class_map, source, ds)
    status.write("STARTED", f"evaluating {spec['evaluate']['checkpoint']} on {source['json_file']}")
    loader = runtime.eval_loader(source, ds, class_map, ctx)
    num_select = ckpt["model_config"].get("num_select") or ckpt["spec"].get("model", {}).get("num_select", 300)
    results = predict_with(TorchRunner(model, ctx.device, ctx.precision), loader, num_select=num_select, category_ids=list(class_map.category_ids))
    metrics = write_evaluation(out, source, results, class_map, runtime.eval_ids(ds, class_map))
    kpi = {"mAP": metrics.stats["mAP"], "mAP50": metrics.stats["mAP50"], "mAP75": metrics.stats["mAP75"]}
    status.write("SUCCESS", f"mAP {metrics.stats['mAP']:.4f}, mAP50 {metrics.stats['mAP50']:.4f}", kpi=kpi)
    return 0


def write_evaluation(out: Path, source: dict[str, Any], results: list[dict[str, Any]], class_map: Any, eval_ids: list[int],
                     extra: dict[str, Any] | None = None) -> Any:
    """COCO metrics of ``results`` on ``source``: metrics.json, per_class_ap.txt, detections.json, pr_curves.png.

    Shared by evaluate (PyTorch) and deploy (ONNX Runtime / TensorRT), so both write the same files.
    """
    from skillrun.engine.rtdetr.coco_eval import evaluate_coco, per_class_table
    from skillrun.engine.rtdetr.plots import plot_pr_curves

    names = dict(zip(class_map.category_ids, class_map.names))
    metrics = evaluate_coco(source["json_file"], results, category_ids=eval_ids, names=names)
    table = per_class_table(metrics)
    print(table, flush=True)
    doc = {**metrics.stats, "per_class": metrics.per_class, "num_images": metrics.num_images, "num_detections": metrics.num_detections, **(extra or {})}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(doc, indent=2) + "\n")
    atomic_write_text(out / "per_class_ap.txt", table + "\n")
    atomic_write_text(out / "detections.json", json.dumps(results) + "\n")
    plot_pr_curves(metrics, out / "pr_curves.png")
    return metrics


def check_classes(class_map: Any, source: dict[str, Any], ds: dict[str, Any]) -> None:
    """The test split must use the model's categories (sparse ids included)."""
    from skillrun.engine.rtdetr.classmap import ClassMap

    data = ClassMap.from_coco([Path(source["json_file"])])
    unknown = sorted(set(data.category_ids) - set(class_map.category_ids))
    if unknown:
        msg = f"{source['json_file']}: category ids {unknown} are not classes of the model (it knows {list(class_map.category_ids)})"
        raise ValueError(msg)
    num = ds.get("num_classes")
    if isinstance(num, int) and num not in (len(class_map), max(class_map.category_ids) + 1):
        msg = f"dataset.num_classes={num}, but the model was trained on {len(class_map)} classes (ids {list(class_map.category_ids)})"
        raise ValueError(msg)
