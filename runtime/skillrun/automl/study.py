"""The study coordinator: one process asks Optuna for configurations, runs them as child train jobs, tells results.

It is the single ask/tell coordinator PITFALLS §4 recommends: trials never
touch Optuna themselves, so pruning decisions are made where the intermediate
values were reported. Each trial is a normal recorded train job (parent = the
study, ``automl.role = trial``) started through the study's backend, at most
``max_concurrent`` at a time. Per-epoch values come from the child's
``status.json``; a pruned child is cancelled through its backend and ends
CANCELED. A configuration that breaks a schema rule or a skill rule is told
FAIL ("constraint") without a job.

Crash safety: the journal is the truth. On (re)start, trials the journal still
has RUNNING are re-attached to their child jobs (found by user attribute or by
the children's records), so a killed study loses no finished trial and
repeats none; a trial whose job never started is failed as "interrupted" and
does not count toward ``max_trials``.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from skillrun.automl import engine, estimate, outputs
from skillrun.automl.space import Infeasible, baseline, suggest
from skillrun.errors import SkillrunError, SpecError
from skillrun.results.status import StatusWriter
from skillrun.results.summary import per_epoch, read_status

if TYPE_CHECKING:
    from skillrun.automl.plan import StudyPlan
    from skillrun.bank.bank import SkillBank
    from skillrun.contracts.job import JobRecord
    from skillrun.record.store import JobStore

POLL_ENV = "SKILLRUN_AUTOML_POLL_S"
CANCEL_GRACE_S = 5.0
MAX_CONSTRAINT_FAILS = 100  #: in a row: the rules reject nearly the whole space
EARLY_ERRORS = 3  #: the first trials all ending ERROR stop the study (the spec, not the parameters, is wrong)


class StudyFailed(SkillrunError):
    pass


@dataclass
class Running:
    trial: Any
    job_id: str
    seen: set[int] = field(default_factory=set)


class Coordinator:
    def __init__(self, store: JobStore, bank: SkillBank, record: JobRecord, spec: dict[str, Any], plan: StudyPlan, log: Callable[[str], None] = print) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.store, self.bank, self.record, self.base, self.plan, self.log = store, bank, record, spec, plan, log
        self.s = plan.settings
        self.folder = Path(record.results_dir) / "train"
        self.status = StatusWriter(self.folder)
        storage = engine.storage(self.folder)
        self.study = optuna.create_study(
            storage=storage,
            study_name=engine.study_name(storage, self.s, record.id),
            direction=self.s.resolved_direction,
            sampler=engine.sampler(self.s, plan.space),
            pruner=engine.pruner(self.s, plan.max_epochs),
            load_if_exists=True,
        )
        known = len(self.study.get_trials(deepcopy=False))
        if known:  # a resumed study: do not draw the first trials' parameters again (PITFALLS §4)
            self.study.sampler = engine.sampler(self.s, plan.space, offset=known)
        self.running: dict[int, Running] = {}
        self.stop = False
        self.ppid = os.getppid()
        self.poll_s = float(os.environ.get(POLL_ENV, "1.0"))

    # -- the loop
    def run(self) -> int:
        from optuna.trial import TrialState

        resumed = self._recover()
        if self.s.baseline and not self.study.get_trials(deepcopy=False):
            self.study.enqueue_trial(baseline(self.plan.space), user_attrs={"baseline": True})
        self.status.write("STARTED" if not resumed else "RUNNING", f"{'resumed' if resumed else 'started'}: {self.s.algorithm}, {self.s.max_trials} trials, {self.s.metric} ({self.s.resolved_direction})", max_step=self.s.max_trials)
        rejected = 0
        while True:
            if self.stop:
                return self._interrupt("the study was canceled")
            if os.getppid() != self.ppid:  # the runner is gone (killed): leave the children, `resume` re-attaches
                self.log("the study's runner is gone; stopping without touching the trials")
                return 1
            for number in list(self.running):
                self._poll(self.running[number])
            while not self.stop and len(self.running) < self.s.max_concurrent and self._used() < self.s.max_trials:
                launched = self._launch()
                rejected = 0 if launched else rejected + 1
                if rejected >= MAX_CONSTRAINT_FAILS:
                    return self._abort(f"{rejected} configurations in a row broke the spec's rules; the search space hardly satisfies them", "narrow automl.ranges or drop the keys the rules tie together")
            if not self.running and self._used() >= self.s.max_trials:
                break
            failed = self._early_errors()
            if failed:
                return self._abort(failed, f"see `skillrun logs` of the trial jobs (`skillrun jobs --parent {self.record.id}`)")
            time.sleep(self.poll_s)
        done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        self._write(final=True)
        if not done:
            self.status.write("FAILURE", f"no trial completed with {self.s.metric}", error_class="StudyFailed")
            self.log(f"no trial completed with {self.s.metric}")
            return 1
        best = self.study.best_trial
        self.status.write("SUCCESS", f"best {self.s.metric}={best.value:.5g} (trial {best.number}, job {best.user_attrs.get('job_id')})")
        return 0

    def request_stop(self, *_: Any) -> None:
        self.stop = True

    # -- trials
    def _used(self) -> int:
        """Trials spent from max_trials: complete, pruned, failed with a job; not constraint/interrupted failures."""
        used = 0
        for t in self.study.get_trials(deepcopy=False):
            if t.state.name in ("COMPLETE", "PRUNED") or (t.state.name == "FAIL" and t.user_attrs.get("counts")):
                used += 1
        return used + len(self.running)

    def _launch(self) -> bool:
        """Ask, sample, check and start one trial; False when the configuration broke a rule (no job)."""
        from skillrun.launch.prepare import Request
        from skillrun.launch.submit import start
        from skillrun.record.secrets import KEY_ENV

        trial = self.study.ask()
        try:
            values = suggest(trial, self.plan.space)
        except Infeasible as exc:
            return self._constraint(trial, [str(exc)])
        trial.set_user_attr("params", values)
        spec = self.plan.trial_spec(self.base, values)
        req = Request(self.record.skill, "train", spec=spec, backend=self.plan.review.backend, automl="off", check_data=False, key=os.environ.get(KEY_ENV), trial_of=(self.record.id, trial.number))
        try:
            rec = start(self.bank, self.store, req, by="automl")
        except SpecError as exc:
            return self._constraint(trial, [i.render() for i in exc.issues])
        except SkillrunError as exc:  # the backend refused: counts, and shows in the table
            self._tell(trial, "FAIL", reason=f"launch failed: {exc.message}", counts=True)
            return True
        trial.set_user_attr("job_id", rec.id)
        self.running[trial.number] = Running(trial, rec.id)
        tag = " (baseline)" if trial.user_attrs.get("baseline") else ""
        self.log(f"trial {trial.number}{tag}: job {rec.id} " + ", ".join(f"{k}={_fmt(v)}" for k, v in values.items()))
        return True

    def _constraint(self, trial: Any, why: list[str]) -> bool:
        self.log(f"trial {trial.number}: not launched, the configuration breaks a rule: {'; '.join(why)}")
        self._tell(trial, "FAIL", reason="constraint: " + "; ".join(why)[:500], counts=False)
        return False

    def _poll(self, run: Running) -> None:
        from skillrun.launch.handle import Job

        job = Job(self.store, run.job_id)
        rec = job.refresh()
        events = read_status(job.action_dir)
        values = per_epoch(events, self.s.metric)
        pruning = self.s.resolved_pruning_metric
        signal = values if pruning == self.s.metric else per_epoch(events, pruning)
        # Optuna's pruners rank intermediate values in the study's direction: flip a pruning metric that runs the other way
        sign = 1 if self.s.pruning_direction == self.s.resolved_direction else -1
        for epoch in sorted(e for e in signal if e not in run.seen):
            run.trial.report(sign * signal[epoch], step=epoch + 1)
            run.seen.add(epoch)
            if self.s.prunes and not rec.state.terminal and run.trial.should_prune():
                rec = job.backend.cancel(self.store.load(run.job_id), CANCEL_GRACE_S)
                if rec.state.value != "COMPLETE":
                    seen = [values[e] for e in sorted(values) if e <= epoch]  # the study's metric, which the table shows (not the pruning signal)
                    run.trial.set_user_attr("metric_value", seen[-1] if seen else None)
                    self._tell(run.trial, "PRUNED", reason=f"pruned after {epoch + 1} epoch(s): {pruning}={signal[epoch]:.5g}", epochs=epoch + 1)
                    self.log(f"trial {run.trial.number}: pruned after {epoch + 1} epoch(s), job {run.job_id} {rec.state.value}")
                    del self.running[run.trial.number]
                    self._write()
                    return
        if not rec.state.terminal:
            return
        epochs = max(values) + 1 if values else int(rec.metrics.get("last_epoch", -1)) + 1
        if rec.state.value == "COMPLETE" and values:
            sign = 1 if self.s.resolved_direction == "maximize" else -1
            best_epoch = max(values, key=lambda e: (sign * values[e], e))
            self._tell(run.trial, "COMPLETE", value=values[best_epoch], epochs=epochs, best_epoch=best_epoch)
            self._cache_epoch_time(run, rec, epochs)
            self.log(f"trial {run.trial.number}: {self.s.metric}={values[best_epoch]:.5g} (epoch {best_epoch}), job {rec.id}")
        elif rec.state.value == "COMPLETE":
            kpis = sorted({k for ev in read_status(job.action_dir) for k in ev.kpi})
            self._tell(run.trial, "FAIL", reason=f"no {self.s.metric} in the trial's status.json (reported: {', '.join(kpis) or 'nothing'})", counts=True, epochs=epochs)
        else:
            what = f"{rec.error_class}: {rec.error_message}" if rec.error_class else rec.state.value
            self._tell(run.trial, "FAIL", reason=f"job {rec.state.value}: {what}"[:500], counts=True, epochs=epochs)
            self.log(f"trial {run.trial.number}: job {rec.id} ended {rec.state.value} ({what})")
        del self.running[run.trial.number]
        self._write()

    def _tell(self, trial: Any, state: str, *, value: float | None = None, reason: str | None = None, counts: bool = True, epochs: int | None = None, best_epoch: int | None = None) -> None:
        from optuna.trial import TrialState

        for key, v in (("reason", reason), ("counts", counts), ("epochs", epochs), ("best_epoch", best_epoch)):
            if v is not None:
                trial.set_user_attr(key, v)
        self.study.tell(trial, value if state == "COMPLETE" else None, state=TrialState[state], skip_if_finished=True)

    def _cache_epoch_time(self, run: Running, rec: JobRecord, epochs: int) -> None:
        """Seconds per epoch as the study saw it (ask to result: launch, training, polling), for the next review."""
        start = run.trial.datetime_start
        if start is not None and epochs:
            secs = (datetime.now() - start).total_seconds() / epochs
            estimate.record(self.store.workspace, self.plan.cache_key, secs, f"trial job {rec.id} of study {self.record.id} ({epochs} epochs, launch included)")

    # -- crash recovery
    def _recover(self) -> bool:
        """Re-attach the trials a killed coordinator left RUNNING; True when the study had trials already."""
        import optuna
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        children = {int((r.get("automl") or {}).get("trial", -1)): r["id"] for r in self.store.query(parent=self.record.id)}
        for ft in trials:
            if ft.state != TrialState.RUNNING:
                continue
            trial = optuna.trial.Trial(self.study, ft._trial_id)
            job_id = ft.user_attrs.get("job_id") or children.get(ft.number)
            if job_id is None or self._never_submitted(job_id):
                self._tell(trial, "FAIL", reason="interrupted before its job started", counts=False)
                continue
            if "job_id" not in ft.user_attrs:
                trial.set_user_attr("job_id", job_id)
            self.running[ft.number] = Running(trial, job_id, {step - 1 for step in ft.intermediate_values})
            self.log(f"trial {ft.number}: re-attached to job {job_id}")
        if trials:
            self.log(f"resuming study {self.record.id}: {len(trials)} trial(s) in the journal, {len(self.running)} re-attached")
        return bool(trials)

    def _never_submitted(self, job_id: str) -> bool:
        """A local child recorded but never handed to its runner (the study died in between): mark it ERROR."""
        from skillrun.contracts.job import JobState

        rec = self.store.load(job_id)
        if rec.state is not JobState.PENDING or rec.backend.name != "local" or "pid" in rec.backend.ref:
            return False
        self.store.move(job_id, JobState.ERROR, by="automl", note="never started: the study stopped while launching it", error_class="LaunchInterrupted", error_message="the study stopped between recording and starting this trial")
        return True

    def _early_errors(self) -> str | None:
        first = [t for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get("job_id")][:EARLY_ERRORS]
        n = min(EARLY_ERRORS, self.s.max_trials)
        if len(first) >= n and all(t.state.name == "FAIL" and t.user_attrs.get("counts") for t in first[:n]):
            return f"the first {n} trial(s) failed: {first[0].user_attrs.get('reason')}"
        return None

    def _interrupt(self, why: str, error_class: str = "Canceled") -> int:
        """Cancel the running trials (they do not count: a resume draws new ones) and write what there is."""
        from skillrun.launch.handle import Job

        for run in list(self.running.values()):
            try:
                if Job(self.store, run.job_id).cancel(CANCEL_GRACE_S).record.state.value == "COMPLETE":
                    self._poll(run)  # it finished meanwhile: keep its result
                    continue
            except SkillrunError as exc:
                self.log(f"could not cancel {run.job_id}: {exc.message}")
            self._tell(run.trial, "FAIL", reason=f"interrupted: {why}", counts=False)
        self.running.clear()
        self._write(final=True)
        self.status.write("FAILURE", why, error_class=error_class)
        self.log(f"study stopped: {why}")
        return 143 if error_class == "Canceled" else 1

    def _abort(self, why: str, hint: str) -> int:
        return self._interrupt(f"{why} ({hint})", "StudyFailed")

    def _write(self, *, final: bool = False) -> None:
        rows = outputs.trial_rows(self.study, self.store)
        outputs.write_tables(self.folder, rows)
        best = outputs.write_best(self.folder, self.study, self.plan, self.store, self.record.id)
        metrics = outputs.write_metrics(self.folder, rows, best)
        done = sum(1 for r in rows if r.state in ("COMPLETE", "PRUNED") or (r.state == "FAIL" and r.job_id))
        kpi = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        if not final:
            last = max((r for r in rows if r.state != "RUNNING" and r.state != "WAITING"), key=lambda r: r.number, default=None)
            what = f"trial {last.number} {last.state}" + (f" {self.s.metric}={last.value:.5g}" if last and last.value is not None else "") if last else "trial"
            self.status.write("RUNNING", f"{what}; best {self.s.metric}={best.value:.5g} (trial {best.trial})" if best else what, step=done, max_step=self.s.max_trials, kpi=kpi)
        else:
            with_plots = outputs.write_plots(self.folder, self.study, pruning=self.s.prunes, signal=("-" if self.s.pruning_direction != self.s.resolved_direction else "") + self.s.resolved_pruning_metric)
            self.log(f"wrote {', '.join([outputs.TRIALS_FILE, outputs.TRIALS_CSV, *with_plots])}" + (f" and {outputs.BEST_REC_FILE}" if best else ""))


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def install_signals(coordinator: Coordinator) -> None:
    signal.signal(signal.SIGTERM, coordinator.request_stop)
    signal.signal(signal.SIGINT, coordinator.request_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
