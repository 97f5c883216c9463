"""The guard that keeps the Slurm tests on one xdist worker (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.slurm_cluster import _claim


def test_a_second_worker_of_the_same_run_is_refused_the_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "slurm"
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "run-1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    _claim(root)
    _claim(root)  # the same worker again (another module) is fine
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    with pytest.raises(pytest.fail.Exception, match=r"two xdist workers \(gw0 and gw1\).*xdist#1386"):
        _claim(root)
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "run-2")  # a later run may use any worker
    _claim(root)
    assert Path(f"{root}.claim").read_text().split() == ["run-2", "gw1"]
