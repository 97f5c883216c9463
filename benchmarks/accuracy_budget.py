"""COCO mAP after the same wall-clock training budget: the engine's tiny CPU recipe vs a plain hand-written loop.

On one generated dataset (``generate_coco``, sparse ids 201/305/412; default 256
train / 64 val images at 128 px):

* **engine** - ``examples/rtdetr_tiny_cpu.yaml`` (composed as ``skillrun run`` does,
  data paths as overrides) run through ``train.run`` in this process. The budget is
  met by choosing ``num_epochs`` before the run, so the recipe's cosine schedule and
  multi-scale stop fit the budget: one epoch of the same recipe is timed first
  (``train_one_epoch`` over the engine's loader, after a warm-up epoch; not counted),
  then ``num_epochs = floor(budget / epoch seconds)``, with validation and checkpoint
  only at the last epoch. Training seconds = the sum of ``epoch_time_s`` in
  ``metrics.jsonl`` (the epochs themselves: data loading included, final
  validation/checkpoint not). Scored with the EMA weights of the final checkpoint
  (what ``train.run`` validates and ``evaluate`` loads); the raw (non-EMA) weights'
  mAP is printed beside it.
* **plain** - the 30-line user loop of ``train_throughput.py`` (PIL + resize, no
  augmentation, ``DataLoader(shuffle, num_workers=0)``, ``AdamW(lr=--plain-lr,
  weight_decay=1e-4)``, no schedule, clipping or EMA) on the same HF model config,
  trained for the budget (checked after every step; not for the engine's actual
  seconds, so a load spike during one run does not hand the other extra time).

Both are scored by the same function: the engine's ``runtime.eval_loader`` +
``loop.predict`` + ``coco_eval.evaluate_coco`` (= ``runtime.validate``) on the val
split. Prints mAP, mAP50, epochs done, images seen and training seconds of each,
and the difference against the target (engine ahead by >= 0.05 mAP). The runs are
sequential, so load from other processes can hit one more than the other: the
table shows each run's slowest and fastest images/s (per engine epoch, per 10 s of
plain training) and a warning when they differ by more than 2x.

    .venv/bin/python benchmarks/accuracy_budget.py [--minutes 8] [--train-images 256] [--val-images 64]
        [--size 128] [--plain-lr 1e-4] [--threads N] [--workers N] [--recipe FILE] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import RECIPE, Engine, Plain, class_map_of, make_data, recipe_spec

TARGET = 0.05  #: engine mAP - plain mAP


def evaluate(model: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """val_mAP / val_mAP50 exactly as ``train.run`` validates (eval loader, predict, evaluate_coco)."""
    from skillrun.engine.rtdetr import runtime

    ds = spec["dataset"]
    ctx = runtime.setup(0, "fp32")
    class_map = class_map_of(spec)
    loader = runtime.eval_loader(ds["val_data_sources"], ds, class_map, ctx)
    return runtime.validate(model, loader, ds["val_data_sources"], ds, class_map, ctx, spec["model"].get("num_select", 300))


def calibrate(spec: dict[str, Any]) -> float:
    """Seconds for one training epoch of the recipe (the engine's loader, optimizer, EMA), after one warm-up epoch."""
    from skillrun.engine.rtdetr.loop import train_one_epoch

    engine = Engine(spec, num_epochs=int(spec["train"]["num_epochs"]))
    times = []
    for _ in range(2):
        start = time.perf_counter()
        train_one_epoch(engine.model, engine.window.take(len(engine.loader)), engine.optimizer, engine.scheduler, device=engine.ctx.device,
                        precision=engine.ctx.precision, scaler=None, clip_grad_norm=engine.clip, ema=engine.ema, log=lambda _m: None)
        times.append(time.perf_counter() - start)
    return times[-1]


def run_engine(spec: dict[str, Any], out: Path, num_epochs: int) -> dict[str, Any]:
    from skillrun.engine.rtdetr import train
    from skillrun.engine.rtdetr.checkpoint import model_from_checkpoint

    spec = json.loads(json.dumps(spec))
    spec["results_dir"] = str(out.parent)
    spec["train"].update(num_epochs=num_epochs, validation_interval=num_epochs, checkpoint_interval=num_epochs)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(out / "train.log", "w") as log, contextlib.redirect_stdout(log):
        train.run(spec, out)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    ckpts = sorted(out.glob("model_epoch_*.pth"))
    model, _ = model_from_checkpoint(ckpts[-1], use_ema=True)
    kpi = evaluate(model, spec)
    raw = evaluate(model_from_checkpoint(ckpts[-1], use_ema=False)[0], spec)
    train_s = sum(r["epoch_time_s"] for r in rows)
    images = sum(round(r["images_per_s"] * r["epoch_time_s"]) for r in rows)
    rates = [r["images_per_s"] for r in rows]
    return {"mAP": kpi["val_mAP"], "mAP50": kpi["val_mAP50"], "epochs": float(len(rows)), "images": images, "train_s": train_s,
            "wall_s": wall, "run_mAP": rows[-1].get("val_mAP"), "raw_mAP": raw["val_mAP"], "raw_mAP50": raw["val_mAP50"],
            "loss": rows[-1]["train_loss"], "rates": rates}


def run_plain(spec: dict[str, Any], seconds: float, lr: float) -> dict[str, Any]:
    plain = Plain(spec, lr=lr)
    n_images = len(plain.loader.dataset)
    steps, loss, rates = 0, float("nan"), []
    start = mark = time.perf_counter()
    mark_steps = 0
    while (now := time.perf_counter()) - start < seconds:
        if now - mark >= 10.0:
            rates.append((steps - mark_steps) * plain.batch_size / (now - mark))
            mark, mark_steps = now, steps
        loss = float(plain.step(*plain.next_batch()))
        steps += 1
    train_s = time.perf_counter() - start
    if steps > mark_steps:
        rates.append((steps - mark_steps) * plain.batch_size / (time.perf_counter() - mark))
    plain.model.eval()
    kpi = evaluate(plain.model, spec)
    images = steps * plain.batch_size
    return {"mAP": kpi["val_mAP"], "mAP50": kpi["val_mAP50"], "epochs": images / n_images, "images": images, "train_s": train_s,
            "wall_s": train_s, "loss": loss, "rates": rates}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget (wall clock)")
    parser.add_argument("--train-images", type=int, default=256)
    parser.add_argument("--val-images", type=int, default=64)
    parser.add_argument("--size", type=int, default=128, help="generated image size (px); the recipe's spatial sizes are kept")
    parser.add_argument("--plain-lr", type=float, default=1e-4, help="AdamW lr of the plain loop (HF DETR fine-tuning default)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads for both runs (default: torch's, = cores)")
    parser.add_argument("--workers", type=int, default=None, help="override the recipe's dataset.workers (benchmark spec only)")
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--keep", action="store_true", help="keep the data and the engine's results (path printed)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = args.recipe
    root = Path(tempfile.mkdtemp(prefix="skillrun-bench-acc-"))
    try:
        if not recipe.exists():
            raise SystemExit(f"{recipe} does not exist")
        data = make_data(root / "data", args.train_images, args.val_images, args.size)
        spec = recipe_spec(data, workers=args.workers, recipe=recipe)
        ds, m = spec["dataset"], spec["model"]
        budget = 60.0 * args.minutes
        print(f"data: {args.train_images} train / {args.val_images} val images at {args.size} px under {root}")
        print(f"recipe: {recipe.name}: backbone {m['backbone']} ({m['version']}), num_queries {m['num_queries']}, batch {ds['batch_size']}, "
              f"workers {ds['workers']}, spatial {ds['augmentation']['train_spatial_size']}, optim {json.dumps(spec['train']['optim'])}")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; load average before: "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        epoch_s = calibrate(spec)
        num_epochs = max(1, math.floor(budget / epoch_s))
        n_epoch = (args.train_images // ds["batch_size"]) * ds["batch_size"]
        print(f"budget {budget:.0f} s; one engine epoch took {epoch_s:.1f} s ({n_epoch / epoch_s:.1f} img/s) -> num_epochs = {num_epochs}", flush=True)
        eng = run_engine(spec, root / "engine" / "train", num_epochs)
        print(f"engine: {eng['epochs']:.0f} epochs in {eng['train_s']:.1f} s (train.run wall {eng['wall_s']:.1f} s), mAP {eng['mAP']:.4f}", flush=True)
        pla = run_plain(spec, budget, args.plain_lr)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
        print("| run | mAP | mAP50 | epochs | images seen | train s | img/s | img/s min-max | last loss |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        runs = (("engine (tiny_cpu recipe, EMA)", eng), (f"plain (AdamW lr {args.plain_lr:g})", pla))
        for name, r in runs:
            print(f"| {name} | {r['mAP']:.4f} | {r['mAP50']:.4f} | {r['epochs']:.2f} | {r['images']} | {r['train_s']:.1f} | "
                  f"{r['images'] / r['train_s']:.1f} | {min(r['rates']):.1f}-{max(r['rates']):.1f} | {r['loss']:.3f} |")
        for name, r in runs:
            if max(r["rates"]) > 2 * min(r["rates"]):
                print(f"\nWARNING: {name.split()[0]}'s images/s varied {min(r['rates']):.1f}-{max(r['rates']):.1f}: "
                      "other processes loaded the machine during the run; rerun when it is quiet")
        diff = eng["mAP"] - pla["mAP"]
        print(f"\nengine - plain: mAP {diff:+.4f}, mAP50 {eng['mAP50'] - pla['mAP50']:+.4f}; target >= +{TARGET}: "
              f"{'ok' if diff >= TARGET else 'BELOW'}")
        run_map = "n/a" if eng.get("run_mAP") is None else f"{eng['run_mAP']:.4f}"
        print(f"(train.run's own last-epoch val_mAP: {run_map}; the engine's raw, non-EMA weights: mAP {eng['raw_mAP']:.4f}, "
              f"mAP50 {eng['raw_mAP50']:.4f})")
        if args.keep:
            print(f"kept {root}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
