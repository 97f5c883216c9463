"""``--parent JOB[:selector]``: which file of which job a child takes (resolve_parent).

The parents are job records and results folders the tests build by hand; no job runs here.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Sequence

import pytest

from skillrun.contracts.job import BackendRef, JobRecord, JobState, Launch, Transition, utcnow
from skillrun.contracts.results import BEST_REC_FILE, STATUS_FILE, checkpoint_name
from skillrun.errors import ResolutionError, UsageError
from skillrun.record.store import RESULTS, SPEC, JobStore
from skillrun.resolve.parents import resolve_parent

# -- builders (also used by test_params.py) ----------------------------------------------


def zip_bytes(tag: str = "weights") -> bytes:
    """A small real zip archive, like what ``torch.save`` writes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("archive/data.pkl", tag * 100)
    return buf.getvalue()


def make_job(
    store: JobStore,
    action: str = "train",
    *,
    skill: str = "rtdetr",
    state: JobState = JobState.COMPLETE,
    job_id: str | None = None,
) -> JobRecord:
    """A job record (claim + create) whose results_dir is ``<job>/results``; its action folder exists, empty."""
    if job_id is None:
        job_id = store.reserve(skill, action)
    else:
        assert store.claim(job_id)
    results = store.job_dir(job_id) / RESULTS
    (results / action).mkdir(parents=True)
    now = utcnow()
    steps = [Transition(state=JobState.PENDING, at=now, by="test")]
    if state is not JobState.PENDING:
        steps.append(Transition(state=JobState.RUNNING, at=now, by="test"))
    if state not in (JobState.PENDING, JobState.RUNNING):
        steps.append(Transition(state=state, at=now, by="test"))
    record = JobRecord(
        id=job_id,
        skill=skill,
        action=action,
        engine="builtin",
        backend=BackendRef(name="local"),
        results_dir=str(results),
        spec_file=str(store.job_dir(job_id) / SPEC),
        launch=Launch(argv=["true"], cwd=str(store.workspace)),
        state=state,
        transitions=steps,
        created_at=now,
    )
    return store.create(record)


def action_dir(record: JobRecord) -> Path:
    return Path(record.results_dir) / record.action


def write_checkpoints(record: JobRecord, scores: Sequence[float]) -> list[Path]:
    """model_epoch_000.pth ... one per score, and status.json with ``val_mAP`` per (zero-indexed) epoch."""
    folder = action_dir(record)
    paths = []
    for epoch in range(len(scores)):
        path = folder / checkpoint_name(epoch)
        path.write_bytes(zip_bytes(f"epoch{epoch}"))
        paths.append(path)
    write_status(folder, scores)
    return paths


def write_status(folder: Path, scores: Sequence[float]) -> None:
    lines = [{"status": "STARTED", "max_epoch": len(scores)}]
    lines += [{"status": "RUNNING", "epoch": e, "max_epoch": len(scores), "kpi": {"val_mAP": s}} for e, s in enumerate(scores)]
    (folder / STATUS_FILE).write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def write_onnx(record: JobRecord, *names: str) -> list[Path]:
    paths = []
    for name in names or ("model.onnx",):
        path = action_dir(record) / name
        path.write_bytes(b"onnx bytes")
        paths.append(path)
    return paths


def write_best_rec(study: JobRecord, child_id: str, *, at_root: bool = False) -> Path:
    folder = Path(study.results_dir) if at_root else action_dir(study)
    path = folder / BEST_REC_FILE
    path.write_text(json.dumps({"job_id": child_id, "metric": "val_mAP", "direction": "maximize", "value": 0.7}), encoding="utf-8")
    return path


# -- selectors -------------------------------------------------------------------------------


def test_best_is_the_default_and_selectors_pick_different_files(store: JobStore, trained: JobRecord) -> None:
    folder = action_dir(trained)
    default = resolve_parent(store, trained.id)
    best = resolve_parent(store, f"{trained.id}:best")
    latest = resolve_parent(store, f"{trained.id}:latest")
    epoch2 = resolve_parent(store, f"{trained.id}:epoch=2")

    assert default.path == best.path == folder / "model_epoch_001.pth"
    assert default.selector == "best"
    assert default.selection is not None and default.selection.metric == "val_mAP" and default.selection.value == pytest.approx(0.7)
    assert latest.path == folder / "model_epoch_003.pth"
    assert latest.selector == "latest"
    assert epoch2.path == folder / "model_epoch_002.pth"
    assert epoch2.selector == "epoch=2"
    assert len({default.path, latest.path, epoch2.path}) == 3
    for art in (default, latest, epoch2):
        assert art.kind == "checkpoint"
        assert art.folder == folder
        assert art.job.id == trained.id
        assert art.via == [] and art.notes == []


