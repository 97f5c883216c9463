"""Cold-start time of the control plane, next to the imports it cannot avoid.

Prints the median wall time of fresh processes for ``skillrun list --json`` and
``skillrun validate rtdetr train ...`` (example spec, data preflight included),
``skillrun route``, and the same ``list`` and ``route`` with a TAO skill bank on
the path (``--tao-bank``, default ``$TAO_SKILL_BANK`` or ``../shared/tao-skill-bank``),
and of ``python -c "import yaml, jsonschema"`` measured in the same run, with
ratios. Every process is new (cold); the bank's parse cache and the route index
in the workspace are warm, as after any earlier command; ``list+tao uncached``
clears the parse cache before each of its runs (the first command after a bank
changed). Targets on the 2-core dev machine: list <= 0.3 s, route <= 0.5 s,
validate <= 0.5 s.

    .venv/bin/python benchmarks/control_plane.py [--repeat 7] [--tao-bank DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"list": 0.3, "validate": 0.5, "route": 0.5, "list+tao": 0.3, "route+tao": 0.5}
REQUEST = "evaluate the detector on the validation annotations"


def timed(cmd: list[str], repeat: int, env: dict[str, str], before: Path | None = None) -> float:
    times = []
    for _ in range(repeat):
        if before is not None:  # a parse cache to drop before each run
            shutil.rmtree(before, ignore_errors=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--tao-bank", default=os.environ.get("TAO_SKILL_BANK") or str(REPO.parent / "shared" / "tao-skill-bank"))
    args = parser.parse_args()
    home = REPO / ".bench-home"
    env = {**os.environ, "SKILLRUN_HOME": str(home)}
    skillrun = [sys.executable, "-m", "skillrun"]
    tao = Path(args.tao_bank).expanduser()
    runs = {
        "baseline": [sys.executable, "-c", "import yaml, jsonschema"],
        "list": [*skillrun, "list", "--json"],
        "route": [*skillrun, "route", REQUEST, "--json"],
        "validate": [*skillrun, "validate", "rtdetr", "train", "-e", "examples/rtdetr_train.yaml", "--json"],
    }
    if tao.is_dir():
        skills = sum(1 for _ in tao.rglob("SKILL.md"))
        print(f"TAO bank: {tao} ({skills} skills)")
        runs["list+tao"] = [*skillrun, "--skills-dir", str(tao), "list", "--json"]
        runs["route+tao"] = [*skillrun, "--skills-dir", str(tao), "route", REQUEST, "--json"]
    else:
        print(f"TAO bank: {tao} is not a folder; its rows are left out (--tao-bank DIR)")
    for cmd in runs.values():  # warm the page cache, .pyc files, the parse cache and the route index once
        subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {name: timed(cmd, args.repeat, env) for name, cmd in runs.items()}
    if "list+tao" in runs:
        results["list+tao uncached"] = timed(runs["list+tao"], args.repeat, env, before=home / "cache")
    base = results["baseline"]
    print(f"{'command':<18} {'median s':>9} {'x baseline':>11} {'target s':>9}  verdict")
    for name, t in results.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("ok" if t <= target else "OVER")
        print(f"{name:<18} {t:>9.3f} {t / base:>11.2f} {target if target else '':>9}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
