"""The metrics summary of a finished job, read from ``<results_dir>/<action>/``.

Prefers ``metrics.json`` (what evaluate writes), then the validation numbers in
``status.json``: the last epoch's kpi and the best epoch by the skill's metric.
Only numbers and short strings make it into ``job.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from skillrun.contracts.results import METRICS_FILE, STATUS_FILE, StatusEvent

#: metric -> direction, in order of preference for "best" (TAO: optimise val_mAP); the first one reported wins
METRICS: tuple[tuple[str, Literal["maximize", "minimize"]], ...] = (
    ("val_mAP", "maximize"),
    ("val_mAP50", "maximize"),
    ("mAP", "maximize"),
    ("val_loss", "minimize"),
)


def read_status(folder: Path) -> list[StatusEvent]:
    """Every well-formed line of ``status.json``; a torn last line (still being written) is skipped."""
    path = folder / STATUS_FILE
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return []
    events = []
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
            if isinstance(data, dict):
                events.append(StatusEvent.model_validate(data))
        except ValueError:
            continue
    return events


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def per_epoch(events: list[StatusEvent], metric: str) -> dict[int, float]:
    """Epoch -> the last real-number ``metric`` reported for it (NaN, infinities, bools, None ignored)."""
    out: dict[int, float] = {}
    for ev in events:
        v = ev.kpi.get(metric)
        if ev.epoch is not None and is_number(v):
            out[ev.epoch] = float(v)
    return out


def pick_metric(events: list[StatusEvent]) -> tuple[str, str] | None:
    """The first metric of :data:`METRICS` reported for some epoch, with its direction."""
    for metric, direction in METRICS:
        if per_epoch(events, metric):
            return metric, direction
    return None


def summarize(results_dir: str | Path, action: str) -> dict[str, Any]:
    """A flat dict of numbers for ``job.json``: final kpi, best epoch and metric, metrics.json scalars."""
    folder = Path(results_dir) / action
    out: dict[str, Any] = {}
    events = read_status(folder)
    kpi_events = [ev for ev in events if ev.kpi]
    if kpi_events:
        out.update({k: v for k, v in kpi_events[-1].kpi.items() if is_number(v)})
        epochs = [ev.epoch for ev in kpi_events if ev.epoch is not None]
        if epochs:
            out["last_epoch"] = max(epochs)
    chosen = pick_metric(events)
    if chosen:
        metric, direction = chosen
        values = per_epoch(events, metric)
        if values:
            best = (max if direction == "maximize" else min)(values.values())
            out["best_epoch"] = max(e for e, v in values.items() if v == best)
            out[f"best_{metric}"] = best
    try:
        data = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        data = None
    if isinstance(data, dict):
        out.update({k: v for k, v in data.items() if is_number(v) or (isinstance(v, str) and len(v) <= 200)})
    return out


def failure(results_dir: str | Path, action: str) -> tuple[str | None, str | None]:
    """(error class, message) of the last FAILURE event, if the engine wrote one."""
    for ev in reversed(read_status(Path(results_dir) / action)):
        if ev.status == "FAILURE":
            return ev.error_class, ev.message
    return None, None
