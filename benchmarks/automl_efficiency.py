"""Trial-epochs AutoML algorithms spend to reach what 16 random trials find, as ratios to random search.

Three real studies run one after the other through ``skillrun.run`` (AutoML on,
one trial at a time, local backend), on one generated dataset (``generate_coco``,
sparse ids; default 64 train / 16 val images at 128 px) with the tiny CPU recipe
(``examples/rtdetr_tiny_cpu.yaml``), searching ``train.optim.lr``,
``train.optim.lr_backbone`` (<= lr), ``train.optim.weight_decay`` and
``train.optim.lr_scheduler``, every trial up to ``--epochs`` epochs:

* **random**: ``--random-trials`` (16) trials, random sampling, no pruning;
* **hyperband**: up to ``--hyperband-trials`` (32) trials, random sampling with the same
  seed (so it proposes the same configurations in the same order) plus
  HyperbandPruner(min 1 epoch, max ``--epochs``, factor ``--eta``), pruning on the skill's
  ``automl.pruning_metric`` (rtdetr: ``train_loss``; ``--pruning-metric val_mAP`` prunes on the
  objective itself);
* **bayesian**: ``--bayes-trials`` (16) trials, TPE, no pruning.

The target is the best ``val_mAP`` any random trial reached (at any epoch). For
each algorithm the cost is the trial-epochs spent, in trial order, until some
trial's per-epoch ``val_mAP`` first reaches the target: all epochs of the
trials before it plus the epochs of that trial up to that epoch. The **ratio**
is that cost over random search's budget (``--random-trials`` x ``--epochs``):
random search only knows it holds its best after running all its trials, so
that is what its result costs. Hyperband's target: ratio <= 0.5. The table also
shows the cost over random's own time to the target (``vs lucky``), which
depends on where in its order random happened to draw the best configuration.
An algorithm that never reaches the target shows ``>`` its total spend (a lower
bound).

Hyperband's result also depends on which bracket each trial lands in: Optuna puts trial n
in the bracket crc32(f"{study_name}_{n}") picks, and a seeded study is named after its seed,
so one run measures one bracket assignment. ``--bracket-draws N`` (default 200) measures
the spread: every configuration hyperband drew is completed to ``--epochs`` (its curve taken
from the random study when that drew the same configuration, else trained here), then the
same Optuna HyperbandPruner replays the study under N other study names, each time feeding
each trial its recorded per-epoch pruning signal until the pruner stops it or it reaches the
target. The replay under the run's own name must give the run's own cost (printed as a
check; the replay prunes at the epoch the pruner decides, while a real trial whose epochs are
shorter than the coordinator's poll runs a little past it, as on ``--skill scriptjob``); the
summary shows the median, quartiles and the share of draws at or under the target, and ASHA's ratio replayed on the same curves (one bracket, so nothing to draw); the same again
with ``automl.bootstrap_count=1`` (no trial goes past a rung before it has been compared with
another) when the run used another value.

``--skill scriptjob`` runs the same on the fake, deterministic train of the test
bank (seconds, for a smoke test of the benchmark itself; the numbers mean
nothing about RT-DETR).

    .venv/bin/python benchmarks/automl_efficiency.py [--epochs 9] [--eta 3] [--random-trials 16]
        [--bayes-trials 16] [--hyperband-trials 32] [--train-images 64] [--val-images 16] [--size 128]
        [--seed 42] [--skill rtdetr|scriptjob] [--bootstrap-count 0] [--bracket-draws 200] [--workspace DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.5
SPACE = {
    "rtdetr": (
        "[train.optim.lr, train.optim.lr_backbone, train.optim.weight_decay, train.optim.lr_scheduler]",
        "{train.optim.lr: {min: 0.00005, max: 0.003}, train.optim.lr_backbone: {min: 0.000005, max: 0.003}}",
    ),
    "scriptjob": ("[train.lr, train.lr_backbone, train.optimizer]", "{}"),
}


def base_overrides(args: argparse.Namespace, data: Any) -> list[str]:
    if args.skill == "scriptjob":
        return ["train.sleep_per_epoch=0.2"]  # long enough for the pruner to act before a trial ends
    tr, va = data.splits["train"], data.splits["val"]
    size = args.size
    return [
        f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]",
        f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}",
        f"dataset.augmentation.train_spatial_size=[{size},{size}]",
        f"dataset.augmentation.eval_spatial_size=[{size},{size}]",
        "train.checkpoint_interval=1000",  # the last epoch only: keeps the disk small
        "train.optim.warmup_steps=10",
        *(["model.num_queries=50", "model.num_select=50"] if size < 128 else []),  # 64 px has only 84 anchors
    ]


def run_study(args: argparse.Namespace, algorithm: str, trials: int, overrides: list[str], bank: Any) -> Any:
    import skillrun

    params, ranges = SPACE[args.skill]
    ov = [
        *overrides,
        f"automl.algorithm={algorithm}",
        f"automl.max_trials={trials}",
        f"automl.max_epochs={args.epochs}",
        "automl.min_epochs=1",
        f"automl.reduction_factor={args.eta}",
        f"automl.seed={args.seed}",
        f"automl.parameters={params}",
        f"automl.ranges={ranges}",
        "automl.trial_overrides={train.validation_interval: 1}",
        *([f"automl.pruning_metric={args.pruning_metric}"] if args.pruning_metric else []),
        f"automl.bootstrap_count={args.bootstrap_count}",
    ]
    spec_file = REPO / "examples" / "rtdetr_tiny_cpu.yaml" if args.skill == "rtdetr" else None
    t0 = time.monotonic()
    job = skillrun.run(args.skill, "train", spec_file=spec_file, overrides=ov, automl="on", bank=bank, workspace=args.workspace)
    print(f"  {algorithm:<10} {job.id} {job.record.state.value} in {time.monotonic() - t0:.0f} s", flush=True)
    return job


def curves(job: Any, workspace: str) -> list[tuple[int, dict[int, float], int]]:
    """(trial number, epoch -> val_mAP, epochs run) of every trial that ran a job, in trial order."""
    import skillrun
    from skillrun.results.summary import per_epoch, read_status

    rows = json.loads((job.action_dir / "trials.json").read_text())
    out = []
    for row in sorted(rows, key=lambda r: r["number"]):
        if not row["job_id"]:
            continue
        child = skillrun.job(row["job_id"], workspace=workspace)
        values = per_epoch(read_status(child.action_dir), "val_mAP")
        out.append((row["number"], values, max(row["epochs"], max(values, default=-1) + 1)))
    return out


def cost_to_reach(trials: list[tuple[int, dict[int, float], int]], target: float) -> tuple[int | None, int]:
    """(trial-epochs until some epoch reaches ``target`` or None, total trial-epochs)."""
    spent = 0
    for _, values, epochs in trials:
        for epoch in sorted(values):
            if values[epoch] >= target - 1e-12:
                return spent + epoch + 1, sum(e for _, _, e in trials)
        spent += epochs
    return None, spent


def full_curves(studies: dict[str, Any], args: argparse.Namespace, bank: Any, pruning: str) -> list[tuple[dict[int, float], dict[int, float]]]:
    """(pruning signal, val_mAP) per epoch over all ``--epochs`` for every hyperband trial that ran, in trial order."""
    import skillrun
    import yaml
    from skillrun.results.summary import per_epoch, read_status

    def of(job_id: str) -> tuple[dict[int, float], dict[int, float]]:
        events = read_status(skillrun.job(job_id, workspace=args.workspace).action_dir)
        return per_epoch(events, pruning), per_epoch(events, "val_mAP")

    def key(params: dict[str, Any]) -> str:
        return json.dumps(params, sort_keys=True)

    complete = {}
    for row in json.loads((studies["random"].action_dir / "trials.json").read_text()):
        if row["job_id"] and row["epochs"] >= args.epochs:
            complete[key(row["params"])] = of(row["job_id"])
    out = []
    for row in sorted(json.loads((studies["hyperband"].action_dir / "trials.json").read_text()), key=lambda r: r["number"]):
        if not row["job_id"]:
            continue
        if row["epochs"] >= args.epochs:
            out.append(of(row["job_id"]))
        elif key(row["params"]) in complete:
            out.append(complete[key(row["params"])])
        else:  # pruned and never drawn by random search: train its configuration to the end
            spec = yaml.safe_load(Path(skillrun.job(row["job_id"], workspace=args.workspace).record.spec_file).read_text())
            job = skillrun.run(args.skill, "train", spec=spec, automl="off", check_data=False, bank=bank, workspace=args.workspace)
            print(f"  completed trial {row['number']} (pruned after {row['epochs']}): {job.id} {job.record.state.value}", flush=True)
            out.append(of(job.id))
    return out


def replay(curves: list[tuple[dict[int, float], dict[int, float]]], settings: Any, epochs: int, target: float, name: str) -> int | None:
    """Trial-epochs until the target under study name ``name``: Optuna's own pruner, fed the recorded signals."""
    import optuna

    from skillrun.automl import engine

    study = optuna.create_study(study_name=name, direction=settings.resolved_direction, pruner=engine.pruner(settings, epochs))
    sign = 1 if settings.pruning_direction == settings.resolved_direction else -1  # as the coordinator reports it
    spent = 0
    for signal, values in curves:
        trial = study.ask()
        for epoch in range(epochs):
            if values.get(epoch, float("-inf")) >= target - 1e-12:
                return spent + epoch + 1
            trial.report(sign * signal[epoch], step=epoch + 1)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                spent += epoch + 1
                break
        else:
            study.tell(trial, max(values.values()))
            spent += epochs
    return None


