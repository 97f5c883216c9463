"""``skillrun eval-routing``: route every case of every skill's ``evals/evals.json`` and score the answers.

A case that expects a skill is right when the top candidate has that skill
(and that action, when the case names one: TAO's cases never do, they ask which
skill applies); a case that expects ``null`` is right when the router abstains.
A skill's cases are routed against the whole bank, so they also test that no
other skill steals them.

What could not be read is named, never skipped in silence: skills the bank
could not load (``bank.broken``), ``evals.json`` files that do not parse, and
``evals.json`` files in a folder with no SKILL.md (not a skill, so the bank has
none of their cases). Skills that cases expect but the bank lacks are listed too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from skillrun.contracts.route import EvalFailure, EvalReport, EvalTally, EvalUnloaded
from skillrun.errors import BankError
from skillrun.route.router import THRESHOLD, route

if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank

EVALS = Path("evals") / "evals.json"


def evaluate(bank: SkillBank, *, threshold: float = THRESHOLD) -> EvalReport:
    """Top-1 accuracy over cases that expect a skill, abstain accuracy over those that expect none."""
    routed = correct = offtopic = abstained = 0
    lowest: float | None = None
    highest: float | None = None
    failures: list[EvalFailure] = []
    skills: list[str] = []
    unloaded = [_broken(name, exc) for name, exc in sorted(bank.broken.items())]
    missing: set[str] = set()
    tallies: dict[str, EvalTally] = {}
    for skill in bank:
        try:
            evals = skill.evals
        except BankError as exc:
            unloaded.append(EvalUnloaded(skill=skill.name, path=str(skill.path / EVALS), reason=exc.message))
            continue
        if evals is None:
            continue
        skills.append(skill.name)
        tally = tallies.setdefault(skill.origin, EvalTally())
        for case in evals.evals:
            res = route(case.prompt, bank=bank, top_k=1, threshold=threshold)
            best = res.candidates[0] if res.candidates else None
            score = best.score if best else 0.0
            got = None if res.abstain or best is None else _label(best.skill, best.action)
            exp = case.expected
            note = None
            if exp is None:
                offtopic += 1
                tally.abstain_cases += 1
                if res.unknown is None:  # what the threshold has to catch; a request about an unknown model abstains anyway
                    highest = score if highest is None else max(highest, score)
                ok = res.abstain
                abstained += ok
                tally.abstain_correct += ok
                want = None
            else:
                routed += 1
                tally.routed_cases += 1
                ok = best is not None and not res.abstain and best.skill == exp.skill and exp.action in (None, best.action)
                correct += ok
                tally.top1_correct += ok
                if ok:
                    lowest = score if lowest is None else min(lowest, score)
                want = _label(exp.skill, exp.action)
                if exp.skill not in bank:
                    missing.add(exp.skill)
                    note = f"{exp.skill} is not in the bank"
                elif res.abstain:
                    note = res.reason
            if not ok:
                failures.append(EvalFailure(skill_file=skill.name, id=case.id, prompt=case.prompt, expected=want, got=got, score=score, note=note))
    for tally in tallies.values():
        tally.top1_accuracy = round(tally.top1_correct / tally.routed_cases, 4) if tally.routed_cases else 1.0
    unloaded += orphan_evals(bank)
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
        by_origin=tallies,
        unloaded=unloaded,
        missing_skills=sorted(missing),
        failures=failures,
    )


def _label(skill: str, action: str | None) -> str:
    return skill if action is None else f"{skill}/{action}"


def _broken(name: str, exc: BankError) -> EvalUnloaded:
    path = exc.issues[0].path if exc.issues else ""
    return EvalUnloaded(skill=name, path=path, reason=exc.message)


def orphan_evals(bank: SkillBank) -> list[EvalUnloaded]:
    """``evals.json`` files under the bank's folders whose folder has no SKILL.md: their cases cannot be routed to."""
    from skillrun.bank.bank import MAX_DEPTH
    from skillrun.bank.loader import SKILL_MD

    out: list[EvalUnloaded] = []
    seen: set[Path] = set()
    for src in bank.sources:
        root = Path(src.path)
        if not root.is_dir():
            continue
        level = [root]
        for _ in range(MAX_DEPTH + 1):
            below: list[Path] = []
            for folder in level:
                if folder in seen or (folder / SKILL_MD).is_file():
                    continue
                seen.add(folder)
                if (folder / EVALS).is_file():
                    out.append(EvalUnloaded(skill=folder.name, path=str(folder / EVALS), reason="no SKILL.md in this folder: not a skill, its cases are not routed"))
                try:
                    entries = sorted(os.scandir(folder), key=lambda e: e.name)
                except OSError:
                    continue
                below += [Path(e.path) for e in entries if e.is_dir() and not e.name.startswith((".", "_")) and e.name not in ("evals", "references", "scripts", "schemas", "node_modules", "__pycache__")]
            level = below
    return out
