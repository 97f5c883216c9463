"""Optuna pieces of a study: storage, sampler and pruner per algorithm (imported only inside the study job).

- bayesian: TPE (constant liar, so concurrent trials do not all get the same proposal), no pruning;
- random: random sampling, no pruning;
- hyperband: random sampling (classic Hyperband) + HyperbandPruner(min, max epochs, factor);
- asha: random sampling (as in the ASHA paper) + SuccessiveHalvingPruner(min epochs, factor).

Pruners are fed each trial's per-epoch metric by the coordinator (:mod:`.study`).
TPE's startup trials number max(2, min(10, max_trials // 3)), so a short study
still gets model-based proposals. Hyperband runs on random sampling because
Optuna's TPE only learns within one bracket (PITFALLS §4). ``load_study``
forgets sampler and pruner, so every (re)start builds them here from the same
settings; on a resume the sampler is reseeded with seed + trials so far, so it
does not propose the first trials again.

Optuna's Hyperband puts trial n in the bracket that crc32(f"{study_name}_{n}")
picks, so a seeded study is named after its seed (:func:`study_name`): the same
seed then gives the same brackets, hence the same pruning and the same study.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillrun.automl.settings import AutomlSettings

if TYPE_CHECKING:
    from skillrun.automl.space import Space

JOURNAL = "study.journal"


def storage(folder: Path) -> Any:
    """The file journal inside the study folder: append-only, so a crash loses at most the last write."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    folder.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(folder / JOURNAL)))


def study_name(storage: Any, settings: AutomlSettings, job_id: str) -> str:
    """The name of the journal's one study (a resume keeps it); a new one is named by its seed, or its job when unseeded."""
    existing = [s.study_name for s in storage.get_all_studies()]
    if existing:
        return str(existing[0])
    return job_id if settings.seed is None else f"study-seed{settings.seed}"


def startup_trials(settings: AutomlSettings) -> int:
    return max(2, min(10, settings.max_trials // 3))


def describe(settings: AutomlSettings, max_epochs: int) -> tuple[str, str | None]:
    """(sampler, pruner) in words, for the launch review (no optuna import)."""
    seed = f"seed={settings.seed}"
    if settings.algorithm == "bayesian":
        sampler = f"TPESampler(n_startup_trials={startup_trials(settings)}, constant_liar=True, {seed})"
    else:
        sampler = f"RandomSampler({seed})"
    pruner = None
    if settings.algorithm == "hyperband":
        pruner = f"HyperbandPruner(min_resource={settings.min_epochs}, max_resource={max_epochs}, reduction_factor={settings.reduction_factor}{_boot(settings)})"
    elif settings.algorithm == "asha":
        pruner = f"SuccessiveHalvingPruner(min_resource={settings.min_epochs}, reduction_factor={settings.reduction_factor}{_boot(settings)})"
    return sampler, pruner


def sampler(settings: AutomlSettings, space: Space, *, offset: int = 0) -> Any:
    import optuna

    seed = None if settings.seed is None else settings.seed + offset
    if settings.algorithm == "bayesian":
        base: Any = optuna.samplers.TPESampler(n_startup_trials=startup_trials(settings), constant_liar=True, seed=seed)
    else:
        base = optuna.samplers.RandomSampler(seed=seed)
    weights = {p.path: (list(p.encoded), list(p.weights)) for p in space.params if p.weights}
    return _weighted(base, weights, seed) if weights else base


def pruner(settings: AutomlSettings, max_epochs: int) -> Any:
    import optuna

    if settings.algorithm == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=settings.min_epochs, max_resource=max_epochs, reduction_factor=settings.reduction_factor, bootstrap_count=settings.bootstrap_count)
    if settings.algorithm == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=settings.min_epochs, reduction_factor=settings.reduction_factor, bootstrap_count=settings.bootstrap_count)
    return optuna.pruners.NopPruner()


def _weighted(base: Any, weights: dict[str, tuple[list[Any], list[float]]], seed: int | None) -> Any:
    """``base`` with categorical draws following ``option_weights`` whenever it would draw at random.

    That is every draw of the random sampler and TPE's startup trials; once TPE
    models the results, its proposals are left alone.
    """
    import numpy as np
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState

    class WeightedChoices(optuna.samplers.BaseSampler):
        def __init__(self) -> None:
            self.base = base
            self.rng = np.random.RandomState(seed)

        def infer_relative_search_space(self, study: optuna.Study, trial: Any) -> Any:
            return self.base.infer_relative_search_space(study, trial)

        def sample_relative(self, study: optuna.Study, trial: Any, search_space: Any) -> Any:
            return self.base.sample_relative(study, trial, search_space)

        def sample_independent(self, study: optuna.Study, trial: Any, name: str, dist: Any) -> Any:
            if name in weights and isinstance(dist, CategoricalDistribution) and self._random_phase(study):
                choices, probs = weights[name]
                if list(dist.choices) == choices:
                    return choices[int(self.rng.choice(len(choices), p=np.asarray(probs) / sum(probs)))]
            return self.base.sample_independent(study, trial, name, dist)

        def _random_phase(self, study: optuna.Study) -> bool:
            if isinstance(self.base, optuna.samplers.RandomSampler):
                return True
            done = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED), use_cache=True)
            return len(done) < getattr(self.base, "_n_startup_trials", 0)

        def before_trial(self, study: optuna.Study, trial: Any) -> None:
            self.base.before_trial(study, trial)

        def after_trial(self, study: optuna.Study, trial: Any, state: Any, values: Any) -> None:
            self.base.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self.base.reseed_rng()
            self.rng = np.random.RandomState()

    return WeightedChoices()


def _boot(settings: AutomlSettings) -> str:
    return f", bootstrap_count={settings.bootstrap_count}" if settings.bootstrap_count else ""


def expected_trial_epochs(settings: AutomlSettings, max_epochs: int) -> float:
    """Epochs an average trial runs: all of them without pruning; with it, the successive-halving share.

    At each rung (min_epochs x factor^k) one trial in ``factor`` goes on; Hyperband
    averages that over its brackets. Optimistic for the first trials, which have no
    peers to be compared with yet.
    """
    if not settings.prunes or max_epochs <= settings.min_epochs:
        return float(max_epochs)
    eta, r0 = settings.reduction_factor, settings.min_epochs
    starts = [r0]
    if settings.algorithm == "hyperband":
        while starts[-1] * eta < max_epochs:
            starts.append(starts[-1] * eta)
    return sum(_halving(start, eta, max_epochs) for start in starts) / len(starts)


def _halving(r0: int, eta: int, top: int) -> float:
    rungs = [r0]
    while rungs[-1] * eta < top:
        rungs.append(rungs[-1] * eta)
    rungs.append(top)
    epochs = float(rungs[0])
    for k in range(1, len(rungs)):
        epochs += (rungs[k] - rungs[k - 1]) / eta**k
    return epochs
