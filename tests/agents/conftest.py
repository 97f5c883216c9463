"""Fixtures for the agent-facing surface: the script-engine test skill and a toolbox over a tmp workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

SCRIPT_BANK = REPO / "tests" / "fixtures" / "script_bank"


@pytest.fixture
def toolbox(tmp_path: Path) -> Any:
    from skillrun.agents.tools import Toolbox

    return Toolbox((str(SCRIPT_BANK),), tmp_path / "ws")
