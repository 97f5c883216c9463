"""Process-level plumbing shared by the rtdetr actions: devices, ranks, loaders, validation, history files.

One place decides the device (CUDA when present, else CPU), the distributed
backend (nccl on CUDA, gloo on CPU), which rank writes, and how a run ends
(``destroy_process_group`` on the success path only, PITFALLS §5).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillrun.engine.rtdetr.loop import Precision


@dataclass
class Ctx:
    device: Any
    rank: int
    world: int
    local_rank: int
    precision: Precision

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def log(self, message: str) -> None:
        if self.is_main:
            print(message, flush=True)


def setup(seed: int, precision: str) -> Ctx:
    """Device, process group and seeds for this process (each rank offsets the seed by its rank)."""
    import numpy as np
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    if precision == "fp16" and not cuda:
        msg = "train.precision=fp16 needs CUDA; on CPU use bf16 or fp32"
        raise ValueError(msg)
    random.seed(seed + rank)
    np.random.seed((seed + rank) % (2**32))
    torch.manual_seed(seed + rank)
    return Ctx(device, rank, world, local, Precision(precision, "cuda" if cuda else "cpu"))


def backend_name(ctx: Ctx) -> str:
    """The process-group backend this run uses (or would use): nccl on CUDA, gloo on CPU."""
    return "nccl" if ctx.device.type == "cuda" else "gloo"


def rng_state(loader: Any, ctx: Ctx) -> dict[str, Any]:
    """The random number generators a training epoch draws from, for an exact resume.

    Python's, numpy's and torch's global generators (augmentation with ``workers=0``,
    denoising queries, dropout) and the training loader's generator (shuffle order and
    per-worker seeds). Saved from rank 0; ``world`` records how many ranks there were.
    """
    import numpy as np
    import torch

    gen = getattr(loader, "generator", None)
    return {
        "world": ctx.world,
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "loader": gen.get_state() if gen is not None else None,
    }


def restore_rng(state: dict[str, Any] | None, loader: Any, ctx: Ctx) -> bool:
    """Put back what :func:`rng_state` saved; only for a single-process run resumed as one.

    Under DDP every rank has its own streams (seed + rank) and only rank 0's are saved,
    so a distributed resume keeps the fresh per-rank seeds from :func:`setup` instead.
    Returns whether anything was restored.
    """
    import numpy as np
    import torch

    if not state or ctx.world != 1 or state.get("world", 1) != 1:
        return False
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    gen = getattr(loader, "generator", None)
    if gen is not None and state.get("loader") is not None:
        gen.set_state(state["loader"])
    return True


def place_model(model: Any, ctx: Ctx) -> Any:
    """Move the model to the device in channels-last layout.

    The backbone and the encoder's input projections are convolutions; oneDNN (CPU) and
    cuDNN (CUDA) run them faster in NHWC. Measured on the tiny CPU recipe: about 1.06x
    images/s (``benchmarks/train_throughput.py``). State dicts are unaffected (loading
    copies into whatever layout the target has).
    """
    import torch

    return model.to(ctx.device, memory_format=torch.channels_last)


def make_optimizer(groups: list[dict[str, Any]], lr: float, ctx: Ctx) -> Any:
    """AdamW over the param groups, with the fused kernel on CPU and CUDA (one kernel per step
    instead of a handful of foreach ops; about 1.05x on the tiny CPU recipe)."""
    import torch

    return torch.optim.AdamW(groups, lr=lr, fused=ctx.device.type in ("cpu", "cuda"))


def as_list(sources: Any) -> list[dict[str, Any]]:
    return list(sources) if isinstance(sources, list) else [sources]


def train_loader(ds: dict[str, Any], class_map: Any, ctx: Ctx, *, seed: int, num_epochs: int) -> tuple[Any, Any]:
    """The training DataLoader (augmented, multi-scale collate, distributed sampler) and its collate.

    Multi-scale stops for the last epoch, which trains at train_spatial_size (RT-DETR's stop_epoch).
    """
    from skillrun.engine.rtdetr.data import CocoDetection, MultiScaleCollate, build_loader
    from skillrun.engine.rtdetr.transforms import build_transforms

    aug = ds.get("augmentation", {})
    dataset = CocoDetection(as_list(ds["train_data_sources"]), class_map, build_transforms(aug, train=True))
    collate = MultiScaleCollate(list(aug.get("multi_scales") or []), stop_epoch=max(1, num_epochs - 1))
    loader = build_loader(dataset, batch_size=ds["batch_size"], workers=ds.get("workers", 0), shuffle=True, drop_last=len(dataset) > ds["batch_size"], collate_fn=collate, seed=seed, rank=ctx.rank, world_size=ctx.world)
    return loader, collate


def eval_loader(source: dict[str, Any], ds: dict[str, Any], class_map: Any, ctx: Ctx) -> Any:
    from skillrun.engine.rtdetr.data import CocoDetection, build_loader, collate
    from skillrun.engine.rtdetr.transforms import build_transforms

    dataset = CocoDetection([source], class_map, build_transforms(ds.get("augmentation", {}), train=False))
    return build_loader(dataset, batch_size=ds["batch_size"], workers=ds.get("workers", 0), shuffle=False, drop_last=False, collate_fn=collate, seed=0)


def wrap_ddp(model: Any, ctx: Ctx) -> Any:
    """DDP when there are several ranks; unused parameters allowed (denoising on box-less batches, PITFALLS §1)."""
    if ctx.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.local_rank] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def eval_ids(ds: dict[str, Any], class_map: Any) -> list[int]:
    ids = ds.get("eval_class_ids")
    return list(ids) if isinstance(ids, list) else list(class_map.category_ids)


def validate(model: Any, loader: Any, source: dict[str, Any], ds: dict[str, Any], class_map: Any, ctx: Ctx, num_select: int) -> dict[str, Any]:
    """COCO validation as a kpi dict: val_mAP, val_mAP50, val_mAP75 and AP_<class> per class."""
    from skillrun.engine.rtdetr.coco_eval import evaluate_coco
    from skillrun.engine.rtdetr.loop import predict

    results = predict(model, loader, device=ctx.device, precision=ctx.precision, num_select=num_select, category_ids=list(class_map.category_ids))
    names = dict(zip(class_map.category_ids, class_map.names))
    m = evaluate_coco(source["json_file"], results, category_ids=eval_ids(ds, class_map), names=names)
    kpi = {"val_mAP": round(m.stats["mAP"], 5), "val_mAP50": round(m.stats["mAP50"], 5), "val_mAP75": round(m.stats["mAP75"], 5)}
    kpi.update({f"AP_{row['name']}": round(row["AP"], 5) for row in m.per_class})
    return kpi


def write_history(out: Path, history: list[dict[str, Any]]) -> None:
    """metrics.jsonl and metrics.csv, one row per epoch (rewritten whole, atomically)."""
    from skillrun.record_io import atomic_write_text

    atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
    keys = list(dict.fromkeys(k for r in history for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    _tensorboard(out, history[-1:] if history else [])


def plot_history(out: Path, history: list[dict[str, Any]]) -> None:
    from skillrun.engine.rtdetr.plots import plot_training

    plot_training(history, out / "training.png")


def _tensorboard(out: Path, rows: list[dict[str, Any]]) -> None:
    """TensorBoard scalars when tensorboard is installed (optional)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return
    with SummaryWriter(str(out / "tensorboard")) as tb:
        for row in rows:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    tb.add_scalar(k, v, row["epoch"])


def barrier(ctx: Ctx) -> None:
    if ctx.world > 1:
        import torch.distributed as dist

        dist.barrier()


def teardown(ctx: Ctx) -> None:
    """End the process group on the success path; a distributed worker then leaves without gloo's teardown."""
    if ctx.world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
