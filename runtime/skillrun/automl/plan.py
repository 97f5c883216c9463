"""A study as ``plan`` and ``run`` see it before anything runs: settings, search space, launch review.

Everything here is checked before a job is recorded: bad settings, unknown or
disabled keys, ranges outside the schema, a budget key the spec lacks, and
the baseline trial's spec (schema + rules) all raise one SpecError listing
every problem. No optuna import: that happens inside the study job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillrun.automl import engine, estimate
from skillrun.automl.settings import AutomlSettings, read_settings
from skillrun.automl.space import Space, apply, build_space
from skillrun.composition import paths
from skillrun.contracts.automl import Estimate, Review
from skillrun.contracts.report import Issue, ValidationReport
from skillrun.contracts.spec import ComposedSpec
from skillrun.errors import SkillrunError, SpecError

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill
    from skillrun.record.store import JobStore

CONFIRM_ENV = "SKILLRUN_AUTOML_CONFIRM_S"
DEFAULT_CONFIRM_S = 3600.0  #: a study expected to run longer asks for confirmation on a terminal


@dataclass(frozen=True)
class StudyPlan:
    settings: AutomlSettings
    space: Space
    max_epochs: int
    review: Review
    cache_key: str

    @property
    def fixed(self) -> dict[str, Any]:
        """Keys every trial gets on top of its sampled values: the budget and ``trial_overrides``."""
        return fixed_keys(self.settings, self.max_epochs)

    def trial_spec(self, base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        return trial_spec(base, values, self.fixed)


def fixed_keys(settings: AutomlSettings, max_epochs: int) -> dict[str, Any]:
    return {**settings.trial_overrides, settings.budget_key: max_epochs}


def trial_spec(base: dict[str, Any], values: dict[str, Any], fixed: dict[str, Any]) -> dict[str, Any]:
    """The spec of one trial: the study's spec, the sampled values, the fixed keys, AutoML off."""
    extra = {"automl_policy": "off"} if "automl_policy" in base else {}
    return apply(base, {**values, **fixed, **extra})


def confirm_threshold() -> float:
    try:
        return float(os.environ.get(CONFIRM_ENV, DEFAULT_CONFIRM_S))
    except ValueError:
        return DEFAULT_CONFIRM_S


def plan_study(skill: Skill, spec: dict[str, Any], *, backend: str, nproc: int, nnodes: int, workspace: Path, measure: bool = True) -> StudyPlan:
    """The study ``spec`` asks for; raises SpecError with every problem found."""
    from skillrun.validation import validate_composed

    settings, issues = read_settings(spec)
    space = skill_space(skill, spec, settings)
    issues += space.issues
    budget = paths.get(spec, paths.parse(settings.budget_key)) if _parses(settings.budget_key) else None
    max_epochs = settings.max_epochs or (budget if isinstance(budget, int) and not isinstance(budget, bool) else 0)
    if budget is None or not paths.has(spec, paths.parse(settings.budget_key)):
        issues.append(Issue(path="automl.budget_key", value=settings.budget_key, message="is not a key of the train spec", hint="name the key that holds a trial's epochs (train.num_epochs for rtdetr)", code="automl_budget_key"))
    elif max_epochs < 1:
        issues.append(Issue(path=settings.budget_key, value=budget, message="a trial needs at least one epoch", code="automl_budget"))
    if settings.prunes and max_epochs and settings.min_epochs > max_epochs:
        issues.append(Issue(path="automl.min_epochs", value=settings.min_epochs, message=f"is above automl.max_epochs ({max_epochs}): nothing could be pruned", allowed=f"1 to {max_epochs}", code="automl_budget"))
    _fail(skill, spec, issues)
    fixed = fixed_keys(settings, max_epochs)
    first = trial_spec(spec, {p.path: p.baseline for p in space.params}, fixed)
    checked = validate_composed(skill, ComposedSpec(skill=skill.name, action="train", spec=first), check_data=False)
    if not checked.ok:
        why = f"set by the study ({', '.join(fixed)}): check automl.trial_overrides and automl.max_epochs"
        _fail(skill, spec, [i.model_copy(update={"hint": f"{i.hint}; {why}" if i.hint else why}) if i.path in fixed else i for i in checked.errors])
    key = estimate.cache_key(skill.name, spec, space.names, settings)
    timing = estimate.epoch_time(skill, first, key, workspace, processes=nproc * nnodes, measure=measure)
    review = _review(skill, settings, space, max_epochs, backend, nproc, nnodes, timing)
    return StudyPlan(settings, space, max_epochs, review, key)


