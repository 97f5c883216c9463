"""``rtdetr train`` end to end (skillrun.engine.rtdetr.train): checkpoints, status, resume, DDP, precision, preflight.

Every training here is real, on the ``tiny`` preset: 8 training / 4 validation images of
64 px, batch 4 (two iterations an epoch), no workers, 20 queries. The jobs go through
``skillrun.run`` / ``skillrun.resume``, i.e. the recorded job, the launched
``python -m skillrun.engine rtdetr train`` process (or torchrun) and the job record.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("pycocotools")

import skillrun  # noqa: E402
from skillrun.data.sdg import generate_coco  # noqa: E402
from skillrun.errors import SpecError  # noqa: E402

SPARSE = [201, 305, 412]
NAMES = ["pallet", "box", "cone"]
SIZE = 64
ITERS_PER_EPOCH = 2  # 8 training images / batch 4 (drop_last)
CUDA = torch.cuda.is_available()
#: resumed vs uninterrupted loss: CPU float reduction order only; CUDA's deformable-attention backward
#: accumulates with atomics (not bit-reproducible), so allow more there
RESUME_TOL = 1e-2 if CUDA else 1e-4


def _data(root: Path) -> Any:
    return generate_coco(root, splits={"train": 8, "val": 4}, image_size=(SIZE, SIZE), seed=0)


def _overrides(data: Any, epochs: int, *extra: str) -> list[str]:
    tr, va = data.splits["train"], data.splits["val"]
    return [
        "model.backbone=tiny",
        "model.num_queries=20",
        "model.num_select=20",
        "model.num_denoising=10",
        "dataset.num_classes=auto",
        "dataset.batch_size=4",
        "dataset.workers=0",
        f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]",
        f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}",
        f"dataset.augmentation.train_spatial_size=[{SIZE},{SIZE}]",
        f"dataset.augmentation.eval_spatial_size=[{SIZE},{SIZE}]",
        "dataset.augmentation.multi_scales=[]",
        f"train.num_epochs={epochs}",
        "train.checkpoint_interval=1",
        "train.validation_interval=1",
        "train.optim.warmup_steps=5",
        "train.num_gpus=1",
        "train.gpu_ids=[0]",
        *extra,
    ]


def _run(data: Any, epochs: int, *extra: str, workspace: Path | None = None, wait: bool = True) -> Any:
    return skillrun.run("rtdetr", "train", overrides=_overrides(data, epochs, *extra), automl="off", workspace=workspace, wait=wait)


def _checkpoints(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("model_epoch_*.pth"))


def _load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def _events(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "status.json").read_text().splitlines() if line.strip()]


def _rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _complete(job: Any) -> Any:
    rec = job.record
    assert rec.state.value == "COMPLETE", f"{rec.state.value}: {rec.error_class}: {rec.error_message}\n{job.log_text()[-3000:]}"
    return job


# --- the module's training jobs, launched together -----------------------------------------------------------


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every training job of this module, started side by side and awaited; each test checks its own.

    ``two`` (2 epochs, resumed later by ``test_resume_*``) and ``four`` (the same seed, 4 epochs
    uninterrupted); ``ddp`` (2 ranks); ``bf16``; ``fp16`` (fails on CPU). The jobs are mostly
    process start-up and first-iteration warm-up, so running them concurrently roughly halves the
    module's time. OMP_NUM_THREADS=1 (inherited by the jobs) keeps them from oversubscribing the
    cores and fixes the thread count the resume comparison relies on. The 2-epoch job's files are
    snapshotted here, before the resume test rewrites its folder. The workspace is passed explicitly
    because the autouse SKILLRUN_HOME fixture is per test.
    """
    root = tmp_path_factory.mktemp("train-jobs")
    data = _data(root / "data")
    ws = root / "ws"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        out: dict[str, Any] = {
            "two": _run(data, 2, workspace=ws, wait=False),
            "four": _run(data, 4, workspace=ws, wait=False),
            "ddp": None if CUDA else _run(data, 1, "train.num_gpus=2", "train.gpu_ids=[0,1]", workspace=ws, wait=False),
            "bf16": _run(data, 1, "train.precision=bf16", workspace=ws, wait=False),
            "fp16": None if CUDA else _run(data, 1, "train.precision=fp16", workspace=ws, wait=False),
        }
    for job in out.values():
        if job is not None:
            job.wait(600)
    two = out["two"]
    snap = None
    if two.record.state.value == "COMPLETE":
        folder = two.action_dir
        snap = {
            "files": sorted(p.name for p in folder.iterdir()),
            "checkpoints": _checkpoints(folder),
            "events": _events(folder),
            "rows": _rows(folder),
            "last": _load(folder / "model_epoch_001.pth"),
            "metrics": dict(two.record.metrics),
        }
    return {**out, "data": data, "ws": ws, "snap": snap}


