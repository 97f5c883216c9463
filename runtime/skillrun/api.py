"""The Python API: what the CLI, the MCP server and HPO loops all call.

>>> import skillrun
>>> bank = skillrun.load_bank()
>>> report = skillrun.validate("rtdetr", "train", overrides=["train.num_epochs=3"], check_data=False)
>>> report.ok, [i.render() for i in report.errors]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from skillrun.bank.bank import SkillBank, sources
from skillrun.errors import SpecError

if TYPE_CHECKING:
    from skillrun.composition.overrides import Override
    from skillrun.launch.handle import Job
    from skillrun.launch.prepare import Prepared
    from skillrun.contracts.report import ValidationReport
    from skillrun.contracts.spec import ComposedSpec


def load_bank(skills_dirs: Iterable[str | Path] = (), *, plugins: bool = True, cache: bool = True) -> SkillBank:
    """All skills: built-in, plugins (unless ``plugins=False``), ``$SKILLRUN_PATH``, then ``skills_dirs``.

    Parsed skill folders are kept in ``<workspace>/cache/bank.json`` (``cache=False``
    reads every file again); a folder whose files changed is parsed again either way.
    """
    from skillrun.bank.cache import BankCache
    from skillrun.plugins.manager import get_plugin_manager, new_plugin_manager, skill_dirs as plugin_skill_dirs

    pm = get_plugin_manager() if plugins else new_plugin_manager(entry_points=False)
    return SkillBank(sources(plugin_skill_dirs(pm), skills_dirs), cache=BankCache() if cache else None)


def compose(
    skill: str,
    action: str,
    *,
    spec_file: str | Path | None = None,
    spec: dict[str, Any] | None = None,
    overrides: Iterable[str | Override] = (),
    overrides_json: str | dict[str, Any] | None = None,
    bank: SkillBank | None = None,
) -> ComposedSpec:
    """The merged spec (schema defaults <- template <- spec file <- overrides) with provenance."""
    from skillrun.composition.layers import compose as _compose

    bank = bank or load_bank()
    return _compose(bank.get(skill), action, spec_file=spec_file, spec=spec, overrides=overrides, overrides_json=overrides_json)


def validate(
    skill: str,
    action: str,
    *,
    spec_file: str | Path | None = None,
    spec: dict[str, Any] | None = None,
    overrides: Iterable[str | Override] = (),
    overrides_json: str | dict[str, Any] | None = None,
    check_data: bool = True,
    bank: SkillBank | None = None,
    raise_on_error: bool = False,
) -> ValidationReport:
    """Compose and validate; the report lists every problem (``raise_on_error`` raises SpecError)."""
    from skillrun.validation import validate_composed

    from skillrun.data import sources

    bank = bank or load_bank()
    sk = bank.get(skill)
    info = sk.info.actions.get(action)
    if info is not None:  # the short source forms, exactly as ``plan``/``run`` read them (an unknown action errors in compose)
        overrides = sources.rename_source_words(info, overrides)
    composed = compose(skill, action, spec_file=spec_file, spec=spec, overrides=overrides, overrides_json=overrides_json, bank=bank)
    if info is not None:
        composed = composed.model_copy(update={"spec": sources.expand(sk, action, composed.spec)})
    report = validate_composed(sk, composed, check_data=check_data)
    if raise_on_error and not report.ok:
        raise SpecError(report)
    return report


def _store(workspace: str | Path | None) -> Any:
    from skillrun import settings
    from skillrun.record.store import JobStore

    return JobStore(settings.workspace(workspace))


def plan(
    skill: str,
    action: str,
    *,
    spec_file: str | Path | None = None,
    spec: dict[str, Any] | None = None,
    overrides: Iterable[str | Override] = (),
    overrides_json: str | dict[str, Any] | None = None,
    parent: str | None = None,
    backend: str = "local",
    automl: str | None = None,
    nproc: int | None = None,
    check_data: bool = True,
    workspace: str | Path | None = None,
    bank: SkillBank | None = None,
) -> Prepared:
    """Everything ``run`` would do, nothing done: the resolved spec, parameters, launch command and backend."""
    from skillrun.launch.prepare import Request, prepare

    req = Request(skill, action, spec_file, spec, overrides, overrides_json, parent, backend, automl, nproc, check_data=check_data)
    return prepare(bank or load_bank(), _store(workspace), req)


def run(
    skill: str,
    action: str,
    *,
    spec_file: str | Path | None = None,
    spec: dict[str, Any] | None = None,
    overrides: Iterable[str | Override] = (),
    overrides_json: str | dict[str, Any] | None = None,
    parent: str | None = None,
    backend: str = "local",
    automl: str | None = None,
    nproc: int | None = None,
    key: str | None = None,
    check_data: bool = True,
    upload: str | None = None,
    upload_excludes: Iterable[str] = (),
    wait: bool = True,
    timeout: float | None = None,
    workspace: str | Path | None = None,
    bank: SkillBank | None = None,
) -> Job:
    """Validate, record and launch a job; with ``wait`` (default) return once it is terminal.

    ``upload="s3://bucket/prefix"`` copies the results there when the job ends (minus
    ``upload_excludes`` globs), as ``skillrun run --upload`` does.

    Raises SpecError/UsageError (2), ResolutionError (3) or BackendUnavailable (4)
    before anything is written. A job that fails is returned, not raised: check
    ``job.state`` or ``job.outcome()`` (ok, metrics, error as data), or call
    ``job.wait(raise_on_error=True)``. A train of an AutoML-enabled skill is an
    AutoML study unless ``automl="off"`` (what an outer HPO loop wants, see
    ``examples/external_optuna.py``); ``automl`` also takes a request phrase such
    as ``"no HPO"``. A study job's ``best_rec()`` names its best child.
    """
    from skillrun.launch.handle import Job
    from skillrun.launch.prepare import Request
    from skillrun.launch.submit import start

    store = _store(workspace)
    req = Request(skill, action, spec_file, spec, overrides, overrides_json, parent, backend, automl, nproc, key, check_data,
                  upload=upload, upload_excludes=tuple(upload_excludes))
    job = Job(store, start(bank or load_bank(), store, req, by="api").id)
    return job.wait(timeout) if wait else job


def resume(job_id: str, *, overrides: Iterable[str | Override] = (), key: str | None = None, wait: bool = True, timeout: float | None = None, workspace: str | Path | None = None, bank: SkillBank | None = None) -> Job:
    """Start a finished, failed or canceled job again from its newest complete checkpoint (same id and folder)."""
    from skillrun.launch.handle import Job
    from skillrun.launch.prepare import Request
    from skillrun.launch.submit import resume as _resume

    store = _store(workspace)
    rec = store.load(store.resolve_id(job_id))
    req = Request(rec.skill, rec.action, overrides=overrides, backend=rec.backend.name, key=key)
    job = Job(store, _resume(bank or load_bank(), store, rec.id, req, by="api").id)
    return job.wait(timeout) if wait else job


def job(job_id: str, *, workspace: str | Path | None = None) -> Job:
    """The handle of a recorded job (an id or a unique prefix of one)."""
    from skillrun.launch.handle import Job

    return Job(_store(workspace), job_id)


def jobs(*, skill: str | None = None, state: str | None = None, parent: str | None = None, workspace: str | Path | None = None) -> list[dict[str, Any]]:
    """Job records (plain dicts, newest first) matching every filter given."""
    return _store(workspace).query(skill=skill, state=state, parent=parent)
