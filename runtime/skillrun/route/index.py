"""The routing index: Okapi BM25 over skills and over actions, plus trigger-phrase matches.

A request is scored against two corpora and the scores are added, so that a
word which picks the skill (``yolo``, ``rt-detr``) and a word which picks the
action (``export``, ``int8``) both count, each with the IDF of its own level:

- one document per **skill**: its name, SKILL.md ``description``, every trigger
  phrase and every action's name and description;
- one document per **(skill, action)**: the action's name and description and
  the triggers tied to it.

Trigger phrases of ``skill_info.yaml`` and the action names themselves add a
bonus per word found in the request, doubled when the words come in the
phrase's order; a phrase with to/into/from names a direction and counts only
that way round ("YOLO labels from COCO" is coco-to-yolo). Equal scores keep the
order of ``skill_info.yaml``, so a request that names only a skill goes to its
first action (``train`` for a model).

Everything is derived from the skill folders; nothing is downloaded.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple

from skillrun.route.text import Token, from_marks, terms, tokens, word_forms
from skillrun.contracts.skill import param_name

_DIRECTION = re.compile(r"(^|[\s-])(to|into|from)([\s-]|$)", re.I)

if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank

#: BM25 parameters: k1 saturates repeated words early (short documents), b normalises length.
K1 = 1.2
B = 0.75
#: Floor of a negative idf, as a share of the mean idf (rank_bm25's default is 0.25).
EPSILON = 0.5
#: Bonus per word of a trigger phrase found whole in the request.
TRIGGER_WEIGHT = 1.0
#: How many times the action's own name counts in its document (it is the strongest cue).
NAME_REPEAT = 2
#: A whole trigger phrase whose words come in the request's order counts this many times.
ORDER_FACTOR = 2.0


@dataclass(frozen=True)
class Trigger:
    """A trigger phrase: per word, the term sets that stand for it (see :func:`~skillrun.route.text.word_forms`)."""

    skill: str
    action: str | None
    phrase: str
    words: tuple[tuple[frozenset[str], ...], ...]

    @property
    def directed(self) -> bool:
        """A phrase with to/into/from ("COCO to YOLO") names a direction: its words count only that way round."""
        return bool(_DIRECTION.search(self.phrase))

    def match(self, query: list[frozenset[str]], marks: frozenset[int] = frozenset()) -> float:
        """How much of the phrase the request holds, per word: in order counts double.

        ``query`` is the request's words in order, each as its set of terms;
        ``marks`` where it says "from" (:func:`~skillrun.route.text.from_marks`). A
        phrase found whole scores its word count (twice that when its two or more
        words come in the same order); one mostly there (two words at least, half
        of them) scores a share; else 0. A directed phrase whose words come the
        other way round counts nothing: "YOLO to COCO" is the inverse of "COCO to
        YOLO", and "YOLO labels from COCO" is the same as the latter.
        """
        if not self.words:
            return 0.0
        terms = frozenset().union(*query) if query else frozenset()
        found = [w for w in self.words if _has(w, terms)]
        hit = len(found)
        if self.directed and hit >= 2 and not _same_direction(found, query, marks, "from" in self.phrase.lower().split()):
            return 0.0
        if hit == len(self.words):
            return float(hit) * (ORDER_FACTOR if hit > 1 and _in_order(self.words, query) else 1.0)
        if hit >= 2 and hit * 2 >= len(self.words):
            return hit * hit / len(self.words) / 2
        return 0.0


def _same_direction(found: list[tuple[frozenset[str], ...]], query: list[frozenset[str]], marks: frozenset[int], phrase_from: bool) -> bool:
    """Whether the request names source and target the way the phrase does, reading "from" as a reversal."""
    pos = [next(i for i, q in enumerate(query) if _has(w, q)) if any(_has(w, q) for q in query) else -1 for w in found]
    if -1 in pos:  # a word matched only across several request words (rt + detr): no order to read
        return True
    forward = pos == sorted(pos)
    query_from = any(min(pos) < m <= max(pos) for m in marks)
    return forward ^ query_from ^ phrase_from


def _has(forms: tuple[frozenset[str], ...], terms: frozenset[str]) -> bool:
    return any(f <= terms for f in forms)


def _in_order(phrase: tuple[tuple[frozenset[str], ...], ...] | list[tuple[frozenset[str], ...]], query: list[frozenset[str]]) -> bool:
    """Whether the phrase's words occur in the request as a subsequence."""
    i = 0
    for word in query:
        if i < len(phrase) and _has(phrase[i], word):
            i += 1
    return i == len(phrase)


