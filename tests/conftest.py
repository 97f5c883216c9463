"""Shared fixtures: the bank, generated data, and a CLI runner that captures the streams."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SKILLS = REPO / "skills"
#: a TAO skill-bank root as NVIDIA publishes one: versions.yaml and skills/<category>/<skill>/ (discovery is recursive)
TAO_BANK = REPO / "tests" / "fixtures" / "tao_bank"

# The test process must never see a user's plugins or workspace.
os.environ["SKILLRUN_DISABLE_PLUGINS"] = "1"
os.environ.pop("SKILLRUN_PATH", None)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "skillrun-home"
    monkeypatch.setenv("SKILLRUN_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def bank() -> Any:
    from skillrun import load_bank

    return load_bank(plugins=False)


@pytest.fixture(scope="session")
def sdg(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A small generated COCO dataset with sparse category ids (201, 305, 412)."""
    from skillrun.data.sdg import generate_coco

    return generate_coco(tmp_path_factory.mktemp("sdg"), splits={"train": 6, "val": 3}, image_size=(64, 64), seed=1)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``skillrun ARGS`` in-process; returns exit code, stdout and stderr."""
    from skillrun.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_skillrun(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """Run ``python -m skillrun ARGS`` in a fresh process (cold start, real streams)."""
    proc = subprocess.run([sys.executable, "-m", "skillrun", *map(str, args)], capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def cli_imports(args: list[str], watch: tuple[str, ...] = ("torch", "transformers", "numpy")) -> tuple[Result, list[str]]:
    """Run ``skillrun ARGS`` in a fresh interpreter; its result and which of ``watch`` it imported.

    The control plane's promise (no torch on list/validate/plan/route/...) only shows in a cold process.
    """
    code = (
        "import sys\n"
        f"sys.argv = ['skillrun', *{list(map(str, args))!r}]\n"
        "from skillrun.cli import main\n"
        "rc = main()\n"
        f"print('LOADED=' + ','.join(m for m in {tuple(watch)!r} if m in sys.modules), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    marker = [line for line in proc.stderr.splitlines() if line.startswith("LOADED=")]
    loaded = [m for m in marker[-1].removeprefix("LOADED=").split(",") if m] if marker else ["(the command did not finish)"]
    return Result(proc.returncode, proc.stdout, proc.stderr), loaded


def seed_train_overrides(sdg: Any) -> list[str]:
    """Seed 002's "train (mandatory data sources)" example with local paths and num_classes=auto."""
    tr, va = sdg.splits["train"], sdg.splits["val"]
    return [
        "train.num_epochs=10",
        "train.checkpoint_interval=10",
        "train.validation_interval=10",
        "train.num_gpus=1",
        "train.gpu_ids=[0]",
        "dataset.num_classes=auto",
        f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]",
        f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}",
    ]
