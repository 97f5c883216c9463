"""The ``spec_params`` resolvers: one function per resolver name, each filling one spec key at launch.

``skill_info.yaml`` maps spec keys to resolvers (TAO's names). A resolver sees
the key's current value and where it came from; a value the user set wins,
except where that would be ambiguous with ``--parent`` (an error, never a guess).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from skillrun.composition import paths
from skillrun.contracts.skill import ConstantParam, LinkParam, Resolver
from skillrun.errors import ResolutionError, UsageError
from skillrun.record.secrets import KEY_ENV, KEY_PLACEHOLDER
from skillrun.resolve.checkpoints import newest_checkpoint

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill
    from skillrun.resolve.parents import ParentArtifact

MISSING = "???"
#: composition layers that mean "the user said so"
USER_LAYERS = frozenset({"spec-file", "overrides-json", "shorthand", "override", "api"})
DEFAULT_ONNX_NAME = "model.onnx"


@dataclass
class ResolveContext:
    """Everything a resolver may look at; ``secret`` collects the key value for the job's environment."""

    skill: Skill
    action: str
    results_dir: Path
    spec: dict[str, Any]
    provenance: dict[str, str]
    parent: ParentArtifact | None = None
    resume: bool = False
    key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)

    def user_set(self, key: str) -> bool:
        return self.provenance.get(key) in USER_LAYERS and _given(self.current(key))

    def current(self, key: str) -> Any:
        tokens = paths.parse(key)
        return paths.get(self.spec, tokens) if paths.has(self.spec, tokens) else None


@dataclass(frozen=True)
class Resolved:
    """One filled key, for ``plan`` and the job record."""

    key: str
    resolver: str
    value: Any
    note: str | None = None


def _given(value: Any) -> bool:
    return value not in (None, "", MISSING)


def output_dir(ctx: ResolveContext, key: str) -> Resolved:
    note = None
    if ctx.user_set(key) and str(ctx.current(key)) != str(ctx.results_dir):
        note = f"replaced {ctx.current(key)!r}: results always go to the job's folder (use --workspace to move it)"
    return Resolved(key, "output_dir", str(ctx.results_dir), note)


def parent_model(ctx: ResolveContext, key: str) -> Resolved | None:
    if ctx.parent is None:
        return None
    _no_conflict(ctx, key)
    wants_onnx = "onnx" in key.rsplit(".", 1)[-1]
    if wants_onnx and ctx.parent.kind != "onnx":
        msg = f"{key} needs an ONNX model, but parent {ctx.parent.job.id} is a job ({ctx.parent.job.action}) with checkpoints"
        raise UsageError(msg, hint=f"export it first: skillrun run {ctx.parent.job.skill} export --parent {ctx.parent.job.id}, then use the export job as the parent")
    return Resolved(key, "parent_model", str(ctx.parent.path), _parent_note(ctx))


def parent_model_folder(ctx: ResolveContext, key: str) -> Resolved | None:
    if ctx.parent is None:
        return None
    _no_conflict(ctx, key)
    return Resolved(key, "parent_model_folder", str(ctx.parent.folder), _parent_note(ctx))


def resume_model(ctx: ResolveContext, key: str) -> Resolved | None:
    if not ctx.resume:
        return None
    folder = ctx.results_dir / ctx.action
    found = newest_checkpoint(folder)
    if found is None:
        msg = f"nothing to resume from: no complete model_epoch_NNN.pth in {folder}"
        raise ResolutionError(msg, hint="the job saved no checkpoint before it stopped; start a new run instead", data={"found": []})
    return Resolved(key, "resume_model", str(found.path), f"newest complete checkpoint, epoch {found.epoch}")


def ptm_if_no_resume_model(ctx: ResolveContext, key: str) -> Resolved | None:
    if ctx.resume and newest_checkpoint(ctx.results_dir / ctx.action) is not None:
        if not _given(ctx.current(key)):
            return None
        return Resolved(key, "ptm_if_no_resume_model", None, "cleared: the resumed checkpoint already holds these weights")
    takes_parent = ctx.skill.info.actions[ctx.action].inputs.get("pretrained_model") == key
    if ctx.parent is not None and takes_parent and not _has_parent_model_key(ctx):
        _no_conflict(ctx, key)
        return Resolved(key, "ptm_if_no_resume_model", str(ctx.parent.path), _parent_note(ctx, "fine-tune from"))
    return ptm(ctx, key)


#: TAO's file-creating resolvers and the file each names in the job's results (TAO's ``infer_output_file`` names)
OUTPUT_FILES: dict[Resolver, str] = {
    Resolver.create_onnx_file: DEFAULT_ONNX_NAME,
    Resolver.create_engine_file: "model.engine",
    Resolver.create_cal_cache: "cal.bin",
    Resolver.create_cal_data_file: "calibration.tensorfile",
    Resolver.create_pth_file: "model.pth",
    Resolver.create_hdf5_file: "model.hdf5",
    Resolver.create_weights_tlt_file: "weights/model.tlt",
    Resolver.merged_json: "merged.json",
    Resolver.create_inference_result_file_pose: "results.txt",
    Resolver.create_inference_result_file_reid: "inference.json",
    Resolver.create_inference_result_file_mal: "inference.json",
    Resolver.create_inference_result_file_json: "inference.json",
    Resolver.create_evaluate_matches_plot_reid: "sampled_matches.png",
    Resolver.create_evaluate_cmc_plot_reid: "cmc_curve.png",
}
#: what a download-only location looks like: skillrun never downloads at launch (s3:// is staged, see skillrun.data.sources)
_DOWNLOAD = ("ngc://", "hf_model://", "http://", "https://", "ftp://")


