"""Parsed skill folders, kept between processes and keyed by file stats.

Parsing a skill is YAML plus (for TAO folders) the adapter: about 2 ms a skill,
so a 76-skill bank would cost ``list`` and ``route`` most of their budget on every
start. Each skill folder's parse (frontmatter, contract, warnings, or the error
that broke it) is stored in ``<workspace>/cache/bank.json`` under a signature of
what it read: size and mtime of SKILL.md and of everything in ``references/``,
the ``versions.yaml`` files an image key may resolve through and the variables
that name them. A changed file, or a change to the loader's own code, re-parses
that skill only. Writes are atomic and best effort: a read-only workspace costs
a re-parse, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from skillrun import settings

CACHE_FILE = "bank.json"
_CODE = ("bank/loader.py", "bank/tao_adapter.py", "contracts/skill.py", "contracts/report.py", "bank/cache.py")


def code_version() -> str:
    """Changes when the code that parses a skill changes (a cache written by other code is ignored)."""
    from skillrun import __version__

    root = Path(__file__).resolve().parent.parent
    parts = [__version__]
    for rel in _CODE:
        try:
            st = (root / rel).stat()
            parts.append(f"{rel}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            parts.append(rel)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def signature(folder: Path) -> str:
    """What a parse of ``folder`` depends on: file stats of SKILL.md and references/, and where image keys resolve."""
    parts: list[str] = []
    for file in (folder / "SKILL.md",):
        parts.append(_stat(file))
    try:
        refs = sorted(os.scandir(folder / "references"), key=lambda e: e.name)
    except OSError:
        refs = []
    for entry in refs:
        if entry.is_file():
            st = entry.stat()
            parts.append(f"{entry.name}:{st.st_mtime_ns}:{st.st_size}")
    parts += [_stat(parent / "versions.yaml") for parent in list(folder.parents)[:4]]
    parts += [os.environ.get("TAO_VERSIONS_FILE", ""), os.environ.get("TAO_SKILL_BANK_PATH", "")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _stat(file: Path) -> str:
    try:
        st = file.stat()
    except OSError:
        return f"{file.name}:-"
    return f"{file.name}:{st.st_mtime_ns}:{st.st_size}"


class BankCache:
    """The stored parses of one workspace; ``get`` / ``put`` per skill folder, ``save`` once at the end."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file if file is not None else settings.workspace() / "cache" / CACHE_FILE
        self.version = code_version()
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            if data.get("version") == self.version and isinstance(data.get("skills"), dict):
                self.entries = data["skills"]
        except (OSError, ValueError, AttributeError):
            pass

    def get(self, folder: Path, sig: str) -> dict[str, Any] | None:
        entry = self.entries.get(str(folder))
        return entry if entry is not None and entry.get("sig") == sig else None

    def put(self, folder: Path, sig: str, entry: dict[str, Any]) -> None:
        self.entries[str(folder)] = {"sig": sig, **entry}
        self.dirty = True

    def save(self) -> None:
        """Atomic and best effort (a read-only workspace only costs the next start a re-parse)."""
        if not self.dirty:
            return
        self.entries = {k: v for k, v in self.entries.items() if Path(k).is_dir()}  # folders that are gone are forgotten
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": self.version, "skills": self.entries}, separators=(",", ":"), default=str), encoding="utf-8")
            os.replace(tmp, self.file)
        except OSError:
            pass
        self.dirty = False
