"""The AutoML policy of a train run: on or off, and why (seed 002, "Train Action Policy").

For a skill with ``automl_enabled: true`` whose train schema and template are
packaged (and parse), a train run defaults to AutoML. Precedence, highest
first: ``--automl on|off`` (or a request phrase passed in its place), the
words of the request (``policy_from_text``: "no HPO", "plain training", "turn
off AutoML", "disable AutoML" ...), the spec's ``automl_policy``, then the
skill's default. A skill without the packaged files runs plainly, and says so.
The per-run policy never changes the skill's metadata. Pure: no I/O beyond
reading the skill, no optuna.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from skillrun.errors import BankError, UsageError

if TYPE_CHECKING:
    from skillrun.bank.loader import Skill

TRAIN = "train"
Policy = Literal["on", "off"]
_ON = ("on", True)
_OFF = ("off", False)

#: what names AutoML in a request: the word itself, HPO, a hyperparameter search/sweep/tuning/study, tuning the
#: hyperparameters, or a search algorithm by name
_AUTOML = (
    r"(?:auto\s?ml|hpo|optuna|hyperband|asha|bohb|bayesian\s+(?:search|optimi[sz]ation)"
    r"|hyper\s?param(?:eter)?s?\s+(?:search|sweeps?|tuning|tune|optimi[sz]ation|study|studies|optimi[sz]er)"
    r"|(?:tune|tuning|optimi[sz]e|optimi[sz]ing|search(?:ing)?|sweep(?:ing)?)\s+(?:over\s+|of\s+|across\s+)?(?:the\s+|my\s+|its\s+|all\s+|some\s+)?hyper\s?param(?:eter)?s?"
    r"|(?:learning\s+rate|lr|parameter)\s+(?:sweeps?|search))"
)
#: a negation, and up to two words between it and the AutoML words ("no AutoML", "without any HPO", "not with AutoML")
_NOT = r"(?:disable|disabling|skip|skipping|without|no|not|never|avoid|don'?t\s+(?:use|run|do|want|need)|do\s+not\s+(?:use|run|do|want|need))"
_GAP = r"(?:\s+(?!and\b|but\b|then\b|or\b)[\w']+){0,2}?"

#: request phrases that turn AutoML off for this run (checked before the "on" phrases: "no HPO" contains "HPO")
OFF_PATTERNS = (
    r"\b(turn|switch|shut)\s+(off|down)\s+(the\s+)?auto\s?ml\b",
    r"\bauto\s?ml\s+(off|disabled)\b",
    rf"\b{_NOT}{_GAP}\s+{_AUTOML}\b",
    r"\bplain\s+train(ing)?\b",
    r"\bsingle\s+train(ing)?\s+run\b",
)
#: request phrases that ask for AutoML: any mention of it that no negation takes back
ON_PATTERNS = (
    r"\b(turn|switch)\s+on\s+(the\s+)?auto\s?ml\b",
    rf"\b{_AUTOML}\b",
)


@dataclass(frozen=True)
class AutomlDecision:
    """The resolved policy; ``applies`` is False when the action or skill has no AutoML at all."""

    on: bool
    reason: str
    applies: bool = True
    source: str = "default"  #: flag, request, spec, default, not-runnable, n/a

    @property
    def policy(self) -> Policy:
        return "on" if self.on else "off"


def policy_from_text(text: str | None) -> Policy | None:
    """``"off"`` for "no HPO", "plain training", "turn off AutoML", "disable AutoML" ...; ``"on"`` for
    "with AutoML", "hyperparameter search" ...; None when the words say nothing about it."""
    if not text:
        return None
    words = re.sub(r"[\s\-_]+", " ", text.lower())
    if any(re.search(p, words) for p in OFF_PATTERNS):
        return "off"
    if any(re.search(p, words) for p in ON_PATTERNS):
        return "on"
    return None


def runnable(skill: Skill) -> str | None:
    """None when AutoML can run for ``skill``; otherwise why not (missing or unparsable schema/template)."""
    missing = [what for what, ok in (("schemas/train.schema.json", skill.has_schema(TRAIN)), ("references/spec_template_train.yaml", skill.has_template(TRAIN))) if not ok]
    if missing:
        return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not packaged"
    try:
        skill.schema(TRAIN)
        skill.template(TRAIN)
    except BankError as exc:
        return f"the train schema or template does not parse ({exc.message})"
    return None


def decide(skill: Skill, action: str, spec: dict[str, Any], flag: str | None = None, *, text: str | None = None) -> AutomlDecision:
    """Whether this run goes through AutoML.

    ``flag`` is ``--automl on|off`` or a request phrase ("no HPO"); ``text`` is the
    user's request, if any. A flag that is neither is a UsageError.
    """
    if action != TRAIN or not skill.info.automl_enabled:
        return AutomlDecision(False, f"{skill.name} {action} has no AutoML", applies=False, source="n/a")
    why_not = runnable(skill)
    if why_not is not None:
        return AutomlDecision(False, f"AutoML is enabled for {skill.name} but not runnable until the schemas are generated: {why_not}; running plain training", source="not-runnable")
    if flag is not None:
        word = flag if flag in ("on", "off") else policy_from_text(flag)
        if word is None:
            msg = f"--automl {flag!r} is not allowed"
            raise UsageError(msg, hint="use --automl on or --automl off (or a phrase such as 'no HPO')", data={"allowed": ["on", "off"]})
        how = f"--automl {flag}" if flag in ("on", "off") else f"--automl {flag!r} means {word}"
        return AutomlDecision(word == "on", how, source="flag")
    said = policy_from_text(text)
    if said is not None:
        return AutomlDecision(said == "on", f"the request says {text!r}: AutoML {said} for this run", source="request")
    value = spec.get("automl_policy")
    if value in _ON:
        return AutomlDecision(True, "automl_policy: on in the spec", source="spec")
    if value in _OFF:
        return AutomlDecision(False, "automl_policy: off in the spec", source="spec")
    return AutomlDecision(True, f"{skill.name} is AutoML-enabled, so train defaults to AutoML (--automl off for one plain training)", source="default")
