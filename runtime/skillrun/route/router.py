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
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from skillrun.contracts.route import Candidate, RouteResult
from skillrun.route import modifiers
from skillrun.route.index import RouteIndex

if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank

#: Below this top score the router abstains: midway between the highest off-topic
#: case (4.11, "train a GPT-2 language model ...") and the lowest right answer (4.39)
#: of the shipped evals; all other off-topic cases score under 3.5. Recalibrate with
#: `skillrun eval-routing` when skills are added (idf shifts with the bank).
THRESHOLD = 4.25

CACHE_FILE = "route-index.json"

_INDEXES: weakref.WeakKeyDictionary[SkillBank, RouteIndex] = weakref.WeakKeyDictionary()


def fingerprint(bank: SkillBank) -> str:
    """Changes whenever a skill's SKILL.md or skill_info.yaml, the set of skills, or the router's code changes."""
    from skillrun.bank.loader import SKILL_INFO, SKILL_MD

    parts = [str(RouteIndex.VERSION)]
    parts += [f"{p.name}:{p.stat().st_mtime_ns}" for p in sorted(Path(__file__).parent.glob("*.py"))]
    for skill in bank:
        for rel in (SKILL_MD, SKILL_INFO):
            st = (skill.path / rel).stat()
            parts.append(f"{skill.name}:{skill.path}/{rel}:{st.st_mtime_ns}:{st.st_size}")
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

    ``cache_dir`` keeps the built index between processes (the CLI passes
    ``<workspace>/cache``); ``verb`` is the command the suggestion starts with.
    """
    if bank is None:
        from skillrun.api import load_bank

        bank = load_bank()
    idx = index_for(bank, cache_dir)
    mods = modifiers.read(request, skills=set(bank.names))
    text = request.replace(mods.parent_job, " ") if mods.parent_job else request  # an id names a job, not what to do
    scored = [r for r in idx.score(text) if r.score > 0]
    candidates = [Candidate(skill=r.key[0], action=r.key[1], score=round(r.score, 3), matched_words=r.words, matched_triggers=r.triggers) for r in scored[: max(top_k, 1)]]
    reason = None
    if not candidates:
        reason = "no word of the request occurs in any skill's name, description or trigger phrases"
    elif candidates[0].score < threshold:
        best = candidates[0]
        reason = f"the best match, {best.skill} {best.action}, scores {best.score:g}, below the threshold {threshold:g}: no skill fits this request"
    abstain = reason is not None
    suggestion = None
    if not abstain:
        top = candidates[0]
        suggestion = modifiers.suggest(idx.entries[(top.skill, top.action)], mods, verb)
    return RouteResult(request=request, abstain=abstain, reason=reason, threshold=threshold, candidates=candidates, modifiers=mods, suggestion=suggestion)
