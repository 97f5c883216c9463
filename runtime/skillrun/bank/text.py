"""Small text helpers for listings, with no heavy imports (``list`` must start fast)."""

from __future__ import annotations


def first_sentence(text: str, limit: int = 90) -> str:
    """The first sentence of a description, cut at ``limit`` characters (listings and the MCP skill list)."""
    first = " ".join(text.split()).split(". ")[0].strip()
    return first if len(first) <= limit else first[: limit - 1] + "…"
