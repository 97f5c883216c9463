"""The machine contract of a skill: ``references/skill_info.yaml``.

These models are the single source of truth for that file: the meta-schema
``schemas/skill_info.schema.json`` is generated from :class:`SkillInfo`
(``python -m skillrun.contracts.export``) and a test fails when the two drift.
The loader enforces the models, so a bad ``skill_info.yaml`` fails with the
dotted path of the bad field.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, Union


from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo, ValidatorFunctionWrapHandler, WrapValidator, field_validator

_DOTTED = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
_NAME = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_SPEC_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])*(\.[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])*)*$"
DottedKey = Annotated[str, StringConstraints(pattern=_DOTTED)]
SpecPath = Annotated[str, StringConstraints(pattern=_SPEC_PATH)]  #: a dotted key that may index lists: a.b[0].c
ActionName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$")]
ShortKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SkillKind(str, Enum):
    """What a skill is about; routing and listings group by it."""

    model = "model"
    data = "data"
    application = "application"
    platform = "platform"
    core = "core"


class Resolver(str, Enum):
    """The spec_params resolvers the runtime can execute (TAO's names, TAO's meaning)."""

    output_dir = "output_dir"
    parent_model = "parent_model"
    parent_model_folder = "parent_model_folder"
    parent_model_or_ptm = "parent_model_or_ptm"
    resume_model = "resume_model"
    resume_model_or_ptm = "resume_model_or_ptm"
    ptm_if_no_resume_model = "ptm_if_no_resume_model"
    ptm = "ptm"
    key = "key"
    create_onnx_file = "create_onnx_file"
    create_engine_file = "create_engine_file"
    create_cal_cache = "create_cal_cache"
    create_cal_data_file = "create_cal_data_file"
    create_pth_file = "create_pth_file"
    create_hdf5_file = "create_hdf5_file"
    create_weights_tlt_file = "create_weights_tlt_file"
    merged_json = "merged_json"
    create_inference_result_file_pose = "create_inference_result_file_pose"
    create_inference_result_file_reid = "create_inference_result_file_reid"
    create_inference_result_file_mal = "create_inference_result_file_mal"
    create_inference_result_file_json = "create_inference_result_file_json"
    create_evaluate_matches_plot_reid = "create_evaluate_matches_plot_reid"
    create_evaluate_cmc_plot_reid = "create_evaluate_cmc_plot_reid"


class ConstantParam(_Strict):
    """A fixed value the runtime writes into its spec key at launch (TAO writes these as plain values)."""

    constant: Any = Field(description="The value, as YAML would read it.")


class LinkParam(_Strict):
    """A file the job needs from a URL, placed at ``destination_path`` (TAO's ``{link, destination_path}``)."""

    link: str = Field(min_length=1, description="Where the file comes from (http(s)://, ngc://, hf_model:// or a local path).")
    destination_path: str | None = Field(default=None, description="Where the job expects it; the spec key gets this path.")


def _one_param(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """One error naming what a spec_params value may be, on the key itself (not one per union member)."""
    try:
        return handler(value)
    except ValidationError:
        names = ", ".join(r.value for r in Resolver)
        raise ValueError(f"{value!r} is not a resolver ({names}), a {{constant: VALUE}} or a {{link: URL, destination_path: PATH}}") from None


SpecParam = Annotated[Union[Resolver, ConstantParam, LinkParam], WrapValidator(_one_param)]


def param_name(param: SpecParam) -> str:
    """The resolver's name, or ``constant`` / ``link`` (tables, route hints, plan output)."""
    if isinstance(param, Resolver):
        return param.value
    return "constant" if isinstance(param, ConstantParam) else "link"


class PathKind(_Strict):
    """What a spec key that holds a path points to (TAO's ``inputs``/``outputs`` entries)."""

    type: Literal["file", "folder"] = "file"
    optional: bool = False


class Trigger(_Strict):
    """A phrase people and agents use for this skill, optionally tied to one action."""

    phrase: str = Field(min_length=2)
    action: str | None = None


class DataSource(_Strict):
    """One dataset input an action needs (the per-action data requirements table)."""

    spec_key: str = Field(pattern=_SPEC_PATH, description="Where the source goes in the spec.")
    source: str = Field(description="The kind of dataset the platform provides (TAO naming).")
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Field of the source entry -> the file or folder expected there.",
    )
    list: bool = Field(default=False, description="True when the spec key holds a list of sources.")
    required: bool = True
    format: str | None = Field(default=None, description="Annotation format checked by preflight (coco, classmap).")
    path: str | None = Field(
        default=None,
        description="When set, the spec key holds one path, not an entry: the source folder joined with this file ('' = the folder itself).",
    )


class Rule(_Strict):
    """A cross-field rule, evaluated by the safe expression evaluator.

    ``expr`` must be true for a valid spec. ``message`` and ``hint`` may hold
    ``{expression}`` placeholders, evaluated against the spec the same way.
    """

    id: str = Field(pattern=_NAME)
    expr: str = Field(min_length=1)
    path: str = Field(pattern=_DOTTED, description="The field the error is reported on.")
    message: str
    hint: str | None = None
    when: str | None = Field(default=None, description="Only check the rule when this expression is true.")
    actions: list[str] | None = Field(default=None, description="Actions the rule applies to (top-level rules only); all when absent.")
    severity: Literal["error", "warning"] = "error"


class ActionResources(_Strict):
    """Which spec keys say how many processes and nodes an action runs on."""

    processes: str | None = Field(default=None, pattern=_DOTTED, description="Processes (GPUs) per node; more than 1 launches torchrun.")
    nodes: str | None = Field(default=None, pattern=_DOTTED, description="Number of nodes; more than 1 needs a multi-node backend.")


class ActionInfo(_Strict):
    """One action of a skill and how the runtime prepares it."""

    description: str = ""
    command: str | list[str] | None = Field(
        default=None,
        description="tao engine: the container command. script engine: an argv list, never a shell string; "
        "{spec}, {results_dir}, {action}, {skill_dir} and {job_id} are filled in.",
    )
    resources: ActionResources = Field(default_factory=lambda: ActionResources(), description="Spec keys that size the launch.")
    inputs: dict[str, str] = Field(default_factory=dict, description="Name -> spec key that points to an input.")
    outputs: dict[str, str] = Field(default_factory=dict, description="Name -> glob relative to <results_dir> (e.g. train/model_epoch_*.pth).")
    data_sources: list[DataSource] = Field(default_factory=list)
    spec_params: dict[SpecPath, SpecParam] = Field(
        default_factory=dict, description="Spec key -> resolver that fills it at launch, a {constant: V}, or a {link: URL, destination_path: P}."
    )
    spec_shorthand_keys: dict[ShortKey, SpecPath] = Field(default_factory=dict, description="Short CLI key -> dotted spec key.")
    spec_templates: dict[str, str] = Field(
        default_factory=dict,
        description="Template name -> path relative to the skill folder; 'default' is used unless another is named.",
    )
    rules: list[Rule] = Field(default_factory=list)
    upload_excludes: list[str] = Field(
        default_factory=list,
        description="Glob patterns (relative to the job folder, e.g. results/train/*.png, or a file name such as *.tmp) "
        "that `skillrun run --upload s3://...` leaves out.",
    )
    schema_file: str | None = Field(default=None, description="The action's JSON Schema, relative to the skill folder (default schemas/<action>.schema.json).")
    container_image: str | None = Field(default=None, description="tao engine: the image for this action when it differs from the skill's.")
    config_format: Literal["yaml", "json"] = Field(default="yaml", description="How the spec file handed to the command is written.")
    path_inputs: dict[SpecPath, PathKind] = Field(default_factory=dict, description="Spec keys that hold input paths: file or folder, optional or not.")
    path_outputs: dict[SpecPath, PathKind] = Field(default_factory=dict, description="Spec keys that hold paths the action writes.")
    metrics: list[str] = Field(default_factory=list, description="KPI names the action reports (first = the one `best` ranks by).")
    key_defaults: dict[SpecPath, Any] = Field(
        default_factory=dict, description="Values the skill sets over its schema defaults, below the template (TAO's key_defaults)."
    )


class SkillInfo(_Strict):
    """``references/skill_info.yaml``: what the runtime needs to know about a skill."""

    name: str = Field(pattern=_NAME, max_length=64)
    kind: SkillKind
    network_arch: str | None = None
    engine: str = Field(default="builtin", description="Engine plugin name: builtin, tao, script or a third-party one.")
    container_image: str | None = None
    automl_enabled: bool = False
    triggers: list[Trigger] = Field(default_factory=list)
    instructions_only: bool = Field(
        default=False, description="A skill of guidance only (SKILL.md, no machine contract): routed to and described, never planned or run."
    )
    actions: dict[ActionName, ActionInfo] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list, description="Rules shared by several actions.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Fields kept for people and agents, not used to run anything.")

    @field_validator("actions")
    @classmethod
    def _has_actions(cls, actions: dict[str, ActionInfo], info: ValidationInfo) -> dict[str, ActionInfo]:
        if not actions and not info.data.get("instructions_only"):
            raise ValueError("a skill needs at least one action (or instructions_only: true for a guidance-only skill)")
        return actions


    def rules_for(self, action: str) -> list[Rule]:
        """The skill-wide rules that apply to ``action`` followed by the action's own."""
        shared = [r for r in self.rules if r.actions is None or action in r.actions]
        return shared + list(self.actions[action].rules)