def output_file(resolver: Resolver) -> Callable[[ResolveContext, str], Resolved]:
    """A resolver that names ``OUTPUT_FILES[resolver]`` in ``<results_dir>/<action>/`` unless the user names a file.

    A path the skill's template ships (TAO's ``/results/rtdetr.engine``, a container
    path) is replaced, as TAO's own resolver replaces it: the file belongs in this job.
    """

    def resolve(ctx: ResolveContext, key: str) -> Resolved:
        current = ctx.current(key)
        folder = ctx.results_dir / ctx.action
        if not _given(current) or not ctx.user_set(key):
            note = f"the skill's {current!r} replaced: the file belongs in this job's results" if _given(current) else None
            return Resolved(key, resolver.value, str(folder / OUTPUT_FILES[resolver]), note)
        path = Path(str(current))
        if not path.is_absolute() and len(path.parts) == 1:
            return Resolved(key, resolver.value, str(folder / path), "a bare file name goes into the job's results folder")
        return Resolved(key, resolver.value, str(path.expanduser().resolve()))

    return resolve


def ptm(ctx: ResolveContext, key: str) -> Resolved | None:
    """Pretrained weights: the path the spec names. TAO downloads from NGC here; skillrun takes local files only."""
    current = ctx.current(key)
    if not _given(current):
        return None
    _local(key, str(current), "ptm")
    return None


def parent_model_or_ptm(ctx: ResolveContext, key: str) -> Resolved | None:
    """The parent job's model when there is a parent (a two-stage pipeline), else the pretrained weights."""
    return _as("parent_model_or_ptm", parent_model(ctx, key) if ctx.parent is not None else ptm(ctx, key))


def resume_model_or_ptm(ctx: ResolveContext, key: str) -> Resolved | None:
    """The newest checkpoint of the job being resumed, else the pretrained weights."""
    return _as("resume_model_or_ptm", resume_model(ctx, key) if ctx.resume else ptm(ctx, key))


def _as(name: str, result: Resolved | None) -> Resolved | None:
    """``result`` recorded under the resolver the skill named (plan and the job record say which one filled the key)."""
    return None if result is None else Resolved(result.key, name, result.value, result.note)


def constant(ctx: ResolveContext, key: str, param: ConstantParam) -> Resolved | None:
    """A value the skill fixes for this key; a value the user set wins, and is noted."""
    if ctx.user_set(key) and ctx.current(key) != param.constant:
        return Resolved(key, "constant", ctx.current(key), f"kept your value; the skill would set {param.constant!r}")
    if param.constant is None or param.constant == "":
        return None  # TAO writes a constant only when it holds something
    return Resolved(key, "constant", param.constant)


def link(ctx: ResolveContext, key: str, param: LinkParam) -> Resolved:
    """A file the skill fetches from ``param.link``: a local copy (the user's, or one at ``destination_path``), never a download."""
    if ctx.user_set(key):
        _local(key, str(ctx.current(key)), "link")
        return Resolved(key, "link", ctx.current(key), f"your file instead of {param.link}")
    for candidate in (param.destination_path, param.link):
        if candidate and "://" not in candidate and Path(candidate).expanduser().is_file():
            return Resolved(key, "link", str(Path(candidate).expanduser()), f"local copy of {param.link}")
    where = f" to {param.destination_path}" if param.destination_path else ""
    msg = f"{key} needs {param.link} downloaded{where}, and skillrun does not download at launch (this machine may have no network)"
    raise ResolutionError(msg, hint=f"download it once, then pass {key}=/path/to/{Path(param.link.split('?')[0]).name}", path=key, value=param.link)


def _local(key: str, value: str, resolver: str) -> None:
    """A location only a download can reach is an error at plan, not a job that fails later."""
    if value.startswith(_DOWNLOAD):
        msg = f"{key} = {value}: the {resolver} resolver would download it, and skillrun does not download at launch (this machine may have no network)"
        raise ResolutionError(msg, hint=f"download it once, then pass {key}=/local/path/to/the/file", path=key, value=value)


def key(ctx: ResolveContext, key_name: str) -> Resolved | None:
    """The encryption key: ``key=``, else the spec, else ``$SKILLRUN_KEY``; handed to the job through ``$SKILLRUN_KEY`` only.

    A spec that already holds the placeholder (the ``spec.yaml`` of a job being
    resumed) needs the key again: without one it is an error, not a job that
    silently runs without its key.
    """
    current = ctx.current(key_name)
    value = ctx.key or (str(current) if _given(current) and current != KEY_PLACEHOLDER else None) or os.environ.get(KEY_ENV) or None
    if value is None:
        if current == KEY_PLACEHOLDER:
            msg = f"{key_name} is {KEY_PLACEHOLDER}: this job was given an encryption key, which is never written, and none was given now"
            raise UsageError(msg, hint=f"set ${KEY_ENV} to the key (or pass key=... to the API)")
        return None
    ctx.secret = value
    return Resolved(key_name, "key", KEY_PLACEHOLDER, "the value reaches the job as $SKILLRUN_KEY and is never written")


