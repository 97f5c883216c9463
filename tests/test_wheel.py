"""A wheel built from the repository, installed in a fresh venv, lists rtdetr with its seven actions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def sh(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_wheel_in_a_fresh_venv_ships_the_bank(tmp_path: Path) -> None:
    sh(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp_path / "dist", REPO, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("skillrun-*.whl"))
    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    sh(py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SKILLRUN_PATH")}
    env["SKILLRUN_HOME"] = str(tmp_path / "home")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = json.loads(sh(venv / "bin" / "skillrun", "list", "--json", cwd=elsewhere, env=env).stdout)
    rtdetr = next(s for s in listed["skills"] if s["name"] == "rtdetr")
    assert set(rtdetr["actions"]) == {"train", "distill", "quantize", "evaluate", "export", "inference", "deploy"}
    assert "site-packages" in rtdetr["path"], "the bank must come from the wheel, not the checkout"
    # $ref'd schemas and templates resolve from the installed files
    report = json.loads(sh(venv / "bin" / "skillrun", "validate", "rtdetr", "export", "export.checkpoint=/m.pth", "--no-data", "--json", cwd=elsewhere, env=env).stdout)
    assert report["ok"] and report["spec"]["export"]["input_height"] == 640
    torch_free = sh(py, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)", env=env)
    assert torch_free.returncode == 0, "the control plane installs without torch"
