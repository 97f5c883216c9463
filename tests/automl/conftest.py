"""AutoML test fixtures: the script-engine skill with its fake, deterministic ``train``, and fast polling."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO

SCRIPT_BANK = REPO / "tests" / "fixtures" / "script_bank"
SB = ("--skills-dir", str(SCRIPT_BANK))


@pytest.fixture(autouse=True)
def _fast_study(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLRUN_AUTOML_POLL_S", "0.1")


@pytest.fixture(scope="session")
def sbank() -> Any:
    from skillrun import load_bank

    return load_bank([SCRIPT_BANK], plugins=False)