def bracket_draws(studies: dict[str, Any], args: argparse.Namespace, bank: Any, target: float, budget: int, actual: int | None) -> None:
    import statistics

    import optuna
    import yaml

    from skillrun.automl import engine
    from skillrun.automl.settings import read_settings

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings, _ = read_settings(yaml.safe_load(Path(studies["hyperband"].record.spec_file).read_text()))
    own_name = engine.study_name(engine.storage(studies["hyperband"].action_dir), settings, studies["hyperband"].id)  # the name its journal holds
    print(f"\nbracket draws: completing hyperband's configurations to {args.epochs} epochs", flush=True)
    curves = full_curves(studies, args, bank, settings.resolved_pruning_metric)
    variants = [("as run", settings)]
    if settings.bootstrap_count != 1:  # the knob that stops a rung's first trial going on unexamined
        variants.append(("replayed", settings.model_copy(update={"bootstrap_count": 1})))
    for label, variant in variants:
        mine = replay(curves, variant, args.epochs, target, own_name)
        if label == "as run":
            print(f"replay under the run's own study name: {mine} trial-epochs (the run: {actual}){'' if mine == actual else '  MISMATCH'}")
        costs = [replay(curves, variant, args.epochs, target, f"draw-{i}") for i in range(args.bracket_draws)]
        ratios = sorted(c / budget if c is not None else float("inf") for c in costs)
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        within = sum(r <= TARGET_RATIO for r in ratios)
        print(f"hyperband ({label}, bootstrap_count={variant.bootstrap_count}) / random over {len(ratios)} bracket assignments: "
              f"median {statistics.median(ratios):.3f}, quartiles {q[0]:.3f}-{q[2]:.3f}, best {ratios[0]:.3f}, worst {ratios[-1]:.3f}; "
              f"<= {TARGET_RATIO} in {within} ({within / len(ratios):.0%}); seed {args.seed}'s own brackets {'never' if mine is None else f'{mine / budget:.3f}'}"
              f"{'; never reached: ' + str(sum(c is None for c in costs)) if None in costs else ''}")
        asha = replay(curves, variant.model_copy(update={"algorithm": "asha"}), args.epochs, target, "asha")  # one bracket: no draw to make
        print(f"  asha (same factor and bootstrap_count) replayed on the same curves: {'never' if asha is None else f'{asha / budget:.3f}'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skill", default="rtdetr", choices=sorted(SPACE))
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--random-trials", type=int, default=16)
    parser.add_argument("--bayes-trials", type=int, default=16)
    parser.add_argument("--hyperband-trials", type=int, default=32)
    parser.add_argument("--train-images", type=int, default=64)
    parser.add_argument("--val-images", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pruning-metric", default=None, help="automl.pruning_metric for hyperband (default: the skill schema's, train_loss for rtdetr)")
    parser.add_argument("--bootstrap-count", type=int, default=0, help="automl.bootstrap_count of the studies (0 = the default)")
    parser.add_argument("--bracket-draws", type=int, default=200, help="replay hyperband under this many other bracket assignments (0: off)")
    parser.add_argument("--workspace", default=None, help="default: a temporary folder, removed at the end unless --keep")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    import skillrun
    from skillrun.data.sdg import generate_coco

    tmp = Path(args.workspace or tempfile.mkdtemp(prefix="automl-bench-"))
    args.workspace = str(tmp)
    os.environ.setdefault("SKILLRUN_AUTOML_POLL_S", "0.5")
    skills = [REPO / "tests" / "fixtures" / "script_bank"] if args.skill == "scriptjob" else []
    bank = skillrun.load_bank(skills)
    data = generate_coco(tmp / "data", splits={"train": args.train_images, "val": args.val_images}, image_size=(args.size, args.size), seed=0) if args.skill == "rtdetr" else None
    overrides = base_overrides(args, data)
    print(f"automl_efficiency: {args.skill}, {args.epochs} epochs a trial, workspace {tmp}", flush=True)
    studies = {
        "random": run_study(args, "random", args.random_trials, overrides, bank),
        "hyperband": run_study(args, "hyperband", args.hyperband_trials, overrides, bank),
        "bayesian": run_study(args, "bayesian", args.bayes_trials, overrides, bank),
    }
    runs = {name: curves(job, args.workspace) for name, job in studies.items()}
    review = json.loads((studies["hyperband"].action_dir / "review.json").read_text())
    print(f"hyperband: {review['pruner']}, pruned on {review['pruning_metric']}; every study maximises {review['metric']}")
    target = max((v for _, values, _ in runs["random"] for v in values.values()), default=None)
    if target is None:
        print("random search produced no val_mAP; nothing to compare", file=sys.stderr)
        return 1
    lucky, budget = cost_to_reach(runs["random"], target)
    print(f"\ntarget: val_mAP {target:.4f} (best of {len(runs['random'])} random trials; their budget {budget} trial-epochs)")
    if target <= 0:
        print("warning: no random trial learned anything (val_mAP 0); the ratios below mean nothing: raise --epochs / --train-images / --size")
    print(f"{'algorithm':<10} {'trials':>6} {'trial-epochs':>12} {'best val_mAP':>12} {'to target':>10} {'ratio':>7} {'vs lucky':>9}")
    ratios: dict[str, float | None] = {}
    for name, trials in runs.items():
        cost, total = cost_to_reach(trials, target)
        best = max((v for _, values, _ in trials for v in values.values()), default=float("nan"))
        ratios[name] = cost / budget if cost is not None and budget else None
        shown = f"{ratios[name]:.2f}" if ratios[name] is not None else f">{total / budget:.2f}" if budget else "-"
        vs_lucky = f"{cost / lucky:.2f}" if cost is not None and lucky else "-"
        print(f"{name:<10} {len(trials):>6} {total:>12} {best:>12.4f} {cost if cost is not None else 'never':>10} {shown:>7} {vs_lucky:>9}")
    hb, bo = ratios["hyperband"], ratios["bayesian"]
    verdict = "n/a (nothing was learned)" if target <= 0 else "PASS" if hb is not None and hb <= TARGET_RATIO else "FAIL"
    print(f"\nhyperband / random = {'never' if hb is None else round(hb, 3)} (target <= {TARGET_RATIO}): {verdict}")
    print(f"bayesian / random = {'never' if bo is None else round(bo, 3)}")
    if args.bracket_draws and target > 0:
        bracket_draws(studies, args, bank, target, budget, cost_to_reach(runs["hyperband"], target)[0])
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
