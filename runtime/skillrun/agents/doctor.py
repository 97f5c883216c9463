"""``skillrun doctor``: what this machine can run, found without importing anything heavy.

Package versions come from ``importlib.metadata`` (torch is never imported:
that alone takes seconds and may initialise CUDA). CUDA is the NVIDIA driver
(``/proc/driver/nvidia`` or ``nvidia-smi``), Slurm is ``sinfo`` answering,
Docker is the SDK's ``ping``, S3 is credentials by *name* (the variables set,
a shared credentials file present) — a value never enters the report.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from skillrun.contracts.agents import Check, DoctorReport

S3_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION")
#: distribution -> what it enables
PACKAGES = {
    "torch": "the builtin engine",
    "transformers": "the builtin engine (RT-DETR models)",
    "onnx": "export",
    "onnxruntime": "export parity, quantize, deploy on CPU",
    "pycocotools": "COCO evaluation",
    "optuna": "AutoML studies",
    "mcp": "skillrun mcp",
    "boto3": "s3:// data sources and --upload",
    "docker": "the docker backend",
    "pillow": "image checks and drawn predictions",
}
_TIMEOUT_S = 5


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _answer(argv: list[str]) -> tuple[bool, str]:
    """Run a probe command briefly; (answered with exit 0, first line of output or the failure)."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{argv[0]} did not answer ({type(exc).__name__})"
    out = (proc.stdout or proc.stderr).strip().splitlines()
    return proc.returncode == 0, out[0] if out else f"exit {proc.returncode}"


def packages() -> list[Check]:
    out = []
    for dist, what in PACKAGES.items():
        ver = _version(dist)
        hint = None if ver else f"needed for {what}: pip install {dist}" + (" (torch==2.13.0 first, CPU or CUDA build)" if dist == "torch" else "")
        out.append(Check(name=dist, ok=ver is not None, version=ver, detail=f"{what}: {'installed' if ver else 'missing'}", hint=hint))
    return out


def cuda(torch_version: str | None) -> Check:
    driver = Path("/proc/driver/nvidia/version")
    smi = shutil.which("nvidia-smi")
    if not driver.exists() and smi is None:
        return Check(name="cuda", ok=False, detail="no NVIDIA driver (/proc/driver/nvidia and nvidia-smi absent): jobs run on CPU", hint="CPU runs work; for GPUs use a machine with the NVIDIA driver, or --backend slurm")
    detail = "NVIDIA driver present"
    if smi is not None:
        ok, line = _answer([smi, "--query-gpu=name,memory.total", "--format=csv,noheader"])
        detail = f"nvidia-smi: {line}" if ok else f"nvidia-smi failed: {line}"
    cpu_build = bool(torch_version and torch_version.endswith("+cpu"))
    if cpu_build:
        return Check(name="cuda", ok=False, detail=f"{detail}; but torch {torch_version} is a CPU build", hint="install a CUDA build of torch to train on these GPUs")
    return Check(name="cuda", ok=True, detail=detail)


def slurm() -> Check:
    sinfo = shutil.which("sinfo")
    if sinfo is None:
        return Check(name="slurm", ok=False, detail="sinfo is not on PATH", hint="--backend slurm needs the Slurm client tools (sinfo, sbatch, squeue, sacct)")
    ok, line = _answer([sinfo, "-h", "-o", "%P %a %D"])
    return Check(name="slurm", ok=ok, detail=f"sinfo: {line}", hint=None if ok else "check SLURM_CONF and that slurmctld is reachable")


def docker() -> Check:
    if _version("docker") is None:
        where = shutil.which("docker")
        return Check(name="docker", ok=False, detail="the docker SDK (pip install docker) is missing" + (f"; CLI at {where}" if where else ""), hint="pip install docker")
    try:
        import docker as sdk

        client = sdk.from_env(timeout=_TIMEOUT_S)
        client.ping()
        version = client.version().get("Version")
        client.close()
    except Exception as exc:  # the SDK raises several types (DockerException, requests errors)
        return Check(name="docker", ok=False, detail=f"daemon not reachable: {type(exc).__name__}", hint="start the Docker daemon, or set DOCKER_HOST")
    return Check(name="docker", ok=True, version=version, detail="daemon answered ping")


def s3() -> Check:
    names = [v for v in S3_VARS if os.environ.get(v)]
    shared = [str(p) for p in (Path.home() / ".aws" / "credentials", Path.home() / ".aws" / "config") if p.is_file()]
    keys = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(names)
    ok = keys or "AWS_PROFILE" in names or bool(shared)
    detail = f"set: {', '.join(names) or 'no AWS_* variables'}" + (f"; files: {', '.join(shared)}" if shared else "")
    return Check(name="s3", ok=ok, detail=detail, hint=None if ok else "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for s3:// sources")


def workspace(root: Path) -> Check:
    probe = root if root.exists() else next((p for p in root.parents if p.exists()), Path("/"))
    ok = os.access(probe, os.W_OK)
    return Check(name="workspace", ok=ok, detail=f"{root} ({'writable' if ok else 'not writable'})", hint=None if ok else "pass --workspace DIR or set SKILLRUN_HOME to a writable folder")


def doctor(workspace_root: Path) -> DoctorReport:
    """Every check; ``can_run`` sums them up per kind of work."""
    pkgs = packages()
    have = {c.name: c.ok for c in pkgs}
    checks = [*pkgs, cuda(_version("torch")), slurm(), docker(), s3(), workspace(workspace_root)]
    by = {c.name: c for c in checks}
    can_run = {
        "control_plane": True,
        "cpu_engine": have["torch"] and have["transformers"],
        "gpu": by["cuda"].ok and have["torch"],
        "slurm": by["slurm"].ok,
        "docker": by["docker"].ok,
        "s3": by["s3"].ok and have["boto3"],
        "mcp": have["mcp"],
        "automl": have["optuna"],
    }
    return DoctorReport(python=platform.python_version(), skillrun=_version("skillrun") or "unknown", checks=checks, can_run=can_run)