class Scored(NamedTuple):
    """One (skill, action) scored for a request, with the evidence."""

    score: float
    key: tuple[str, str]
    words: list[str]
    triggers: list[str]


@dataclass(frozen=True)
class ActionEntry:
    """What the router and the modifiers need to know about one action, without the bank."""

    skill: str
    action: str
    processes_key: str | None = None
    nodes_key: str | None = None
    shorthand: dict[str, str] = field(default_factory=dict)
    takes_parent: bool = False
    automl: bool = False


def impacts(docs: list[list[str]], *, k1: float = K1, b: float = B, epsilon: float = EPSILON) -> dict[str, list[float]]:
    """term -> its Okapi BM25 score in each document; a request scores the sum over its terms.

    The ATIRE variant of rank_bm25's ``BM25Okapi``, term for term: idf is
    ``log((N - n + 0.5) / (n + 0.5))``, floored at ``epsilon`` x the mean idf for
    words in more than half the documents. Written out here rather than imported
    because rank_bm25 needs numpy, which the control plane does not load; a test
    checks the numbers against rank_bm25.
    """
    n_docs = len(docs)
    avgdl = sum(len(d) for d in docs) / n_docs
    freqs = [Counter(d) for d in docs]
    df = Counter(t for f in freqs for t in f)
    idf = {t: math.log(n_docs - n + 0.5) - math.log(n + 0.5) for t, n in df.items()}
    floor = epsilon * sum(idf.values()) / len(idf)
    idf = {t: (v if v >= 0 else floor) for t, v in idf.items()}
    norm = [k1 * (1 - b + b * len(d) / avgdl) for d in docs]
    return {t: [round(idf[t] * f[t] * (k1 + 1) / (f[t] + norm[i]), 6) if t in f else 0.0 for i, f in enumerate(freqs)] for t in sorted(df)}


