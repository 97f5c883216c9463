"""Which checkpoint of a parent job ``--parent JOB[:best|:latest|:epoch=N]`` means.

An engine writes ``model_epoch_NNN.pth`` (zero-indexed epoch) and appends
``status.json`` events into ``<results_dir>/<action>/`` while it runs, so a
folder may hold a checkpoint still being written: a temp name, or a truncated
zip under the final name. Those never count. ``best`` ranks epochs by the
validation metric in ``status.json`` but only picks among complete checkpoints,
and says in :attr:`Selection.note` when that changed the answer. Control plane:
no torch here, a checkpoint is only looked at as a file.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from skillrun.contracts.results import CHECKPOINT, LATEST_LINK, STATUS_FILE
from skillrun.errors import ResolutionError, UsageError
from skillrun.results.summary import METRICS, pick_metric, per_epoch, read_status

SELECTOR_FORMS = ("best", "latest", "epoch=N")
_EPOCH = re.compile(r"^epoch=([0-9]+)$")
_ZIP_MAGIC = b"PK\x03\x04"
_SHOWN = 10


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint file and the zero-indexed epoch it was saved after."""

    epoch: int
    path: Path


@dataclass(frozen=True)
class Selector:
    """The part after ``JOB:`` in ``--parent``; ``epoch`` is set only for ``epoch=N``."""

    kind: Literal["best", "latest", "epoch"]
    epoch: int | None = None

    def __post_init__(self) -> None:
        if (self.kind == "epoch") != (self.epoch is not None) or (self.epoch is not None and self.epoch < 0):
            raise ValueError(f"bad Selector({self.kind!r}, epoch={self.epoch!r})")

    @classmethod
    def parse(cls, text: str | None) -> Selector:
        """``None``/``""``/``"best"`` -> best, ``"latest"``, ``"epoch=3"``; anything else is a :class:`UsageError`."""
        word = (text or "").strip()
        if word in ("", "best"):
            return cls("best")
        if word == "latest":
            return cls("latest")
        match = _EPOCH.match(word)
        if match:
            return cls("epoch", int(match.group(1)))
        raise UsageError(
            f"bad checkpoint selector {text!r}: use best, latest or epoch=N (N a zero-indexed epoch, 0 or more)",
            hint="write --parent JOB (best), JOB:latest or JOB:epoch=3",
            data={"allowed": list(SELECTOR_FORMS)},
        )

    def __str__(self) -> str:
        return f"epoch={self.epoch}" if self.kind == "epoch" else self.kind


@dataclass(frozen=True)
class Selection:
    """The chosen checkpoint; for ``best`` also the metric and its value at that epoch."""

    checkpoint: Checkpoint
    selector: Selector
    metric: str | None = None
    value: float | None = None
    note: str | None = None


def list_checkpoints(folder: Path) -> list[Checkpoint]:
    """Complete checkpoints in ``folder``, sorted by epoch; missing folder -> ``[]``.

    Two complete files naming one epoch (``model_epoch_3.pth`` and
    ``model_epoch_003.pth``) are a :class:`ResolutionError`: neither can be
    chosen over the other.
    """
    folder = Path(folder)
    by_epoch: dict[int, list[Path]] = {}
    for path in _entries(folder):
        match = CHECKPOINT.match(path.name)
        if match and is_complete(path):
            by_epoch.setdefault(int(match.group("epoch")), []).append(path)
    for epoch, paths in sorted(by_epoch.items()):
        if len(paths) > 1:
            names = sorted(p.name for p in paths)
            raise ResolutionError(
                f"{folder}: {len(names)} checkpoints name epoch {epoch}: {', '.join(names)}",
                hint="remove or rename all but one of them",
                data={"found": names, "folder": str(folder)},
            )
    return [Checkpoint(epoch, paths[0]) for epoch, paths in sorted(by_epoch.items())]


