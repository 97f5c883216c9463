"""``skillrun eval-routing``: route every case of every skill's ``evals/evals.json`` and score the answers.

A case that expects a skill is right when the top candidate has that skill
(and that action, when the case names one); a case that expects ``null`` is
right when the router abstains. A skill's cases are routed against the whole
bank, so they also test that no other skill steals them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skillrun.contracts.route import EvalFailure, EvalReport
from skillrun.route.router import THRESHOLD, route

if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank


def evaluate(bank: SkillBank, *, threshold: float = THRESHOLD) -> EvalReport:
    """Top-1 accuracy over cases that expect a skill, abstain accuracy over those that expect none."""
    routed = correct = offtopic = abstained = 0
    lowest: float | None = None
    highest: float | None = None
    failures: list[EvalFailure] = []
    skills: list[str] = []
    for skill in bank:
        evals = skill.evals
        if evals is None:
            continue
        skills.append(skill.name)
        for case in evals.evals:
            res = route(case.prompt, bank=bank, top_k=1, threshold=threshold)
            best = res.candidates[0] if res.candidates else None
            score = best.score if best else 0.0
            got = None if res.abstain or best is None else f"{best.skill}/{best.action}"
            exp = case.expected
            if exp is None:
                offtopic += 1
                highest = score if highest is None else max(highest, score)
                ok = res.abstain
                abstained += ok
                want = None
            else:
                routed += 1
                ok = best is not None and not res.abstain and best.skill == exp.skill and exp.action in (None, best.action)
                correct += ok
                if ok:
                    lowest = score if lowest is None else min(lowest, score)
                want = exp.skill if exp.action is None else f"{exp.skill}/{exp.action}"
            if not ok:
                failures.append(EvalFailure(skill_file=skill.name, id=case.id, prompt=case.prompt, expected=want, got=got, score=score))
    return EvalReport(
        skills=skills,
        cases=routed + offtopic,
        routed_cases=routed,
        top1_correct=correct,
        top1_accuracy=round(correct / routed, 4) if routed else 1.0,
        abstain_cases=offtopic,
        abstain_correct=abstained,
        abstain_accuracy=round(abstained / offtopic, 4) if offtopic else 1.0,
        threshold=threshold,
        lowest_correct_score=lowest,
        highest_offtopic_score=highest,
        failures=failures,
    )
