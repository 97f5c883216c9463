"""Cold-start time of the control plane, next to the imports it cannot avoid.

Prints the median wall time of fresh processes for ``skillrun list --json`` and
``skillrun validate rtdetr train ...`` (example spec, data preflight included),
and of ``python -c "import yaml, jsonschema"`` measured in the same run, with
ratios. Targets on the 2-core dev machine: list <= 0.3 s, validate <= 0.5 s.

    .venv/bin/python benchmarks/control_plane.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"list": 0.3, "validate": 0.5}


def timed(cmd: list[str], repeat: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "SKILLRUN_HOME": str(REPO / ".bench-home")}
    skillrun = [sys.executable, "-m", "skillrun"]
    runs = {
        "baseline": [sys.executable, "-c", "import yaml, jsonschema"],
        "list": [*skillrun, "list", "--json"],
        "validate": [*skillrun, "validate", "rtdetr", "train", "-e", "examples/rtdetr_train.yaml", "--json"],
    }
    for cmd in runs.values():  # warm the page cache and .pyc files once
        subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {name: timed(cmd, args.repeat, env) for name, cmd in runs.items()}
    base = results["baseline"]
    print(f"{'command':<10} {'median s':>9} {'x baseline':>11} {'target s':>9}  verdict")
    for name, t in results.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("ok" if t <= target else "OVER")
        print(f"{name:<10} {t:>9.3f} {t / base:>11.2f} {target if target else '':>9}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
