"""The ``automl:`` section of a train spec: how a study searches (algorithm, trials, metric, budget, space).

The train schema of an AutoML-enabled skill declares the same section (so
``skillrun schema`` documents it and overrides such as ``automl.max_trials=16``
are checked like any key); this pydantic model is what the runtime reads. A
skill whose train schema lacks the section (a TAO bank folder) gets it from
:func:`spec_sections` when its schema loads, so ``automl.max_trials=16`` is
checked there too; it is never written into such a skill's job spec.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from skillrun.contracts.report import Issue

Algorithm = Literal["bayesian", "random", "hyperband", "asha"]
Direction = Literal["maximize", "minimize"]
ALGORITHMS: tuple[str, ...] = ("bayesian", "random", "hyperband", "asha")
#: algorithms that stop trials early from their per-epoch metric
PRUNING = ("hyperband", "asha")


class RangeSpec(BaseModel):
    """A user's bounds for one searched key (``automl.ranges."train.optim.lr"``); unset fields come from the schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None
    options: list[Any] | None = Field(default=None, description="Choices of a categorical key.")
    weights: list[float] | None = Field(default=None, description="Prior weights of the options (random draws and TPE's startup trials).")
    log: bool | None = Field(default=None, description="Sample on a log scale (default: learning rates and weight decay).")
    step: float | None = Field(default=None, gt=0)


class AutomlSettings(BaseModel):
    """``automl.*`` of a train spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Algorithm = Field(default="bayesian", description="bayesian (TPE), random, hyperband or asha (successive halving).")
    max_trials: int = Field(default=8, ge=1, description="Trials that run to a result (complete or pruned), the baseline included.")
    metric: str = Field(default="val_mAP", description="kpi key of the trials' status.json to optimise (val_mAP, val_mAP50, a loss ...).")
    direction: Direction | None = Field(default=None, description="null = minimize for a metric named *loss*, else maximize.")
    max_epochs: int | None = Field(default=None, ge=1, description="Epochs a trial may run (budget_key); null = the spec's value.")
    min_epochs: int = Field(default=1, ge=1, description="hyperband/asha: epochs before the first pruning decision.")
    pruning_metric: str | None = Field(
        default=None,
        description="hyperband/asha: the per-epoch kpi the pruner compares (null = metric). A loss is minimised; a detector's mAP stays near 0 for its first epochs while its loss already ranks the configurations.",
    )
    reduction_factor: int = Field(default=3, ge=2, description="hyperband/asha: keep 1 in reduction_factor trials at each rung.")
    bootstrap_count: int = Field(
        default=0,
        ge=0,
        description="hyperband/asha: trials that must reach a rung before any goes past it; the first ones are pruned there (Optuna's bootstrap_count). 0 promotes a rung's first trial unexamined; 1 promotes none without a comparison.",
    )
    max_concurrent: int = Field(default=1, ge=1, description="Trials running at once through the backend.")
    parameters: list[str] | None = Field(default=None, description="Dotted keys to search; null = the schema's automl_default_parameters.")
    ranges: dict[str, RangeSpec] = Field(default_factory=dict, description="Per-key bounds/options/log overriding the schema's.")
    seed: int | None = Field(default=42, description="Seeds the sampler and Hyperband's brackets, so a study can be repeated (null = random).")
    baseline: bool = Field(default=True, description="Run the spec's own values as the first trial.")
    budget_key: str = Field(default="train.num_epochs", description="The spec key that holds a trial's epochs.")
    trial_overrides: dict[str, Any] = Field(default_factory=dict, description="Dotted key -> value set in every trial (e.g. per-epoch validation for pruning).")

    @property
    def resolved_direction(self) -> Direction:
        """The explicit direction, else minimize for a loss and maximize for anything else."""
        if self.direction is not None:
            return self.direction
        return "minimize" if "loss" in self.metric.lower() else "maximize"

    @property
    def resolved_pruning_metric(self) -> str:
        return self.pruning_metric or self.metric

    @property
    def pruning_direction(self) -> Direction:
        """The study's direction for its own metric; for another pruning metric, inferred from its name."""
        if self.pruning_metric is None or self.pruning_metric == self.metric:
            return self.resolved_direction
        return "minimize" if "loss" in self.pruning_metric.lower() else "maximize"

    @property
    def prunes(self) -> bool:
        return self.algorithm in PRUNING


def read_settings(spec: dict[str, Any]) -> tuple[AutomlSettings, list[Issue]]:
    """The settings of ``spec["automl"]`` (defaults when absent) and the problems found, as issues."""
    raw = spec.get("automl")
    if raw is None:
        return AutomlSettings(), []
    if not isinstance(raw, dict):
        return AutomlSettings(), [Issue(path="automl", value=raw, message="must be a mapping", allowed="automl: {algorithm: ..., max_trials: ...}", code="automl_type")]
    clean = {k: v for k, v in raw.items() if v is not None or k in ("direction", "max_epochs", "parameters", "seed")}
    issues: list[Issue] = []
    for _ in range(len(clean) + 1):  # drop each bad key and keep the rest, so the space is still checked
        try:
            return AutomlSettings.model_validate(clean), issues
        except ValidationError as exc:
            issues += [_issue(err, raw) for err in exc.errors()]
            for err in exc.errors():
                clean.pop(str(err["loc"][0]), None)
    return AutomlSettings(), issues


def _issue(err: Any, raw: dict[str, Any]) -> Issue:
    loc = [str(x) for x in err["loc"]]
    where = "automl"
    for i, part in enumerate(loc):
        where += f'["{part}"]' if i == 1 and loc[0] in ("ranges", "trial_overrides") else f".{part}"
    allowed = None
    hint = None
    if err["type"] == "extra_forbidden":
        model = RangeSpec if loc and loc[0] == "ranges" and len(loc) > 2 else AutomlSettings
        allowed = ", ".join(model.model_fields)
        import difflib

        close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
        hint = f"did you mean {close[0]!r}?" if close else None
        message = f"unknown key {loc[-1]!r}"
    else:
        message = err["msg"]
        if err["type"] == "literal_error" and loc == ["algorithm"]:
            allowed = ", ".join(ALGORITHMS)
    return Issue(path=where, value=err.get("input") if err["type"] != "extra_forbidden" else None, message=message, allowed=allowed, hint=hint, code="automl_settings")


def spec_sections() -> dict[str, dict[str, Any]]:
    """``automl`` and ``automl_policy`` as schema properties, for a train schema that does not declare them.

    Generated from :class:`AutomlSettings` (``$ref``s inlined, no ``default``s, so a
    composed spec gains no section the skill's own code never reads).
    """
    schema = AutomlSettings.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items() if k not in ("default", "title")}
        return [inline(v) for v in node] if isinstance(node, list) else node

    automl = {**inline(schema), "description": "AutoML study settings (skillrun's; see references/automl.md). Never searched itself.", "automl_enabled": False}
    policy = {"description": "Per-run AutoML switch for train: on or off (null: --automl and the request decide).", "enum": ["on", "off", True, False, None], "automl_enabled": False}
    return {"automl": automl, "automl_policy": policy}
