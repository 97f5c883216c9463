"""What skillrun adds on Slurm: seconds from ``skillrun run --backend slurm`` to the job's first status event.

Next to it, in the same run and on the same cluster, a bare ``sbatch --wrap`` whose
job writes one line: the scheduler's own submit-to-start latency. skillrun's
share is the rest: its CLI (compose, validate, record), rendering the script,
the supervisor starting in the allocation, ``srun``, and the job's interpreter.

Uses ``$SLURM_CONF`` if set, else starts the local two-node cluster of
``scripts/slurm_cluster.py`` (root; stopped again at the end). The job is the
``scriptjob`` fixture's ``succeed`` action, whose first act is its STARTED event.

    .venv/bin/python benchmarks/slurm_overhead.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BANK = REPO / "tests" / "fixtures" / "script_bank"


def _wait_for(path: Path, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size > 0):
        if time.monotonic() > deadline:
            msg = f"{path} did not appear within {timeout:g} s"
            raise TimeoutError(msg)
        time.sleep(0.01)
    return time.monotonic()


def bare_sbatch(work: Path, i: int) -> float:
    """sbatch --wrap of a job that writes one line; seconds until the line is there."""
    mark = work / f"bare-{i}.txt"
    t0 = time.monotonic()
    subprocess.run(["sbatch", "--parsable", f"--output={work}/bare-{i}.out", "--wrap", f"echo started > {mark}"], check=True, capture_output=True, cwd=work)
    return _wait_for(mark) - t0


def skillrun_run(work: Path, i: int) -> float:
    """``skillrun run scriptjob succeed --backend slurm --detach``; seconds until status.json has its first event."""
    home = work / f"home-{i}"
    env = {**os.environ, "SKILLRUN_HOME": str(home), "SKILLRUN_DISABLE_PLUGINS": "1"}
    argv = [sys.executable, "-m", "skillrun", "--skills-dir", str(BANK), "run", "scriptjob", "succeed", "succeed.epochs=1", "--backend", "slurm", "--detach", "--json"]
    t0 = time.monotonic()
    res = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=work)
    if res.returncode != 0:
        raise RuntimeError(res.stdout + res.stderr)
    results = Path(json.loads(res.stdout)["results_dir"])
    return _wait_for(results / "succeed" / "status.json") - t0


def _cluster() -> tuple[object | None, object | None]:
    if os.environ.get("SLURM_CONF"):
        return None, None
    spec = importlib.util.spec_from_file_location("slurm_cluster", REPO / "scripts" / "slurm_cluster.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    c = mod.start()
    os.environ["SLURM_CONF"] = c.conf
    print(f"local Slurm cluster: {'started' if c.started else 'already running'} ({c.start_s:.1f} s)")
    return mod, c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    mod, cluster = _cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="slurm-overhead-") as tmp:
            work = Path(tmp)
            bare, ours = [], []
            for i in range(args.repeat):  # interleaved, so both see the same machine load
                bare.append(bare_sbatch(work, i))
                ours.append(skillrun_run(work, i))
    finally:
        if mod is not None and cluster is not None and cluster.started:  # type: ignore[attr-defined]
            mod.stop(Path(cluster.dir))  # type: ignore[attr-defined]
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"bare sbatch --wrap, submit to first output:          median {b:.2f} s  ({', '.join(f'{x:.2f}' for x in bare)})")
    print(f"skillrun run --backend slurm, to first status event: median {o:.2f} s  ({', '.join(f'{x:.2f}' for x in ours)})")
    print(f"ratio skillrun / bare sbatch: {o / b:.1f}x  (skillrun adds {o - b:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
