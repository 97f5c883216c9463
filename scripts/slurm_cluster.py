#!/usr/bin/env python3
"""A real two-node Slurm cluster on 127.0.0.1, for tests and for trying ``--backend slurm``.

    sudo python3 scripts/slurm_cluster.py start     # installs slurm-wlm + munge if missing; prints the env line
    eval "$(sudo python3 scripts/slurm_cluster.py env)"
    sudo python3 scripts/slurm_cluster.py status
    sudo python3 scripts/slurm_cluster.py stop      # stops the daemons by the PIDs it recorded

Why it looks like this (facts found on Debian 12, Slurm 22.05):
- two ``slurmd -N n1`` / ``-N n2``, each with its own ``Port``, give a real two-node partition on one
  host (``-N`` is needed because the host name is neither n1 nor n2);
- ``DefMemPerCPU`` is set, or a job without ``--mem`` takes a whole node;
- ``EnforcePartLimits=ALL``, or an impossible job pends forever instead of being refused;
- the config lives in a folder of its own (``SLURM_CONF``), never in /etc;
- ``AuthInfo=cred_expire`` is short, or a requeued job waits two minutes before it may start again;
- no slurmdbd: ``sacct`` is unavailable, ``scontrol -o show job`` answers instead.

Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_DIR = Path(os.environ.get("SKILLRUN_SLURM_DIR", "/tmp/skillrun-slurm"))
NODES = ("n1", "n2")
CPUS_PER_NODE = 2
MEM_PER_NODE_MB = 4096
PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("sbatch", "slurmctld", "slurmd", "munged", "scontrol")


@dataclass
class Cluster:
    """A running cluster: where its config is and how long it took to get there."""

    dir: str
    conf: str
    started: bool  #: False when it was already running
    start_s: float = 0.0
    install_s: float = 0.0

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": self.conf}


class ClusterUnavailable(RuntimeError):
    """Slurm cannot be installed or started here; the message says why and how to fix it."""


def installed() -> bool:
    return all(shutil.which(d) or Path("/usr/sbin", d).exists() for d in DAEMONS)


def install() -> float:
    """``apt-get install slurm-wlm munge`` (root only); returns the seconds it took."""
    if installed():
        return 0.0
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        msg = "Slurm is not installed and cannot be installed here (needs root and apt-get)"
        raise ClusterUnavailable(msg)
    t0 = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=300"]  # another install may hold the dpkg lock for a while
    cmd = ["apt-get", *lock, "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:  # no or stale package lists: update once, then retry
        subprocess.run(["apt-get", *lock, "update", "-qq"], env=env, capture_output=True, timeout=600)
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if res.returncode != 0 or not installed():
        msg = f"apt-get install {' '.join(PACKAGES)} failed: {(res.stderr or res.stdout)[-1500:]}"
        raise ClusterUnavailable(msg)
    return time.monotonic() - t0


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def write_config(root: Path) -> Path:
    """slurm.conf for one controller and two nodes on 127.0.0.1, everything under ``root``."""
    for sub in ("state", "log", "munge", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "munge", 0o700)
    ctld, *node_ports = _free_ports(1 + len(NODES))
    host = socket.gethostname()
    lines = [
        "ClusterName=skillrun",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={ctld}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root}/munge/munge.socket,cred_expire=5",
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool/%n",
        f"SlurmctldPidFile={root}/slurmctld.pid",
        f"SlurmdPidFile={root}/slurmd-%n.pid",
        f"SlurmctldLogFile={root}/log/slurmctld.log",
        f"SlurmdLogFile={root}/log/slurmd-%n.log",
        f"PlugStackConfig={root}/plugstack.conf",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "DefMemPerCPU=256",
        "EnforcePartLimits=ALL",
        "ReturnToService=2",
        "SlurmdParameters=config_overrides",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        "KillWait=5",
        "MinJobAge=600",
        "InactiveLimit=0",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=60",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
    ]
    for name, port in zip(NODES, node_ports):
        lines.append(f"NodeName={name} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} CPUs={CPUS_PER_NODE} RealMemory={MEM_PER_NODE_MB} State=UNKNOWN")
    lines.append(f"PartitionName=debug Nodes={','.join(NODES)} Default=YES MaxTime=INFINITE State=UP")
    (root / "plugstack.conf").write_text("")
    conf = root / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def _run(cmd: list[str], conf: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env={**os.environ, "SLURM_CONF": str(conf)}, capture_output=True, text=True, timeout=timeout)


def _nodes_idle(conf: Path) -> bool:
    try:
        res = _run(["sinfo", "-h", "-N", "-o", "%N %t"], conf, timeout=10)
    except subprocess.TimeoutExpired:
        return False
    states = dict(line.split() for line in res.stdout.splitlines() if line.strip())
    return res.returncode == 0 and all(states.get(n, "").rstrip("*~#") in ("idle", "mix", "alloc") for n in NODES)


def running(root: Path = DEFAULT_DIR) -> bool:
    """Our cluster answers and both nodes are up."""
    conf = root / "slurm.conf"
    if not conf.exists() or not shutil.which("scontrol"):
        return False
    try:
        return _run(["scontrol", "ping"], conf, timeout=10).returncode == 0 and _nodes_idle(conf)
    except subprocess.TimeoutExpired:
        return False


def _pid_files(root: Path) -> list[Path]:
    return [root / "munge" / "munged.pid", root / "slurmctld.pid", *(root / f"slurmd-{n}.pid" for n in NODES)]


def _spawn(cmd: list[str], conf: Path, log: Path) -> None:
    with open(log, "ab") as fh:
        res = subprocess.run(cmd, env={**os.environ, "SLURM_CONF": str(conf)}, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=30)
    if res.returncode != 0:
        msg = f"{' '.join(cmd)} exited {res.returncode}; see {log}"
        raise ClusterUnavailable(msg)


def start(root: Path = DEFAULT_DIR, *, install_missing: bool = True, timeout: float = 60) -> Cluster:
    """Start munged, slurmctld and one slurmd per node (as root), unless the cluster already runs."""
    if running(root):
        return Cluster(str(root), str(root / "slurm.conf"), started=False)
    if os.geteuid() != 0:
        msg = "starting the local Slurm cluster needs root (slurmd runs jobs as their users)"
        raise ClusterUnavailable(msg)
    install_s = install() if install_missing else 0.0
    if not installed():
        msg = "Slurm is not installed (apt-get install slurm-wlm munge)"
        raise ClusterUnavailable(msg)
    t0 = time.monotonic()
    stop(root)  # leftovers of a crashed run
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    os.chmod(root, 0o755)
    conf = write_config(root)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    log = root / "log" / "daemons.log"
    munge = root / "munge"
    _spawn(["munged", "--force", f"--key-file={key}", f"--socket={munge}/munge.socket", f"--pid-file={munge}/munged.pid", f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"], conf, log)
    _spawn(["slurmctld", "-f", str(conf)], conf, log)
    for name in NODES:
        _spawn(["slurmd", "-f", str(conf), "-N", name], conf, log)
    deadline = time.monotonic() + timeout
    while not running(root):
        if time.monotonic() > deadline:
            tail = (root / "log" / "slurmctld.log").read_text(errors="replace")[-2000:] if (root / "log" / "slurmctld.log").exists() else ""
            stop(root)
            msg = f"the local Slurm cluster did not come up within {timeout:g} s; slurmctld.log ends with:\n{tail}"
            raise ClusterUnavailable(msg)
        time.sleep(0.2)
    cluster = Cluster(str(root), str(conf), started=True, start_s=time.monotonic() - t0, install_s=install_s)
    (root / "cluster.json").write_text(json.dumps(asdict(cluster)))
    return cluster


def restart_controller(root: Path = DEFAULT_DIR, down_s: float = 1.0, timeout: float = 15) -> None:
    """Stop slurmctld (SIGTERM: it saves its state), leave it down ``down_s`` seconds, start it again.

    What a controller restart or failover looks like to clients: "Unable to contact slurm
    controller (connect failure)" for a moment, then the same jobs as before.
    """
    pid = int((root / "slurmctld.pid").read_text().split()[0])
    if not _is_ours(pid):
        msg = f"pid {pid} in {root / 'slurmctld.pid'} is not slurmctld"
        raise ClusterUnavailable(msg)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            msg = f"slurmctld (pid {pid}) did not stop within {timeout:g} s"
            raise ClusterUnavailable(msg)
        time.sleep(0.05)
    time.sleep(down_s)
    conf = root / "slurm.conf"
    _spawn(["slurmctld", "-f", str(conf)], conf, root / "log" / "daemons.log")


def stop(root: Path = DEFAULT_DIR, timeout: float = 15) -> list[int]:
    """Stop the daemons by the PIDs they recorded (SIGTERM, then SIGKILL); returns the PIDs signalled."""
    pids = []
    for path in _pid_files(root):
        try:
            pid = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if _is_ours(pid):
            pids.append(pid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _is_ours(pid: int) -> bool:
    """The pid runs one of our daemons (a pid file can outlive its process and the pid be reused)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return os.path.basename(cmd).decode(errors="replace") in ("munged", "slurmctld", "slurmd")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["start", "stop", "status", "env"])
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"state folder (default {DEFAULT_DIR}, or $SKILLRUN_SLURM_DIR)")
    args = ap.parse_args(argv)
    root = args.dir.resolve()
    if args.command == "start":
        try:
            c = start(root)
        except ClusterUnavailable as exc:
            print(f"slurm_cluster: {exc}", file=sys.stderr)
            return 1
        how = f"started in {c.start_s:.1f} s" + (f" (apt install {c.install_s:.1f} s)" if c.install_s else "") if c.started else "already running"
        print(f"# local Slurm cluster {how}: nodes {', '.join(NODES)}, partition debug", file=sys.stderr)
        print(f"export SLURM_CONF={c.conf}")
        return 0
    if args.command == "stop":
        pids = stop(root)
        print(f"stopped {len(pids)} daemon(s): {' '.join(map(str, pids))}" if pids else "nothing was running")
        return 0
    if args.command == "status":
        up = running(root)
        print(f"running (SLURM_CONF={root / 'slurm.conf'})" if up else "not running")
        return 0 if up else 1
    print(f"export SLURM_CONF={root / 'slurm.conf'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
