"""``rtdetr inference``: image folders → COCO-style predictions (with file names) and images with boxes drawn."""

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
    from skillrun.engine.rtdetr.runner import TorchRunner
    from skillrun.engine.rtdetr.transforms import build_transforms

    ctx = runtime.setup(0, "fp32")
    status = StatusWriter(out)
    ds, inf = spec["dataset"], spec["inference"]
    model, ckpt = model_from_checkpoint(inf["checkpoint"])
    model = runtime.place_model(model, ctx)
    class_map = ClassMap.from_dict(ckpt["class_map"])
    loader, names, count = folder_loader(ds, class_map, build_transforms(ds.get("augmentation", {}), train=False))
    status.write("STARTED", f"inference on {count} images")
    threshold = float(inf.get("conf_threshold", 0.5))
    num_select = ckpt["spec"].get("model", {}).get("num_select", 300)
    predictions = infer(TorchRunner(model, ctx.device, ctx.precision), loader, class_map, names, out=out, threshold=threshold, num_select=num_select,
                        save_images=inf.get("save_images", True), outline_width=int(inf.get("outline_width", 3)))
    status.write("SUCCESS", f"{len(predictions)} detections above {threshold} in {count} images", kpi={"num_images": count, "num_detections": len(predictions)})
    return 0


def folder_loader(ds: dict[str, Any], class_map: Any, transforms: Any) -> tuple[Any, list[str], int]:
    """The loader over ``dataset.infer_data_sources`` folders, the class names to draw, the image count.

    An optional ``classmap`` file renames the classes; it must list as many as the model knows.
    """
    from skillrun.engine.rtdetr.classmap import ClassMap
    from skillrun.engine.rtdetr.data import ImageFolderDataset, build_loader

    src = ds["infer_data_sources"]
    folders = src["image_dir"] if isinstance(src["image_dir"], list) else [src["image_dir"]]
    names = list(class_map.names)
    if src.get("classmap"):
        names = list(ClassMap.from_label_map(Path(src["classmap"])).names)
        if len(names) != len(class_map):
            msg = f"{src['classmap']} lists {len(names)} classes but the model has {len(class_map)}"
            raise ValueError(msg)
    dataset = ImageFolderDataset([Path(f) for f in folders], transforms)
    loader = build_loader(dataset, batch_size=ds.get("batch_size", 4), workers=ds.get("workers", 0), shuffle=False, drop_last=False, collate_fn=_collate, seed=0)
    return loader, names, len(dataset)


def infer(runner: Any, loader: Any, class_map: Any, names: list[str], *, out: Path, threshold: float, num_select: int,
          save_images: bool = True, outline_width: int = 3) -> list[dict[str, Any]]:
    """Detections of ``runner`` above ``threshold``: ``out/predictions.json`` and ``out/images/*.jpg``.

    Shared by inference (PyTorch) and deploy (ONNX Runtime / TensorRT): the same files either way.
    """
    import torch
    from PIL import Image

    from skillrun.engine.rtdetr.plots import draw_detections
    from skillrun.engine.rtdetr.transforms import boxes_to_original

    images_dir = out / "images"
    if save_images:
        images_dir.mkdir(parents=True, exist_ok=True)
    predictions: list[dict[str, Any]] = []
    for pixels, metas in loader:
        sizes = torch.stack([torch.as_tensor(m["size"] if m.get("letterbox") else m["orig_size"]) for m in metas])
        dets = runner.detect(pixels, sizes, num_select=num_select, threshold=threshold)
        for meta, det in zip(metas, dets):
            boxes_t = det["boxes"].cpu()
            if meta.get("letterbox"):  # predicted on the padded input: back to the original frame
                boxes_t = boxes_to_original(boxes_t, meta)
            boxes, scores, labels = boxes_t.tolist(), det["scores"].cpu().tolist(), det["labels"].cpu().tolist()
            for b, s, lab in zip(boxes, scores, labels):
                predictions.append({"file_name": meta["file_name"], "category_id": class_map.category(lab), "category_name": names[lab], "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": s})
            if save_images:
                img = Image.open(meta["path"]).convert("RGB")
                drawn = draw_detections(img, boxes, [names[i] for i in labels], scores, width=outline_width)
                drawn.save(images_dir / Path(meta["file_name"]).with_suffix(".jpg").name)
    atomic_write_text(out / "predictions.json", json.dumps(predictions, indent=1) + "\n")
    return predictions


def _collate(batch: list[Any]) -> Any:
    import torch

    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]