class Frontmatter(BaseModel):
    """SKILL.md frontmatter: the six Agent Skills fields; extras are kept and warned about."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str
    description: str
    license: str | None = None
    compatibility: str | None = None
    metadata: dict[str, Any] | None = None
    allowed_tools: str | list[str] | None = Field(default=None, alias="allowed-tools")

    @property
    def extra_fields(self) -> list[str]:
        """Frontmatter keys outside the Agent Skills set (TAO adds e.g. ``tags``)."""
        return sorted((self.model_extra or {}).keys())


class RoutingCase(_Strict):
    """One routing case: a request and the (skill, action) it must route to, or none."""

    id: int | str | None = None
    prompt: str = Field(min_length=1)
    expected: ExpectedRoute | None = Field(description="null means the router must abstain.")


class ExpectedRoute(_Strict):
    skill: str
    action: str | None = Field(default=None, description="null: any action of the skill is right (and the only answer for a guidance-only skill).")


class Evals(_Strict):
    """``evals/evals.json``: skillrun's ``{skill_name, evals}``; TAO's list of cases reads through :meth:`read`."""

    skill_name: str
    evals: list[RoutingCase] = Field(default_factory=list)

    @classmethod
    def read(cls, data: Any, skill_name: str) -> Evals:
        """Either shape of ``evals.json``; ``skill_name`` is the folder's skill (TAO's list does not say it).

        TAO's file is a JSON list of ``{id, question, expected_skill, expected_script,
        ground_truth, expected_behavior, ...}``: each case reads as ``prompt`` = question
        and ``expected`` = ``{skill: expected_skill}`` (a skill, no action: which skill
        applies is TAO's routing question). The other fields grade the agent's answer
        after routing and are left out; a case without ``question`` or ``expected_skill``
        fails like any bad case, naming its index.
        """
        if isinstance(data, list):
            data = {"skill_name": skill_name, "evals": [_tao_case(case) for case in data]}
        return cls.model_validate(data)


def _tao_case(case: Any) -> Any:
    """One TAO case as a :class:`RoutingCase` mapping (anything else is left for validation to reject)."""
    if not isinstance(case, dict) or "prompt" in case:
        return case
    out: dict[str, Any] = {"id": case.get("id"), "prompt": case.get("question")}
    if "expected_skill" in case:
        skill = case["expected_skill"]
        out["expected"] = {"skill": skill} if skill is not None else None
    return out


RoutingCase.model_rebuild()
