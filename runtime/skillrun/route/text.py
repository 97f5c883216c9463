"""Text → index terms: lower case, compound words split and joined, stop words dropped, Snowball stems.

Requests spell the same thing many ways (``RT-DETR``, ``rtdetr``, ``rt detr``;
``fine-tune``, ``finetune``; ``model_epoch_009``), so a compound word yields its
parts *and* the parts joined, as two readings of one word (the scorer counts
the better reading, so a compound weighs what one word weighs). Pure numbers
carry no routing signal and are dropped (GPU counts and epochs are read by
:mod:`skillrun.route.modifiers`).

Words that name an *input* rather than the action read as terms of their own,
in requests and in skill texts alike, so an action's verb is not read into them:

- a participle after a determiner: "the **trained** model", "my **exported**
  engine" describe the model (``=trained``); they do not ask to train or export;
- a split name before a data noun or inside a file name: "the **validation**
  annotations", "the **training** set", "instances_**train**.json" name data
  (``=val-split``, ``=train-split``), not the validate or train action ("run
  validation on my data" still reads "validation");
- a life-cycle noun after for/before/after: "ready **for training**", "INT8 **for
  faster inference**", "check the data **before training**" name a goal or a
  moment (``=for-train``), not the action asked for;

and file-system paths and URLs (``/data/frames``, ``s3://bucket/coco``) are
left out: a place, not an intent.

:func:`request_text` reads the user's own words out of a request: the quoted
request of a prompt that wraps one (``A user request: "..." Identify which
skill applies ...``), without the negated instructions that follow it ("Do not
run any commands ...") or what a negation takes back ("no HPO");
:func:`doc_text` drops a skill text's exclusions ("Do not use for non-DAFT
data"). :func:`object_phrases` finds what an action word acts on, for
:meth:`skillrun.route.index.RouteIndex.unknown`.
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
) | frozenset(
    # what an agent is asked to do *with* a skill, not which skill: "identify which skill applies, reading
    # only its documentation, outline the steps it prescribes". Any skill's request can say these.
    """
    skill skills documentation documented docs identify identifies applicable applies outline outlines prescribe
    prescribes prescribed describe describes explain explains plan plans planning user users request requests
    ask asks asked say says said
    """.split()
)

#: words before a participle that make it an adjective of the next word ("the trained model")
DETERMINERS = frozenset("a an the my our your their his her its this that these those some any each every".split())
#: the nouns after which a split name names data rather than an action ("validation annotations")
DATA_NOUNS = frozenset(
    "set sets split splits data dataset datasets subset subsets partition annotation annotations label labels "
    "image images folder folders dir directory json file files sources source list".split()
)
_PATHLIKE = re.compile(r"""^["'(\[<`]*(?:~?/|\.{1,2}/|[a-z][a-z0-9+.-]*://)""", re.I)
_WRAPPED = re.compile(r"""^\s*(?:an?|the)\s+user\s+(?:request|says|said|asks|asked|writes|wrote)\s*:\s*["“](?P<q>.+?)["”](?=\s+[A-Z]|\s*$)""", re.I | re.S)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
_NEGATED = re.compile(r"^(?:do\s+not|don['’]?t|never|not\s+for|please\s+do\s+not|please\s+don['’]?t)\b", re.I)
#: a request's words and the marks that end a phrase
_SCAN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'_.\-]*|[,.;:!?()\[\]\"“”—–]")


class Token(NamedTuple):
    """One index term, the word of the original text it came from, that word's position, and which reading it is part of.

    A compound word has two readings, its parts (``rt`` + ``detr``) and the parts
    joined (``rtdetr``), and ``resnet50`` also reads as ``resnet``: ``reading`` tells
    them apart so that a word counts once (the better reading) however it is spelled.
    """

    term: str
    word: str
    pos: int
    reading: int = 0


@functools.lru_cache(maxsize=1)
def _stemmer() -> object:
    from snowballstemmer import stemmer

    return stemmer("english")


