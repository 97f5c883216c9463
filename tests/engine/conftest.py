"""Shared engine fixtures: generated data and one tiny RT-DETR trained long enough to have learned something.

Distill uses it as the teacher; quantize and deploy need a model whose mAP is not 0, or
"within tolerance of fp32" and "equal to PyTorch" would hold trivially.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SIZE = 64
MODEL = {"version": "v2", "backbone": "tiny", "num_queries": 30, "num_select": 30, "num_denoising": 10}


@dataclass(frozen=True)
class Trained:
    """A trained tiny checkpoint and the data it was trained on."""

    root: Path
    train: dict[str, str]
    val: dict[str, str]
    checkpoint: Path
    val_mAP: float


def tiny_spec(results: Path, train: dict[str, str], val: dict[str, str], *, epochs: int, lr: float, model: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A complete train/distill spec for the tiny preset at 64 px (no augmentation but flips, cosine LR)."""
    return {
        "results_dir": str(results),
        "model": {**MODEL, **(model or {})},
        "dataset": {"train_data_sources": [train], "val_data_sources": val, "batch_size": 4, "workers": 0,
                    "augmentation": {"train_spatial_size": [SIZE, SIZE], "eval_spatial_size": [SIZE, SIZE], "multi_scales": [],
                                     "distortion_prob": 0.0, "iou_crop_prob": 0.0, "hflip_prob": 0.5}},
        "train": {"num_epochs": epochs, "checkpoint_interval": epochs, "validation_interval": epochs, "seed": 1, "enable_ema": False, "clip_grad_norm": 0.1,
                  "optim": {"lr": lr, "lr_backbone": 4e-4, "weight_decay": 1e-4, "lr_scheduler": "Cosine", "warmup_steps": 10, "min_lr": 2e-5}},
        **extra,
    }


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread while training: the numbers then do not depend on the core count
    (60 epochs on 1 or 2 threads end at different weights), and two xdist workers on two cores do
    not oversubscribe them (which made every epoch several times slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def last_row(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Generated data (seed 3, 64 px): a 32-image teacher split, a 16-image student split (``train``) and 16 val
    images; a tiny RT-DETR trained 50 epochs on the teacher split (about 30 s on one thread). The teacher sees
    more data than the students, the setting in which distillation has something to pass on."""
    pytest.importorskip("transformers")
    from skillrun.data.sdg import generate_coco
    from skillrun.engine.rtdetr import train

    root = tmp_path_factory.mktemp("trained-tiny")
    data = generate_coco(root / "data", splits={"teacher": 32, "train": 16, "val": 16}, image_size=(SIZE, SIZE), seed=3)
    src = {name: {"image_dir": str(split.image_dir), "json_file": str(split.json_file)} for name, split in data.splits.items()}
    out = root / "teacher" / "train"
    with one_thread():
        assert train.run(tiny_spec(root / "teacher", src["teacher"], src["val"], epochs=50, lr=1e-3), out) == 0
    return Trained(root, src["train"], src["val"], out / "model_epoch_049.pth", float(last_row(out)["val_mAP"]))
