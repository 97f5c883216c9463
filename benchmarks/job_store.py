"""How fast ``skillrun jobs`` lists a big workspace, next to the imports it cannot avoid.

Writes 10 000 valid job records (through ``JobStore.claim`` + ``create``; varied
skills, actions, states, parents and metrics) into a temp workspace, then
prints the median wall time of fresh processes for ``skillrun jobs --json``,
``skillrun jobs --state COMPLETE --json`` and the people's table (newest 50),
and of ``python -c "import yaml, jsonschema"`` measured in the same run, with
ratios, plus the median CPU time of each (steadier than wall time when the
machine is shared). Generating the records is not measured. Target: <= 1 s
wall per listing.

    .venv/bin/python benchmarks/job_store.py [--jobs 10000] [--repeat 5] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"jobs --json": 1.0, "jobs --state COMPLETE --json": 1.0, "jobs (table)": 1.0}
SKILLS = {"rtdetr": ["train", "evaluate", "export", "distill"], "scriptjob": ["succeed", "fail", "sleep"], "tao-train-boxnet": ["train", "evaluate"]}
STATES = ["COMPLETE"] * 6 + ["ERROR"] * 2 + ["CANCELED", "RUNNING", "PENDING"]


def populate(workspace: Path, n: int, seed: int = 0) -> None:
    """``n`` job records, created a minute apart; a fifth of them name an earlier job as parent."""
    from skillrun.contracts.job import BackendRef, JobRecord, JobState, Launch, ParentRef, Transition
    from skillrun.record.store import RESULTS, SPEC, JobStore

    rng = random.Random(seed)
    store = JobStore(workspace)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    made: list[str] = []
    for i in range(n):
        skill = rng.choice(list(SKILLS))
        action = rng.choice(SKILLS[skill])
        job_id = store.reserve(skill, action)
        state = JobState(rng.choice(STATES))
        created = t0 + timedelta(minutes=i)
        steps = [Transition(state=JobState.PENDING, at=created, by="cli", note="recorded before launch")]
        if state is not JobState.PENDING:
            steps.append(Transition(state=JobState.RUNNING, at=created + timedelta(seconds=2), by="runner", note="pid 4242"))
        if state.terminal:
            steps.append(Transition(state=state, at=created + timedelta(seconds=rng.randint(30, 7200)), by="runner"))
        metrics = {}
        if state is JobState.COMPLETE and action in ("train", "succeed", "distill"):
            best = round(rng.uniform(0.2, 0.6), 4)
            metrics = {"val_mAP": best - 0.01, "val_mAP50": best + 0.2, "best_val_mAP": best, "best_epoch": rng.randint(0, 79), "last_epoch": 79}
        parent = ParentRef(job_id=rng.choice(made), selector="best") if made and rng.random() < 0.2 else None
        results = store.job_dir(job_id) / RESULTS
        store.create(
            JobRecord(
                id=job_id,
                skill=skill,
                action=action,
                engine="builtin",
                backend=BackendRef(name="local", ref={"pid": 4242, "pgid": 4242, "create_time": 1.0, "host": "bench"}),
                parent=parent,
                results_dir=str(results),
                spec_file=str(store.job_dir(job_id) / SPEC),
                launch=Launch(argv=[sys.executable, "-m", "skillrun.engine", skill, action, "-e", str(store.job_dir(job_id) / SPEC)], cwd=str(workspace)),
                state=state,
                transitions=steps,
                exit_code=None if not state.terminal else (0 if state is JobState.COMPLETE else 1),
                metrics=metrics,
                created_at=created,
            )
        )
        made.append(job_id)


def timed(cmd: list[str], repeat: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + sys of the child; steadier on a busy machine)."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="Keep the temp workspace (its path is printed).")
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="skillrun-bench-jobs-"))
    try:
        start = time.perf_counter()
        populate(workspace, args.jobs)
        print(f"wrote {args.jobs} job records in {time.perf_counter() - start:.1f} s (not measured) under {workspace}\n")
        env = {**os.environ, "SKILLRUN_HOME": str(workspace), "COLUMNS": "200"}
        skillrun = [sys.executable, "-m", "skillrun", "--workspace", str(workspace)]
        runs = {
            "baseline": [sys.executable, "-c", "import yaml, jsonschema"],
            "jobs --json": [*skillrun, "jobs", "--json"],
            "jobs --state COMPLETE --json": [*skillrun, "jobs", "--state", "COMPLETE", "--json"],
            "jobs (table)": [*skillrun, "jobs"],
        }
        for cmd in runs.values():  # warm the page cache and .pyc files once
            subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        results = {name: timed(cmd, args.repeat, env) for name, cmd in runs.items()}
    finally:
        if not args.keep:
            shutil.rmtree(workspace, ignore_errors=True)
    base = results["baseline"][0]
    print(f"load average before: {load}\n")
    print("| command | median s | x baseline | median CPU s | target s | verdict |\n|---|---:|---:|---:|---:|---|")
    for name, (wall, cpu) in results.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("ok" if wall <= target else "OVER")
        print(f"| `{name}` | {wall:.3f} | {wall / base:.2f} | {cpu:.3f} | {target if target else ''} | {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
