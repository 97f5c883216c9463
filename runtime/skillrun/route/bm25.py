"""Okapi BM25 as an impact table: each term's score in each document, computed once (no numpy: control plane)."""

from __future__ import annotations

import math
from collections import Counter

#: BM25 parameters: k1 saturates repeated words early (short documents), b normalises length.
K1 = 1.2
B = 0.75
#: Floor of a negative idf, as a share of the mean idf (rank_bm25's default is 0.25).
EPSILON = 0.5


def impacts(docs: list[list[str]], *, k1: float = K1, b: float = B, epsilon: float = EPSILON, idf: str = "okapi") -> dict[str, list[float]]:
    """term -> its BM25 score in each document; a request scores the sum over its terms.

    ``idf="okapi"`` is the ATIRE variant of rank_bm25's ``BM25Okapi``, term for term:
    idf is ``log((N - n + 0.5) / (n + 0.5))``, floored at ``epsilon`` x the mean idf
    for words in more than half the documents. ``idf="lucene"`` is Lucene's (and
    Elasticsearch's) ``log(1 + (N - n + 0.5) / (n + 0.5))``: positive and falling
    smoothly with ``n``, so a word in all N documents weighs almost nothing while
    one in half of them still counts. The index uses Lucene's: in a bank of four
    skills Okapi's idf is exactly 0 for a word two skills use (``export``,
    ``evaluate``, ``draw``), so the action words of a small bank weighed nothing at
    the skill level. Written out here rather than imported because rank_bm25 needs
    numpy, which the control plane does not load; a test checks the numbers
    against rank_bm25.
    """
    n_docs = len(docs)
    avgdl = sum(len(d) for d in docs) / n_docs or 1.0
    freqs = [Counter(d) for d in docs]
    df = Counter(t for f in freqs for t in f)
    if idf == "lucene":
        weights = {t: math.log(1 + (n_docs - n + 0.5) / (n + 0.5)) for t, n in df.items()}
    else:
        weights = {t: math.log(n_docs - n + 0.5) - math.log(n + 0.5) for t, n in df.items()}
        floor = epsilon * sum(weights.values()) / len(weights)
        weights = {t: (v if v >= 0 else floor) for t, v in weights.items()}
    norm = [k1 * (1 - b + b * len(d) / avgdl) for d in docs]
    return {t: [round(weights[t] * f[t] * (k1 + 1) / (f[t] + norm[i]), 6) if t in f else 0.0 for i, f in enumerate(freqs)] for t in sorted(df)}
