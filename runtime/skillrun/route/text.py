"""Text → index terms: lower case, compound words split and joined, stop words dropped, Snowball stems.

Requests spell the same thing many ways (``RT-DETR``, ``rtdetr``, ``rt detr``;
``fine-tune``, ``finetune``; ``model_epoch_009``), so a compound word yields its
parts *and* the parts joined. Pure numbers carry no routing signal and are
dropped (GPU counts and epochs are read by :mod:`skillrun.route.modifiers`).
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

_WORD = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")
_PART = re.compile(r"[-_.]")
_LETTERS_DIGITS = re.compile(r"^([a-z]{2,})\d+$")  # map50, resnet50: also index "map", "resnet"
_BRITISH = re.compile(r"(?<=[a-z]{3})is(e|ed|es|ing|ation|ations|er|ers)$")  # normalised -> normalized

#: Snowball's English stop-word list, plus words that appear in any request to
#: any tool ("please", "want", "run", "use") and so say nothing about which skill.
STOP_WORDS = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself
    it its itself they them their theirs themselves what which who whom this that these those am is are was were be
    been being have has had having do does did doing would should could ought a an the and but if or because as
    until while of at by for with about against between into through during before after above below to from up
    down in out on off over under again further then once here there when where why how all any both each few more
    most other some such no nor not only own same so than too very can will just don shall may might must also
    im ive ill youre its whats thats theres lets dont doesnt didnt cant wont isnt arent wasnt
    please pls thanks thank hi hello hey want wants wanted need needs like would could help me us ok okay
    use using used make makes run runs running get gets got let lets give go going try tell show see know
    something anything thing things way new now just really bit lot lots one two three without within via many much per
    """.split()
)


class Token(NamedTuple):
    """One index term, the word of the original text it came from, and that word's position."""

    term: str
    word: str
    pos: int


@functools.lru_cache(maxsize=1)
def _stemmer() -> object:
    from snowballstemmer import stemmer

    return stemmer("english")


@functools.lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """The Snowball stem of one lower-case word, British -ise spellings as -ize (cached: requests repeat words)."""
    return _stemmer().stemWord(_BRITISH.sub(r"iz\1", word))  # type: ignore[attr-defined, no-any-return]


def _keep(word: str) -> bool:
    return len(word) > 1 and not word.isdigit() and word not in STOP_WORDS


def _pieces(word: str) -> list[str]:
    parts = [p for p in _PART.split(word) if p]
    pieces = parts if len(parts) == 1 else [*parts, "".join(parts)]
    prefixes = [m.group(1) for p in parts if (m := _LETTERS_DIGITS.match(p))]
    return pieces + prefixes


def tokens(text: str) -> list[Token]:
    """Index terms of ``text`` in order, each with the word it came from and that word's position."""
    out: list[Token] = []
    pos = 0
    for match in _WORD.finditer(text.lower().replace("'", "")):
        word = match.group(0).strip(".")
        kept = [Token(stem(piece), word, pos) for piece in _pieces(word) if _keep(piece)]
        if kept:
            out += kept
            pos += 1
    return out


def from_marks(text: str) -> frozenset[int]:
    """Positions (as :func:`tokens` counts words) that a "from" stands just before.

    "YOLO labels from COCO" names its source last; the router reads a
    direction through these marks (see :class:`skillrun.route.index.Trigger`).
    """
    marks: set[int] = set()
    pos = 0
    for match in _WORD.finditer(text.lower().replace("'", "")):
        word = match.group(0).strip(".")
        if word == "from":
            marks.add(pos)
        elif any(_keep(piece) for piece in _pieces(word)):
            pos += 1
    return frozenset(marks)


def word_forms(text: str) -> list[tuple[frozenset[str], ...]]:
    """Each stop-free word of ``text`` as the term sets that stand for it, any one of which is enough.

    ``RT-DETR`` is ``{rtdetr}`` or ``{rt, detr}`` (both parts, not one of them), so a
    trigger naming ``bounding_box_annotations`` is not matched by "annotations" alone.
    """
    out = []
    for match in _WORD.finditer(text.lower().replace("'", "")):
        word = match.group(0).strip(".")
        parts = [p for p in _PART.split(word) if p]
        forms = [frozenset(stem(p) for p in parts if _keep(p))]
        if len(parts) > 1 and _keep("".join(parts)):
            forms.insert(0, frozenset([stem("".join(parts))]))
        forms += [frozenset([stem(m.group(1))]) for p in parts if (m := _LETTERS_DIGITS.match(p)) and _keep(m.group(1))]
        forms = [f for f in forms if f]
        if forms:
            out.append(tuple(forms))
    return out


def terms(text: str) -> list[str]:
    """Index terms of ``text`` (with repeats, in order)."""
    return [t.term for t in tokens(text)]