def test_epochs_are_zero_indexed(store: JobStore, trained: JobRecord) -> None:
    assert resolve_parent(store, f"{trained.id}:epoch=0").path.name == "model_epoch_000.pth"
    with pytest.raises(ResolutionError) as err:
        resolve_parent(store, f"{trained.id}:epoch=4")  # 4 epochs are 0..3
    assert err.value.exit_code == 3
    assert err.value.data["found"] == [0, 1, 2, 3]
    assert "zero-indexed" in err.value.message


@pytest.mark.parametrize("how", ["temp-name", "truncated"])
def test_a_checkpoint_being_written_is_never_picked(store: JobStore, how: str) -> None:
    record = make_job(store)
    folder = action_dir(record)
    write_checkpoints(record, [0.1, 0.2, 0.3])
    write_status(folder, [0.1, 0.2, 0.3, 0.9, 0.95])  # epochs 3 and 4 scored best but are not (fully) saved
    whole = zip_bytes("epoch4")
    (folder / ".model_epoch_004.pth.tmp").write_bytes(whole)
    if how == "truncated":
        (folder / "model_epoch_003.pth").write_bytes(whole[: len(whole) // 2])

    best = resolve_parent(store, record.id)
    latest = resolve_parent(store, f"{record.id}:latest")
    assert best.path.name == latest.path.name == "model_epoch_002.pth"
    assert any("no complete checkpoint" in n for n in best.notes)
    with pytest.raises(ResolutionError):
        resolve_parent(store, f"{record.id}:epoch=3")
    with pytest.raises(ResolutionError):
        resolve_parent(store, f"{record.id}:epoch=4")


def test_bad_selector_is_a_usage_error(store: JobStore, trained: JobRecord) -> None:
    with pytest.raises(UsageError) as err:
        resolve_parent(store, f"{trained.id}:newest")
    assert err.value.exit_code == 2
    with pytest.raises(UsageError):
        resolve_parent(store, ":best")


# -- which job ----------------------------------------------------------------------------------


def test_job_id_may_be_a_unique_prefix(store: JobStore, trained: JobRecord) -> None:
    other = make_job(store, "evaluate")
    assert resolve_parent(store, trained.id[:-2]).job.id == trained.id
    assert resolve_parent(store, f"{trained.id[:-2]}:latest").path.name == "model_epoch_003.pth"
    assert other.id != trained.id
    make_job(store, job_id="rtdetr-train-" + ("abcdef" if not trained.id.endswith("abcdef") else "abcde0"))
    with pytest.raises(ResolutionError) as err:
        resolve_parent(store, "rtdetr-train-")
    assert err.value.exit_code == 3
    assert trained.id in err.value.data["found"]


def test_unknown_job_lists_recent_ids(store: JobStore, trained: JobRecord) -> None:
    with pytest.raises(ResolutionError) as err:
        resolve_parent(store, "rtdetr-train-000000:latest")
    assert err.value.exit_code == 3
    assert "rtdetr-train-000000" in err.value.message
    assert trained.id in err.value.data["found"]


def test_unknown_job_in_an_empty_workspace(store: JobStore) -> None:
    with pytest.raises(ResolutionError) as err:
        resolve_parent(store, "rtdetr-train-000000")
    assert err.value.exit_code == 3
    assert err.value.data["found"] == []


def test_parent_without_checkpoints_lists_what_it_found(store: JobStore) -> None:
    record = make_job(store, state=JobState.ERROR)
    folder = action_dir(record)
    write_status(folder, [0.5])
    (folder / ".model_epoch_000.pth.tmp").write_bytes(zip_bytes())
    with pytest.raises(ResolutionError) as err:
        resolve_parent(store, record.id)
    assert err.value.exit_code == 3
    assert sorted(err.value.data["found"]) == [".model_epoch_000.pth.tmp", STATUS_FILE]
    assert "being written" in (err.value.hint or "")


def test_parent_whose_results_folder_is_gone(store: JobStore) -> None:
    record = make_job(store)
    action_dir(record).rmdir()
    with pytest.raises(ResolutionError) as err:
        resolve_parent(store, f"{record.id}:latest")
    assert err.value.exit_code == 3
    assert err.value.data["found"] == []
    assert "does not exist" in err.value.message


# -- export parents ----------------------------------------------------------------------------


def test_export_parent_yields_its_onnx_file(store: JobStore) -> None:
    export = make_job(store, "export")
    (onnx,) = write_onnx(export)
    (action_dir(export) / STATUS_FILE).write_text('{"status": "SUCCESS"}\n')
    for text in (export.id, f"{export.id}:best", f"{export.id}:"):
        art = resolve_parent(store, text)
        assert art.kind == "onnx"
        assert art.path == onnx
        assert art.folder == action_dir(export)
        assert art.selector == "onnx"
        assert art.selection is None


def test_export_parent_with_two_onnx_files_is_ambiguous(store: JobStore) -> None:
    export = make_job(store, "export")
    write_onnx(export, "model.onnx", "model_fp16.onnx")
    with pytest.raises(ResolutionError) as err:
        resolve_parent(store, export.id)
    assert err.value.exit_code == 3
    assert err.value.data["found"] == ["model.onnx", "model_fp16.onnx"]
    assert "ambiguous" in err.value.message


@pytest.mark.parametrize("selector", ["epoch=2", "latest"])
def test_checkpoint_selector_on_an_export_parent_is_a_usage_error(store: JobStore, selector: str) -> None:
    export = make_job(store, "export")
    write_onnx(export)
    with pytest.raises(UsageError) as err:
        resolve_parent(store, f"{export.id}:{selector}")
    assert err.value.exit_code == 2
    assert export.id in (err.value.hint or "")


# -- AutoML studies -----------------------------------------------------------------------------


def test_automl_study_is_followed_to_its_best_child(store: JobStore, trained: JobRecord) -> None:
    study = make_job(store)
    write_best_rec(study, trained.id)
    art = resolve_parent(store, study.id)
    assert art.job.id == trained.id
    assert art.via == [study.id]
    assert art.path == action_dir(trained) / "model_epoch_001.pth"
    assert resolve_parent(store, f"{study.id}:latest").path == action_dir(trained) / "model_epoch_003.pth"


def test_best_rec_at_the_results_root_is_followed_too(store: JobStore, trained: JobRecord) -> None:
    study = make_job(store)
    write_best_rec(study, trained.id, at_root=True)
    assert resolve_parent(store, study.id).job.id == trained.id


def test_best_rec_naming_a_missing_job(store: JobStore) -> None:
    study = make_job(store)
    write_best_rec(study, "rtdetr-train-dead00")
    with pytest.raises(ResolutionError) as err:
        resolve_parent(store, study.id)
    assert err.value.exit_code == 3
    assert "rtdetr-train-dead00" in err.value.message
    assert study.id in (err.value.hint or "")


def test_best_rec_that_is_not_json(store: JobStore) -> None:
    study = make_job(store)
    (action_dir(study) / BEST_REC_FILE).write_text('{"job_id": "rtdetr-tr')
    with pytest.raises(ResolutionError) as err:
        resolve_parent(store, study.id)
    assert "not valid JSON" in err.value.message


def test_a_chain_of_studies_reaches_the_child(store: JobStore, trained: JobRecord) -> None:
    outer, inner = make_job(store), make_job(store)
    write_best_rec(outer, inner.id)
    write_best_rec(inner, trained.id)
    art = resolve_parent(store, f"{outer.id}:epoch=2")
    assert art.job.id == trained.id
    assert art.via == [outer.id, inner.id]
    assert art.path == action_dir(trained) / "model_epoch_002.pth"


def test_a_study_naming_itself_is_an_error_not_a_hang(store: JobStore) -> None:
    study = make_job(store)
    write_best_rec(study, study.id)
    with pytest.raises(ResolutionError) as err:
        resolve_parent(store, study.id)
    assert err.value.exit_code == 3
    assert "without reaching" in err.value.message


@pytest.mark.parametrize("state", [JobState.RUNNING, JobState.ERROR, JobState.CANCELED])
def test_a_parent_not_complete_adds_a_note(store: JobStore, state: JobState) -> None:
    record = make_job(store, state=state)
    write_checkpoints(record, [0.3, 0.1])
    art = resolve_parent(store, record.id)
    assert art.path.name == "model_epoch_000.pth"
    assert art.notes == [f"parent {record.id} is {state.value}, not COMPLETE"]


def test_a_complete_parent_has_no_note(store: JobStore, trained: JobRecord) -> None:
    assert resolve_parent(store, trained.id).notes == []
