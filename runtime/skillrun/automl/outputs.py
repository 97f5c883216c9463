"""What a study leaves in ``<results_dir>/train/``: trials table, ``best_rec.json``, metrics, plots.

Rewritten (atomically) after every finished trial, so ``--parent STUDY`` and
``skillrun results STUDY`` work while the study runs and after a crash; the
plots are drawn once, at the end (matplotlib is slow to import).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillrun.contracts.automl import TRIALS_CSV, TRIALS_FILE, TrialRow
from skillrun.contracts.results import BEST_REC_FILE, METRICS_FILE, BestRec
from skillrun.record_io import atomic_write_text
from skillrun.resolve.checkpoints import list_checkpoints
from skillrun.results.summary import per_epoch, read_status

if TYPE_CHECKING:
    from skillrun.automl.plan import StudyPlan
    from skillrun.record.store import JobStore


def trial_rows(study: Any, store: JobStore) -> list[TrialRow]:
    """One row per Optuna trial, with its child job's state."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        job_id = attrs.get("job_id")
        job_state = None
        if job_id:
            try:
                job_state = store.load(job_id).state.value
            except Exception:  # the child folder was deleted
                job_state = "MISSING"
        dur = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        rows.append(
            TrialRow(
                number=t.number,
                state=t.state.name,
                value=t.value if t.state.name == "COMPLETE" else (_pruned_value(t) if t.state.name == "PRUNED" else None),
                job_id=job_id,
                job_state=job_state,
                epochs=int(attrs.get("epochs", len(t.intermediate_values))),
                best_epoch=attrs.get("best_epoch"),
                params=dict(attrs.get("params", t.params)),
                baseline=bool(attrs.get("baseline", False)),
                reason=attrs.get("reason"),
                duration_s=round(dur, 2) if dur is not None else None,
            )
        )
    return rows


def _pruned_value(trial: Any) -> float | None:
    """The study's metric when the trial was pruned (its intermediate values may be another, signed, pruning metric)."""
    if "metric_value" in trial.user_attrs:
        return trial.user_attrs["metric_value"]
    values = trial.intermediate_values  # a journal written before pruning_metric existed: they are the metric
    return values[max(values)] if values else None


def write_tables(folder: Path, rows: list[TrialRow]) -> None:
    atomic_write_text(folder / TRIALS_FILE, json.dumps([r.model_dump(mode="json") for r in rows], indent=2) + "\n")
    keys = sorted({k for r in rows for k in r.params})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["number", "state", "value", "epochs", "best_epoch", "job_id", "job_state", "baseline", "reason", "duration_s", *keys])
    for r in rows:
        writer.writerow([r.number, r.state, r.value, r.epochs, r.best_epoch, r.job_id, r.job_state, r.baseline, r.reason, r.duration_s, *(_cell(r.params.get(k)) for k in keys)])
    atomic_write_text(folder / TRIALS_CSV, buf.getvalue())


def _cell(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def best_checkpoint(folder: Path, metric: str, direction: str) -> tuple[str | None, int | None]:
    """The child's checkpoint with the best ``metric`` (ties: the later epoch); else its newest one."""
    ckpts = {c.epoch: c.path for c in list_checkpoints(folder)}
    if not ckpts:
        return None, None
    values = {e: v for e, v in per_epoch(read_status(folder), metric).items() if e in ckpts}
    if not values:
        epoch = max(ckpts)
        return str(ckpts[epoch]), epoch
    sign = 1 if direction == "maximize" else -1
    epoch = max(values, key=lambda e: (sign * values[e], e))
    return str(ckpts[epoch]), epoch


def write_best(folder: Path, study: Any, plan: StudyPlan, store: JobStore, study_id: str) -> BestRec | None:
    """``best_rec.json`` for the best COMPLETE trial (None while there is none)."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and t.value is not None]
    if not done:
        return None
    sign = 1 if plan.settings.resolved_direction == "maximize" else -1
    best = max(done, key=lambda t: (sign * t.value, -t.number))  # ties: the earlier trial
    job_id = best.user_attrs["job_id"]
    child = store.load(job_id)
    ckpt, epoch = best_checkpoint(Path(child.results_dir) / child.action, plan.settings.metric, plan.settings.resolved_direction)
    rec = BestRec(
        job_id=job_id,
        metric=plan.settings.metric,
        direction=plan.settings.resolved_direction,
        value=best.value,
        trial=best.number,
        params=dict(best.user_attrs.get("params", best.params)),
        study=study_id,
        checkpoint=ckpt,
        epoch=epoch,
        budget=dict(plan.fixed),
    )
    atomic_write_text(folder / BEST_REC_FILE, rec.model_dump_json(indent=2) + "\n")
    return rec


def write_metrics(folder: Path, rows: list[TrialRow], best: BestRec | None) -> dict[str, Any]:
    counts = {s: sum(1 for r in rows if r.state == s) for s in ("COMPLETE", "PRUNED", "FAIL")}
    out: dict[str, Any] = {
        "trials_complete": counts["COMPLETE"],
        "trials_pruned": counts["PRUNED"],
        "trials_failed": counts["FAIL"],
        "trial_epochs": sum(r.epochs for r in rows),
    }
    if best is not None:
        out.update({f"best_{best.metric}": best.value, "best_trial": best.trial, "best_job": best.job_id, "best_epoch": best.epoch})
    atomic_write_text(folder / METRICS_FILE, json.dumps(out, indent=2) + "\n")
    return out


def write_plots(folder: Path, study: Any, *, pruning: bool, signal: str = "") -> list[str]:
    """Optimisation history, parameter importances (when Optuna can compute them), learning curves.

    ``signal`` labels the learning curves: what the pruner was fed (``-train_loss`` when a loss was negated).
    """
    made: list[str] = []
    if not any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        return made
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    plots = [("optimization_history.png", ovm.plot_optimization_history), ("param_importances.png", ovm.plot_param_importances)]
    if pruning:
        plots.append(("intermediate_values.png", ovm.plot_intermediate_values))
    for name, draw in plots:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = draw(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            if name == "intermediate_values.png" and signal and hasattr(ax, "set_ylabel"):
                ax.set_ylabel(f"{signal} (what the pruner compared)")
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            fig.savefig(folder / name, dpi=100)
            plt.close(fig)
            made.append(name)
        except Exception:  # too few complete trials, a single value, no params: Optuna cannot draw it
            plt.close("all")
    return made


def read_study(folder: Path) -> dict[str, Any] | None:
    """``{"best_rec", "trials", "plots"}`` of a study folder (``skillrun results``); None for other jobs."""
    try:
        trials = json.loads((folder / TRIALS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    try:
        best = json.loads((folder / BEST_REC_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        best = None
    return {"best_rec": best, "trials": trials, "plots": sorted(str(p) for p in folder.glob("*.png"))}