def skill_space(skill: Skill, spec: dict[str, Any], settings: AutomlSettings) -> Space:
    """The search space over ``skill``'s train schema, without the sections of its other actions (TAO never samples those)."""
    return build_space(skill.schema("train"), spec, settings, foreign=skill.foreign_sections("train"))


def with_space_issues(skill: Skill, action: str, flag: str | None, report: ValidationReport) -> ValidationReport:
    """``report`` plus the AutoML settings and search-space problems, when the run would be a study.

    Lets one failed ``plan`` list a bad schema value and a bad ``automl.parameters``
    entry together, instead of the second only after the first is fixed.
    """
    from skillrun.policy.automl import decide

    try:
        on = decide(skill, action, report.spec, flag).on
    except SkillrunError:
        return report
    if not on or not isinstance(report.spec.get("automl", {}), dict):
        return report
    seen = {i.path for i in report.issues}
    settings, issues = read_settings(report.spec)
    issues += skill_space(skill, report.spec, settings).issues
    extra = [i for i in issues if i.path not in seen]
    return report.model_copy(update={"issues": [*report.issues, *extra]}) if extra else report


def interrupted_study(store: JobStore, skill: str, spec: dict[str, Any]) -> str | None:
    """The newest study of ``skill`` with this very spec that crashed or was canceled (so ``run`` continues it)."""
    from skillrun import yamlio

    def same(other: dict[str, Any]) -> bool:
        strip = ("results_dir",)
        return {k: v for k, v in other.items() if k not in strip} == {k: v for k, v in spec.items() if k not in strip}

    for rec in store.query(skill=skill):
        if (rec.get("automl") or {}).get("role") != "study" or rec.get("state") not in ("ERROR", "CANCELED"):
            continue
        try:
            if same(yamlio.load_file(Path(rec["spec_file"]))):
                return str(rec["id"])
        except (OSError, ValueError, KeyError):
            continue
    return None


def _parses(key: str) -> bool:
    try:
        paths.parse(key)
    except ValueError:
        return False
    return True


def _fail(skill: Skill, spec: dict[str, Any], issues: list[Issue]) -> None:
    if any(i.severity == "error" for i in issues):
        raise SpecError(ValidationReport(skill=skill.name, action="train", spec=spec, issues=issues))


def _review(skill: Skill, s: AutomlSettings, space: Space, max_epochs: int, backend: str, nproc: int, nnodes: int, timing: estimate.EpochTime) -> Review:
    sampler, pruner = engine.describe(s, max_epochs)
    expected = engine.expected_trial_epochs(s, max_epochs) * s.max_trials
    total_max = timing.seconds * s.max_trials * max_epochs if timing.seconds is not None else None
    wall = timing.seconds * expected / min(s.max_concurrent, s.max_trials) if timing.seconds is not None else None
    threshold = confirm_threshold()
    notes = list(space.notes)
    if s.algorithm == "bayesian" and s.max_trials <= engine.startup_trials(s):
        notes.append(f"with {s.max_trials} trials TPE never leaves its {engine.startup_trials(s)} random startup trials; raise automl.max_trials")
    if backend == "slurm":
        notes.append(f"the coordinator job holds its CPU while up to {s.max_concurrent} trial job(s) run, so the study needs {s.max_concurrent + 1} Slurm job slots at once; its time limit (slurm.time) must cover the whole study, not one trial (a study stopped by it continues with the same command)")
    if s.prunes and s.resolved_pruning_metric.startswith("val_") and "train.validation_interval" not in s.trial_overrides and skill.name == "rtdetr":
        notes.append(f"pruning on {s.resolved_pruning_metric} needs a validation every epoch: set automl.trial_overrides={{train.validation_interval: 1}}, or prune on train_loss (automl.pruning_metric)")
    return Review(
        skill=skill.name,
        algorithm=s.algorithm,
        sampler=sampler,
        pruner=pruner,
        max_trials=s.max_trials,
        baseline=s.baseline,
        metric=s.metric,
        direction=s.resolved_direction,
        direction_source="automl.direction" if s.direction else ("inferred: the metric name contains 'loss'" if s.resolved_direction == "minimize" else "inferred: metrics other than losses are maximised"),
        budget_key=s.budget_key,
        max_epochs=max_epochs,
        min_epochs=s.min_epochs if s.prunes else None,
        pruning_metric=f"{s.resolved_pruning_metric} ({s.pruning_direction})" if s.prunes else None,
        max_concurrent=s.max_concurrent,
        backend=backend,
        trial_resources={"nproc_per_node": nproc, "nnodes": nnodes},
        image=skill.info.container_image if skill.info.engine == "tao" else None,
        space=[p.describe() for p in space.params],
        trial_overrides=dict(s.trial_overrides),
        estimate=Estimate(epoch_s=timing.seconds, source=timing.source, trial_epochs_max=s.max_trials * max_epochs, trial_epochs_expected=round(expected, 2), total_s_max=total_max, wall_s_expected=wall),
        confirm_above_s=threshold,
        needs_confirmation=wall is not None and wall > threshold,
        notes=notes,
    )


