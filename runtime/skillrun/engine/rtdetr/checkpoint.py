"""Checkpoints: ``model_epoch_NNN.pth`` written atomically, and models rebuilt from them.

A checkpoint holds everything the next action needs without the train spec: the
weights (and EMA weights), optimizer, scheduler, scaler, epoch, the resolved spec,
the architecture config and the class map. It is written under a temp name and
renamed, so ``--parent JOB:best`` never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from skillrun.contracts.results import checkpoint_name


def save_checkpoint(folder: Path, epoch: int, payload: dict[str, Any]) -> Path:
    """Write ``folder/model_epoch_NNN.pth`` atomically; returns its path."""
    import torch

    path = folder / checkpoint_name(epoch)
    tmp = folder / f".{path.name}.tmp"
    torch.save(payload, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """One of our checkpoints; a clear error for anything else."""
    import torch

    ckpt = torch.load(Path(path), map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        msg = f"{path}: not a skillrun RT-DETR checkpoint (no model / model_config inside)"
        raise ValueError(msg)
    return ckpt


def model_from_checkpoint(path: str | Path, *, use_ema: bool = True) -> tuple[Any, dict[str, Any]]:
    """The model a checkpoint describes, with its (EMA) weights, in eval mode; and the checkpoint."""
    from skillrun.engine.rtdetr.model import build_model

    ckpt = load_checkpoint(path)
    model = build_model(ckpt["model_config"])
    state = ckpt.get("ema") if use_ema and ckpt.get("ema") else ckpt["model"]
    model.load_state_dict(state)
    model.eval()
    return model, ckpt
