"""Tried as a new user would: Replicator output -> coco-prepare -> rtdetr train with num_classes=auto, no spec edits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

from tests.conftest import REPO  # noqa: E402

TINY = [
    "--automl", "off", "train.num_epochs=1", "train.checkpoint_interval=1", "train.validation_interval=1",
    "dataset.batch_size=2", "dataset.workers=0", "model.num_queries=20", "model.num_select=20", "model.num_denoising=10",
    "dataset.augmentation.train_spatial_size=[64,64]", "dataset.augmentation.eval_spatial_size=[64,64]",
]  # fmt: skip


def test_replicator_tree_prepares_and_trains_unedited(cli: Any, tmp_path: Path) -> None:
    import torch

    from skillrun.data.sdg import generate_coco

    sdg = generate_coco(tmp_path / "synthetic_out", splits={"train": 2, "val": 1}, image_size=(64, 64), seed=7, layout="replicator")
    prep = cli("run", "coco-prepare", "prepare", f"out_root={sdg.root}", "--json")
    assert prep.code == 0, prep.out
    report = json.loads((Path(prep.json()["job"]["results_dir"]) / "prepare" / "report.json").read_text())
    assert report["num_classes"] == 3 and report["eval_class_ids"] == [1, 2, 3]

    # the overrides coco-prepare printed, pasted as they are
    train = cli("run", "rtdetr", "train", "-e", REPO / "examples" / "rtdetr_tiny_cpu.yaml", *TINY, *report["rtdetr_overrides"], "--json")
    assert train.code == 0, train.out
    job = train.json()["job"]
    assert job["state"] == "COMPLETE"
    spec = (Path(job["spec_file"])).read_text()
    assert "coco_annotations.json" in spec and "num_classes: 3" in spec  # derived from the prepared files
    (ckpt_file,) = (Path(job["results_dir"]) / "train").glob("model_epoch_*.pth")
    ckpt = torch.load(ckpt_file, map_location="cpu", weights_only=False)
    assert ckpt["class_map"] == {"category_ids": [1, 2, 3], "names": ["pallet", "box", "cone"]}
    assert (sdg.root / "classmap.txt").read_text().split() == ckpt["class_map"]["names"]