@functools.lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """The Snowball stem of one lower-case word, British -ise spellings as -ize (cached: requests repeat words)."""
    return _stemmer().stemWord(_BRITISH.sub(r"iz\1", word))  # type: ignore[attr-defined, no-any-return]


def _term(piece: str) -> str:
    return piece if piece.startswith("=") else stem(piece)


def _keep(word: str) -> bool:
    return len(word) > 1 and not word.isdigit() and word not in STOP_WORDS


#: the second part of a compound that only qualifies the first: "PyTorch-based", "TAO-ready", "GPU-enabled"
SUFFIX_PARTS = frozenset("based like style free aware only ready driven enabled specific friendly compatible powered capable".split())


def _parts(word: str) -> list[str]:
    """The parts of a compound word; a split name inside a file or key name (``instances_train.json``) reads as the split."""
    parts = [p for p in _PART.split(word) if p]
    if len(parts) > 1 and parts[-1] in SUFFIX_PARTS:
        parts = parts[:-1]
    if len(parts) > 1 and ("_" in word or "." in word):
        parts = [_SPLIT_TERMS.get(p, p) for p in parts]
    return parts


def _readings(word: str) -> list[list[str]]:
    """The ways to read one word: its parts, the parts joined, and a letters+digits word's letters."""
    parts = _parts(word)
    out = [parts]
    if len(parts) > 1:
        out.append(["".join(p for p in _PART.split(word) if p)])
    prefixes = [m.group(1) for p in parts if (m := _LETTERS_DIGITS.match(p))]
    if prefixes:
        out.append([p if not _LETTERS_DIGITS.match(p) else _LETTERS_DIGITS.match(p).group(1) for p in parts])  # type: ignore[union-attr]
    return out


def _pieces(word: str) -> list[str]:
    parts = _parts(word)
    pieces = parts if len(parts) == 1 else [*parts, "".join(p for p in _PART.split(word) if p)]
    prefixes = [m.group(1) for p in parts if (m := _LETTERS_DIGITS.match(p))]
    return pieces + prefixes


#: a split name, by the term it reads as before a data noun ("val split", "validation set", "held-out annotations")
_SPLIT_TERMS = {w: "=train-split" for w in ("train", "training")} | {w: "=test-split" for w in ("test", "testing")} | {
    w: "=val-split" for w in ("val", "validation", "eval", "evaluation", "holdout", "held-out", "dev")
}


#: a negation and what it takes back, up to a mark or "but" (six words at most): "no HPO", "did not mention venv
#: execution", "without AutoML or DEFT loops", "Do not use for non-DAFT data". "not sure", "not only" are no negation.
_NEG_SCOPE = re.compile(
    r"\b(?:not|no|never|without|nor|cannot|(?:do|does|did|is|are|was|were|wo|ca|could|should|would|have|has|had)n['’]?t)\b"
    r"(?!\s+(?:sure|certain|only|just|matter|yet)\b)((?:\s+(?!but\b)[^\s,.;:!?()\[\]]+){1,6})",
    re.I,
)


def _negator(m: re.Match[str]) -> str:
    return m.group(0)[: m.start(1) - m.start(0)]


#: words that introduce a goal or a moment ("ready for training", "check it before training"), and what ends their reach
_PURPOSE = frozenset({"for", "before", "after", "prior", "ahead", "until"})
_CLAUSE = frozenset({"and", "or", "then", "but", "to", "with", "on", "of", "so"})
#: the nouns of a model's life cycle that such a word makes a goal rather than the action asked for
_PURPOSE_NOUNS = frozenset(
    "training retraining finetuning fine-tuning inference evaluation evaluating testing deployment deploying "
    "quantization quantisation quantizing distillation distilling pruning exporting export validation validating "
    "conversion converting preparation benchmarking serving".split()
)


