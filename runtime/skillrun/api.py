"""The Python API: what the CLI, the MCP server and HPO loops all call.

>>> import skillrun
>>> bank = skillrun.load_bank()
>>> report = skillrun.validate("rtdetr", "train", overrides=["train.num_epochs=3"], check_data=False)
>>> report.ok, [i.render() for i in report.errors]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from skillrun.bank.bank import SkillBank, sources
from skillrun.errors import SpecError

if TYPE_CHECKING:
    from skillrun.composition.overrides import Override
    from skillrun.contracts.report import ValidationReport
    from skillrun.contracts.spec import ComposedSpec


def load_bank(skills_dirs: Iterable[str | Path] = (), *, plugins: bool = True) -> SkillBank:
    """All skills: built-in, plugins (unless ``plugins=False``), ``$SKILLRUN_PATH``, then ``skills_dirs``."""
    from skillrun.plugins.manager import collect, get_plugin_manager, new_plugin_manager

    pm = get_plugin_manager() if plugins else new_plugin_manager(entry_points=False)
    return SkillBank(sources(collect(pm).skill_dirs, skills_dirs))


def compose(
    skill: str,
    action: str,
    *,
    spec_file: str | Path | None = None,
    spec: dict[str, Any] | None = None,
    overrides: Iterable[str | Override] = (),
    overrides_json: str | dict[str, Any] | None = None,
    bank: SkillBank | None = None,
) -> ComposedSpec:
    """The merged spec (schema defaults <- template <- spec file <- overrides) with provenance."""
    from skillrun.composition.layers import compose as _compose

    bank = bank or load_bank()
    return _compose(bank.get(skill), action, spec_file=spec_file, spec=spec, overrides=overrides, overrides_json=overrides_json)


def validate(
    skill: str,
    action: str,
    *,
    spec_file: str | Path | None = None,
    spec: dict[str, Any] | None = None,
    overrides: Iterable[str | Override] = (),
    overrides_json: str | dict[str, Any] | None = None,
    check_data: bool = True,
    bank: SkillBank | None = None,
    raise_on_error: bool = False,
) -> ValidationReport:
    """Compose and validate; the report lists every problem (``raise_on_error`` raises SpecError)."""
    from skillrun.validation import validate_composed

    bank = bank or load_bank()
    composed = compose(skill, action, spec_file=spec_file, spec=spec, overrides=overrides, overrides_json=overrides_json, bank=bank)
    report = validate_composed(bank.get(skill), composed, check_data=check_data)
    if raise_on_error and not report.ok:
        raise SpecError(report)
    return report
