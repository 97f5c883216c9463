"""Dotted spec paths: ``a.b[0].c`` and ``a.b.0.c`` name the same place.

Pure helpers over nested dicts and lists; nothing here mutates its input
except :func:`assign` and :func:`remove`, which work on a copy the caller owns.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

Token = str | int
_SEGMENT = re.compile(r"^([^\[\]]*)((?:\[\d+\])*)$")


class PathError(ValueError):
    """A path that cannot be parsed or followed; ``path`` is the dotted form."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def parse(path: str) -> list[Token]:
    """``"a.b[0].c"`` -> ``["a", "b", 0, "c"]``; digit-only segments become indices."""
    if not path or path.strip() != path:
        raise PathError(path, "empty key or surrounding spaces")
    tokens: list[Token] = []
    for part in path.split("."):
        match = _SEGMENT.match(part)
        if not match or (not match.group(1) and not match.group(2)):
            raise PathError(path, f"bad segment {part!r}")
        name, indices = match.groups()
        if name:
            tokens.append(int(name) if name.isdigit() else name)
        tokens.extend(int(i) for i in re.findall(r"\[(\d+)\]", indices))
    return tokens


def format(tokens: list[Token]) -> str:  # noqa: A001 - the inverse of parse
    """``["a", "b", 0, "c"]`` -> ``"a.b[0].c"``."""
    out = ""
    for tok in tokens:
        if isinstance(tok, int):
            out += f"[{tok}]"
        else:
            out += f".{tok}" if out else tok
    return out


def get(tree: Any, tokens: list[Token], default: Any = None) -> Any:
    """The value at ``tokens``, or ``default`` when any step is missing."""
    node = tree
    for tok in tokens:
        if isinstance(node, dict) and not isinstance(tok, int) and tok in node:
            node = node[tok]
        elif isinstance(node, list) and isinstance(tok, int) and 0 <= tok < len(node):
            node = node[tok]
        else:
            return default
    return node


def has(tree: Any, tokens: list[Token]) -> bool:
    sentinel = object()
    return get(tree, tokens, sentinel) is not sentinel


def assign(tree: dict[str, Any], tokens: list[Token], value: Any) -> None:
    """Set ``value`` at ``tokens``, creating dicts, and lists where the next step is an index.

    Missing or null steps are created; a step through any other scalar is an error.
    A list index may equal the list length (append); a larger one is an error.
    """
    node: Any = tree
    for i, tok in enumerate(tokens):
        last = i == len(tokens) - 1
        nxt: Any = None if last else ([] if isinstance(tokens[i + 1], int) else {})
        if isinstance(tok, int):
            if not isinstance(node, list):
                raise PathError(format(tokens[: i + 1]), f"index [{tok}] into a {type(node).__name__}, not a list")
            if tok > len(node):
                raise PathError(format(tokens[: i + 1]), f"index {tok} is past the end of a list of {len(node)}")
            if tok == len(node):
                node.append(value if last else nxt)
            elif last:
                node[tok] = value
            elif node[tok] is None:
                node[tok] = nxt
        else:
            if not isinstance(node, dict):
                raise PathError(format(tokens[: i + 1]), f"key {tok!r} into a {type(node).__name__}, not a mapping")
            if last:
                node[tok] = value
            elif node.get(tok) is None:
                node[tok] = nxt
        if not last:
            node = node[tok]


def remove(tree: dict[str, Any], tokens: list[Token]) -> bool:
    """Delete the key or list item at ``tokens``; False when it was not there."""
    parent = get(tree, tokens[:-1]) if len(tokens) > 1 else tree
    last = tokens[-1]
    if isinstance(parent, dict) and not isinstance(last, int) and last in parent:
        del parent[last]
        return True
    if isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
        del parent[last]
        return True
    return False


def leaves(tree: Any, prefix: list[Token] | None = None) -> Iterator[tuple[list[Token], Any]]:
    """Every (tokens, value) for non-container values; empty containers count as leaves."""
    prefix = prefix or []
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from leaves(value, [*prefix, key])
    elif isinstance(tree, list) and tree and any(isinstance(v, (dict, list)) for v in tree):
        for i, value in enumerate(tree):
            yield from leaves(value, [*prefix, i])
    else:
        yield prefix, tree
