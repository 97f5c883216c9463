"""The job store: unique ids, atomic records, append-only transitions, prefix lookup, listing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skillrun.contracts.job import BackendRef, JobRecord, JobState, Launch, Transition, utcnow
from skillrun.errors import ResolutionError, SkillrunError
from skillrun.record.store import JobStore


def make(store: JobStore, skill: str = "demo", action: str = "train", **kw: object) -> JobRecord:
    job_id = store.reserve(skill, action)
    now = utcnow()
    rec = JobRecord(
        id=job_id,
        skill=skill,
        action=action,
        engine="script",
        backend=BackendRef(name="local"),
        results_dir=str(store.job_dir(job_id) / "results"),
        spec_file=str(store.job_dir(job_id) / "spec.yaml"),
        launch=Launch(argv=["true"], cwd="/"),
        transitions=[Transition(state=JobState.PENDING, at=now, by="test")],
        created_at=now,
        **kw,
    )
    return store.create(rec)


def test_ids_are_unique_and_shaped(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    ids = {store.reserve("rtdetr", "train") for _ in range(300)}
    assert len(ids) == 300
    assert all(i.startswith("rtdetr-train-") and len(i.rsplit("-", 1)[1]) == 6 for i in ids)
    assert all((tmp_path / "jobs" / i / "logs").is_dir() for i in ids)


def test_claim_refuses_an_id_in_use(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    assert store.claim("demo-train-abcdef")
    assert not store.claim("demo-train-abcdef")


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    rec = make(store)
    with pytest.raises(SkillrunError, match="already has a record"):
        store.create(rec)


def test_record_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    rec = make(store)
    store.move(rec.id, JobState.RUNNING, by="test")
    store.move(rec.id, JobState.COMPLETE, by="test", exit_code=0, metrics={"val_mAP": 0.5})
    back = store.load(rec.id)
    assert back.state is JobState.COMPLETE and back.metrics == {"val_mAP": 0.5}
    assert [t.state for t in back.transitions] == [JobState.PENDING, JobState.RUNNING, JobState.COMPLETE]
    leftovers = [p.name for p in store.job_dir(rec.id).iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_terminal_state_is_not_overwritten_by_a_late_writer(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    rec = make(store)
    store.move(rec.id, JobState.CANCELED, by="cancel")
    after = store.move(rec.id, JobState.COMPLETE, by="runner")  # arrives too late: ignored
    assert after.state is JobState.CANCELED
    assert len(after.transitions) == 2


def test_disallowed_transition_raises(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    rec = make(store)
    with pytest.raises(ValueError, match="cannot go from PENDING to COMPLETE"):
        rec.moved(JobState.COMPLETE, by="test")


def test_history_cannot_be_rewritten(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    rec = make(store)
    store.move(rec.id, JobState.RUNNING, by="test")
    with pytest.raises(SkillrunError, match="history"):
        store.update(rec.id, lambda r: r.model_copy(update={"transitions": r.transitions[:1]}))
    assert store.load(rec.id).state is JobState.RUNNING


def test_resolve_id_by_prefix(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    a = make(store, "alpha")
    make(store, "beta")
    make(store, "beta")
    assert store.resolve_id(a.id) == a.id
    assert store.resolve_id("alpha-") == a.id
    with pytest.raises(ResolutionError) as amb:
        store.resolve_id("beta-")
    assert amb.value.exit_code == 3 and len(amb.value.data["found"]) == 2
    with pytest.raises(ResolutionError) as unknown:
        store.resolve_id("gamma")
    assert unknown.value.exit_code == 3 and "skillrun jobs" in (unknown.value.hint or "")


def test_query_filters_and_orders_newest_first(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    first = make(store, "alpha")
    second = make(store, "beta")
    store.move(second.id, JobState.ERROR, by="test")
    (store.root / "not-a-job").mkdir()  # a stray folder is skipped
    (store.root / "broken-x-000000").mkdir()
    (store.root / "broken-x-000000" / "job.json").write_text("{torn")
    assert [r["id"] for r in store.query()] == [second.id, first.id]
    assert [r["id"] for r in store.query(skill="alpha")] == [first.id]
    assert [r["id"] for r in store.query(state="ERROR")] == [second.id]


def test_job_json_is_readable_by_other_tools(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    rec = make(store)
    data = json.loads((store.job_dir(rec.id) / "job.json").read_text())
    assert data["state"] == "PENDING" and data["transitions"][0]["by"] == "test"
    assert oct(os.stat(store.job_dir(rec.id) / "job.json").st_mode & 0o777) == "0o644"