class RouteIndex:
    """Scores a request against every (skill, action) of a bank.

    BM25 is additive over the request's terms, so the index keeps each term's
    score per document (an impact table, computed once) and a request is scored
    by lookups; the table caches to JSON (:meth:`to_json`).
    """

    VERSION = 4  #: bump when tokenising or scoring changes, so cached indexes are rebuilt

    def __init__(self, skills: list[str], keys: list[tuple[str, str]], skill_impacts: dict[str, list[float]], action_impacts: dict[str, list[float]], triggers: Iterable[Trigger], entries: Iterable[ActionEntry]) -> None:
        self.skills = skills
        self.keys = keys
        self.skill_impacts = skill_impacts
        self.action_impacts = action_impacts
        self.triggers = list(triggers)
        self.entries = {(e.skill, e.action): e for e in entries}

    @classmethod
    def from_bank(cls, bank: SkillBank) -> RouteIndex:
        """Build the index from the skills' names, descriptions and triggers."""
        skill_docs: dict[str, list[str]] = {}
        action_docs: dict[tuple[str, str], list[str]] = {}
        triggers: list[Trigger] = []
        entries: list[ActionEntry] = []
        for skill in bank:
            info = skill.info
            skill_text = [skill.name.replace("-", " "), skill.description, *(t.phrase for t in info.triggers)]
            for name, act in info.actions.items():
                skill_text += [name, act.description]
                own = [t.phrase for t in info.triggers if t.action == name]
                keys = " ".join(act.spec_shorthand_keys)  # the parameters people name: epochs, batch_size, gpus, ...
                action_docs[(skill.name, name)] = terms(" ".join([name.replace("-", " ")] * NAME_REPEAT + [act.description, keys, *own]))
                entries.append(_entry(skill, name))
            skill_docs[skill.name] = terms(" ".join(skill_text))
            triggers += [Trigger(skill.name, t.action, t.phrase, tuple(word_forms(t.phrase))) for t in info.triggers]
            # the action's name is a phrase too: the strongest cue, and "coco-to-yolo" says which way a conversion goes
            triggers += [Trigger(skill.name, name, name, tuple(word_forms(name.replace("-", " ")))) for name in info.actions]
        if not skill_docs:
            return cls([], [], {}, {}, [], [])
        return cls(list(skill_docs), list(action_docs), impacts(list(skill_docs.values())), impacts(list(action_docs.values())), triggers, entries)

    # -- JSON cache -----------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.VERSION,
            "skills": self.skills,
            "keys": [list(k) for k in self.keys],
            "skill_impacts": self.skill_impacts,
            "action_impacts": self.action_impacts,
            "triggers": [[t.skill, t.action, t.phrase, [[sorted(f) for f in w] for w in t.words]] for t in self.triggers],
            "entries": [asdict(e) for e in self.entries.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RouteIndex:
        """The index :meth:`to_json` wrote; ValueError when it was written by another version."""
        if data.get("version") != cls.VERSION:
            msg = f"route index version {data.get('version')!r}, expected {cls.VERSION}"
            raise ValueError(msg)
        triggers = [Trigger(s, a, p, tuple(tuple(frozenset(f) for f in w) for w in words)) for s, a, p, words in data["triggers"]]
        entries = [ActionEntry(**e) for e in data["entries"]]
        return cls(data["skills"], [tuple(k) for k in data["keys"]], data["skill_impacts"], data["action_impacts"], triggers, entries)  # type: ignore[misc]

    # -- scoring --------------------------------------------------------
    def score(self, request: str) -> list[Scored]:
        """Every (skill, action) with its score, matched words and matched triggers, best first."""
        toks = tokens(request)
        if not toks or not self.keys:
            return []
        qwords, marks = _words(toks), from_marks(request)
        found = [(t, got) for t in self.triggers if (got := t.match(qwords, marks))]
        skill_pos = {name: i for i, name in enumerate(self.skills)}
        out = []
        for i, (skill, action) in enumerate(self.keys):
            j = skill_pos[skill]
            total, words = 0.0, {}
            for tok in toks:
                got = (self.skill_impacts[tok.term][j] if tok.term in self.skill_impacts else 0.0) + (self.action_impacts[tok.term][i] if tok.term in self.action_impacts else 0.0)
                total += got
                if got > 0:
                    words.setdefault(tok.word, None)
            mine = [(t, got) for t, got in found if t.skill == skill and t.action in (None, action)]
            total += sum(got for _, got in mine) * TRIGGER_WEIGHT
            out.append(Scored(total, (skill, action), list(words), [t.phrase for t, _ in mine]))
        order = {k: n for n, k in enumerate(self.keys)}
        out.sort(key=lambda r: (-round(r.score, 9), order[r.key]))
        return out


def _words(toks: list[Token]) -> list[frozenset[str]]:
    """The request's words in order, each as the set of its terms."""
    out: dict[int, set[str]] = {}
    for tok in toks:
        out.setdefault(tok.pos, set()).add(tok.term)
    return [frozenset(v) for v in out.values()]


def _entry(skill: Any, action: str) -> ActionEntry:
    act = skill.info.actions[action]
    takes_parent = any(param_name(r) in ("parent_model", "parent_model_folder", "parent_model_or_ptm") for r in act.spec_params.values())
    return ActionEntry(
        skill=skill.name,
        action=action,
        processes_key=act.resources.processes,
        nodes_key=act.resources.nodes,
        shorthand=dict(act.spec_shorthand_keys),
        takes_parent=takes_parent,
        automl=bool(skill.info.automl_enabled) and action == "train",
    )
