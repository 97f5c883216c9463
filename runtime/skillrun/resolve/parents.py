"""``--parent JOB[:selector]`` → the file or folder a child job takes from its parent.

What a parent offers is read from its results folder, not guessed from its
action: a folder with ``model_epoch_NNN.pth`` offers a checkpoint (picked by
the selector), an export or quantize folder offers its one ``.onnx`` file. An
AutoML study is followed to its best child through ``best_rec.json``. Anything
missing or ambiguous is a ResolutionError (exit 3) that lists what was found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from skillrun.contracts.job import JobRecord, JobState
from skillrun.contracts.results import BEST_REC_FILE, BestRec
from skillrun.errors import ResolutionError, UsageError
from skillrun.record.store import JobStore
from skillrun.resolve.checkpoints import Selection, Selector, list_checkpoints, select_checkpoint
from skillrun.results.summary import per_epoch, read_status

_MAX_FOLLOW = 5


@dataclass(frozen=True)
class ParentArtifact:
    """What the parent offers: a checkpoint or an ONNX model, the folder it is in, and how it was found."""

    job: JobRecord
    kind: Literal["checkpoint", "onnx"]
    path: Path
    folder: Path
    selector: str
    selection: Selection | None = None
    via: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def split_parent(text: str) -> tuple[str, str | None]:
    """``"JOB:epoch=3"`` → ``("JOB", "epoch=3")``; ``"JOB"`` → ``("JOB", None)``."""
    job, sep, sel = text.strip().partition(":")
    if not job:
        msg = f"--parent {text!r}: the job id is empty"
        raise UsageError(msg, hint="write --parent JOB_ID, JOB_ID:best, JOB_ID:latest or JOB_ID:epoch=N")
    return job, (sel if sep else None)


def resolve_parent(store: JobStore, text: str) -> ParentArtifact:
    """The artifact ``--parent text`` names, following AutoML studies to their best child."""
    job_text, sel_text = split_parent(text)
    selector = Selector.parse(sel_text)
    record = store.load(store.resolve_id(job_text))
    via: list[str] = []
    study_best: BestRec | None = None
    while (found := _best_rec(record)) is not None:
        best, where = found
        study_best = best
        if len(via) >= _MAX_FOLLOW:
            msg = f"--parent {text}: followed best_rec.json through {len(via)} studies ({' -> '.join(via)}) without reaching a train job"
            raise ResolutionError(msg, hint="pass the child job id directly")
        via.append(record.id)
        try:
            record = store.load(store.resolve_id(best.job_id))
        except ResolutionError:
            msg = f"{where} names job {best.job_id!r}, which is not in {store.root}"
            raise ResolutionError(msg, hint="the study's best child was deleted; pick another child with `skillrun jobs --parent " + record.id + "`") from None
    notes = []
    if record.state is not JobState.COMPLETE:
        notes.append(f"parent {record.id} is {record.state.value}, not COMPLETE")
    folder = Path(record.results_dir) / record.action
    if list_checkpoints(folder):
        selection = _study_choice(folder, study_best, selector) or select_checkpoint(folder, selector)
        if selection.note:
            notes.append(selection.note)
        return ParentArtifact(record, "checkpoint", selection.checkpoint.path, folder, str(selector), selection, via, notes)
    onnx = sorted(p for p in folder.glob("*.onnx") if p.is_file()) if folder.is_dir() else []
    if len(onnx) == 1:
        if selector.kind != "best":  # "JOB", "JOB:" and "JOB:best" all mean the one model
            msg = f"--parent {text}: {record.id} ({record.action}) offers one ONNX model; selector {sel_text!r} applies to checkpoints"
            raise UsageError(msg, hint=f"write --parent {record.id}")
        return ParentArtifact(record, "onnx", onnx[0], folder, "onnx", None, via, notes)
    if len(onnx) > 1:
        names = [p.name for p in onnx]
        msg = f"parent {record.id}: {folder} holds {len(onnx)} ONNX models ({', '.join(names)}); which one is meant is ambiguous"
        raise ResolutionError(msg, hint="set the model path explicitly instead of --parent", data={"found": names})
    select_checkpoint(folder, selector)  # raises the detailed "no checkpoints" error
    msg = f"parent {record.id} has nothing a child can use in {folder}"
    raise ResolutionError(msg, data={"found": []})


def _study_choice(folder: Path, best: BestRec | None, selector: Selector) -> Selection | None:
    """For ``--parent STUDY`` (best): the epoch ``best_rec.json`` names, picked by the study's own metric and direction."""
    if best is None or selector.kind != "best" or best.epoch is None:
        return None
    if not any(c.epoch == best.epoch for c in list_checkpoints(folder)):
        return None
    chosen = select_checkpoint(folder, Selector("epoch", best.epoch))
    value = per_epoch(read_status(folder), best.metric).get(best.epoch)
    return Selection(chosen.checkpoint, selector, best.metric, value, None)


def _best_rec_path(record: JobRecord) -> Path:
    return Path(record.results_dir) / record.action / BEST_REC_FILE


def _best_rec(record: JobRecord) -> tuple[BestRec, Path] | None:
    """The study's ``best_rec.json``, at ``<results_dir>/<action>/`` or ``<results_dir>/``."""
    for path in (_best_rec_path(record), Path(record.results_dir) / BEST_REC_FILE):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except ValueError as exc:
            msg = f"{path}: not valid JSON ({exc})"
            raise ResolutionError(msg, hint="the AutoML study may still be writing it; retry, or pass a child job id") from None
        try:
            return BestRec.model_validate(data), path
        except ValueError:
            msg = f"{path}: has no job_id of the best child"
            raise ResolutionError(msg, hint="pass a child job id directly") from None
    return None
