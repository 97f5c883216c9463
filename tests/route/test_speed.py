"""`skillrun route` stays under 0.5 s in a new process with a big bank: the bank parse and the route index load from <workspace>/cache.

Measured as the CPU time of the process from before ``import skillrun`` to the
answer (wall time on an idle machine is about the same, 0.2 s; CPU time does not
grow when the test suite runs beside it on other workers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.route.conftest import guidance_skill

#: the published TAO bank's size
SKILLS = 76
WORDS = (
    "train evaluate export deploy dataset convert validate segmentation detection classification pose action lidar point "
    "cloud depth stereo video caption retrieval embedding anomaly forecast defect mining kubernetes slurm docker brev "
    "virtualenv bundle airgap automl hyperparameter token cards capabilities artifacts schema records status logs"
).split()

CODE = (
    "import sys, time, json\n"
    "t = time.process_time()\n"
    "from skillrun.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "print(json.dumps({'rc': rc, 'seconds': time.process_time() - t}), file=sys.stderr)\n"
)


def _big_bank(root: Path) -> Path:
    for i in range(SKILLS):
        words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(40))
        guidance_skill(root, f"tao-skill-{i:02d}", f"Skill {i} of a big bank: {words}. Trigger phrases include \"{WORDS[i % len(WORDS)]} job {i}\".", category=("models", "data", "platform", "core")[i % 4])
    return root / "skills"


def _route(bank: Path, home: Path) -> float:
    env = {**os.environ, "SKILLRUN_HOME": str(home), "SKILLRUN_DISABLE_PLUGINS": "1"}
    args = ["--skills-dir", str(bank), "route", "train a lidar point cloud detector on slurm", "--json"]
    proc = subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["candidates"], proc.stdout
    return float(json.loads(proc.stderr.strip().splitlines()[-1])["seconds"])


def test_route_is_fast_in_a_new_process_with_a_big_bank(tmp_path: Path) -> None:
    bank, home = _big_bank(tmp_path), tmp_path / "home"
    _route(bank, home)  # the first run parses the bank and builds the index, and caches both
    index = home / "cache" / "route-index.json"
    assert index.is_file()
    stamp = index.stat().st_mtime_ns
    best = min(_route(bank, home) for _ in range(3))
    assert index.stat().st_mtime_ns == stamp, "the cached index was rebuilt"
    assert best < 0.5, f"skillrun route took {best:.2f}s with {SKILLS} skills"
