"""The per-epoch functions the solver calls: one training epoch, and prediction for COCO evaluation.

Kept apart from the lifecycle (``train.py``) as in RT-DETR's ``det_engine``:
parameters come in explicitly, nothing is read from a config object.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Precision:
    """Autocast settings for a device: fp32, bf16 (CPU or CUDA), fp16 (CUDA, with a GradScaler)."""

    name: str
    device_type: str

    @property
    def dtype(self) -> Any:
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self) -> Any:
        import torch

        return torch.autocast(self.device_type, dtype=self.dtype) if self.dtype is not None else nullcontext()


def train_one_epoch(
    model: Any,
    loader: Any,
    optimizer: Any,
    scheduler: Any,
    *,
    device: Any,
    precision: Precision,
    scaler: Any,
    clip_grad_norm: float,
    ema: Any,
    log: Callable[[str], None],
    log_every: int = 10,
    ema_source: Any = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns the mean loss and the last LR. A non-finite loss stops training.

    ``ema_source`` is the module the EMA tracks when ``model`` wraps more than the detector
    (distill's student + projection heads); default ``model``.
    """
    import torch

    model.train()
    total, count, start = 0.0, 0, time.perf_counter()
    steps = len(loader)
    params = [p for p in model.parameters() if p.requires_grad]  # built once: the clip walks them every step
    for i, (images, targets) in enumerate(loader):
        images = images.to(device, non_blocking=True)
        labels = [{"class_labels": t["class_labels"].to(device), "boxes": t["boxes"].to(device)} for t in targets]
        with precision.autocast():
            out = model(pixel_values=images, labels=labels)
        loss = out.loss.float()
        if not math.isfinite(loss.item()):
            msg = f"the loss is {loss.item()} at iteration {i}: lower train.optim.lr, keep train.clip_grad_norm, or use fp32"
            raise FloatingPointError(msg)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if clip_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(model if ema_source is None else ema_source)
        total += loss.item()
        count += 1
        if log_every and (i % log_every == 0 or i == steps - 1):
            rate = count * images.shape[0] / max(1e-9, time.perf_counter() - start)
            log(f"  iter {i + 1}/{steps}  loss {loss.item():.4f}  lr {optimizer.param_groups[0]['lr']:.2e}  {rate:.1f} img/s")
    return {"train_loss": total / max(1, count), "lr": optimizer.param_groups[0]["lr"], "images_per_s": count * loader.batch_size / max(1e-9, time.perf_counter() - start)}


def predict(model: Any, loader: Any, *, device: Any, precision: Precision, num_select: int, category_ids: list[int]) -> list[dict[str, Any]]:
    """COCO results (absolute xywh in original image coordinates, sparse category ids) for every image."""
    from skillrun.engine.rtdetr.runner import TorchRunner

    return predict_with(TorchRunner(model, device, precision), loader, num_select=num_select, category_ids=category_ids)


def predict_with(runner: Any, loader: Any, *, num_select: int, category_ids: list[int]) -> list[dict[str, Any]]:
    """:func:`predict` for any :class:`~skillrun.engine.rtdetr.runner.Runner` (PyTorch, ONNX Runtime, TensorRT)."""
    import torch

    from skillrun.engine.rtdetr.postprocess import to_coco_results

    results: list[dict[str, Any]] = []
    for images, targets in loader:
        sizes = torch.stack([_out_size(t) for t in targets])
        dets = runner.detect(images, sizes, num_select=num_select, threshold=0.0)
        letterbox = [t.get("letterbox") for t in targets]
        ids = [int(t["image_id"]) for t in targets]
        orig = [tuple(int(v) for v in t["orig_size"]) for t in targets]
        results += to_coco_results(dets, ids, category_ids, letterbox=letterbox if any(lb is not None for lb in letterbox) else None, orig_sizes=orig)
    return results


def _out_size(target: dict[str, Any]) -> Any:
    """The size boxes are mapped to: the letterboxed input (undone later), else the original image.

    Without letterbox the input is the original stretched, so normalized boxes
    map straight onto the original size.
    """
    import torch

    if target.get("letterbox") is not None:
        return torch.as_tensor(target["size"])
    return torch.as_tensor(target["orig_size"])
