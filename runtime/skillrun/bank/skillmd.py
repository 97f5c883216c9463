"""Tables in SKILL.md that restate skill_info.yaml are generated here, never hand-written.

A generated block sits between ``<!-- BEGIN GENERATED: NAME -->`` and
``<!-- END GENERATED: NAME -->``; ``skillrun docs`` rewrites it and
``skillrun docs --check`` (and a test) fails when it drifts.
"""

from __future__ import annotations

import re
from typing import Callable

from skillrun.bank.text import first_sentence  # noqa: F401 - re-exported for callers of skillmd
from skillrun.contracts.skill import SkillInfo, param_name

_BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)", re.DOTALL)

def _table(header: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "_None._\n"
    esc = [[c.replace("|", "\\|") for c in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in esc]
    return "\n".join(lines) + "\n"


def actions_table(info: SkillInfo) -> str:
    rows = [[f"`{n}`", a.description, f"`{a.command}`" if a.command else ""] for n, a in info.actions.items()]
    return _table(["Action", "What it does", "Command"], rows)


def data_requirements_table(info: SkillInfo) -> str:
    rows = [
        [n, f"`{d.spec_key}`", d.source, ", ".join(f"{k}: {v}" for k, v in d.files.items()), "Yes" if d.list else "No", "Yes" if d.required else "No"]
        for n, a in sorted(info.actions.items())
        for d in a.data_sources
    ]
    return _table(["Action", "Spec Key", "Source", "Files", "List?", "Required?"], rows)


def shorthand_table(info: SkillInfo) -> str:
    rows = [[n, f"`{k}=...`", f"`{v}`"] for n, a in sorted(info.actions.items()) for k, v in a.spec_shorthand_keys.items()]
    return _table(["Action", "Shorthand", "Sets"], rows)


def spec_params_table(info: SkillInfo) -> str:
    from skillrun.resolve.params import MEANING

    rows = [[n, f"`{k}`", f"`{param_name(r)}`", MEANING[param_name(r)]] for n, a in sorted(info.actions.items()) for k, r in sorted(a.spec_params.items())]
    return _table(["Action", "Spec Field", "Resolver", "Meaning"], rows)


def rules_table(info: SkillInfo) -> str:
    rows = [[f"`{r.id}`", ", ".join(r.actions) if r.actions else "all", f"`{r.expr}`", f"`{r.path}`", r.severity] for r in info.rules]
    rows += [[f"`{r.id}`", n, f"`{r.expr}`", f"`{r.path}`", r.severity] for n, a in info.actions.items() for r in a.rules]
    return _table(["Rule", "Actions", "Must hold", "Reported on", "Severity"], rows)


GENERATORS: dict[str, Callable[[SkillInfo], str]] = {
    "actions": actions_table,
    "data-requirements": data_requirements_table,
    "shorthand-keys": shorthand_table,
    "spec-params": spec_params_table,
    "rules": rules_table,
}


def render(text: str, info: SkillInfo) -> str:
    """SKILL.md text with every generated block rewritten from ``info``."""

    def one(match: re.Match[str]) -> str:
        gen = GENERATORS.get(match.group("name"))
        if gen is None:
            return match.group(0)
        return match.group(1) + gen(info) + match.group(4)

    return _BLOCK.sub(one, text)


def blocks(text: str) -> list[str]:
    """Names of the generated blocks in ``text``."""
    return [m.group("name") for m in _BLOCK.finditer(text)]


def unknown_blocks(text: str) -> list[str]:
    return [b for b in blocks(text) if b not in GENERATORS]
