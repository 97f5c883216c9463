"""NVIDIA's TAO skill bank, exactly as published, through every command of the control plane.

Runs over the bank folder named by ``$TAO_SKILL_BANK`` (CI:
``../shared/tao-skill-bank``, a sample of the published bank copied unchanged;
relative paths are read from the repository root) and skips with the reason
when it is unset. Nothing of that bank is copied into this repository: the
cases are whatever skills the folder holds.

For every skill: it loads (guidance-only ones too) and ``list``/``show`` name it.
For every model skill x action: ``template``, ``schema`` and ``validate --no-data``
answer with exit 0 or 2 and a JSON document, never a traceback, and ``plan
--backend docker`` with the ``???`` values filled prints the container command
with the action's image.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

_ENV = os.environ.get("TAO_SKILL_BANK", "")
BANK = (REPO / _ENV).resolve() if _ENV and not Path(_ENV).is_absolute() else Path(_ENV) if _ENV else None
pytestmark = pytest.mark.skipif(
    BANK is None or not BANK.is_dir(),
    reason=f"TAO_SKILL_BANK is {'unset' if not _ENV else f'{_ENV!r}, not a folder'}: set it to a TAO skill bank (CI: ../shared/tao-skill-bank)",
)


def _folders() -> list[Path]:
    return sorted(p.parent for p in BANK.rglob("SKILL.md")) if BANK is not None and BANK.is_dir() else []


def _pairs() -> list[tuple[str, str]]:
    """(skill, action) of every model skill of the bank, read when the tests are collected."""
    if BANK is None or not BANK.is_dir():
        return []
    from skillrun import load_bank

    bank = load_bank([BANK], plugins=False, cache=False)
    return [(s.name, a) for s in bank if s.origin != "builtin" and s.info.kind.value == "model" for a in s.actions]


PAIRS = _pairs()


@pytest.fixture(scope="module")
def tao() -> Any:
    from skillrun import load_bank

    return load_bank([BANK], plugins=False, cache=False)


def test_every_skill_folder_loads_guidance_only_ones_too(tao: Any) -> None:
    folders = _folders()
    assert folders, f"no SKILL.md under {BANK}"
    loaded = {s.path for s in tao if s.origin != "builtin"}
    assert loaded == {f.resolve() for f in folders}, f"not loaded: {sorted(set(folders) - loaded)}; broken: {tao.broken}"
    assert not tao.broken
    guidance = [s for s in tao if s.info.instructions_only]
    assert guidance, "the sample holds skills without a machine contract (core, platform): they must load as guidance"
    assert all(s.info.engine in ("tao", "none") for s in tao if s.origin != "builtin")


def test_list_names_every_skill_with_problems_summarised(cli: Any) -> None:
    res = cli("--skills-dir", BANK, "list", "--json")
    assert res.code == 0, res.err
    doc = res.json()
    names = {s["name"] for s in doc["skills"]}
    assert {f.name for f in _folders()} <= names and "rtdetr" in names
    assert len(doc["problems"]) <= 3, doc["problems"]  # one summary line, not a line per warning
    text = cli("--skills-dir", BANK, "list")
    assert text.code == 0 and text.out.count("\n! ") + text.out.count("\n✗ ") <= 3


def test_show_and_describe_every_skill(cli: Any) -> None:
    for folder in _folders():
        shown = cli("--skills-dir", BANK, "show", folder.name, "--json")
        assert shown.code == 0, (folder.name, shown.out, shown.err)
        assert shown.json()["name"] == folder.name
        described = cli("--skills-dir", BANK, "describe", folder.name, "--json")
        assert described.code == 0, (folder.name, described.out, described.err)


def test_a_guidance_only_skill_is_described_but_never_planned(cli: Any, tao: Any) -> None:
    guide = next(s for s in tao if s.info.instructions_only)
    res = cli("--skills-dir", BANK, "plan", guide.name, guide.actions[0] if guide.actions else "run", "--json")
    assert res.code == 3
    doc = res.json()
    assert doc["code"] == "guidance_only" and doc["skill_md"].endswith(f"{guide.name}/SKILL.md")


@pytest.mark.parametrize(("skill", "action"), PAIRS, ids=[f"{s}:{a}" for s, a in PAIRS])
def test_template_schema_and_validate_answer_without_a_traceback(cli: Any, skill: str, action: str) -> None:
    for args in (["template", skill, action], ["schema", skill, action], ["validate", skill, action, "--no-data"]):
        res = cli("--skills-dir", BANK, *args, "--json")
        assert res.code in (0, 2), (args, res.code, res.out[-2000:], res.err[-2000:])
        assert "Traceback" not in res.out + res.err
        doc = res.json()
        if res.code == 2:
            assert doc.get("message") or doc.get("errors"), doc
            for err in doc.get("errors", []):
                assert err["path"] and err["message"], err


@pytest.mark.parametrize(("skill", "action"), PAIRS, ids=[f"{s}:{a}" for s, a in PAIRS])
def test_plan_on_docker_prints_the_container_command_with_the_actions_image(cli: Any, tao: Any, skill: str, action: str, tmp_path: Path) -> None:
    from skillrun import compose

    composed = compose(skill, action, bank=tao)
    fills = [f"{path}={tmp_path / 'x'}" for path in _missing(composed.spec)]
    res = cli("--skills-dir", BANK, "plan", skill, action, "--backend", "docker", "--automl", "off", "--no-data", *fills, "--json")
    assert res.code == 0, (res.out[-3000:], res.err[-2000:])
    plan = res.json()["backend_plan"]
    info = tao.get(skill).info
    expected = info.actions[action].container_image or info.container_image
    assert plan["image"] == expected and expected and "/" in expected, (plan["image"], expected)
    assert f"{expected} " in plan["docker_run"]
    command = info.actions[action].command
    words = command.split() if isinstance(command, str) else list(command)
    assert words[0] in plan["docker_run"] and " -e " in plan["docker_run"]
    if action == "gen_trt_engine" or action.startswith("deploy_"):
        assert plan["image"] != info.container_image, "TensorRT actions run in the deploy image"
    from skillrun.contracts.skill import Resolver
    from skillrun.resolve.params import OUTPUT_FILES

    given = {f.split("=", 1)[0] for f in fills}
    for r in res.json()["resolved"]:  # TAO's file creators name TAO's files in this job's results (a template's path is not kept)
        if r["resolver"] in {x.value for x in OUTPUT_FILES} and r["key"] not in given:
            assert r["value"].endswith(f"/{action}/{OUTPUT_FILES[Resolver(r['resolver'])]}"), r


def _missing(spec: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every ``???`` in ``spec``."""
    if isinstance(spec, dict):
        return [p for k, v in spec.items() for p in _missing(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(spec, list):
        return [p for i, v in enumerate(spec) for p in _missing(v, f"{prefix}[{i}]")]
    return [prefix] if spec == "???" else []


def test_every_evals_file_reads(tao: Any) -> None:
    for skill in tao:
        if skill.origin != "builtin" and (skill.path / "evals" / "evals.json").is_file():
            cases = json.loads((skill.path / "evals" / "evals.json").read_text(encoding="utf-8"))
            assert skill.evals is not None and len(skill.evals.evals) == len(cases if isinstance(cases, list) else cases["evals"])
