"""An outer Optuna study whose objective calls ``skillrun.run(...)``: HPO you drive yourself.

skillrun's own AutoML (``skillrun run rtdetr train`` with AutoML on) is the
usual way to search hyperparameters. Use this pattern instead when the loop is
yours: another sampler, a multi-objective study, Ray Tune, or a search over
things a train spec does not hold. Each trial is one recorded train job with
AutoML off; the objective gets its metrics back as numbers and a failed job as
data (``job.outcome()``), never as an exception, so one bad configuration costs
one trial and nothing else.

Three rules make it cheap and safe:

* ``skillrun.validate(...)`` first: a bad configuration is rejected in
  milliseconds without a job (here: pruned, so the sampler learns nothing from it);
* ``automl="off"``: each trial is a single training, not a study in a study;
* ``job.outcome()``: ``ok``, ``metrics``, ``error_class`` - return NaN for a
  failed job (Optuna records the trial as FAIL) and keep going.

Run it on data made by ``skillrun.data.sdg.generate_coco`` (``DATA/train``,
``DATA/val``)::

    .venv/bin/python examples/external_optuna.py --data DATA --trials 8 --epochs 4

or, in seconds, on the fake train of the test bank::

    .venv/bin/python examples/external_optuna.py --skill scriptjob --skills-dir tests/fixtures/script_bank --trials 3
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Callable

#: per skill: the learning-rate key, its range, and the fixed overrides of a quick run
PRESETS: dict[str, dict[str, Any]] = {
    "rtdetr": {
        "lr": ("train.optim.lr", 1e-5, 1e-3),
        "fixed": [
            "model.backbone=tiny", "model.num_queries=50", "model.num_select=50", "model.num_denoising=20",
            "dataset.batch_size=8", "dataset.workers=0", "dataset.augmentation.train_spatial_size=[128,128]",
            "dataset.augmentation.eval_spatial_size=[128,128]", "dataset.augmentation.multi_scales=[]",
            "train.checkpoint_interval=1", "train.validation_interval=1", "train.optim.warmup_steps=20",
        ],
    },
    "scriptjob": {"lr": ("train.lr", 1e-4, 1.0), "fixed": []},
}


def objective_for(skill: str, base: list[str], *, metric: str = "val_mAP", bank: Any = None, workspace: str | None = None) -> Callable[[Any], float]:
    """An Optuna objective training ``skill`` once per trial with a sampled learning rate."""
    import optuna

    import skillrun

    key, low, high = PRESETS[skill]["lr"]

    def objective(trial: optuna.Trial) -> float:
        overrides = [*base, f"{key}={trial.suggest_float('lr', low, high, log=True)}"]
        report = skillrun.validate(skill, "train", overrides=overrides, check_data=False, bank=bank)
        if not report.ok:  # rejected before any job exists
            trial.set_user_attr("invalid", [i.render() for i in report.errors])
            raise optuna.TrialPruned
        job = skillrun.run(skill, "train", overrides=overrides, automl="off", bank=bank, workspace=workspace)  # waits
        out = job.outcome()
        trial.set_user_attr("job_id", out.job_id)
        if not out.ok:
            trial.set_user_attr("error", f"{out.state}: {out.error_class}: {out.error_message}")
            return math.nan  # Optuna marks the trial FAIL and goes on
        value = out.value(metric)
        return math.nan if value is None else value

    return objective


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skill", default="rtdetr", choices=sorted(PRESETS))
    parser.add_argument("--data", type=Path, help="a generate_coco folder with train/ and val/ (rtdetr)")
    parser.add_argument("--skills-dir", type=Path, help="extra skill folder (scriptjob: tests/fixtures/script_bank)")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--workspace", default=None)
    args = parser.parse_args(argv)

    import optuna

    import skillrun

    bank = skillrun.load_bank([args.skills_dir] if args.skills_dir else [])
    base = [*PRESETS[args.skill]["fixed"], f"train.num_epochs={args.epochs}"]
    if args.skill == "rtdetr":
        if args.data is None:
            parser.error("--data is needed for rtdetr (make one with skillrun.data.sdg.generate_coco)")
        base += [
            f"dataset.train_data_sources=[{{image_dir: {args.data / 'train' / 'images'}, json_file: {args.data / 'train' / 'annotations.json'}}}]",
            f"dataset.val_data_sources={{image_dir: {args.data / 'val' / 'images'}, json_file: {args.data / 'val' / 'annotations.json'}}}",
        ]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective_for(args.skill, base, bank=bank, workspace=args.workspace), n_trials=args.trials)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    for t in study.trials:
        print(f"trial {t.number}: {t.state.name:<8} value={t.value} lr={t.params.get('lr'):.3g} job={t.user_attrs.get('job_id')}")
    if done:
        print(f"best: trial {study.best_trial.number}, val_mAP={study.best_value:.4f}, job {study.best_trial.user_attrs['job_id']}")
    return 0 if done else 1


if __name__ == "__main__":
    raise SystemExit(main())
