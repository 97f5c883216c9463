"""Trigger phrases of ``skill_info.yaml`` (and the action names) matched against a request, word by word.

A phrase found whole scores its words (twice when they come in the request's
order); one mostly there scores a share. A phrase with to/into/from names a
direction and counts only that way round ("YOLO labels from COCO" is
coco-to-yolo, "YOLO to COCO" is its inverse). The index passes each word's
specificity as its weight, so a generic word ("images") counts less than a
telling one ("grayscale").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

_DIRECTION = re.compile(r"(^|[\s-])(to|into|from)([\s-]|$)", re.I)
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

    def match(self, query: list[frozenset[str]], marks: frozenset[int] = frozenset(), weight: Callable[[tuple[frozenset[str], ...]], float] | None = None) -> float:
        """How much of the phrase the request holds, per word: in order counts double.

        ``query`` is the request's words in order, each as its set of terms;
        ``marks`` where it says "from" (:func:`~skillrun.route.text.from_marks`);
        ``weight`` how much one word of the phrase counts (1 each when None; the
        index passes the word's specificity, so "images" counts less than "grayscale").
        A phrase found whole scores its words' weight (twice that when its two or
        more words come in the same order); one mostly there (two words at least,
        half of them) scores a share; else 0. A directed phrase whose words come
        the other way round counts nothing: "YOLO to COCO" is the inverse of "COCO
        to YOLO", and "YOLO labels from COCO" is the same as the latter.
        """
        if not self.words:
            return 0.0
        terms = frozenset().union(*query) if query else frozenset()
        found = [w for w in self.words if _has(w, terms)]
        hit = len(found)
        if self.directed and hit >= 2 and not _same_direction(found, query, marks, "from" in self.phrase.lower().split()):
            return 0.0
        w = weight or (lambda _: 1.0)
        got = sum(w(x) for x in found)
        if hit == len(self.words):
            return got * (ORDER_FACTOR if hit > 1 and _in_order(self.words, query) else 1.0)
        if hit >= 2 and hit * 2 >= len(self.words):
            return got * got / sum(w(x) for x in self.words) / 2
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