def is_complete(path: Path) -> bool:
    """A non-empty regular file (symlinks followed); a zip (what ``torch.save`` writes) must be whole."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return False
        with path.open("rb") as handle:
            magic = handle.read(len(_ZIP_MAGIC))
        return magic != _ZIP_MAGIC or zipfile.is_zipfile(path)
    except OSError:
        return False


def newest_checkpoint(folder: Path) -> Checkpoint | None:
    """The highest-epoch complete checkpoint, or ``None``; what a resume starts from."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def select_checkpoint(folder: Path, selector: Selector) -> Selection:
    """The checkpoint in ``folder`` that ``selector`` names, or a :class:`ResolutionError` saying why none.

    ``latest`` falls back to ``model_latest.pth`` only when no epoch file is
    complete; its epoch is that of the ``model_epoch_NNN.pth`` it links to,
    else the highest epoch in ``status.json``, else 0.
    """
    folder = Path(folder)
    found = list_checkpoints(folder)
    if not found:
        if selector.kind == "latest":
            fallback = _latest_link(folder)
            if fallback is not None:
                return Selection(fallback, selector, note=f"no model_epoch_NNN.pth is complete; used {LATEST_LINK}")
        raise _no_checkpoints(folder)
    if selector.kind == "latest":
        return Selection(found[-1], selector)
    if selector.kind == "epoch":
        for checkpoint in found:
            if checkpoint.epoch == selector.epoch:
                return Selection(checkpoint, selector)
        epochs = [c.epoch for c in found]
        raise ResolutionError(
            f"{folder}: no complete checkpoint for epoch {selector.epoch} (epochs are zero-indexed); have epochs {_join(epochs)}",
            hint=f"use :latest, or :epoch= one of {_join(epochs)}",
            data={"found": epochs, "folder": str(folder)},
        )
    return _best(folder, selector, found)


def _best(folder: Path, selector: Selector, found: list[Checkpoint]) -> Selection:
    """Rank checkpointed epochs by the first metric of :data:`METRICS` that ``status.json`` reports."""
    epochs = [c.epoch for c in found]
    events = read_status(folder)
    chosen_metric = pick_metric(events)
    if chosen_metric is None:
        raise ResolutionError(
            f"no validation metric in {folder / STATUS_FILE} (looked for {', '.join(m for m, _ in METRICS)}); cannot pick the best checkpoint",
            hint=f"use :latest, or :epoch=N with N one of {_join(epochs)}",
            data={"found": epochs, "folder": str(folder)},
        )
    metric, direction = chosen_metric
    scores = per_epoch(events, metric)
    sign = 1.0 if direction == "maximize" else -1.0
    ranked = [c for c in found if c.epoch in scores]
    if not ranked:
        raise ResolutionError(
            f"{folder / STATUS_FILE}: no {metric} for any checkpointed epoch ({_join(epochs)}); it has {metric} for epochs {_join(sorted(scores))}",
            hint=f"use :latest, or :epoch=N with N one of {_join(epochs)}",
            data={"found": epochs, "folder": str(folder)},
        )
    top = max(sign * scores[c.epoch] for c in ranked)
    tied = [c for c in ranked if sign * scores[c.epoch] == top]
    chosen = tied[-1]  # ranked follows epoch order, so this is the later epoch on a tie
    value = scores[chosen.epoch]
    notes = []
    if len(tied) > 1:
        notes.append(f"epochs {_join([c.epoch for c in tied])} tie on {metric}={value:g}; took the later, epoch {chosen.epoch}")
    better = [e for e in sorted(scores) if sign * scores[e] > top]
    if better:
        e = max(better, key=lambda k: (sign * scores[k], k))
        notes.append(f"epoch {e} scored better ({metric}={scores[e]:g}) but has no complete checkpoint; took epoch {chosen.epoch}")
    return Selection(chosen, selector, metric=metric, value=value, note="; ".join(notes) or None)


def _latest_link(folder: Path) -> Checkpoint | None:
    """``model_latest.pth`` as a checkpoint when it is complete (see :func:`select_checkpoint`)."""
    link = folder / LATEST_LINK
    if not is_complete(link):
        return None
    if link.is_symlink():
        match = CHECKPOINT.match(link.resolve().name)
        if match:
            return Checkpoint(int(match.group("epoch")), link)
    epochs = [e.epoch for e in read_status(folder) if e.epoch is not None]
    return Checkpoint(max(epochs, default=0), link)


def _no_checkpoints(folder: Path) -> ResolutionError:
    names = sorted(p.name for p in _entries(folder))
    data = {"found": names[:_SHOWN], "folder": str(folder)}
    if not folder.is_dir():
        return ResolutionError(f"{folder} does not exist, so it has no checkpoints", hint="check the parent job id and that it has run", data=data)
    shown = ", ".join(names[:_SHOWN]) + (f", ... ({len(names)} in all)" if len(names) > _SHOWN else "")
    writing = any("model_epoch_" in n for n in names)  # every complete one was already listed
    hint = "a checkpoint is still being written or is broken; wait for the job to save one" if writing else "the job has not saved a checkpoint yet; wait for it or check its status.json"
    return ResolutionError(f"no complete checkpoint in {folder}; it holds: {shown or 'nothing'}", hint=hint, data=data)


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _join(items: list[int]) -> str:
    return ", ".join(str(i) for i in items) or "none"
