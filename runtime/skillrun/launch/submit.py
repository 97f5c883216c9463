"""Record, then launch: ``start`` (a new job) and ``resume`` (a terminal job, same id and folder).

The job folder is claimed only after :func:`prepare` passed, ``spec.yaml`` is
written with secrets masked, and ``job.json`` exists (PENDING) before the
backend is asked to start anything.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Callable

from skillrun import yamlio
from skillrun.contracts.job import AutomlInfo, BackendRef, JobRecord, JobState, ParentRef, Transition, utcnow
from skillrun.errors import SkillrunError, UsageError
from skillrun.launch.prepare import Prepared, Request, prepare
from skillrun.record.secrets import KEY_ENV, Redactor, secret_values
from skillrun.record.store import SPEC, JobStore
from skillrun.resolve.params import PARENT_RESOLVERS
from skillrun.record_io import atomic_write_text

if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank

_PARENT_RESOLVERS = (*(r.value for r in PARENT_RESOLVERS), "ptm_if_no_resume_model")  #: resolvers that take files from the parent


def start(bank: SkillBank, store: JobStore, req: Request, *, by: str = "cli", review: Callable[[Prepared], None] | None = None) -> JobRecord:
    """Check, record and launch a new job; returns its record (PENDING or RUNNING).

    ``review`` sees an AutoML study before it is recorded (the CLI prints the launch
    review there and may ask to confirm); raising in it leaves nothing behind. The same
    study command again, after the study crashed or was canceled, continues that study.
    """
    for _ in range(16):
        job_id = store.new_id(req.skill, req.action)
        prepared = prepare(bank, store, req, job_id=job_id)
        prepared.backend.preflight()  # no sbatch / no Docker daemon: fail before anything is written
        if prepared.study is not None:
            from skillrun.automl.plan import interrupted_study

            earlier = interrupted_study(store, prepared.skill.name, prepared.spec)
            if earlier is not None:
                return resume(bank, store, earlier, req, by=by)
        if store.claim(job_id):
            break
    else:
        msg = f"could not claim a new job id under {store.root}"
        raise SkillrunError(msg)
    try:
        if review is not None and prepared.study is not None:
            review(prepared)
        _write_spec(store, prepared)
        prepared.results_dir.mkdir(parents=True, exist_ok=True)
        if req.upload:  # checked (bucket, credentials) before anything runs; carried out by the runner
            from skillrun.data import upload

            excludes = [*prepared.skill.info.actions[req.action].upload_excludes, *req.upload_excludes]
            upload.request(store.job_dir(job_id), upload.check_target(req.upload, prepared.backend.NAME), excludes)
        record = store.create(_new_record(prepared, by))
    except BaseException:
        shutil.rmtree(store.job_dir(job_id), ignore_errors=True)  # nothing half-written is left behind
        raise
    prepared = _stage(store, prepared, req.check_data, by)
    return prepared.backend.submit(record, _env(prepared))


def resume(bank: SkillBank, store: JobStore, job_text: str, req: Request | None = None, *, by: str = "cli") -> JobRecord:
    """Start a terminal job again from its newest complete checkpoint, in the same folder."""
    job_id = store.resolve_id(job_text)
    old = store.load(job_id)
    if not old.state.terminal:
        msg = f"job {job_id} is {old.state.value}; only a finished, failed or canceled job can be resumed"
        raise UsageError(msg, hint=f"wait for it, or stop it first: skillrun cancel {job_id}")
    base = req or Request(old.skill, old.action)
    study = old.automl is not None and old.automl.role == "study"  # a study continues from its journal, not a checkpoint
    spec_path = store.job_dir(job_id) / SPEC
    req = Request(
        old.skill,
        old.action,
        spec_file=spec_path,
        overrides=base.overrides,
        overrides_json=base.overrides_json,
        backend=base.backend if req else (old.automl.trial_backend if study and old.automl and old.automl.trial_backend else old.backend.name),
        automl="on" if study else "off" if old.action == "train" else None,
        nproc=base.nproc,
        key=base.key,
        check_data=base.check_data,
    )
    prepared = prepare(bank, store, req, job_id=job_id, resume=not study)
    prepared.backend.preflight()
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
            backend=BackendRef(name=prepared.backend.NAME, ref=prepared.backend_plan),
            exit_code=None,
            error_class=None,
            error_message=None,
        ),
    )
    prepared = _stage(store, prepared, req.check_data, by)
    return prepared.backend.submit(record, _env(prepared))


def _stage(store: JobStore, p: Prepared, check_data: bool, by: str) -> Prepared:
    """Stage s3:// sources and archives into ``inputs/`` before launch; a failure marks the recorded job ERROR.

    Runs here, in the submitting process, so the error reaches the caller (exit code, no
    traceback) even with --detach, and preflight checks the staged data before any engine starts.
    """
    from skillrun.data import sources

    if not sources.needs_staging(p.skill.info.actions[p.action], p.spec):
        return p
    redact = Redactor()
    log_file = store.log_file(p.job_id)

    def log(line: str) -> None:
        with open(log_file, "a", encoding="utf-8") as fh:
            fh.write(redact.text(f"[skillrun] {line}\n"))

    try:
        p = sources.stage_prepared(p, store.job_dir(p.job_id), check_data=check_data, log=log)
    except BaseException as exc:  # the record must not stay PENDING with nothing running
        text, hint = f"{type(exc).__name__}: {exc}", None
        if isinstance(exc, SkillrunError):
            issues = list(getattr(exc, "issues", None) or [])[:5]
            text, hint = exc.message + "".join(f"; {i.render()}" for i in issues), exc.hint
            exc.data.setdefault("job_id", p.job_id)
        log(f"staging failed: {text}" + (f" ({hint})" if hint else ""))
        cls = type(exc).__name__ if type(exc) not in (SkillrunError, UsageError) else "StagingError"
        store.move(p.job_id, JobState.ERROR, by=by, note="staging the data sources failed", error_class=cls, error_message=redact.text(text)[:2000])
        raise
    _write_spec(store, p)
    return p


def _new_record(p: Prepared, by: str) -> JobRecord:
    parent = None
    if p.parent is not None:
        chain = [*p.parent.via, p.parent.job.id]
        resolved = {r.key: str(r.value) for r in p.resolved if r.resolver in _PARENT_RESOLVERS and r.value}
        parent = ParentRef(job_id=chain[0], selector=p.parent.selector, resolved=resolved, via=chain[1:])
    automl = None
    if p.trial_of is not None:  # an AutoML trial: its parent is the study (no files taken from it)
        parent = ParentRef(job_id=p.trial_of[0], selector="study")
        automl = AutomlInfo(policy="off", reason=p.automl.reason, role="trial", study=p.trial_of[0], trial=p.trial_of[1])
    elif p.automl.applies:
        automl = AutomlInfo(policy=p.automl.policy, reason=p.automl.reason, role="study" if p.study is not None else "single",
                            trial_backend=p.study.review.backend if p.study is not None else None)
    now = utcnow()
    return JobRecord(
        id=p.job_id,
        skill=p.skill.name,
        action=p.action,
        engine="automl" if p.study is not None else p.engine.NAME,
        backend=BackendRef(name=p.backend.NAME, ref=p.backend_plan),
        parent=parent,
        automl=automl,
        results_dir=str(p.results_dir),
        spec_file=str(p.results_dir.parent / SPEC),
        launch=p.launch,
        transitions=[Transition(state=JobState.PENDING, at=now, by=by, note="recorded before launch")],
        created_at=now,
    )


def _write_spec(store: JobStore, p: Prepared) -> None:
    redact = Redactor(secret_values(extra=(p.secret,) if p.secret else ()))
    header = f"# {p.skill.name} {p.action}, job {p.job_id}: the resolved spec the job runs with\n"
    spec = p.spec if p.study is not None else {k: v for k, v in p.spec.items() if k not in p.skill.added_sections}  # a study reads them itself
    atomic_write_text(store.job_dir(p.job_id) / SPEC, header + yamlio.dumps(redact.data(spec)))


def _env(p: Prepared) -> dict[str, str]:
    env = {**os.environ, **p.launch.env}
    if p.secret:
        env[KEY_ENV] = p.secret
    return env
