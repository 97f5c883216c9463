"""Record, then launch: ``start`` (a new job) and ``resume`` (a terminal job, same id and folder).

The job folder is claimed only after :func:`prepare` passed, ``spec.yaml`` is
written with secrets masked, and ``job.json`` exists (PENDING) before the
backend is asked to start anything.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from skillrun import yamlio
from skillrun.contracts.job import BackendRef, JobRecord, JobState, ParentRef, Transition, utcnow
from skillrun.errors import SkillrunError, UsageError
from skillrun.launch.prepare import Prepared, Request, prepare
from skillrun.record.secrets import KEY_ENV, Redactor, secret_values
from skillrun.record.store import SPEC, JobStore
from skillrun.record_io import atomic_write_text

if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank

_PARENT_RESOLVERS = ("parent_model", "parent_model_folder", "ptm_if_no_resume_model")


def start(bank: SkillBank, store: JobStore, req: Request, *, by: str = "cli") -> JobRecord:
    """Check, record and launch a new job; returns its record (PENDING or RUNNING)."""
    for _ in range(16):
        job_id = store.new_id(req.skill, req.action)
        prepared = prepare(bank, store, req, job_id=job_id)
        if store.claim(job_id):
            break
    else:
        msg = f"could not claim a new job id under {store.root}"
        raise SkillrunError(msg)
    try:
        _write_spec(store, prepared)
        prepared.results_dir.mkdir(parents=True, exist_ok=True)
        record = store.create(_new_record(prepared, by))
    except BaseException:
        shutil.rmtree(store.job_dir(job_id), ignore_errors=True)  # nothing half-written is left behind
        raise
    return prepared.backend.submit(record, _env(prepared))


def resume(bank: SkillBank, store: JobStore, job_text: str, req: Request | None = None, *, by: str = "cli") -> JobRecord:
    """Start a terminal job again from its newest complete checkpoint, in the same folder."""
    job_id = store.resolve_id(job_text)
    old = store.load(job_id)
    if not old.state.terminal:
        msg = f"job {job_id} is {old.state.value}; only a finished, failed or canceled job can be resumed"
        raise UsageError(msg, hint=f"wait for it, or stop it first: skillrun cancel {job_id}")
    base = req or Request(old.skill, old.action)
    spec_path = store.job_dir(job_id) / SPEC
    req = Request(
        old.skill,
        old.action,
        spec_file=spec_path,
        overrides=base.overrides,
        overrides_json=base.overrides_json,
        backend=base.backend if req else old.backend.name,
        automl="off" if old.action == "train" else None,
        nproc=base.nproc,
        key=base.key,
        check_data=base.check_data,
    )
    prepared = prepare(bank, store, req, job_id=job_id, resume=True)
    shutil.copy2(spec_path, spec_path.with_name(f"spec.attempt{old.attempts}.yaml"))
    _write_spec(store, prepared)
    note = next((f"resumed from {r.value}" for r in prepared.resolved if r.resolver == "resume_model"), "resumed")
    record = store.update(
        job_id,
        lambda rec: rec.moved(
            JobState.PENDING,
            by=by,
            note=note,
            attempts=rec.attempts + 1,
            launch=prepared.launch,
            backend=BackendRef(name=prepared.backend.NAME),
            exit_code=None,
            error_class=None,
            error_message=None,
        ),
    )
    return prepared.backend.submit(record, _env(prepared))


def _new_record(p: Prepared, by: str) -> JobRecord:
    parent = None
    if p.parent is not None:
        chain = [*p.parent.via, p.parent.job.id]
        resolved = {r.key: str(r.value) for r in p.resolved if r.resolver in _PARENT_RESOLVERS and r.value}
        parent = ParentRef(job_id=chain[0], selector=p.parent.selector, resolved=resolved, via=chain[1:])
    now = utcnow()
    return JobRecord(
        id=p.job_id,
        skill=p.skill.name,
        action=p.action,
        engine=p.engine.NAME,
        backend=BackendRef(name=p.backend.NAME),
        parent=parent,
        results_dir=str(p.results_dir),
        spec_file=str(p.results_dir.parent / SPEC),
        launch=p.launch,
        transitions=[Transition(state=JobState.PENDING, at=now, by=by, note="recorded before launch")],
        created_at=now,
    )


def _write_spec(store: JobStore, p: Prepared) -> None:
    redact = Redactor(secret_values(extra=(p.secret,) if p.secret else ()))
    header = f"# {p.skill.name} {p.action}, job {p.job_id}: the resolved spec the job runs with\n"
    atomic_write_text(store.job_dir(p.job_id) / SPEC, header + yamlio.dumps(redact.data(p.spec)))


def _env(p: Prepared) -> dict[str, str]:
    env = {**os.environ, **p.launch.env}
    if p.secret:
        env[KEY_ENV] = p.secret
    return env