def test_train_writes_checkpoints_status_and_metrics(jobs: dict[str, Any]) -> None:
    two = _complete(jobs["two"])
    snap = jobs["snap"]
    assert two.action_dir == two.results_dir / "train"
    assert snap["checkpoints"] == ["model_epoch_000.pth", "model_epoch_001.pth"]
    assert {"model_epoch_000.pth", "model_epoch_001.pth", "status.json", "metrics.jsonl", "metrics.csv", "training.png"} <= set(snap["files"])
    assert not [f for f in snap["files"] if f.endswith(".tmp")]  # atomic writes leave no temp files

    events = snap["events"]
    assert [e["status"] for e in events] == ["STARTED", "RUNNING", "RUNNING", "SUCCESS"]
    running = [e for e in events if e["status"] == "RUNNING"]
    assert [e["epoch"] for e in running] == [0, 1]
    assert all(e["max_epoch"] == 2 for e in running)
    for e in running:
        kpi = e["kpi"]
        assert {"train_loss", "val_mAP", "val_mAP50"} <= set(kpi)
        assert {f"AP_{n}" for n in NAMES} <= set(kpi)  # per-class AP keyed by category name, not by id
        assert math.isfinite(kpi["train_loss"]) and kpi["train_loss"] > 0
        assert all(0.0 <= kpi[k] <= 1.0 for k in kpi if k.startswith(("val_mAP", "AP_")))

    rows = snap["rows"]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all({"train_loss", "lr", "val_mAP", "val_mAP50"} <= set(r) for r in rows)
    assert rows[1]["train_loss"] == pytest.approx(running[1]["kpi"]["train_loss"], abs=1e-4)
    csv_lines = (two.action_dir / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,") and len(csv_lines) >= 3

    ckpt = snap["last"]
    assert {"model", "ema", "optimizer", "scheduler", "epoch", "spec", "class_map", "model_config", "history"} <= set(ckpt)
    assert ckpt["epoch"] == 1
    assert ckpt["class_map"]["category_ids"] == SPARSE
    assert ckpt["class_map"]["names"] == NAMES
    assert ckpt["ema"] is not None and set(ckpt["ema"]) == set(ckpt["model"])
    assert ckpt["scheduler"]["last_epoch"] == 2 * ITERS_PER_EPOCH
    assert ckpt["spec"]["train"]["num_epochs"] == 2 and ckpt["spec"]["dataset"]["num_classes"] == 3
    assert ckpt["model_config"]["backbone_preset"] == "tiny"
    assert [h["epoch"] for h in ckpt["history"]] == [0, 1]

    metrics = snap["metrics"]
    assert {"best_val_mAP", "best_epoch", "last_epoch", "train_loss", "val_mAP"} <= set(metrics)
    assert metrics["last_epoch"] == 1
    assert metrics["best_val_mAP"] == max(e["kpi"]["val_mAP"] for e in running)


def test_resume_continues_epochs_scheduler_and_loss(jobs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    two, four = _complete(jobs["two"]), jobs["four"]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the thread count the 4-epoch run used
    resumed = _complete(skillrun.resume(two.id, overrides=["train.num_epochs=4"], workspace=jobs["ws"], timeout=600))
    assert resumed.id == two.id and resumed.action_dir == two.action_dir  # same job, same folder
    folder = resumed.action_dir
    assert _checkpoints(folder) == [f"model_epoch_{i:03d}.pth" for i in range(4)]

    # the second STARTED (the resumed process) names the epoch it resumes at; its first epoch is 2
    events = _events(folder)
    started = [i for i, e in enumerate(events) if e["status"] == "STARTED"]
    assert len(started) == 2
    second = events[started[1]:]
    assert "resuming at epoch 2" in second[0]["message"] and "model_epoch_001.pth" in second[0]["message"]
    assert [e["epoch"] for e in second if e["status"] == "RUNNING"] == [2, 3]
    assert second[-1]["status"] == "SUCCESS"
    log = resumed.log_text()
    assert "resuming from" in log and "model_epoch_001.pth: epoch 2 of 4" in log

    last = _load(folder / "model_epoch_003.pth")
    assert last["epoch"] == 3
    assert last["scheduler"]["last_epoch"] == 4 * ITERS_PER_EPOCH  # continued from 4 steps, not restarted at 0
    assert [h["epoch"] for h in last["history"]] == [0, 1, 2, 3]
    assert [r["epoch"] for r in _rows(folder)] == [0, 1, 2, 3]
    assert resumed.record.metrics["last_epoch"] == 3

    # The same seed uninterrupted gives the same losses: the checkpoint carries the RNG states
    # (python/numpy/torch and the loader's shuffle generator), and with workers=0 and one process
    # every random draw (shuffle, augmentation, denoising queries) replays. Observed bit-identical
    # here (both jobs ran with OMP_NUM_THREADS=1). The tolerance is for float reduction order only:
    # the same run with 2 intra-op threads instead of 1 moves the epoch-3 loss by ~5e-8 relative,
    # while a resume that re-seeds instead of restoring the RNGs is off by several percent.
    _complete(four)
    full = _load(four.action_dir / "model_epoch_003.pth")
    assert full["scheduler"]["last_epoch"] == last["scheduler"]["last_epoch"]
    for a, b in zip(last["history"], full["history"]):
        assert a["epoch"] == b["epoch"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=RESUME_TOL), (a, b)


# --- distributed, precision ----------------------------------------------------------------------------------


@pytest.mark.skipif(CUDA, reason="the engine takes CUDA (nccl) when present; this checks the CPU gloo path")
def test_ddp_two_processes_on_cpu(jobs: dict[str, Any]) -> None:
    job = _complete(jobs["ddp"])
    folder = job.action_dir
    assert _checkpoints(folder) == ["model_epoch_000.pth"]
    events = _events(folder)
    # rank 0 alone writes: one STARTED, one RUNNING per epoch, one SUCCESS
    assert [e["status"] for e in events] == ["STARTED", "RUNNING", "SUCCESS"]
    assert "2 processes (gloo)" in events[0]["message"]
    assert {"val_mAP", "val_mAP50", *(f"AP_{n}" for n in NAMES)} <= set(events[1]["kpi"])
    log = job.log_text()
    assert "torch.distributed.run" in log and "--nproc-per-node" in log
    assert "world size 2 (gloo)" in log
    assert log.count("world size") == 1  # only rank 0 logs
    # each rank steps on its half of the 8 images: one batch of 4 per epoch
    ckpt = _load(folder / "model_epoch_000.pth")
    assert ckpt["scheduler"]["last_epoch"] == 1
    assert not any(k.startswith("module.") for k in ckpt["model"])  # the unwrapped model, not DDP's
    assert len(_rows(folder)) == 1


def test_bf16_trains_with_finite_loss(jobs: dict[str, Any]) -> None:
    job = _complete(jobs["bf16"])
    assert "precision bf16" in job.log_text()
    rows = _rows(job.action_dir)
    assert len(rows) == 1 and math.isfinite(rows[0]["train_loss"]) and rows[0]["train_loss"] > 0
    ckpt = _load(job.action_dir / "model_epoch_000.pth")
    assert all(v.dtype == torch.float32 for v in ckpt["model"].values() if v.is_floating_point())  # autocast, fp32 weights
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


@pytest.mark.skipif(CUDA, reason="fp16 is valid on CUDA")
def test_fp16_on_cpu_fails_naming_cuda(jobs: dict[str, Any]) -> None:
    # No validation rule covers precision vs device (the device is only known inside the job), so the
    # job itself fails at setup, before any training, with an error that names CUDA and the way out.
    job = jobs["fp16"]
    rec = job.record
    assert rec.state.value == "ERROR"
    assert rec.error_class == "ValueError"
    assert "fp16 needs CUDA" in (rec.error_message or "") and "bf16" in rec.error_message
    events = _events(job.action_dir)
    assert [e["status"] for e in events] == ["FAILURE"]
    assert "CUDA" in events[0]["message"]
    assert not _checkpoints(job.action_dir)


# --- seeded data errors, caught before launch ----------------------------------------------------------------


def _issue(exc: SpecError, code: str) -> Any:
    found = [i for i in exc.issues if i.code == code]
    assert found, f"no {code!r} issue in {[i.render() for i in exc.issues]}"
    return found[0]


def _rejected(skill_action: tuple[str, str], overrides: list[str], code: str, home: Path) -> Any:
    """The issue ``code``, raised by both validate and run, with nothing recorded."""
    skill, action = skill_action
    report = skillrun.validate(skill, action, overrides=overrides)
    assert not report.ok and code in {i.code for i in report.errors}, [i.render() for i in report.errors]
    with pytest.raises(SpecError) as err:
        skillrun.run(skill, action, overrides=overrides, automl="off")
    assert err.value.exit_code == 2
    jobs = home / "jobs"
    assert not jobs.exists() or not any(jobs.iterdir()), "a job was recorded for an invalid spec"
    assert skillrun.jobs() == []
    return _issue(err.value, code)


def test_num_classes_contradicting_the_annotations(tmp_path: Path, _isolated_home: Path) -> None:
    data = _data(tmp_path / "data")
    issue = _rejected(("rtdetr", "train"), _overrides(data, 1, "dataset.num_classes=7"), "num_classes", _isolated_home)
    assert issue.path == "dataset.num_classes" and issue.value == 7
    assert "annotations.json" in issue.message and "3 categories" in issue.message


def test_grayscale_image(tmp_path: Path, _isolated_home: Path) -> None:
    data = _data(tmp_path / "data")
    split = data.splits["train"]
    first = json.loads(Path(split.json_file).read_text())["images"][0]["file_name"]
    path = Path(split.image_dir) / first
    Image.open(path).convert("L").save(path)
    issue = _rejected(("rtdetr", "train"), _overrides(data, 1), "not_rgb", _isolated_home)
    assert issue.path == "dataset.train_data_sources[0].image_dir"
    assert first in issue.message and "(L)" in issue.message


def test_zero_area_bbox(tmp_path: Path, _isolated_home: Path) -> None:
    data = _data(tmp_path / "data")
    split = data.splits["train"]
    coco = json.loads(Path(split.json_file).read_text())
    coco["annotations"][0]["bbox"][2] = 0
    bad_id = coco["annotations"][0]["id"]
    Path(split.json_file).write_text(json.dumps(coco))
    issue = _rejected(("rtdetr", "train"), _overrides(data, 1), "bad_boxes", _isolated_home)
    assert issue.path == "dataset.train_data_sources[0].json_file"
    assert issue.value == str(split.json_file)
    assert f"annotation ids {bad_id}" in issue.message


def test_batch_larger_than_training_set(tmp_path: Path, _isolated_home: Path) -> None:
    data = _data(tmp_path / "data")
    issue = _rejected(("rtdetr", "train"), _overrides(data, 1, "dataset.batch_size=16"), "batch_too_large", _isolated_home)
    assert issue.path == "dataset.batch_size" and issue.value == 16
    assert "8 training image" in issue.message


def test_export_size_not_divisible_by_32(tmp_path: Path, _isolated_home: Path) -> None:
    ckpt = tmp_path / "model_epoch_000.pth"
    ckpt.write_bytes(b"")  # validation only checks that the input exists
    overrides = [f"export.checkpoint={ckpt}", "export.input_height=650", "export.input_width=640"]
    issue = _rejected(("rtdetr", "export"), overrides, "rule:export-height-divisible-by-32", _isolated_home)
    assert issue.path == "export.input_height" and issue.value == 650
    assert "650" in issue.message and "32" in issue.message
