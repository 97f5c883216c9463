"""Seconds per trial epoch for the launch review: a cached number, or a short measurement.

Sources, in order:

1. the cache, ``<workspace>/cache/automl/<key>.json``: written by an earlier
   measurement, and by every study from its finished trials (the child jobs'
   wall time per epoch, launch and validation included, so it improves as
   studies run);
2. a measurement, for engines that have one (builtin rtdetr: ``python -m
   skillrun.automl.steptime``, one warm-up and two timed steps plus two
   validation batches, in a subprocess so ``plan`` never imports torch; at most
   ``MEASURE_TIMEOUT_S``), then cached;
3. unknown: the review says so and no confirmation is asked.

The key hashes the skill and the spec without what a study changes (searched
keys, the budget key, ``automl``, ``results_dir``): the same study asked twice
hits the cache. ``SKILLRUN_AUTOML_MEASURE=0`` turns measuring off.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillrun.composition import paths
from skillrun.record_io import atomic_write_text

if TYPE_CHECKING:
    from skillrun.automl.settings import AutomlSettings
    from skillrun.bank.loader import Skill

MEASURE_ENV = "SKILLRUN_AUTOML_MEASURE"
MEASURE_TIMEOUT_S = 120
#: (engine, network_arch) -> module run as ``python -m MODULE spec.json``
MEASURERS = {("builtin", "rtdetr"): "skillrun.automl.steptime"}


@dataclass(frozen=True)
class EpochTime:
    seconds: float | None
    source: str
    detail: dict[str, Any] = field(default_factory=dict)


def cache_dir(workspace: Path) -> Path:
    return workspace / "cache" / "automl"


def cache_key(skill: str, spec: dict[str, Any], searched: list[str], settings: AutomlSettings) -> str:
    """Hash of what decides an epoch's cost, minus what the study varies."""
    rest = json.loads(json.dumps(spec, default=str))
    for key in (*searched, settings.budget_key, "automl", "automl_policy", "results_dir"):
        try:
            paths.remove(rest, paths.parse(key))
        except (ValueError, KeyError, IndexError, TypeError):
            continue
    text = json.dumps({"skill": skill, "spec": rest}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def lookup(workspace: Path, key: str) -> EpochTime | None:
    try:
        data = json.loads((cache_dir(workspace) / f"{key}.json").read_text(encoding="utf-8"))
        return EpochTime(float(data["epoch_s"]), f"cached: {data.get('source', 'unknown')}", data)
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def record(workspace: Path, key: str, epoch_s: float, source: str, **detail: Any) -> None:
    """Cache ``epoch_s`` under ``key`` (best effort: a read-only workspace only loses the cache)."""
    try:
        folder = cache_dir(workspace)
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"epoch_s": round(epoch_s, 4), "source": source, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), **detail}
        atomic_write_text(folder / f"{key}.json", json.dumps(doc, indent=2) + "\n")
    except OSError:
        pass


def epoch_time(skill: Skill, spec: dict[str, Any], key: str, workspace: Path, *, processes: int = 1, measure: bool = True) -> EpochTime:
    """Seconds per trial epoch of ``spec`` (cache, else measurement, else unknown)."""
    cached = lookup(workspace, key)
    if cached is not None:
        return cached
    module = MEASURERS.get((skill.info.engine, skill.info.network_arch or skill.name))
    if module is None:
        return EpochTime(None, f"unknown: the {skill.info.engine} engine has no step-time measurement; the study caches one from its first trials")
    if not measure:
        return EpochTime(None, "unknown: nothing cached and not measured here (plan --no-data, or inside the study); the study caches one from its first trials")
    if os.environ.get(MEASURE_ENV, "1") in ("0", "false", "no"):
        return EpochTime(None, f"unknown: measuring is off ({MEASURE_ENV}=0) and nothing is cached")
    found = _measure(module, spec)
    if "error" in found:
        return EpochTime(None, f"unknown: the step-time measurement failed ({found['error']})")
    seconds = found["step_s"] * -(-found["steps_per_epoch"] // max(1, processes)) + found["val_s"] / max(1, int(paths.get(spec, paths.parse("train.validation_interval"), 1) or 1))
    detail = {k: v for k, v in found.items() if k != "epoch_s"}
    record(workspace, key, seconds, f"measured {found['steps_timed']} steps at {found['step_s']:.3g} s ({found['device']})", **detail)
    return EpochTime(seconds, f"measured {found['steps_timed']} steps at {found['step_s']:.3g} s a step, {found['steps_per_epoch']} steps an epoch ({found['device']})", found)


def _measure(module: str, spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh, default=str)
        name = fh.name
    try:
        proc = subprocess.run([sys.executable, "-m", module, name], capture_output=True, text=True, timeout=MEASURE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"error": f"took over {MEASURE_TIMEOUT_S} s"}
    finally:
        os.unlink(name)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"error": last[:300]}
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        return out if isinstance(out, dict) else {"error": "no result"}
    except (ValueError, IndexError):
        return {"error": "no result"}
