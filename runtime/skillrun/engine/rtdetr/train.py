"""``rtdetr train``: the training lifecycle (epochs, validation, checkpoints, status events, resume).

Runs as one process or as every rank of a torchrun job (gloo on CPU, nccl on
CUDA); rank 0 validates and writes. Each ``checkpoint_interval`` (and the last
epoch) writes an atomic ``model_epoch_NNN.pth``; each ``validation_interval``
(and the last epoch) appends a ``kpi`` event with val_mAP, val_mAP50 and the
per-class AP to ``<results_dir>/<action>/status.json``. Checkpoints also carry the random
number generators' states, so a single-process resume replays the uninterrupted run.

The lifecycle is :func:`fit`; what another action adds to it (distill: a teacher,
extra loss terms, projection heads) comes in through a :class:`Recipe`, so train and
distill share one implementation of checkpoints, resume, DDP, EMA and validation.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from skillrun.engine.rtdetr import runtime
from skillrun.results.status import StatusWriter


class Recipe:
    """What an action adds to plain training; this base class adds nothing (``rtdetr train``).

    Called in this order: :meth:`setup` (the student is built and placed), :meth:`training_module`
    (what the optimiser steps and DDP wraps: its ``forward(pixel_values, labels)`` returns an
    output with ``.loss``), :meth:`extra_groups`; :meth:`load_state` on resume; :meth:`epoch_stats`
    after each epoch; :meth:`state` into every checkpoint under the key ``action``.
    """

    action = "train"
    verb = "training"
    past = "trained"

    def setup(self, spec: dict[str, Any], model: Any, class_map: Any, ctx: runtime.Ctx) -> None:
        """Prepare what the recipe needs (teacher, heads) once the model is on its device."""

    def training_module(self, model: Any) -> Any:
        return model

    def extra_groups(self, optim: dict[str, Any]) -> list[dict[str, Any]]:
        """Optimiser param groups beyond the model's (scheduled with the same LR factor)."""
        return []

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state` from a checkpoint being resumed."""

    def epoch_stats(self) -> dict[str, float]:
        """Numbers for this epoch's history row (e.g. mean distillation loss terms)."""
        return {}

    def describe(self) -> str:
        """A clause for the STARTED message."""
        return ""


def run(spec: dict[str, Any], out: Path) -> int:
    return fit(spec, out, Recipe())


def fit(spec: dict[str, Any], out: Path, recipe: Recipe) -> int:
    """Train ``spec["model"]`` with ``spec["train"]`` on ``spec["dataset"]``, as ``recipe`` says."""
    import torch

    from skillrun.engine.rtdetr.checkpoint import load_checkpoint, save_checkpoint
    from skillrun.engine.rtdetr.classmap import ClassMap
    from skillrun.engine.rtdetr.data import set_epoch
    from skillrun.engine.rtdetr.loop import train_one_epoch
    from skillrun.engine.rtdetr.model import build_model, load_pretrained, model_config, param_groups
    from skillrun.engine.rtdetr.optim import ModelEMA, lr_lambda

    ctx = runtime.setup(spec["train"].get("seed", 1234), spec["train"].get("precision", "fp32"))
    status = StatusWriter(out) if ctx.is_main else None
    log = ctx.log
    log(f"world size {ctx.world} ({runtime.backend_name(ctx) if ctx.world > 1 else 'single process'}), device {ctx.device}, precision {ctx.precision.name}")
    tr, ds = spec["train"], spec["dataset"]
    sources = runtime.as_list(ds["train_data_sources"])
    val_source = ds.get("val_data_sources")
    class_map = ClassMap.from_coco([Path(s["json_file"]) for s in sources] + ([Path(val_source["json_file"])] if val_source else []))
    resume = tr.get("resume_training_checkpoint_path")
    ckpt = load_checkpoint(resume) if resume else None
    cfg = ckpt["model_config"] if ckpt else model_config(spec["model"], len(class_map), class_map.id2label())
    model = build_model(cfg)
    if ckpt is None:
        if tr.get("pretrained_model_path"):
            log(f"initial weights from {tr['pretrained_model_path']}: {load_pretrained(model, tr['pretrained_model_path'])}")
        if spec["model"].get("pretrained_backbone_path"):
            log(f"backbone weights: {load_pretrained(model, spec['model']['pretrained_backbone_path'], backbone_only=True)}")
    model = runtime.place_model(model, ctx)
    recipe.setup(spec, model, class_map, ctx)
    train_module = recipe.training_module(model)
    num_epochs = int(tr["num_epochs"])
    train_loader, collate = runtime.train_loader(ds, class_map, ctx, seed=tr.get("seed", 1234), num_epochs=num_epochs)
    val_loader = runtime.eval_loader(val_source, ds, class_map, ctx) if val_source and ctx.is_main else None
    optim_spec = tr["optim"]
    groups = param_groups(model, lr=optim_spec["lr"], lr_backbone=optim_spec["lr_backbone"], weight_decay=optim_spec["weight_decay"])
    optimizer = runtime.make_optimizer(groups + recipe.extra_groups(optim_spec), optim_spec["lr"], ctx)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(optim_spec, iters_per_epoch=len(train_loader), num_epochs=num_epochs))
    scaler = torch.amp.GradScaler("cuda") if ctx.precision.name == "fp16" else None
    ema = ModelEMA(model, tr.get("ema_decay", 0.9999)) if tr.get("enable_ema", True) else None
    start, history = 0, []
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        recipe.load_state(ckpt.get(recipe.action))
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        if ema is not None and ckpt.get("ema"):
            ema.load_state_dict(ckpt["ema"], ckpt.get("ema_updates", 0))
        start, history = int(ckpt["epoch"]) + 1, list(ckpt.get("history", []))
        log(f"resuming from {resume}: epoch {start} of {num_epochs}")
        if runtime.restore_rng(ckpt.get("rng"), train_loader, ctx):
            log("restored the random number generators saved with the checkpoint")
    net = runtime.wrap_ddp(train_module, ctx)
    if status:
        where = f"{ctx.world} processes ({runtime.backend_name(ctx)})" if ctx.world > 1 else str(ctx.device)
        resumed = f", resuming at epoch {start} from {resume}" if ckpt is not None else ""
        what = f"{cfg['backbone_preset']} ({cfg['version']}) on {len(train_loader.dataset)} images, {len(class_map)} classes{recipe.describe()}"
        status.write("STARTED", f"{recipe.verb} {what}, {where}{resumed}", max_epoch=num_epochs)
    for epoch in range(start, num_epochs):
        set_epoch(train_loader, epoch)
        t0 = time.perf_counter()
        stats = train_one_epoch(net, train_loader, optimizer, scheduler, device=ctx.device, precision=ctx.precision, scaler=scaler,
                                clip_grad_norm=tr.get("clip_grad_norm", 0.1), ema=ema, ema_source=model, log=log)
        row: dict[str, Any] = {"epoch": epoch, **stats, **recipe.epoch_stats(), "epoch_time_s": time.perf_counter() - t0}
        last = epoch == num_epochs - 1
        kpi: dict[str, Any] = {}
        if val_loader is not None and (last or (epoch + 1) % tr.get("validation_interval", 1) == 0):
            kpi = runtime.validate(ema.module if ema else model, val_loader, val_source, ds, class_map, ctx, spec["model"].get("num_select", 300))
            row.update({k: v for k, v in kpi.items() if not k.startswith("AP_")})
        if ctx.is_main:
            history.append(row)
            if last or (epoch + 1) % tr.get("checkpoint_interval", 1) == 0:
                payload = {
                    "model": model.state_dict(),
                    "ema": ema.state_dict() if ema else None,
                    "ema_updates": ema.updates if ema else 0,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler else None,
                    "epoch": epoch,
                    "model_config": cfg,
                    "class_map": class_map.to_dict(),
                    "spec": spec,
                    "history": history,
                    "rng": runtime.rng_state(train_loader, ctx),
                }
                extra = recipe.state()
                if extra:
                    payload[recipe.action] = extra
                save_checkpoint(out, epoch, payload)
            runtime.write_history(out, history)
            if status:
                status.write("RUNNING", f"epoch {epoch + 1}/{num_epochs} loss {stats['train_loss']:.4f}", epoch=epoch, max_epoch=num_epochs, kpi={"train_loss": round(stats["train_loss"], 5), **kpi})
            log(f"epoch {epoch + 1}/{num_epochs}: " + json.dumps({k: (float(f"{v:.5g}") if isinstance(v, float) else v) for k, v in row.items()}))
        runtime.barrier(ctx)
    if ctx.is_main:
        runtime.plot_history(out, history)
        if status:
            status.write("SUCCESS", f"{recipe.past} {num_epochs} epochs; checkpoints in {out}")
    runtime.teardown(ctx)
    return 0
