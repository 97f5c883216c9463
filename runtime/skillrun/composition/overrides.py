"""``key=value`` words (TAO, Hydra and Ultralytics style) and their JSON form.

- ``a.b[0].c=v`` and ``a.b.0.c=v`` set a value; ``v`` is parsed with a safe
  YAML loader (``[1,2]`` is a list, ``1e-4`` a float, ``null`` None), never eval.
- ``+a.b=v`` adds a key the schema does not name where the schema allows extra keys.
- ``~a.b`` deletes a key.
- ``--overrides-json '{"a.b": 1}'`` or ``@file.json``: keys are dotted paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal

from skillrun import yamlio
from skillrun.composition import paths
from skillrun.errors import UsageError

Op = Literal["set", "add", "delete"]


@dataclass(frozen=True)
class Override:
    """One parsed override: what to do, where, with which value, and the word it came from."""

    op: Op
    key: str
    tokens: tuple[paths.Token, ...]
    value: Any = None
    source: str = "override"

    @property
    def text(self) -> str:
        prefix = {"set": "", "add": "+", "delete": "~"}[self.op]
        return prefix + self.key + ("" if self.op == "delete" else "=" + json.dumps(self.value))


def parse_value(text: str) -> Any:
    """A value as YAML would read it in a spec file (``yaml.safe_load`` plus 1.2 floats)."""
    try:
        return yamlio.loads(text) if text.strip() else None
    except Exception:  # yaml.YAMLError: keep the raw text, as TAO and Hydra do for odd strings
        return text


def parse_override(word: str) -> Override:
    """One ``key=value`` / ``+key=value`` / ``~key`` word."""
    op: Op = "set"
    body = word
    if body.startswith("~"):
        key = body[1:]
        if "=" in key:
            msg = f"{word!r}: a deletion takes no value"
            raise UsageError(msg, hint=f"write ~{key.split('=', 1)[0]}")
        return Override("delete", key, tuple(_tokens(key, word)), source="override")
    if body.startswith("++"):
        op, body = "add", body[2:]
    elif body.startswith("+"):
        op, body = "add", body[1:]
    if "=" not in body:
        msg = f"{word!r} is not a key=value override"
        raise UsageError(msg, hint="write e.g. train.num_epochs=10 (no spaces around '=')")
    key, raw = body.split("=", 1)
    return Override(op, key, tuple(_tokens(key, word)), parse_value(raw))


def _tokens(key: str, word: str) -> list[paths.Token]:
    try:
        return paths.parse(key)
    except paths.PathError as exc:
        msg = f"{word!r}: {exc.message}"
        raise UsageError(msg, hint="keys are dotted paths such as dataset.train_data_sources[0].image_dir") from None


def parse_overrides(words: Iterable[str]) -> list[Override]:
    return [parse_override(w) for w in words]


def load_overrides_json(text: str) -> list[Override]:
    """``--overrides-json``: a JSON object (or ``@path`` to a file holding one) of dotted keys."""
    where = "--overrides-json"
    if text.startswith("@"):
        file = Path(text[1:]).expanduser()
        where = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"{file}: cannot read overrides ({exc.strerror})"
            raise UsageError(msg, hint="pass @ followed by the path of a JSON file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{where}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
        raise UsageError(msg, hint='pass an object such as {"train.num_epochs": 10}') from None
    if not isinstance(data, dict):
        msg = f"{where}: expected a JSON object of dotted keys, got {type(data).__name__}"
        raise UsageError(msg, hint='pass an object such as {"train.num_epochs": 10}')
    return overrides_from_mapping(data, source="overrides-json")


def overrides_from_mapping(data: dict[str, Any], *, source: str = "api") -> list[Override]:
    """A ``{"dotted.key": value}`` mapping (keys may carry ``+``/``~`` prefixes) as overrides."""
    out = []
    for key, value in data.items():
        if key.startswith("~"):
            out.append(Override("delete", key[1:], tuple(_tokens(key[1:], key)), source=source))
        elif key.startswith("+"):
            bare = key.lstrip("+")
            out.append(Override("add", bare, tuple(_tokens(bare, key)), value, source=source))
        else:
            out.append(Override("set", key, tuple(_tokens(key, key)), value, source=source))
    return out
