"""The routing index: BM25 over skills and over actions, plus trigger-phrase matches.

A request is scored against two corpora and the scores are added, so that a
word which picks the skill (``yolo``, ``rt-detr``) and a word which picks the
action (``export``, ``int8``) both count, each with the idf of its own level
(Lucene's idf: see :func:`impacts`):

- one document per **skill**: its name, SKILL.md ``description``, every trigger
  phrase and every action's name and description;
- one document per **(skill, action)**: the action's name and description and
  the triggers tied to it. A guidance-only skill with no actions (TAO's
  SKILL.md-only skills) has one key, ``(skill, None)``, with an empty action
  document: its words count once, at the skill level, as everyone's do there.

A word counts once however it is spelled: a compound (``fine-tune``,
``RT-DETR``) scores its better reading, the parts or the parts joined, not both.

Trigger phrases of ``skill_info.yaml`` and the action names themselves add a
bonus per word found in the request (:mod:`skillrun.route.triggers`). A skill's
exact name in the request (``tao-launch-workflow``, ``rtdetr``) puts that skill
first.

Skills are ranked by their evidence with the action text at
:data:`ACTION_SHARE` (banks describe actions very unequally), then each skill's
actions by their whole score; equal scores keep the order of ``skill_info.yaml``,
so a request that names only a skill goes to its first action (``train`` for a
model).

:meth:`RouteIndex.unknown` tells when a request is about a model or thing the
bank does not know (``train a PointPillars detector`` with no PointPillars skill).

Everything is derived from the skill folders; nothing is downloaded.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple

from skillrun.contracts.route import Unknown
from skillrun.contracts.skill import param_name
from skillrun.route.text import Token, doc_text, from_marks, name_shaped, object_phrases, terms, tokens, word_forms
from skillrun.route.bm25 import B, EPSILON, K1, impacts  # noqa: F401 - K1, B, EPSILON re-exported
from skillrun.route.triggers import Trigger


if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank

#: How much the action-level text counts when skills are compared (it counts whole between one skill's actions).
#: Banks describe actions very unequally: skillrun's skills in sentences, TAO's adapter as one-line stubs
#: ("train (rtdetr train -e {config_path})"), guidance-only skills not at all; at full weight the skill whose
#: actions have the longest descriptions wins requests that its skill text matches no better than another's.
ACTION_SHARE = 0.25
#: Which idf the index uses (see :func:`impacts`).
IDF = "lucene"
#: Bonus per word of a trigger phrase found whole in the request.
TRIGGER_WEIGHT = 1.0
#: How many times the action's own name counts in its document (it is the strongest cue).
NAME_REPEAT = 2
#: Bonus of a skill whose exact name the request says ("use the tao-launch-workflow skill"): above any threshold.
NAME_WEIGHT = 10.0
#: Bonus per idf unit for a word of the request that is a distinctive word of a skill's name ("sparse4d" in
#: tao-train-sparse4d): names are what banks keep unique, descriptions repeat each other's words
NAME_WORD_WEIGHT = 1.0
#: A name word that more skills than this use (in their name or text) says nothing about which one (tao, train, dataset)
NAME_WORD_MAX_SKILLS = 2
#: Verbs whose object is the model to train, in any bank (the bank adds the single-word actions of its model skills).
TRAIN_VERBS = frozenset({"train", "retrain", "fine-tune", "finetune"})
#: Heads that say "a model" without saying which ("train a segmentation model": the word that counts is "segmentation").
GENERIC_HEADS = frozenset({"model", "models", "network", "networks", "net", "checkpoint", "checkpoints", "weights"})


class Scored(NamedTuple):
    """One (skill, action) scored for a request, with the evidence; action None for a guidance-only skill with no actions.

    ``score`` is the key's whole evidence (skill text, action text, trigger phrases,
    the skill's name): it orders a skill's actions and is what the threshold is
    compared with. ``rank`` is the skill's: the best over its keys of the same
    evidence with the action text counted at :data:`ACTION_SHARE`; it orders skills.
    """

    score: float
    key: tuple[str, str | None]
    words: list[str]
    triggers: list[str]
    rank: float = 0.0


@dataclass(frozen=True)
class ActionEntry:
    """What the router and the modifiers need to know about one action, without the bank.

    ``action`` is None for a guidance-only skill with no actions; ``guidance`` is true
    for every action of a guidance-only skill (described, never planned or run).
    """

    skill: str
    action: str | None
    processes_key: str | None = None
    nodes_key: str | None = None
    shorthand: dict[str, str] = field(default_factory=dict)
    takes_parent: bool = False
    automl: bool = False
    guidance: bool = False


class RouteIndex:
    """Scores a request against every (skill, action) of a bank.

    BM25 is additive over the request's terms, so the index keeps each term's
    score per document (an impact table, computed once, stored sparse: term ->
    {document: score}) and a request is scored by lookups; the table caches to
    JSON (:meth:`to_json`).
    """

    VERSION = 6  #: bump when tokenising or scoring changes, so cached indexes are rebuilt

    def __init__(
        self,
        skills: list[str],
        keys: list[tuple[str, str | None]],
        skill_impacts: dict[str, dict[int, float]],
        action_impacts: dict[str, dict[int, float]],
        triggers: Iterable[Trigger],
        entries: Iterable[ActionEntry],
        models: Iterable[str] = (),
        verbs: Iterable[str] = (),
    ) -> None:
        self.skills = skills
        self.keys = keys
        self.skill_impacts = skill_impacts
        self.action_impacts = action_impacts
        self.triggers = list(triggers)
        self.entries = {(e.skill, e.action): e for e in entries}
        self.models = frozenset(models)  #: terms that name a model of the bank (a model skill's network_arch and one-word triggers)
        self.verbs = frozenset(verbs)  #: words whose object is a model: TRAIN_VERBS and the model skills' one-word actions
        pos = {name: i for i, name in enumerate(skills)}
        self._skill_of = [pos[k[0]] for k in keys]
        self._keys_of: dict[int, list[int]] = {}
        for i, j in enumerate(self._skill_of):
            self._keys_of.setdefault(j, []).append(i)
        n_skills = len(skills)
        self._idf = {t: math.log(1 + (n_skills - len(row) + 0.5) / (len(row) + 0.5)) for t, row in skill_impacts.items()}
        self._max_idf = math.log(1 + (n_skills - 0.5) / 1.5) if n_skills else 0.0
        self._names = [(re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.I), j) for j, name in enumerate(skills)]
        # a name word counts when few skills use it anywhere (not only in their names): "sparse4d", not "dataset"
        self._name_words = [
            {t: self._idf[t] for t in terms(name.replace("-", " ")) if t in skill_impacts and len(skill_impacts[t]) <= min(NAME_WORD_MAX_SKILLS, n_skills / 8)}
            for name in skills
        ]  # in a bank of a few skills no word is rare enough: there, names already weigh through the skill text

    @classmethod
    def from_bank(cls, bank: SkillBank) -> RouteIndex:
        """Build the index from the skills' names, descriptions and triggers."""
        skill_docs: dict[str, list[str]] = {}
        action_docs: dict[tuple[str, str | None], list[str]] = {}
        triggers: list[Trigger] = []
        entries: list[ActionEntry] = []
        models: set[str] = set()
        verbs: set[str] = set(TRAIN_VERBS)
        for skill in bank:
            info = skill.info
            skill_text = [skill.name, doc_text(skill.description), *(t.phrase for t in info.triggers)]
            for name, act in info.actions.items():
                about = _about(act.description)
                skill_text += [name, about]
                own = [t.phrase for t in info.triggers if t.action == name]
                keys = " ".join(act.spec_shorthand_keys)  # the parameters people name: epochs, batch_size, gpus, ...
                action_docs[(skill.name, name)] = terms(" ".join([name.replace("-", " ")] * NAME_REPEAT + [about, keys, *own]))
                entries.append(_entry(skill, name))
            skill_docs[skill.name] = terms(" ".join(skill_text))
            if not info.actions:
                # guidance only: one key with no action, and no action-level text (an empty document), so its
                # words count once, as they do for a skill with actions; the skill's text would count them twice
                action_docs[(skill.name, None)] = []
                entries.append(ActionEntry(skill=skill.name, action=None, guidance=True))
            triggers += [Trigger(skill.name, t.action, t.phrase, tuple(word_forms(t.phrase))) for t in info.triggers]
            # the action's name is a phrase too: the strongest cue, and "coco-to-yolo" says which way a conversion goes
            triggers += [Trigger(skill.name, name, name, tuple(word_forms(name.replace("-", " ")))) for name in info.actions]
            if info.kind.value == "model":
                models.update(terms(info.network_arch or ""))
                models.update(t for p in info.triggers if p.action is None and len(p.phrase.split()) == 1 for t in terms(p.phrase))
                verbs.update(a for a in info.actions if a.isalpha())
        if not skill_docs:
            return cls([], [], {}, {}, [], [])
        skill_table = impacts(list(skill_docs.values()), idf=IDF)
        action_table = impacts(list(action_docs.values()), idf=IDF)
        return cls(list(skill_docs), list(action_docs), _sparse(skill_table), _sparse(action_table), triggers, entries, models, verbs)

    # -- JSON cache -----------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.VERSION,
            "skills": self.skills,
            "keys": [list(k) for k in self.keys],
            "skill_impacts": {t: [list(p) for p in row.items()] for t, row in self.skill_impacts.items()},
            "action_impacts": {t: [list(p) for p in row.items()] for t, row in self.action_impacts.items()},
            "triggers": [[t.skill, t.action, t.phrase, [[sorted(f) for f in w] for w in t.words]] for t in self.triggers],
            "entries": [asdict(e) for e in self.entries.values()],
            "models": sorted(self.models),
            "verbs": sorted(self.verbs),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RouteIndex:
        """The index :meth:`to_json` wrote; ValueError when it was written by another version."""
        if data.get("version") != cls.VERSION:
            msg = f"route index version {data.get('version')!r}, expected {cls.VERSION}"
            raise ValueError(msg)
        triggers = [Trigger(s, a, p, tuple(tuple(frozenset(f) for f in w) for w in words)) for s, a, p, words in data["triggers"]]
        entries = [ActionEntry(**e) for e in data["entries"]]
        sk = {t: {int(i): v for i, v in row} for t, row in data["skill_impacts"].items()}
        ac = {t: {int(i): v for i, v in row} for t, row in data["action_impacts"].items()}
        return cls(data["skills"], [tuple(k) for k in data["keys"]], sk, ac, triggers, entries, data["models"], data["verbs"])  # type: ignore[misc]

    # -- scoring --------------------------------------------------------
    def named(self, request: str) -> set[int]:
        """Skills (by position) whose exact name the request says, as a word of its own ("the rtdetr skill", not rtdetr-train-3fa2c1)."""
        return {j for rx, j in self._names if rx.search(request)}

    def score(self, request: str) -> list[Scored]:
        """Every (skill, action) with its score, matched words and matched triggers, best first."""
        toks = tokens(request)
        named = self.named(request)
        if (not toks and not named) or not self.keys:
            return []
        qwords, marks = _words(toks), from_marks(request)
        query_terms = {t.term for t in toks}
        # an action's own name is the strongest cue, whole; the words of other phrases count by how specific they are
        found = [(t, got) for t in self.triggers if (got := t.match(qwords, marks, None if t.phrase == t.action else self._specificity))]
        n = len(self.keys)
        sk_total = [0.0] * n
        ac_total = [0.0] * n
        hits: list[list[str]] = [[] for _ in range(n)]
        for word, readings in _readings(toks):
            best_s = [0.0] * n
            best_a = [0.0] * n
            for reading in readings:
                srow = [0.0] * n
                arow = [0.0] * n
                for term in reading:
                    for j, v in self.skill_impacts.get(term, {}).items():
                        for i in self._keys_of[j]:
                            srow[i] += v
                    for i, v in self.action_impacts.get(term, {}).items():
                        arow[i] += v
                for i in range(n):
                    if srow[i] + arow[i] > best_s[i] + best_a[i]:
                        best_s[i], best_a[i] = srow[i], arow[i]
            for i in range(n):
                if best_s[i] + best_a[i] > 0:
                    sk_total[i] += best_s[i]
                    ac_total[i] += best_a[i]
                    hits[i].append(word)
        out = []
        for i, (skill, action) in enumerate(self.keys):
            mine = [(t, got) for t, got in found if t.skill == skill and t.action in (None, action)]
            score = sk_total[i] + ac_total[i] + sum(got for _, got in mine) * TRIGGER_WEIGHT
            said = [skill] if self._skill_of[i] in named else []
            if said:
                score += NAME_WEIGHT
            score += NAME_WORD_WEIGHT * sum(w for t, w in self._name_words[self._skill_of[i]].items() if t in query_terms)
            rank = score - (1 - ACTION_SHARE) * ac_total[i]
            out.append(Scored(score, (skill, action), hits[i], list(dict.fromkeys(said + [t.phrase for t, _ in mine])), rank))
        # skills by their best key's rank (a named skill first), then each skill's actions by score
        best: dict[str, float] = {}
        for r in out:
            best[r.key[0]] = max(best.get(r.key[0], r.rank), r.rank)
        skill_pos = {name: j for j, name in enumerate(self.skills)}
        order = {k: n for n, k in enumerate(self.keys)}
        first = {self.skills[j] for j in named}
        out = [r._replace(rank=best[r.key[0]]) for r in out]
        out.sort(key=lambda r: (r.key[0] not in first, -round(r.rank, 9), skill_pos[r.key[0]], -round(r.score, 9), order[r.key]))
        return out

    def _specificity(self, word: tuple[frozenset[str], ...]) -> float:
        """How specific one word of a trigger phrase is, in (0, 1]: its idf over the skills, over the largest idf."""
        best = 0.0
        for form in word:
            vals = [self._idf.get(t, self._max_idf) for t in form]
            best = max(best, sum(vals) / len(vals))
        return best / self._max_idf if self._max_idf else 1.0

    def known(self, word: str) -> bool:
        """Whether the bank's texts (names, descriptions, triggers, actions) use ``word``: all of its parts, or the parts joined.

        ``ResNet-18`` is known when "resnet" is; ``vit-base-patch16`` is not known because "base" is.
        """
        readings: dict[int, list[str]] = {}
        for tok in tokens(word):
            readings.setdefault(tok.reading, []).append(tok.term)
        return any(all(t in self.skill_impacts for t in terms_) for terms_ in readings.values())

    def unknown(self, request: str) -> Unknown | None:
        """What ``request`` asks about that no skill of the bank knows, or None.

        A request names such a thing when the words an action word acts on (see
        :func:`~skillrun.route.text.object_phrases`: "train **a PointPillars LiDAR
        detector**", "fine-tune **cosmos reason** on my videos") hold

        - a word shaped like a model name (:func:`~skillrun.route.text.name_shaped`:
          PointPillars, YOLOv8, gpt-2) that occurs nowhere in the bank's texts, or
        - after a training verb, only words the bank's texts never use (generic heads
          such as "model" aside: "train a segmentation model" is about segmentation),

        and the request names no model the bank has (a model skill's ``network_arch``
        or one-word trigger, ``rtdetr``): "RT-DETR with a ConvNeXt backbone" is about RT-DETR. Nothing here is
        a list of models: "known" is the bank's own vocabulary, so the same request
        routes once a skill for it is loaded.
        """
        if self.named(request) or not self.keys:
            return None
        if any(t.term in self.models for t in tokens(request)):
            return None
        for phrase in object_phrases(request, self.verbs):
            content = [w for w in phrase.words if w.lower() not in GENERIC_HEADS and terms(w)]
            names = [w for w in content if name_shaped(w) and not self.known(w)]
            if names:
                return Unknown(words=names, after=phrase.verb or None)
            if phrase.verb in TRAIN_VERBS and content and not any(self.known(w) for w in content):
                return Unknown(words=content, after=phrase.verb)
        return None


def _about(description: str, limit: int = 80) -> str:
    """An action's description as routing text: its first line, at most ``limit`` words, exclusions left out.

    A description is a sentence or three; one that goes on to a script (an adapter that
    writes the command into it: ``inference (python - {config_path} <<'PY' ...``) would
    only make the skill's text long, and BM25 weighs a long text's words down.
    """
    first = description.strip().split("\n", 1)[0]
    return " ".join(doc_text(first).split()[:limit])


def _sparse(table: dict[str, list[float]]) -> dict[str, dict[int, float]]:
    return {t: {i: v for i, v in enumerate(row) if v} for t, row in table.items()}


def _readings(toks: list[Token]) -> list[tuple[str, list[list[str]]]]:
    """Each word of the request (in order, once) with its readings, each a list of terms."""
    out: dict[int, tuple[str, dict[int, list[str]]]] = {}
    for tok in toks:
        word, readings = out.setdefault(tok.pos, (tok.word, {}))
        readings.setdefault(tok.reading, []).append(tok.term)
    return [(word, list(readings.values())) for word, readings in out.values()]


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
        guidance=bool(skill.info.instructions_only),
    )
