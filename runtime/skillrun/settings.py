"""Environment variable names and user paths, in one place."""

from __future__ import annotations

import os
from pathlib import Path

SKILLRUN_HOME = "SKILLRUN_HOME"  #: workspace root (jobs, caches); default ~/.skillrun
SKILLRUN_PATH = "SKILLRUN_PATH"  #: extra skill folders (os.pathsep-separated), above plugins
SKILLRUN_DEBUG = "SKILLRUN_DEBUG"  #: 1 = show tracebacks for unexpected errors
SKILLRUN_DISABLE_PLUGINS = "SKILLRUN_DISABLE_PLUGINS"  #: 1 = skip entry-point plugins
SKILLRUN_CONFIG = "SKILLRUN_CONFIG"  #: the user config file (cluster and container defaults); see config_files()


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


def config_files() -> list[Path]:
    """Where the user config file is looked for, first found wins.

    ``$SKILLRUN_CONFIG``, else ``<workspace>/config.yaml``, else
    ``$XDG_CONFIG_HOME/skillrun/config.yaml`` (``~/.config/skillrun/config.yaml``).
    """
    explicit = os.environ.get(SKILLRUN_CONFIG)
    if explicit:
        return [Path(explicit).expanduser()]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [workspace() / "config.yaml", Path(xdg).expanduser() / "skillrun" / "config.yaml"]


def debug() -> bool:
    return os.environ.get(SKILLRUN_DEBUG, "") not in ("", "0", "false")
