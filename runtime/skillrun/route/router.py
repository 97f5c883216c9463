"""``route(request)`` → ranked (skill, action) candidates, modifiers, a suggested invocation, or an abstain.

The abstain threshold is calibrated on the bank's routing cases
(``skillrun eval-routing`` prints the lowest score of a right answer and the
highest score of an off-topic request): requests that share only a stray word
with the bank ("write a haiku" → "writes classmap.txt") stay below it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from skillrun.contracts.route import Candidate, Modifiers, RouteResult, Suggestion
from skillrun.route import modifiers
from skillrun.route.index import ActionEntry, RouteIndex, Scored
from skillrun.route.text import request_text

if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank

#: Below this top score the router abstains. Calibrated on the shipped skills' evals
#: (`skillrun eval-routing` over the builtin bank): the highest off-topic case the
#: score must catch is 4.14 ("convert 100 dollars to euros"), the lowest right answer
#: 5.94. 4.5 sits nearer the off-topic side, because short requests with one action
#: word and a model ("detect pallets in /data/frames using the trained model", 4.9)
#: score just above it. Off-topic requests about a model the bank lacks ("train a
#: GPT-2 language model", 7.09) are caught by RouteIndex.unknown, not by the score.
#: Scores grow with the bank's idf (a 76-skill bank's rare words weigh about 3x a
#: 4-skill bank's), so a big bank abstains less on stray words: recalibrate with
#: `skillrun eval-routing` (it prints both numbers).
THRESHOLD = 4.5

CACHE_FILE = "route-index.json"

_INDEXES: weakref.WeakKeyDictionary[SkillBank, RouteIndex] = weakref.WeakKeyDictionary()


def fingerprint(bank: SkillBank) -> str:
    """Changes whenever a skill's SKILL.md or skill_info.yaml, the set of skills, or the router's code changes."""
    from skillrun.bank.loader import SKILL_INFO, SKILL_MD

    parts = [str(RouteIndex.VERSION)]
    parts += [f"{p.name}:{p.stat().st_mtime_ns}" for p in sorted(Path(__file__).parent.glob("*.py"))]
    for skill in bank:
        # a guidance-only skill may have no skill_info.yaml; TAO's deploy sub-skills add references/*.skill_info.yaml
        files = [skill.path / SKILL_MD, skill.path / SKILL_INFO, *sorted(skill.path.glob("references/*.skill_info.yaml"))]
        for file in files:
            try:
                st = file.stat()
                parts.append(f"{skill.name}:{file}:{st.st_mtime_ns}:{st.st_size}")
            except OSError:
                parts.append(f"{skill.name}:{file}:-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def index_for(bank: SkillBank, cache_dir: Path | None = None) -> RouteIndex:
    """The bank's index: built once per bank object, and cached as JSON in ``cache_dir`` across processes.

    Building stems every description and trigger of the bank (tens of ms for a
    few skills, growing with the bank); the cached impact table loads in about
    a millisecond. A stale or unreadable cache is rebuilt.
    """
    idx = _INDEXES.get(bank)
    if idx is not None:
        return idx
    key = fingerprint(bank)
    file = cache_dir / CACHE_FILE if cache_dir is not None else None
    if file is not None:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            if data.get("fingerprint") == key:
                idx = RouteIndex.from_json(data["index"])
        except (OSError, ValueError, KeyError, TypeError):
            idx = None
    if idx is None:
        idx = RouteIndex.from_bank(bank)
        if file is not None:
            _write(file, {"fingerprint": key, "index": idx.to_json()})
    _INDEXES[bank] = idx
    return idx


def _write(file: Path, data: dict[str, object]) -> None:
    """Atomic and best effort: a read-only workspace only costs the next run a rebuild."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, file)
    except OSError:
        pass


def route(
    request: str,
    *,
    bank: SkillBank | None = None,
    top_k: int = 3,
    threshold: float = THRESHOLD,
    verb: str = "plan",
    cache_dir: Path | None = None,
) -> RouteResult:
    """Rank the (skill, action) pairs for ``request`` and read its modifiers; abstain below ``threshold``.

    The words scored are :func:`~skillrun.route.text.request_text` of the request
    (a wrapped prompt's quoted request, negated instructions left out), less a job
    id it names. The router also abstains when the request is about a model or
    thing no skill knows (:meth:`~skillrun.route.index.RouteIndex.unknown`). A
    guidance-only skill's suggestion is ``skillrun describe SKILL``: it has no
    contract to plan. ``cache_dir`` keeps the built index between processes (the
    CLI passes ``<workspace>/cache``); ``verb`` is the command the suggestion starts with.
    """
    if bank is None:
        from skillrun.api import load_bank

        bank = load_bank()
    idx = index_for(bank, cache_dir)
    mods = modifiers.read(request, skills=set(bank.names))
    text = request_text(request)
    if mods.parent_job:
        text = text.replace(mods.parent_job, " ")  # an id names a job, not what to do
    scored = [r for r in idx.score(text) if r.score > 0]
    candidates = [_candidate(idx, r) for r in scored[: max(top_k, 1)]]
    unknown = idx.unknown(text)
    reason = None
    if not candidates:
        reason = "no word of the request occurs in any skill's name, description or trigger phrases"
    elif unknown is not None:
        what = " ".join(unknown.words)
        after = f" (what it asks to {unknown.after})" if unknown.after else ""
        reason = f"the request is about {what}{after}, which no skill of the bank knows: no skill fits this request"
    elif candidates[0].score < threshold:
        best = candidates[0]
        reason = f"the best match, {_label(best)}, scores {best.score:g}, below the threshold {threshold:g}: no skill fits this request"
    abstain = reason is not None
    suggestion = None
    if not abstain:
        top = candidates[0]
        entry = idx.entries[(top.skill, top.action)]
        suggestion = _describe(entry, mods) if entry.guidance else modifiers.suggest(entry, mods, verb)
    return RouteResult(
        request=request,
        abstain=abstain,
        reason=reason,
        threshold=threshold,
        routed_text=text if text != request else None,
        unknown=unknown,
        candidates=candidates,
        modifiers=mods,
        suggestion=suggestion,
    )


def _candidate(idx: RouteIndex, r: Scored) -> Candidate:
    entry = idx.entries[r.key]
    return Candidate(
        skill=r.key[0], action=r.key[1], guidance_only=entry.guidance, score=round(r.score, 3), skill_score=round(r.rank, 3), matched_words=r.words, matched_triggers=r.triggers
    )


def _label(c: Candidate) -> str:
    return c.skill if c.action is None else f"{c.skill} {c.action}"


def _describe(entry: ActionEntry, mods: Modifiers) -> Suggestion:
    """A guidance-only skill: nothing to plan; its SKILL.md says what to do (and the action's entry, when it has actions)."""
    args = ["skillrun", "describe", entry.skill, *([entry.action] if entry.action else [])]
    notes = [f"{entry.skill} is guidance only (no machine contract to plan or run): follow the steps of its SKILL.md, which `skillrun describe {entry.skill}` shows"]
    if not mods.empty:
        notes.append(f"the request's modifiers ({'; '.join(mods.phrases)}) apply to the commands that SKILL.md gives")
    return Suggestion(command=shlex.join(args), notes=notes)
