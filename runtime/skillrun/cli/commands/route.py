"""``skillrun route "REQUEST"`` and ``skillrun eval-routing``: which skill and action a request means."""

from __future__ import annotations

from typing import Any

import click

from skillrun.cli import console
from skillrun.cli.commands.skills import json_option


@click.command("route")
@click.argument("request", nargs=-1, required=True)
@click.option("--top-k", "-k", default=3, show_default=True, type=click.IntRange(min=1), help="How many candidates to list.")
@json_option
@click.pass_obj
def route_cmd(app: Any, request: tuple[str, ...], top_k: int, as_json: bool) -> None:
    """Rank the (skill, action) pairs a request means, read its modifiers, or abstain when nothing fits.

    REQUEST is the user's words (quote them, or pass them as several words). Exit 0 either way:
    an abstain is an answer ("abstain": true in --json).
    """
    from skillrun.route import route

    res = route(" ".join(request), bank=app.bank, top_k=top_k, cache_dir=app.workspace / "cache")
    if as_json:
        console.emit_json(res.model_dump(mode="json"))
        return
    if res.candidates:
        rows = [(i + 1, c.skill, c.action or "(guidance: SKILL.md)", f"{c.score:.2f}", ", ".join(c.matched_words), "; ".join(c.matched_triggers)) for i, c in enumerate(res.candidates)]
        console.table(None, ["#", "skill", "action", "score", "matched words", "trigger phrases"], rows)
    if res.abstain:
        if res.unknown is not None:
            hint = "no skill of the bank covers it: add a skill bank that does (--skills-dir, SKILLRUN_PATH), or see `skillrun list`"
        else:
            hint = "rephrase with what to do (train, evaluate, export, convert, validate ...), or see `skillrun list`"
        console.error(f"no skill fits: {res.reason}", hint=hint)
        return
    mods = res.modifiers
    if not mods.empty:
        shown = mods.model_dump(exclude={"phrases"}, exclude_none=True)
        console.text("modifiers: " + "  ".join(f"{k}={v}" for k, v in shown.items()) + f"   (from: {'; '.join(mods.phrases)})")
    if res.suggestion is not None:
        console.text(f"next: {res.suggestion.command}")
        for note in res.suggestion.notes:
            console.note(note)


@click.command("eval-routing")
@click.option("--min-top1", default=None, type=click.FloatRange(0, 1), help="Exit 1 when top-1 accuracy is below this.")
@click.option("--min-abstain", default=None, type=click.FloatRange(0, 1), help="Exit 1 when abstain accuracy is below this.")
@json_option
@click.pass_obj
def eval_routing_cmd(app: Any, min_top1: float | None, min_abstain: float | None, as_json: bool) -> None:
    """Route every case in the skills' evals/evals.json and report top-1 and abstain accuracy."""
    from skillrun.route.evaluate import evaluate

    rep = evaluate(app.bank)
    if as_json:
        console.emit_json(rep.model_dump(mode="json"))
    else:
        rows = [
            ("skills", ", ".join(rep.skills)),
            ("top-1", f"{rep.top1_accuracy:.1%} ({rep.top1_correct}/{rep.routed_cases})"),
            ("abstain", f"{rep.abstain_accuracy:.1%} ({rep.abstain_correct}/{rep.abstain_cases})"),
            ("threshold", f"{rep.threshold:g} (lowest right answer {_num(rep.lowest_correct_score)}, highest off-topic {_num(rep.highest_offtopic_score)})"),
        ]
        if len(rep.by_origin) > 1:
            rows += [(f"  from {origin}", f"top-1 {t.top1_accuracy:.1%} ({t.top1_correct}/{t.routed_cases}), abstain {t.abstain_correct}/{t.abstain_cases}") for origin, t in sorted(rep.by_origin.items())]
        if rep.missing_skills:
            rows.append(("expected, not in bank", ", ".join(rep.missing_skills)))
        console.fields("Routing evaluation", rows)
        if rep.unloaded:
            console.table("not evaluated (could not load)", ["skill", "path", "reason"], [(u.skill, u.path, u.reason) for u in rep.unloaded])
        if rep.failures:
            rows = [(f.skill_file, f.id, f.prompt, f.expected or "none", f.got or "abstain", f"{f.score:.2f}" if f.score is not None else "") for f in rep.failures]
            console.table("misrouted", ["evals of", "id", "request", "expected", "got", "score"], rows)
    below = []
    if min_top1 is not None and rep.top1_accuracy < min_top1:
        below.append(f"top-1 {rep.top1_accuracy:.1%} < {min_top1:.0%}")
    if min_abstain is not None and rep.abstain_accuracy < min_abstain:
        below.append(f"abstain {rep.abstain_accuracy:.1%} < {min_abstain:.0%}")
    if below:
        if not as_json:
            console.error("routing accuracy below target: " + "; ".join(below))
        raise click.exceptions.Exit(1)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