create_onnx_file = output_file(Resolver.create_onnx_file)

RESOLVERS: dict[Resolver, Callable[[ResolveContext, str], Resolved | None]] = {
    Resolver.output_dir: output_dir,
    Resolver.parent_model: parent_model,
    Resolver.parent_model_folder: parent_model_folder,
    Resolver.parent_model_or_ptm: parent_model_or_ptm,
    Resolver.resume_model: resume_model,
    Resolver.resume_model_or_ptm: resume_model_or_ptm,
    Resolver.ptm_if_no_resume_model: ptm_if_no_resume_model,
    Resolver.ptm: ptm,
    Resolver.key: key,
    **{r: output_file(r) for r in OUTPUT_FILES},
}
#: what each resolver fills, in words (the SKILL.md spec-params tables)
MEANING: dict[str, str] = {
    "output_dir": "this job's results directory",
    "parent_model": "model file selected from the parent job's results (best by default)",
    "parent_model_folder": "the parent job's results folder",
    "parent_model_or_ptm": "the parent job's model when there is a parent, else the pretrained weights",
    "resume_model": "newest complete checkpoint of the job being resumed",
    "resume_model_or_ptm": "newest checkpoint when resuming, else the pretrained weights",
    "ptm_if_no_resume_model": "pretrained weights, used only when there is no checkpoint to resume",
    "ptm": "pretrained weights (a local file; downloads are refused at plan)",
    "key": "secret key from the environment (never written to disk)",
    "constant": "a value the skill fixes",
    "link": "a file the skill names by URL; a local copy is required",
    **{r.value: f"{name} inside this job's results directory" for r, name in OUTPUT_FILES.items()},
}
#: resolvers that consume a parent job's model (``--parent``)
PARENT_RESOLVERS = frozenset({Resolver.parent_model, Resolver.parent_model_folder, Resolver.parent_model_or_ptm})


def resolve_spec_params(ctx: ResolveContext) -> tuple[dict[str, Any], list[Resolved]]:
    """A new spec with every spec_param of the action resolved, and what was filled.

    Resume is resolved first, so ``ptm_if_no_resume_model`` can see whether a checkpoint was found.
    """
    params = ctx.skill.info.actions[ctx.action].spec_params
    if ctx.parent is not None and not any(r in PARENT_RESOLVERS for r in params.values()):
        takes = ctx.skill.info.actions[ctx.action].inputs.get("pretrained_model")
        if not takes:
            msg = f"{ctx.skill.name} {ctx.action} takes no parent job, but --parent {ctx.parent.job.id} was given"
            raise UsageError(msg, hint="drop --parent, or pick an action that consumes a model (evaluate, export, inference, ...)")
    spec = copy.deepcopy(ctx.spec)
    done: list[Resolved] = []
    order = sorted(params.items(), key=lambda kv: kv[1] is not Resolver.resume_model)
    for spec_key, param in order:
        if isinstance(param, ConstantParam):
            result = constant(ctx, spec_key, param)
        elif isinstance(param, LinkParam):
            result = link(ctx, spec_key, param)
        else:
            result = RESOLVERS[param](ctx, spec_key)
        if result is None:
            continue
        paths.assign(spec, paths.parse(spec_key), result.value)
        done.append(result)
    if ctx.parent is not None and not any(r.resolver in (*(p.value for p in PARENT_RESOLVERS), "ptm_if_no_resume_model") and r.value for r in done):
        msg = f"--parent {ctx.parent.job.id} was given but no spec key of {ctx.skill.name} {ctx.action} took it"
        raise UsageError(msg, hint="drop --parent; this action reads no model from a parent")
    return spec, done


def _has_parent_model_key(ctx: ResolveContext) -> bool:
    return any(r in PARENT_RESOLVERS for r in ctx.skill.info.actions[ctx.action].spec_params.values())


def _no_conflict(ctx: ResolveContext, key: str) -> None:
    if ctx.user_set(key) and ctx.parent is not None:
        msg = f"{key} is set to {ctx.current(key)!r} and --parent {ctx.parent.job.id} would set it too"
        raise UsageError(msg, hint=f"keep one: drop --parent, or drop the {key} override")


def _parent_note(ctx: ResolveContext, what: str = "from") -> str:
    p = ctx.parent
    if p is None:
        return ""
    sel = p.selector
    if p.selection is not None:
        sel += f", epoch {p.selection.checkpoint.epoch}"
        if p.selection.metric:
            sel += f", {p.selection.metric}={p.selection.value:g}"
    note = f"{what} {p.job.id} ({sel})"
    if p.via:
        note += f" via {' -> '.join(p.via)}"
    return note + "".join(f"; {n}" for n in p.notes)
