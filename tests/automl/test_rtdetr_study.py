"""One small real study: rtdetr tiny at 64 px, 2 trials of 1 epoch, measured step time, --parent STUDY."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import skillrun  # noqa: E402
from skillrun.data.sdg import generate_coco  # noqa: E402


def test_a_real_rtdetr_study(tmp_path: Path, bank: Any) -> None:
    data = generate_coco(tmp_path / "data", splits={"train": 8, "val": 4}, image_size=(64, 64), seed=0)
    tr, va = data.splits["train"], data.splits["val"]
    overrides = [
        "model.backbone=tiny", "model.num_queries=20", "model.num_select=20", "model.num_denoising=10",
        "dataset.batch_size=4", "dataset.workers=0",
        f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]",
        f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}",
        "dataset.augmentation.train_spatial_size=[64,64]", "dataset.augmentation.eval_spatial_size=[64,64]", "dataset.augmentation.multi_scales=[]",
        "train.num_epochs=1", "train.optim.warmup_steps=5",
        "automl.max_trials=2", "automl.parameters=[train.optim.lr, train.optim.lr_scheduler]",
    ]
    plan = skillrun.plan("rtdetr", "train", overrides=overrides, bank=bank)
    review = plan.study.review
    assert review.estimate.source.startswith("measured 2 steps") and review.estimate.epoch_s > 0  # the engine's own step time
    assert review.estimate.wall_s_expected == pytest.approx(review.estimate.epoch_s * 2, rel=1e-3)
    study = skillrun.run("rtdetr", "train", overrides=overrides, bank=bank, timeout=600)
    assert study.record.state.value == "COMPLETE", study.log_text()
    best = study.best_rec()
    assert best is not None and Path(best.checkpoint).is_file() and best.epoch == 0
    assert set(best.params) == {"train.optim.lr", "train.optim.lr_scheduler"}
    kids = skillrun.jobs(parent=study.id)
    assert len(kids) == 2 and all(k["state"] == "COMPLETE" and k["spec_file"] for k in kids)
    child_spec = (Path(kids[0]["spec_file"])).read_text()
    assert "automl_policy: 'off'" in child_spec or "automl_policy: off" in child_spec
    evaluate = skillrun.plan("rtdetr", "evaluate", parent=study.id, overrides=[f"dataset.test_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}"], bank=bank)
    assert evaluate.spec["evaluate"]["checkpoint"] == best.checkpoint and evaluate.parent.via == [study.id]
