"""Code-shape guards: small modules, one error tree, no torchvision anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "runtime" / "skillrun"
MODULES = sorted(PACKAGE.rglob("*.py"))
LIMIT = 400


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_stays_small_and_documented(module: Path) -> None:
    text = module.read_text()
    assert len(text.splitlines()) <= LIMIT, f"{module.name} is over {LIMIT} lines: split it"
    tree = ast.parse(text)
    assert ast.get_docstring(tree), f"{module.name} needs a module docstring saying why it exists"
    imported = {n.names[0].name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "torchvision" not in imported


def test_no_eval_or_exec_in_the_package() -> None:
    for module in MODULES:
        tree = ast.parse(module.read_text())
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"eval", "exec"}, module
