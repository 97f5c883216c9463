"""AGENTS.md, executed verbatim as a new agent would: every command of its loop, in order, in a fresh folder."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import REPO

TERMINAL = {"COMPLETE", "ERROR", "CANCELED"}


def commands() -> list[str]:
    """The command lines of the bash blocks of AGENTS.md (comments dropped)."""
    text = (REPO / "AGENTS.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_agents_md_shows_the_whole_loop() -> None:
    verbs = [shlex.split(c)[1] for c in commands() if c.startswith("skillrun ")]
    assert verbs == ["route", "describe", "plan", "run", "status", "results", "logs"]


def test_agents_md_loop_runs_verbatim(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "SKILLRUN_HOME": str(tmp_path / "home")}
    job_id = None
    outputs: dict[str, Any] = {}
    for line in commands():
        if "JOB_ID" in line:
            assert job_id, "the run step gives the job id"
            line = line.replace("JOB_ID", job_id)  # the one substitution AGENTS.md asks for
        argv = shlex.split(line)
        proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        verb = argv[1] if argv[0] == "skillrun" else argv[0]
        if "--json" in argv:
            outputs[verb] = doc = json.loads(proc.stdout)
            if verb == "run":
                job_id = doc["job_id"]
            if verb == "status":
                deadline = time.monotonic() + 60
                while doc["job"]["state"] not in TERMINAL and time.monotonic() < deadline:  # "repeat until ..."
                    time.sleep(0.3)
                    doc = json.loads(subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60).stdout)
                outputs[verb] = doc
        else:
            outputs[verb] = proc.stdout
    top = outputs["route"]["candidates"][0]
    assert outputs["route"]["abstain"] is False and (top["skill"], top["action"]) == ("coco-prepare", "prepare")
    assert outputs["describe"]["actions"]["prepare"]["required"][0]["path"] == "prepare.out_root"
    assert outputs["status"]["job"]["state"] == "COMPLETE"
    assert outputs["results"]["state"] == "COMPLETE" and outputs["results"]["outputs"]
    assert "rtdetr train overrides" in outputs["logs"]
    assert (tmp_path / "data" / "sdg" / "classmap.txt").is_file()
