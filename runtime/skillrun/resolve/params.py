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
from skillrun.contracts.skill import Resolver
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
    return None


def create_onnx_file(ctx: ResolveContext, key: str) -> Resolved:
    current = ctx.current(key)
    folder = ctx.results_dir / ctx.action
    if not _given(current):
        return Resolved(key, "create_onnx_file", str(folder / DEFAULT_ONNX_NAME))
    path = Path(str(current))
    if not path.is_absolute() and len(path.parts) == 1:
        return Resolved(key, "create_onnx_file", str(folder / path), "a bare file name goes into the job's results folder")
    return Resolved(key, "create_onnx_file", str(path.expanduser().resolve()))


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


RESOLVERS: dict[Resolver, Callable[[ResolveContext, str], Resolved | None]] = {
    Resolver.output_dir: output_dir,
    Resolver.parent_model: parent_model,
    Resolver.parent_model_folder: parent_model_folder,
    Resolver.resume_model: resume_model,
    Resolver.ptm_if_no_resume_model: ptm_if_no_resume_model,
    Resolver.create_onnx_file: create_onnx_file,
    Resolver.key: key,
}


def resolve_spec_params(ctx: ResolveContext) -> tuple[dict[str, Any], list[Resolved]]:
    """A new spec with every spec_param of the action resolved, and what was filled.

    Resume is resolved first, so ``ptm_if_no_resume_model`` can see whether a checkpoint was found.
    """
    params = ctx.skill.info.actions[ctx.action].spec_params
    if ctx.parent is not None and not any(r in (Resolver.parent_model, Resolver.parent_model_folder) for r in params.values()):
        takes = ctx.skill.info.actions[ctx.action].inputs.get("pretrained_model")
        if not takes:
            msg = f"{ctx.skill.name} {ctx.action} takes no parent job, but --parent {ctx.parent.job.id} was given"
            raise UsageError(msg, hint="drop --parent, or pick an action that consumes a model (evaluate, export, inference, ...)")
    spec = copy.deepcopy(ctx.spec)
    done: list[Resolved] = []
    order = sorted(params.items(), key=lambda kv: kv[1] is not Resolver.resume_model)
    for spec_key, resolver in order:
        result = RESOLVERS[resolver](ctx, spec_key)
        if result is None:
            continue
        paths.assign(spec, paths.parse(spec_key), result.value)
        done.append(result)
    if ctx.parent is not None and not any(r.resolver in ("parent_model", "parent_model_folder", "ptm_if_no_resume_model") and r.value for r in done):
        msg = f"--parent {ctx.parent.job.id} was given but no spec key of {ctx.skill.name} {ctx.action} took it"
        raise UsageError(msg, hint="drop --parent; this action reads no model from a parent")
    return spec, done


def _has_parent_model_key(ctx: ResolveContext) -> bool:
    return any(r in (Resolver.parent_model, Resolver.parent_model_folder) for r in ctx.skill.info.actions[ctx.action].spec_params.values())


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
