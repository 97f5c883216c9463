"""``rtdetr distill``: a student trained with a teacher does not end up worse (beyond seed noise) than the same student alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from skillrun.engine.rtdetr import distill, train  # noqa: E402
from skillrun.engine.rtdetr.checkpoint import load_checkpoint  # noqa: E402
from skillrun.engine.rtdetr.distill_losses import iou_feature_loss  # noqa: E402
from tests.engine.conftest import Trained, last_row, one_thread, tiny_spec  # noqa: E402

STUDENT = {"hidden_dim": 32}  # half the teacher's width: the srcs binding needs projections
EPOCHS = 30
#: srcs -> srcs IOU as in the template, at weight 0.25: on this toy set the weight-1.0 default ended 0.0017 mAP
#: below the student alone, 0.25 0.0096 above (within the noise of 16 val images: see the closing note of issue 8)
#: mAP the distilled student may end below the student alone: half the seed-to-seed spread measured on this set
NOISE = 0.005
BINDINGS = [{"student_module_name": "srcs", "teacher_module_name": "srcs", "criterion": "IOU", "weight": 0.25}]


def _student(trained: Trained, name: str, **extra: Any) -> dict[str, Any]:
    return tiny_spec(trained.root / name, trained.train, trained.val, epochs=EPOCHS, lr=1e-3, model=STUDENT, **extra)


def test_distilled_student_is_not_worse_than_the_student_alone(trained: Trained) -> None:
    alone = trained.root / "alone" / "train"
    dist = trained.root / "distilled" / "distill"
    spec = _student(trained, "distilled", distill={"pretrained_teacher_model_path": str(trained.checkpoint), "bindings": BINDINGS})
    with one_thread():
        assert train.run(_student(trained, "alone"), alone) == 0
        assert distill.run(spec, dist) == 0
    a, d = last_row(alone), last_row(dist)
    print(f"\nteacher (32 images, 50 epochs) val_mAP {trained.val_mAP:.4f}; student (16 images, {EPOCHS} epochs, hidden_dim 32) alone {a['val_mAP']:.4f} "
          f"(mAP50 {a['val_mAP50']:.4f}), distilled {d['val_mAP']:.4f} (mAP50 {d['val_mAP50']:.4f})")
    # Not "better": benchmarks/distill_gain.py measured +0.003 mAP on average over 8 seeds, 4 of 8 better, a
    # seed-to-seed spread of about 0.01 on these 16 val images. A distilled student this far below the student
    # alone would mean distillation hurt; within the noise it says nothing (with transformers 5.24 this seed
    # ends 0.0012 below, with 5.23 it ended above).
    assert d["val_mAP"] >= a["val_mAP"] - NOISE, f"distilled {d['val_mAP']:.4f} is more than {NOISE} below the student alone ({a['val_mAP']:.4f})"
    assert d["val_mAP"] != a["val_mAP"] and "distill_srcs_iou_0" in d  # the teacher's loss took part
    ckpt = load_checkpoint(dist / f"model_epoch_{EPOCHS - 1:03d}.pth")
    assert ckpt["distill"]["heads"] and ckpt["distill"]["teacher"] == str(trained.checkpoint)
    assert not any(k.startswith(("heads.", "student.")) for k in ckpt["model"])  # the student alone: export/evaluate load it as is
    assert "distilled" in (dist / "status.json").read_text()


def test_resume_restores_the_projection_heads(trained: Trained) -> None:
    logits = {"student_module_name": "logits", "teacher_module_name": "logits", "criterion": "KL", "weight": 4.0}
    spec = tiny_spec(trained.root / "resume", trained.train, trained.val, epochs=2, lr=1e-3, model=STUDENT,
                     distill={"pretrained_teacher_model_path": str(trained.checkpoint), "bindings": [*BINDINGS, logits]})
    spec["train"].update(checkpoint_interval=1, validation_interval=1)
    out = trained.root / "resume" / "distill"
    resumed = dict(spec, train={**spec["train"], "num_epochs": 3, "resume_training_checkpoint_path": str(out / "model_epoch_000.pth")})
    recipe = distill.DistillRecipe(resumed["distill"])
    with one_thread():
        assert distill.run(spec, out) == 0
        assert train.fit(resumed, trained.root / "resume2" / "distill", recipe) == 0
    first = load_checkpoint(out / "model_epoch_000.pth")
    assert recipe.module is not None and set(recipe.module.heads.state_dict()) == set(first["distill"]["heads"])
    assert [r["epoch"] for r in [last_row(trained.root / "resume2" / "distill")]] == [2]


def test_iou_feature_loss_is_zero_only_for_equal_maps() -> None:
    x = torch.randn(2, 4, 3, 3)
    assert float(iou_feature_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert 0.0 < float(iou_feature_loss(x, 2 * x)) < 1.0
    assert float(iou_feature_loss(x, -x)) == pytest.approx(1.0, abs=1e-6)


def test_bindings_are_checked_before_training() -> None:
    with pytest.raises(ValueError, match=r"distill.bindings\[0\].*IOU bindings must use srcs or dsrcs"):
        distill.check_bindings([{"student_module_name": "logits", "teacher_module_name": "logits", "criterion": "IOU"}])


def test_a_wrong_binding_fails_validation_with_its_dotted_path(cli: Any, trained: Trained) -> None:
    res = cli("validate", "rtdetr", "distill", "--no-data", "--json", "results_dir=/tmp/unused",
              f"dataset.train_data_sources=[{{image_dir: {trained.train['image_dir']}, json_file: {trained.train['json_file']}}}]",
              f"dataset.val_data_sources={{image_dir: {trained.val['image_dir']}, json_file: {trained.val['json_file']}}}",
              f"distill.pretrained_teacher_model_path={trained.checkpoint}",
              "distill.bindings=[{student_module_name: srcs, teacher_module_name: srcs, criterion: IOU}, {student_module_name: logits, teacher_module_name: logits, criterion: IOU}]")
    assert res.code == 2, res.out
    paths = {e["path"] for e in res.json()["errors"]}
    assert paths == {"distill.bindings[1].student_module_name", "distill.bindings[1].teacher_module_name"}
    assert not Path("/tmp/unused").exists()
