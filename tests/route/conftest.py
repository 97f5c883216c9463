"""Fixtures for the router's tests: the builtin bank, banks built in tmp folders, and the TAO sample named by $TAO_SKILL_BANK."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

_ENV = os.environ.get("TAO_SKILL_BANK", "")
TAO_BANK = (REPO / _ENV).resolve() if _ENV and not Path(_ENV).is_absolute() else Path(_ENV) if _ENV else None
needs_tao = pytest.mark.skipif(
    TAO_BANK is None or not TAO_BANK.is_dir(),
    reason=f"TAO_SKILL_BANK is {'unset' if not _ENV else f'{_ENV!r}, not a folder'}: set it to a TAO skill bank (CI: ../shared/tao-skill-bank)",
)


def guidance_skill(root: Path, name: str, description: str, *, evals: Any = None, category: str = "platform") -> Path:
    """A TAO-style skill folder with a SKILL.md and nothing else (guidance only), and optionally an evals/evals.json."""
    folder = root / "skills" / category / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        textwrap.dedent(
            f"""\
            ---
            name: {name}
            description: {json.dumps(description)}
            ---
            # {name}

            Follow these steps.
            """
        ),
        encoding="utf-8",
    )
    if evals is not None:
        (folder / "evals").mkdir()
        (folder / "evals" / "evals.json").write_text(evals if isinstance(evals, str) else json.dumps(evals), encoding="utf-8")
    return folder


def tao_case(skill: str, request: str, *, wrapped: bool = True, case_id: str | None = None) -> dict[str, Any]:
    """One case in TAO's evals.json shape."""
    question = (
        f'A user request: "{request}" Identify which TAO skill applies and, reading only that skill\'s documentation, '
        "outline the steps it prescribes. Do NOT run any commands, scripts, web searches, or other tools \u2014 describe the plan only."
        if wrapped
        else request
    )
    return {
        "id": case_id or f"{skill}-basic",
        "question": question,
        "expected_skill": skill,
        "expected_script": None,
        "ground_truth": f"Identify {skill} as the applicable skill.",
        "expected_behavior": [f"Identifies {skill} as the relevant skill"],
    }


@pytest.fixture(scope="session")
def builtin() -> Any:
    from skillrun import load_bank

    return load_bank(plugins=False, cache=False)


@pytest.fixture(scope="session")
def tao() -> Any:
    """The TAO sample with the builtin skills on the path, as `skillrun --skills-dir $TAO_SKILL_BANK` loads it."""
    from skillrun import load_bank

    assert TAO_BANK is not None
    return load_bank([TAO_BANK], plugins=False, cache=False)
