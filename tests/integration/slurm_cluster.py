"""The real local Slurm cluster the Slurm tests run on (``scripts/slurm_cluster.py`` does the work).

``cluster()`` returns a running two-node cluster (n1, n2; partition debug) and
sets ``SLURM_CONF`` for this process. It installs Debian's slurm-wlm and munge
when they are missing and starts the daemons when none run, which needs root
and apt-get: CI has both, so there the tests run and a cluster that cannot start
fails them. Elsewhere they skip with a message that says how to enable them.
Daemons this process started are stopped by PID at the end of the session
(``stop_if_started``, registered with atexit when this process started the cluster).

All Slurm tests carry ``xdist_group("slurm")``; with ``--dist loadgroup``
(scripts/test.sh) one worker runs them all against one cluster.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "slurm_cluster.py"
ENABLE = (
    "the Slurm tests install slurm-wlm and munge with apt-get and start a two-node cluster on 127.0.0.1, "
    "which needs root: run the tests as root (as CI does), or start one yourself with "
    "`sudo python3 scripts/slurm_cluster.py start` and run them again"
)
_state: dict[str, Any] = {}


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("skillrun_slurm_cluster", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def cluster() -> Any:
    """The running cluster (started, and installed, on first use); skips or fails when impossible."""
    if "cluster" in _state:
        os.environ["SLURM_CONF"] = _state["cluster"].conf
        return _state["cluster"]
    if "skip" in _state:
        pytest.skip(_state["skip"])
    mod = _module()
    root = mod.DEFAULT_DIR
    if not mod.running(root) and os.geteuid() != 0:
        if in_ci():
            pytest.fail(f"CI must run the Slurm tests, but it does not run as root: {ENABLE}")
        _state["skip"] = f"no local Slurm cluster runs and this user is not root: {ENABLE}"
        pytest.skip(_state["skip"])
    from filelock import FileLock

    _claim(root)
    t0 = time.monotonic()
    try:
        with FileLock(f"{root}.lock", timeout=900):
            c = mod.start(root)
    except mod.ClusterUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI must run the Slurm tests, but the local cluster did not start: {exc}")
        _state["skip"] = f"{exc}; {ENABLE}"
        pytest.skip(_state["skip"])
    c.wall_s = time.monotonic() - t0
    _state["cluster"], _state["module"] = c, mod
    if c.started:  # one cluster per test process, stopped when it exits: a restart between modules orphans job steps
        import atexit

        atexit.register(stop_if_started)
    os.environ["SLURM_CONF"] = c.conf
    print(f"\nlocal Slurm cluster: {'started' if c.started else 'reused'} in {c.wall_s:.1f} s (daemons {c.start_s:.1f} s, apt install {c.install_s:.1f} s)")
    return c


def _claim(root: Path) -> None:
    """Fail when a second xdist worker of the same test run reaches for the cluster.

    The Slurm tests share one cluster (fixed ports, one state folder) and restart its
    controller; two workers using it at once break each other's jobs at random. They carry
    ``xdist_group("slurm")``, which ``--dist loadgroup`` keeps on one worker, unless the
    grouping silently stops working (pytest-dev/pytest-xdist#1386, pytest 9.2).
    """
    run, worker = os.environ.get("PYTEST_XDIST_TESTRUNUID"), os.environ.get("PYTEST_XDIST_WORKER")
    if not (run and worker):
        return
    from filelock import FileLock

    claim = Path(f"{root}.claim")
    with FileLock(f"{root}.claim.lock", timeout=60):
        held = claim.read_text().split() if claim.exists() else []
        if len(held) == 2 and held[0] == run and held[1] != worker:
            pytest.fail(
                f"the Slurm tests ran on two xdist workers ({held[1]} and {worker}) of one run: --dist loadgroup "
                "did not keep xdist_group('slurm') on one worker (pytest-dev/pytest-xdist#1386 with pytest 9.2); "
                "install the pytest version pyproject.toml's test extra allows, or run them with -p no:xdist"
            )
        claim.write_text(f"{run} {worker}\n")


def stop_if_started() -> None:
    """Stop the daemons this process started (by the PIDs they recorded); a reused cluster keeps running."""
    c = _state.pop("cluster", None)
    if c is not None and c.started:
        _state["module"].stop(Path(c.dir))
        import subprocess

        subprocess.run(["pkill", "-9", "-f", "slurmstepd"], check=False)  # steps of jobs the daemons left behind


def start_requeued_job_now(slurm_id: str) -> None:
    """Skip Slurm's requeue delay (BeginTime) for a job just requeued, without racing slurmd.

    slurmd refuses to launch a job whose credential is not newer, in whole seconds, than the
    kill of its previous run ("Job N already killed, do not launch batch job"), and the job
    then ends FAILED. Slurm's own delay exists for that; waiting past the next second is enough.
    """
    import subprocess

    time.sleep(1.5)
    subprocess.run(["scontrol", "update", f"JobId={slurm_id}", "StartTime=now"], capture_output=True, timeout=30)


def restart_controller(down_s: float = 1.0) -> None:
    """Stop slurmctld, leave it down ``down_s`` seconds and start it again (its jobs survive)."""
    c = cluster()
    (_state.get("module") or _module()).restart_controller(Path(c.dir), down_s=down_s)
