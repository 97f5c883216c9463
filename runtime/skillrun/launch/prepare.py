"""Everything ``run`` does before it writes anything, and all that ``plan`` shows.

compose → parent → spec_params → validate → AutoML policy → engine command →
backend check. Any problem raises here, so a failed run leaves no trace.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from skillrun import settings
from skillrun.composition import paths
from skillrun.contracts.job import Launch
from skillrun.contracts.spec import ComposedSpec
from skillrun.backends.base import LaunchContext
from skillrun.engine.base import EngineContext
from skillrun.errors import BackendUnavailable, BankError, SpecError, UsageError
from skillrun.policy.automl import AutomlDecision, decide
from skillrun.record.store import RESULTS, SPEC, JobStore
from skillrun.resolve.params import ResolveContext, Resolved, resolve_spec_params

if TYPE_CHECKING:
    from skillrun.backends.base import Backend
    from skillrun.bank.bank import SkillBank
    from skillrun.bank.loader import Skill
    from skillrun.composition.overrides import Override
    from skillrun.contracts.report import ValidationReport
    from skillrun.automl.plan import StudyPlan
    from skillrun.engine.base import Engine
    from skillrun.resolve.parents import ParentArtifact

#: what ``plan`` puts where the job id will go
PLACEHOLDER_ID = "<job_id>"


@dataclass
class Request:
    """One run request, as the CLI, the API and the MCP server all pass it."""

    skill: str
    action: str
    spec_file: str | Path | None = None
    spec: dict[str, Any] | None = None
    overrides: Iterable[str | Override] = ()
    overrides_json: str | dict[str, Any] | None = None
    parent: str | None = None
    backend: str = "local"
    automl: str | None = None
    nproc: int | None = None
    key: str | None = field(default=None, repr=False)
    check_data: bool = True
    upload: str | None = None  #: s3://bucket/prefix the results go to after the job (skillrun.data.upload)
    upload_excludes: tuple[str, ...] = ()
    trial_of: tuple[str, int] | None = None  #: (study job id, trial number): an AutoML trial, child of its study


@dataclass
class Prepared:
    """A run that passed every check, ready to be recorded and submitted."""

    skill: Skill
    action: str
    job_id: str
    engine: Engine
    backend: Backend
    report: ValidationReport
    resolved: list[Resolved]
    parent: ParentArtifact | None
    automl: AutomlDecision
    launch: Launch
    results_dir: Path
    secret: str | None = field(default=None, repr=False)
    backend_plan: dict[str, Any] = field(default_factory=dict)  #: Backend.plan(): shown by plan, recorded as backend.ref
    study: StudyPlan | None = None  #: AutoML on: the job is a study (skillrun.automl), its trials are child train jobs
    trial_of: tuple[str, int] | None = None  #: this job is trial N of that study
    trials: TrialLaunch | None = None  #: a study whose trials run on a backend that cannot host its coordinator (docker)

    @property
    def spec(self) -> dict[str, Any]:
        return self.report.spec


@dataclass(frozen=True)
class TrialLaunch:
    """What each trial of a study runs where the study itself does not (its container), for ``plan``."""

    backend: Backend
    launch: Launch
    plan: dict[str, Any]


def registry() -> Any:
    from skillrun.plugins.manager import collect, get_plugin_manager

    return collect(get_plugin_manager())


def get_backend(name: str, store: JobStore) -> Backend:
    backends = registry().backends
    if name not in backends:
        msg = f"--backend {name!r} is not a known backend"
        raise UsageError(msg, hint=f"choose one of: {', '.join(sorted(backends))} (plugins add more; see `skillrun plugins`)", data={"allowed": sorted(backends)})
    cls = backends[name]
    if cls.affinity() < 0:
        msg = f"the {name} backend is not available on this machine"
        raise BackendUnavailable(msg, hint="pick another backend with --backend")
    return cls(store)


def get_engine(skill: Skill) -> Engine:
    engines = registry().engines
    name = skill.info.engine
    if name not in engines:
        msg = f"{skill.path / 'references' / 'skill_info.yaml'}: engine {name!r} is not installed"
        raise BankError(msg, hint=f"installed engines: {', '.join(sorted(engines))}; install the plugin that provides {name!r}")
    return engines[name]()


def prepare(bank: SkillBank, store: JobStore, req: Request, *, job_id: str = PLACEHOLDER_ID, resume: bool = False) -> Prepared:
    """Check everything about ``req``; raises the first kind of problem found (exit 2, 3 or 4)."""
    from skillrun.composition.layers import compose
    from skillrun.data import sources
    from skillrun.resolve.parents import resolve_parent
    from skillrun.validation import validate_composed

    skill = bank.get(req.skill)
    skill.require_action(req.action)
    skill.require_runnable(req.action)
    engine = get_engine(skill)
    engine.check(skill, req.action)
    backend = get_backend(req.backend, store)
    overrides = sources.rename_source_words(skill.info.actions[req.action], req.overrides)  # train_datasets=... -> its spec key
    composed = compose(skill, req.action, spec_file=req.spec_file, spec=req.spec, overrides=overrides, overrides_json=req.overrides_json)
    parent = resolve_parent(store, req.parent) if req.parent else None
    job_dir = store.job_dir(job_id)
    results_dir = job_dir / RESULTS
    ctx = ResolveContext(skill, req.action, results_dir, composed.spec, composed.provenance, parent=parent, resume=resume, key=req.key)
    spec, resolved = resolve_spec_params(ctx)
    spec = sources.expand(skill, req.action, spec)  # a source folder or s3:// prefix -> its entry (the last layer)
    provenance = {**composed.provenance, **{r.key: f"resolver:{r.resolver}" for r in resolved}}
    filled = ComposedSpec(skill=skill.name, action=req.action, spec=spec, provenance=provenance, issues=composed.issues)
    report = validate_composed(skill, filled, check_data=req.check_data)
    if not report.ok:
        from skillrun.automl.plan import with_space_issues

        raise SpecError(with_space_issues(skill, req.action, req.automl, report))  # AutoML settings problems in the same report
    automl = decide(skill, req.action, report.spec, req.automl)
    if req.trial_of is not None:
        automl = AutomlDecision(False, f"trial {req.trial_of[1]} of AutoML study {req.trial_of[0]}", source="study")
    if automl.applies and "automl_policy" in report.spec:
        report.spec["automl_policy"] = automl.policy
    nproc, nnodes = _sizes(skill, req.action, report.spec, req.nproc)
    command = engine.command(EngineContext(skill, req.action, job_dir / SPEC, results_dir, job_id))
    argv = backend.launch_argv(command, nproc, nnodes)  # torchrun --standalone locally; per-node ranks on Slurm
    launch = Launch(argv=argv, cwd=os.getcwd(), env=_job_env(skill, job_id, results_dir, store, nproc), nproc_per_node=nproc, nnodes=nnodes)
    backend.check(launch)
    lctx = LaunchContext(skill, req.action, job_id, job_dir, results_dir, report.spec, parent.job if parent is not None else None)
    study = None
    trials = None
    if automl.on:  # a study job: one light coordinator process; each trial is checked again when it is launched
        from skillrun.automl.plan import plan_study
        from skillrun.engine.base import Command

        if req.nproc is not None:
            msg = "--nproc sets the processes of one job, but this is an AutoML study whose trials are separate jobs"
            raise UsageError(msg, hint=f"set the trials' processes in the spec ({skill.info.actions[req.action].resources.processes or 'the processes key'}), or run one training with --automl off")

        study = plan_study(skill, report.spec, backend=backend.NAME, nproc=nproc, nnodes=nnodes, workspace=store.workspace, measure=req.check_data)
        if not backend.HOSTS_COORDINATOR:  # trials run on the requested backend (study.review.backend); the coordinator here
            trials = TrialLaunch(backend, launch, backend.plan(lctx, launch))
            backend = get_backend("local", store)
        argv = backend.launch_argv(Command("module", "skillrun.automl", (str(job_dir),)), 1, 1)
        launch = Launch(argv=argv, cwd=os.getcwd(), env=_job_env(skill, job_id, results_dir, store, 1), nproc_per_node=1, nnodes=1)
    plan = backend.plan(lctx, launch)
    return Prepared(skill, req.action, job_id, engine, backend, report, resolved, parent, automl, launch, results_dir, ctx.secret, backend_plan=plan,
                    study=study, trial_of=req.trial_of, trials=trials)


def _sizes(skill: Skill, action: str, spec: dict[str, Any], nproc: int | None) -> tuple[int, int]:
    """(processes per node, nodes) from the action's resources keys; ``--nproc`` overrides the first."""
    res = skill.info.actions[action].resources
    procs = _int_at(spec, res.processes) if nproc is None else nproc
    if procs < 1:
        msg = f"--nproc {procs}: need at least 1 process"
        raise UsageError(msg, hint="use --nproc 1 or more")
    return procs, _int_at(spec, res.nodes)


def _int_at(spec: dict[str, Any], key: str | None) -> int:
    if not key:
        return 1
    tokens = paths.parse(key)
    value = paths.get(spec, tokens) if paths.has(spec, tokens) else 1
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _job_env(skill: Skill, job_id: str, results_dir: Path, store: JobStore, nproc: int) -> dict[str, str]:
    """Variables the job gets on top of the caller's environment (recorded, so never secrets)."""
    env = {
        "SKILLRUN_JOB_ID": job_id,
        "SKILLRUN_RESULTS_DIR": str(results_dir),
        settings.SKILLRUN_HOME: str(store.workspace),
        "PYTHONUNBUFFERED": "1",
    }
    if skill.origin != "builtin":  # the job must find the same skill folder
        extra = [str(skill.path.parent), *map(str, settings.extra_skill_paths())]
        env[settings.SKILLRUN_PATH] = os.pathsep.join(dict.fromkeys(extra))
    if nproc > 1 and "OMP_NUM_THREADS" not in os.environ:  # torchrun would force 1 (PITFALLS §5)
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    return env
