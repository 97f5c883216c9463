"""Request → (skill, action): BM25 over the bank's names, descriptions and trigger phrases, plus intent modifiers."""

from skillrun.route.router import THRESHOLD, index_for, route

__all__ = ["THRESHOLD", "index_for", "route"]