def _raw_words(text: str) -> list[str]:
    """The lower-case words of ``text`` that may carry meaning, paths and URLs left out.

    A word that describes an input is replaced by a term of its own, never stemmed
    to the verb (see the module docstring): "the trained model" reads ``=trained``,
    not ``train``; "the validation annotations" reads ``=val-split``, not ``valid``
    (the same term as "val set" and "held-out split"). A term that starts with ``=``
    is used as is.
    """
    chunks = [c for c in text.split() if not _PATHLIKE.match(c)]
    words = [m.group(0).strip(".") for m in _WORD.finditer(" ".join(chunks).lower().replace("'", ""))]
    words = [w for w in words if w]
    out = []
    for i, word in enumerate(words):
        before = words[i - 1] if i else ""
        after = words[i + 1] if i + 1 < len(words) else ""
        if before in DETERMINERS and word.endswith("ed") and len(word) > 4 and after and after not in STOP_WORDS:
            word = "=" + word  # "the trained model": an adjective of the model, not the train action
        elif word in _SPLIT_TERMS and after in DATA_NOUNS:
            word = _SPLIT_TERMS[word]  # "the validation annotations": a split, not the validate action
        elif word in _PURPOSE_NOUNS and any(w in _PURPOSE for w in words[max(0, i - 3) : i]) and not any(w in _CLAUSE for w in words[max(0, i - 3) : i]):
            word = "=for-" + stem(word)  # "ready for training", "INT8 for faster inference": the goal, not the action
        out.append(word)
    return out


def tokens(text: str) -> list[Token]:
    """Index terms of ``text`` in order, each with the word it came from, that word's position and its reading."""
    out: list[Token] = []
    pos = 0
    for word in _raw_words(text):
        if word.startswith("="):
            out.append(Token(word, word.lstrip("="), pos, 0))
            pos += 1
            continue
        kept = [Token(_term(piece), word, pos, n) for n, reading in enumerate(_readings(word)) for piece in reading if _keep(piece)]
        if kept:
            out += kept
            pos += 1
    return out


def from_marks(text: str) -> frozenset[int]:
    """Positions (as :func:`tokens` counts words) that a "from" stands just before.

    "YOLO labels from COCO" names its source last; the router reads a
    direction through these marks (see :class:`skillrun.route.triggers.Trigger`).
    """
    marks: set[int] = set()
    pos = 0
    for word in _raw_words(text):
        if word == "from":
            marks.add(pos)
        elif word.startswith("=") or any(_keep(piece) for piece in _pieces(word)):
            pos += 1
    return frozenset(marks)


def word_forms(text: str) -> list[tuple[frozenset[str], ...]]:
    """Each stop-free word of ``text`` as the term sets that stand for it, any one of which is enough.

    ``RT-DETR`` is ``{rtdetr}`` or ``{rt, detr}`` (both parts, not one of them), so a
    trigger naming ``bounding_box_annotations`` is not matched by "annotations" alone.
    """
    out = []
    for word in _raw_words(text):
        if word.startswith("="):
            out.append((frozenset([word]),))
            continue
        parts = _parts(word)
        forms = [frozenset(_term(p) for p in parts if _keep(p))]
        joined = "".join(p for p in _PART.split(word) if p)
        if len(parts) > 1 and _keep(joined):
            forms.insert(0, frozenset([stem(joined)]))
        forms += [frozenset([stem(m.group(1))]) for p in parts if (m := _LETTERS_DIGITS.match(p)) and _keep(m.group(1))]
        forms = [f for f in forms if f]
        if forms:
            out.append(tuple(forms))
    return out


def terms(text: str) -> list[str]:
    """Index terms of ``text`` (with repeats, in order)."""
    return [t.term for t in tokens(text)]


def request_text(request: str) -> str:
    """The user's own words in ``request``: what the router scores.

    - A prompt that wraps a quoted request (``A user request: "<request>" Identify
      which skill applies ...``, also "A user says:" / "asks:") is the quoted request:
      the rest instructs the agent and is the same whatever the request.
    - A later sentence that starts with "Do not" / "Don't" / "Never" is left out: it
      names what not to do ("Do not run any commands, scripts or web searches"). The
      first sentence is always kept ("don't use AutoML, just train" is the request).
    - What a negation takes back is left out ("no HPO", "did not mention venv
      execution", "I am not enabling evaluation yet"): it is not what to do.
      (:mod:`~skillrun.route.modifiers` reads the whole request: "no HPO" still
      turns AutoML off.)
    - Paths and URLs are left out by :func:`tokens` itself.
    """
    text = request
    if m := _WRAPPED.match(text):
        text = m.group("q")
    return _NEG_SCOPE.sub(_negator, doc_text(text))


