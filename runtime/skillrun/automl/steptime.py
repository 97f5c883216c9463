"""``python -m skillrun.automl.steptime SPEC.json``: time a few rtdetr training steps for the launch review.

Runs in its own process (it imports torch; ``plan`` must not). Builds the
model and loaders exactly as ``rtdetr train`` does, runs one warm-up step and
``--steps`` timed steps, and times prediction on up to two validation batches.
Prints one JSON line: seconds per step, steps per epoch, validation seconds
and the resulting seconds per epoch (single process; several ranks share the
steps of an epoch, which the caller accounts for).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any


def measure(spec: dict[str, Any], steps: int = 2) -> dict[str, Any]:
    import torch

    from skillrun.engine.rtdetr import runtime
    from skillrun.engine.rtdetr.classmap import ClassMap
    from skillrun.engine.rtdetr.model import build_model, model_config, param_groups

    tr, ds = spec["train"], spec["dataset"]
    ctx = runtime.setup(tr.get("seed", 1234), tr.get("precision", "fp32"))
    sources = runtime.as_list(ds["train_data_sources"])
    val = ds.get("val_data_sources")
    class_map = ClassMap.from_coco([Path(s["json_file"]) for s in sources] + ([Path(val["json_file"])] if val else []))
    model = runtime.place_model(build_model(model_config(spec["model"], len(class_map), class_map.id2label())), ctx)
    loader, _ = runtime.train_loader(ds, class_map, ctx, seed=tr.get("seed", 1234), num_epochs=int(tr["num_epochs"]))
    opt = tr["optim"]
    optimizer = runtime.make_optimizer(param_groups(model, lr=opt["lr"], lr_backbone=opt["lr_backbone"], weight_decay=opt["weight_decay"]), opt["lr"], ctx)
    model.train()
    times = []
    it = iter(loader)
    for i in range(steps + 1):
        try:
            images, targets = next(it)
        except StopIteration:
            it = iter(loader)
            images, targets = next(it)
        t0 = time.perf_counter()
        labels = [{"class_labels": t["class_labels"].to(ctx.device), "boxes": t["boxes"].to(ctx.device)} for t in targets]
        with ctx.precision.autocast():
            loss = model(pixel_values=images.to(ctx.device), labels=labels).loss.float()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if ctx.device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms up kernels and allocators
            times.append(time.perf_counter() - t0)
    step_s = sum(times) / len(times)
    val_s = 0.0
    if val:
        vloader = runtime.eval_loader(val, ds, class_map, ctx)
        batches, t0, seen = 0, time.perf_counter(), 0
        model.eval()
        with torch.no_grad():
            for images, _ in vloader:
                with ctx.precision.autocast():
                    model(pixel_values=images.to(ctx.device))
                seen += images.shape[0]
                batches += 1
                if batches >= 2:
                    break
        per_image = (time.perf_counter() - t0) / max(1, seen)
        val_s = per_image * len(vloader.dataset) * 1.2  # + COCO evaluation
    every = max(1, int(tr.get("validation_interval", 1)))
    return {
        "step_s": round(step_s, 4),
        "steps_per_epoch": len(loader),
        "val_s": round(val_s, 3),
        "epoch_s": round(step_s * len(loader) + val_s / every, 3),
        "device": str(ctx.device),
        "images": len(loader.dataset),
        "steps_timed": len(times),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skillrun.automl.steptime")
    parser.add_argument("spec")
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args(argv)
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    out = measure(spec, args.steps)
    if not all(math.isfinite(v) for v in (out["step_s"], out["epoch_s"])):
        return 1
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
