"""Validation: schema, then math_cond/depends_on/rules, then data preflight — all reported at once."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from skillrun.contracts.report import ValidationReport
from skillrun.contracts.skill import param_name
from skillrun.validation import preflight, rules, schema

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill
    from skillrun.contracts.spec import ComposedSpec

__all__ = ["validate_composed"]


def validate_composed(skill: Skill, composed: ComposedSpec, *, check_data: bool = True) -> ValidationReport:
    """Every problem of a composed spec; the returned spec has ``auto`` values derived."""
    action = composed.action
    spec = copy.deepcopy(composed.spec)
    issues = list(composed.issues)
    resolvers = {k: param_name(r) for k, r in skill.info.actions[action].spec_params.items()}
    missing = schema.missing_values(spec, resolvers, skill.foreign_sections(action))
    issues.extend(missing)
    bad = {i.path for i in issues if i.severity == "error"}
    action_schema = skill.schema(action) if skill.has_schema(action) else None
    if action_schema is not None:
        found = schema.shipped_defects(schema.check(spec, action_schema, skip=bad), composed.provenance, skill.name, lambda: _shipped(skill, action))
        issues.extend(found)
        bad |= {i.path for i in found if i.severity == "error"}
        issues.extend(rules.check_conditions(spec, action_schema, bad_paths=bad))
    derived = []
    if check_data:
        found, derived = preflight.preflight(spec, skill.info.actions[action])
        from skillrun.data.formats.handler import preflight_checks  # the data skills' own input checks (torch-free)

        found = [*found, *preflight_checks(skill.info.network_arch or skill.name, action, spec)]
        issues.extend(found)
        bad |= {i.path for i in found if i.severity == "error"}
    provenance = dict(composed.provenance)
    provenance.update({d.path: "derived" for d in derived})
    issues.extend(rules.check_rules(spec, skill.info.rules_for(action), bad_paths=bad, provenance=provenance))
    return ValidationReport(skill=skill.name, action=action, spec=spec, provenance=provenance, issues=issues, derived=derived)


def _shipped(skill: Skill, action: str) -> dict[str, Any]:
    """The spec the skill itself ships for ``action``: schema defaults, key_defaults and template, nothing of the user's."""
    from skillrun.composition.layers import compose

    return compose(skill, action).spec