def render(review: Review) -> list[tuple[str, str]]:
    """The review as (label, text) rows, for people; the space table is :func:`space_rows`."""
    est = review.estimate
    runtime = "unknown" if est.wall_s_expected is None else f"~{human_s(est.wall_s_expected)}"
    if est.epoch_s is not None:
        runtime += f" ({est.trial_epochs_expected:g} trial-epochs x {est.epoch_s:.3g} s / {review.max_concurrent} at once; at most {human_s(est.total_s_max or 0)} of trial time)"
    rows = [
        ("trials", f"{review.max_trials}" + (" (the first runs the spec's own values)" if review.baseline else "")),
        ("algorithm", f"{review.algorithm}: {review.sampler}" + (f" + {review.pruner}" if review.pruner else "")),
        ("metric", f"{review.metric} ({review.direction}; {review.direction_source})"),
        ("budget per trial", f"{review.max_epochs} epochs ({review.budget_key})" + (f", first pruning after {review.min_epochs}" if review.min_epochs else "")),
        *([("pruned on", f"{review.pruning_metric} per epoch")] if review.pruning_metric else []),
        ("concurrency", f"{review.max_concurrent} trial(s) at once"),
        ("backend", backend_line(review)),
        ("expected runtime", runtime),
        ("epoch time", est.source),
    ]
    if review.trial_overrides:
        rows.append(("every trial", ", ".join(f"{k}={v}" for k, v in review.trial_overrides.items())))
    rows += [("note", n) for n in review.notes]
    return rows


def backend_line(review: Review) -> str:
    """Where the coordinator and the trials run: on Slurm they are separate jobs, and that shapes the cluster's load."""
    per_trial = f"{review.trial_resources['nproc_per_node']} process(es) x {review.trial_resources['nnodes']} node(s) per trial"
    if review.backend == "slurm":
        return f"slurm: the study coordinator runs as one Slurm job (1 CPU, no GPU) for the whole study and submits each trial as a separate Slurm job (sbatch), {per_trial}"
    return review.backend + (f", image {review.image}" if review.image else "") + f", {per_trial}"


def space_rows(review: Review) -> list[tuple[str, str, str, str, str]]:
    """(key, type, range or choices, scale/constraint, baseline) per searched key."""
    out = []
    for p in review.space:
        if p["type"] == "categorical":
            what = ", ".join(map(str, p["choices"])) + (f" (weights {', '.join(f'{w:g}' for w in p['weights'])})" if p.get("weights") else "")
            scale = ""
        else:
            what = f"[{p['low']:g}, {p['high']:g}]" + (f" step {p['step']:g}" if p.get("step") else "")
            what += f" from {p['source']}" if p.get("source", "schema") != "schema" else ""
            scale = "log" if p.get("log") else "linear"
        if p.get("constraint"):
            scale += f", {p['constraint']}"
        out.append((p["path"], p["type"], what, scale, str(p.get("baseline"))))
    return out


def human_s(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
