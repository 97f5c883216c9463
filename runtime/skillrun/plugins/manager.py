"""A cached plugin manager and the registry of what plugins provided.

Built-in plugins (``skillrun.defaults.*``) are registered first, through the
same hooks as third-party ones; entry points of the ``skillrun`` group follow.
Nothing registers at import time: tests build their own manager.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from skillrun import settings
from skillrun.errors import SkillrunError
from skillrun.plugins import hookspecs

#: Modules registered as the default plugins, lowest precedence first.
DEFAULT_PLUGINS = ("skillrun.defaults.skills", "skillrun.defaults.backends", "skillrun.defaults.engines")


@dataclass(frozen=True)
class SkillDir:
    """A folder that holds skill folders (or is one), and who provided it."""

    path: Path
    origin: str  #: "builtin", "plugin:<name>", "env:SKILLRUN_PATH", "cli:--skills-dir"


@dataclass
class Registry:
    """What the plugins registered, collected once per manager."""

    skill_dirs: list[SkillDir] = field(default_factory=list)
    backends: dict[str, Any] = field(default_factory=dict)
    engines: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, Any] = field(default_factory=dict)


def new_plugin_manager(*, entry_points: bool | None = None) -> pluggy.PluginManager:
    """A fresh manager with the default plugins and (unless disabled) entry-point plugins."""
    pm = pluggy.PluginManager("skillrun")
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if entry_points is None:
        entry_points = os.environ.get(settings.SKILLRUN_DISABLE_PLUGINS, "") in ("", "0")
    if entry_points:
        pm.load_setuptools_entrypoints("skillrun")
    return pm


@functools.lru_cache(maxsize=1)
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, built on first use."""
    return new_plugin_manager()


def _origin(pm: pluggy.PluginManager, plugin: object) -> str:
    name = pm.get_name(plugin) or repr(plugin)
    return "builtin" if name in DEFAULT_PLUGINS else f"plugin:{name}"


def skill_dirs(pm: pluggy.PluginManager) -> list[SkillDir]:
    """The skill folders plugins register (registration order: builtin first); only that hook is called.

    ``list`` and ``route`` need nothing else, so no backend or engine module is imported for them.
    """
    found: list[SkillDir] = []
    for impl in pm.hook.register_skill_dirs.get_hookimpls():
        origin = _origin(pm, impl.plugin)
        impl.function(register=lambda path, _o=origin: found.append(SkillDir(Path(path), _o)))
    return found


def collect(pm: pluggy.PluginManager) -> Registry:
    """Call every ``register_*`` hook and gather the results, failing loudly on a name clash."""
    reg = Registry(skill_dirs=skill_dirs(pm))
    for hook, table, kind in (
        (pm.hook.register_backends, reg.backends, "backend"),
        (pm.hook.register_engines, reg.engines, "engine"),
    ):
        for impl in hook.get_hookimpls():
            impl.function(register=functools.partial(_by_name, table, kind, _origin(pm, impl.plugin)))
    for impl in pm.hook.register_commands.get_hookimpls():
        impl.function(register=lambda cmd: reg.commands.setdefault(cmd.name, cmd))
    return reg


def _by_name(table: dict[str, Any], kind: str, origin: str, cls: Any) -> None:
    name = getattr(cls, "NAME", None)
    if not name:
        msg = f"{kind} {cls!r} from {origin} has no NAME attribute"
        raise SkillrunError(msg, hint="give the class a NAME = '...' class attribute")
    if name in table and table[name] is not cls:
        other = table[name]
        msg = f"two {kind}s are named {name!r}: {other.__module__}.{other.__qualname__} and {cls.__module__}.{cls.__qualname__}"
        raise SkillrunError(msg, hint=f"rename one of them or uninstall the plugin that provides {origin}")
    table[name] = cls


def describe(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """One entry per loaded plugin: name, origin, distribution and the hooks it implements."""
    dists = {id(p): d for p, d in pm.list_plugin_distinfo()}
    out = []
    for name, plugin in pm.list_name_plugin():
        dist = dists.get(id(plugin))
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        out.append(
            {
                "name": name,
                "origin": _origin(pm, plugin),
                "module": getattr(plugin, "__name__", type(plugin).__name__),
                "distribution": f"{dist.project_name} {dist.version}" if dist else None,
                "hooks": hooks,
            }
        )
    return out
