"""Parts of the TAO adapter (:mod:`skillrun.bank.tao_adapter`) kept apart for size.

- Image references: ``versions.yaml`` keys (``tao_toolkit.deploy``) resolved as TAO's SDK does.
- Trigger phrases: the quoted phrases TAO writes into a SKILL.md description.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

Warn = Callable[[str, str, str], None]
_TRIGGERS = re.compile(r"trigger phrases?(?: include| such as|:)?\s*(?P<list>(?:[\"“][^\"”]+[\"”][\s,;/or and]*)+)", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“]([^\"”]{2,80})[\"”]")
_WORDS = re.compile(r"[a-z0-9]+")
_STAMP = re.compile(r"(?P<value>[A-Za-z0-9][\w.\-/:@]*)\s+#\s*versions-key:\s*(?:images\.)?(?P<key>[\w.]+)")


def resolve_image(skill_dir: Path, value: Any, key: str, warn: Warn) -> str | None:
    """An image reference as the docker backend needs it: a ``versions.yaml`` key (``tao_toolkit.deploy``) resolved.

    Where TAO's own SDK looks (``$TAO_VERSIONS_FILE``, the bank's ``versions.yaml``
    above the skill, ``$TAO_SKILL_BANK_PATH``), then the stamped literals the bank
    writes into a skill's own files (``IMAGE  # versions-key: images.tao_toolkit.deploy``),
    which is what keeps a published skill folder standalone.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        warn(key, f"must be an image reference, not {value!r}; ignored", "e.g. nvcr.io/nvidia/tao/tao-toolkit:7.1.0-pyt")
        return None
    value = value.strip()
    if not looks_like_key(value):
        return value
    for table in _version_tables(skill_dir):
        found = _lookup(table, value)
        if found:
            return found
    stamped = _stamps(skill_dir).get(value)
    if stamped:
        return stamped
    warn(key, f"{value!r} names an image in the bank's versions.yaml, which is not found above {skill_dir} and no file of the skill stamps it",
         "set $TAO_VERSIONS_FILE to the bank's versions.yaml, or docker.image in the skillrun config file")
    return None


def looks_like_key(value: str) -> bool:
    """TAO's rule (``tao_sdk.versions.looks_like_key``): dotted words, no ``/`` and no ``:``."""
    return "/" not in value and ":" not in value and "." in value and all(p.replace("_", "").isalnum() for p in value.split("."))


def _version_tables(skill_dir: Path) -> list[dict[str, Any]]:
    candidates: list[Path] = []
    if os.environ.get("TAO_VERSIONS_FILE"):
        candidates.append(Path(os.environ["TAO_VERSIONS_FILE"]).expanduser())
    candidates += [parent / "versions.yaml" for parent in list(skill_dir.parents)[:4]]
    if os.environ.get("TAO_SKILL_BANK_PATH"):
        candidates.append(Path(os.environ["TAO_SKILL_BANK_PATH"]).expanduser() / "versions.yaml")
    out = []
    for file in candidates:
        try:
            st = file.stat()
        except OSError:
            continue
        table = _read_versions(str(file), st.st_mtime_ns)
        if table:
            out.append(table)
    return out


@lru_cache(maxsize=8)
def _read_versions(file: str, _mtime: int) -> dict[str, Any]:
    from skillrun import yamlio

    try:
        data = yamlio.load_file(file)
    except Exception:  # a broken versions.yaml resolves nothing; the key then warns where it is used
        return {}
    images = data.get("images") if isinstance(data, dict) else None
    return images if isinstance(images, dict) else {}


def _lookup(table: dict[str, Any], key: str) -> str | None:
    node: Any = table
    for part in key.removeprefix("images.").split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, str) else None


def _stamps(skill_dir: Path) -> dict[str, str]:
    """``key -> image`` from the ``# versions-key:`` stamps in the skill's SKILL.md and references/."""
    out: dict[str, str] = {}
    files = [skill_dir / "SKILL.md", *sorted(skill_dir.glob("references/*.md")), *sorted(skill_dir.glob("references/*.yaml"))]
    for file in files:
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for m in _STAMP.finditer(text):
            value = m.group("value").strip("\"'")
            if "/" in value or ":" in value:
                out.setdefault(m.group("key"), value)
    return out


def triggers(description: str, actions: list[str]) -> list[dict[str, Any]]:
    """The quoted phrases after "Trigger phrases include" in a TAO description; tied to an action a phrase names."""
    out: list[dict[str, Any]] = []
    for match in _TRIGGERS.finditer(description or ""):
        for phrase in _QUOTED.findall(match.group("list")):
            words = set(_WORDS.findall(phrase.lower()))
            named = [a for a in actions if set(_WORDS.findall(a.replace("_", " "))) <= words]
            item = {"phrase": phrase.strip()}
            if len(named) == 1:
                item["action"] = named[0]
            if item not in out and len(item["phrase"]) >= 2:
                out.append(item)
    return out