def doc_text(text: str) -> str:
    """A skill text without its later sentences that start with a negation ("Do not use for non-DAFT data").

    Only whole sentences: a description's "the customer need not know the DEFT or
    PAS names" still says DEFT and PAS.
    """
    sentences = _SENTENCE.split(text.strip())
    kept = sentences[:1] + [s for s in sentences[1:] if not _NEGATED.match(s)]
    return " ".join(kept)


def name_shaped(word: str) -> bool:
    """Whether ``word`` (as written) looks like a model or architecture name rather than an English word.

    An inner capital after a small letter (``PointPillars``, ``LiDAR``, ``SegFormer``),
    three or more letters then a version number (``yolov8``, ``llama3``, ``resnet50``,
    ``sparse4d``; not a year: ``coco2017``), letters with a number inside
    (``Mask2Former``), or a hyphenated word with a number part
    (``gpt-2``, ``Cosmos-Reason1``, ``segformer-b5``). File names, keys (``_`` or ``.``)
    and paths are not names; nor are GPU or size words of one or two letters (``A100``).
    """
    if not word or not word[0].isalpha() or "_" in word or "." in word or "/" in word:
        return False
    if re.search(r"[a-z][A-Z]", word):
        return True
    low = word.lower()
    if m := re.fullmatch(r"([a-z]{3,})(\d+)([a-z]?)", low):
        return not (len(m.group(2)) == 4 and m.group(2).startswith(("19", "20")))
    if re.fullmatch(r"[a-z]{2,}\d+[a-z]{2,}\d*", low):  # mask2former, sam2former
        return True
    if re.search(r"-[0-9a-f]{6}$", low):  # a job id (rtdetr-train-3fa2c1), not a name
        return False
    parts = low.split("-")
    return len(parts) > 1 and all(parts) and any(re.search(r"\d", p) for p in parts) and parts[0].isalpha() and len(parts[0]) >= 2


class Phrase(NamedTuple):
    """The words an action word acts on: ``train`` → ``["PointPillars", "LiDAR", "detector"]``."""

    verb: str
    words: list[str]


def object_phrases(text: str, verbs: frozenset[str], *, limit: int = 4) -> list[Phrase]:
    """What each of ``verbs`` in ``text`` acts on: the words after it, determiners skipped, up to a stop word or a mark.

    "fine-tune cosmos reason on my videos" → ``Phrase("fine-tune", ["cosmos", "reason"])``;
    "train on my data" acts on nothing (``on`` ends the phrase). A request that starts
    with a name (``PointPillars for 3D detection``) yields that opening phrase with
    ``verb`` ``""`` (its very first word only: "Explain how the GenAI branch ..." is
    not about GenAI the way "GenAI for captions" is). Words keep their case
    (:func:`name_shaped` reads it); paths are left out.
    """
    text = re.sub(r"\bfine\s+tun(e|ed|ing)\b", r"fine-tun\1", text, flags=re.I)  # "fine tune X" is "fine-tune X"
    chunks = [c for c in text.split() if not _PATHLIKE.match(c)]
    items = _SCAN.findall(" ".join(chunks))
    out: list[Phrase] = []
    starts: list[tuple[str, int]] = []
    if items and name_shaped(items[0].strip(".")):
        starts.append(("", 0))
    starts += [(w.lower(), i + 1) for i, w in enumerate(items) if w.lower().strip(".") in verbs]
    for verb, i in starts:
        while i < len(items) and items[i].lower() in DETERMINERS:
            i += 1
        words: list[str] = []
        while i < len(items) and len(words) < limit:
            word = items[i]
            if not word[0].isalnum() or word.lower() in STOP_WORDS:
                break
            words.append(word.rstrip("."))
            if word.endswith("."):
                break
            i += 1
        out.append(Phrase(verb.strip("."), words))
    return out
