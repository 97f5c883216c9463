"""The AutoML policy of a train run: on or off, and why.

For a skill with ``automl_enabled: true`` whose train schema and template are
packaged, a train run defaults to AutoML (seed 002). ``--automl``, then the
spec's ``automl_policy``, decide otherwise; a skill without the packaged files
runs plainly, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skillrun.errors import UsageError

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill

TRAIN = "train"
_ON = ("on", True)
_OFF = ("off", False)


@dataclass(frozen=True)
class AutomlDecision:
    on: bool
    reason: str
    applies: bool = True  #: False when the action/skill has no AutoML at all


def decide(skill: Skill, action: str, spec: dict[str, Any], flag: str | None = None) -> AutomlDecision:
    """Whether this run goes through AutoML (``flag`` is ``--automl on|off`` or None)."""
    if action != TRAIN or not skill.info.automl_enabled:
        return AutomlDecision(False, f"{skill.name} {action} has no AutoML", applies=False)
    if not (skill.has_schema(TRAIN) and skill.has_template(TRAIN)):
        return AutomlDecision(False, f"AutoML is enabled for {skill.name} but not runnable: the train schema or template is not packaged; running plain training")
    if flag is not None:
        if flag not in ("on", "off"):
            msg = f"--automl {flag!r} is not allowed"
            raise UsageError(msg, hint="use --automl on or --automl off")
        return AutomlDecision(flag == "on", f"--automl {flag}")
    value = spec.get("automl_policy")
    if value in _ON:
        return AutomlDecision(True, "automl_policy: on in the spec")
    if value in _OFF:
        return AutomlDecision(False, "automl_policy: off in the spec")
    return AutomlDecision(True, f"{skill.name} is AutoML-enabled, so train defaults to AutoML")


def require_off(decision: AutomlDecision, skill: str) -> None:
    """Until the AutoML runner lands, a train whose policy is on stops here, before anything is written."""
    if decision.on:
        msg = f"AutoML is on for {skill} train ({decision.reason}), and this skillrun cannot run AutoML studies yet"
        raise UsageError(msg, hint="run a single training with --automl off (or automl_policy=off in the spec)")
