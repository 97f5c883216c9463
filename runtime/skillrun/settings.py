"""Environment variable names and user paths, in one place."""

from __future__ import annotations

import os
from pathlib import Path

SKILLRUN_HOME = "SKILLRUN_HOME"  #: workspace root (jobs, caches); default ~/.skillrun
SKILLRUN_PATH = "SKILLRUN_PATH"  #: extra skill folders (os.pathsep-separated), above plugins
SKILLRUN_DEBUG = "SKILLRUN_DEBUG"  #: 1 = show tracebacks for unexpected errors
SKILLRUN_DISABLE_PLUGINS = "SKILLRUN_DISABLE_PLUGINS"  #: 1 = skip entry-point plugins


def workspace(override: str | os.PathLike[str] | None = None) -> Path:
    """The workspace root: ``--workspace``, then ``$SKILLRUN_HOME``, then ``~/.skillrun``."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(SKILLRUN_HOME)
    return Path(env).expanduser() if env else Path.home() / ".skillrun"


def extra_skill_paths() -> list[Path]:
    """Folders named in ``$SKILLRUN_PATH``, in order (first wins)."""
    raw = os.environ.get(SKILLRUN_PATH, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def debug() -> bool:
    return os.environ.get(SKILLRUN_DEBUG, "") not in ("", "0", "false")
