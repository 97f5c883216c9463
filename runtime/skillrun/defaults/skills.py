"""Registers the skills shipped with skillrun (``skillrun/skills`` in a wheel, ``skills/`` in a checkout)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from skillrun.plugins import hookimpl

_PACKAGE = Path(__file__).resolve().parent.parent


def shipped_path(name: str) -> Path:
    """A data folder shipped with skillrun: inside the wheel, or at the repository root."""
    inside = _PACKAGE / name
    return inside if inside.is_dir() else _PACKAGE.parent.parent / name


@hookimpl
def register_skill_dirs(register: Callable[..., None]) -> None:
    register(shipped_path("skills"))
