"""Plugins: built-ins through the same hooks, a third-party pack through a real entry point."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from skillrun.errors import SkillrunError
from skillrun.plugins import hookimpl
from skillrun.plugins.manager import collect, describe, new_plugin_manager
from tests.conftest import run_skillrun


def make_pack(root: Path, skill_name: str = "acme-counter") -> Path:
    """A third-party distribution on ``root``: dist-info with an entry point, a plugin module and one skill."""
    pkg = root / "acme_pack"
    skill = pkg / "skills" / skill_name
    (skill / "references").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path
            from skillrun.plugins import hookimpl

            @hookimpl
            def register_skill_dirs(register):
                register(Path(__file__).parent / "skills")

            class AcmeBackend:
                NAME = "acme"

            @hookimpl
            def register_backends(register):
                register(AcmeBackend)
            """
        )
    )
    (skill / "SKILL.md").write_text(f"---\nname: {skill_name}\ndescription: Counts things. Use when asked to count acme widgets.\n---\n# Counter\n")
    (skill / "references" / "skill_info.yaml").write_text(f"name: {skill_name}\nkind: application\nengine: script\nactions:\n  count:\n    description: count widgets\n")
    dist = root / "acme_pack-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-pack\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[skillrun]\nacme = acme_pack.plugin\n")
    return root


def test_builtin_skills_come_through_the_default_plugin() -> None:
    pm = new_plugin_manager(entry_points=False)
    reg = collect(pm)
    assert [d.origin for d in reg.skill_dirs] == ["builtin"]
    assert (reg.skill_dirs[0].path / "rtdetr" / "SKILL.md").is_file()
    assert any(p["name"] == "skillrun.defaults.skills" and "register_skill_dirs" in p["hooks"] for p in describe(pm))


def test_builtin_backends_and_engines_come_through_the_default_plugins() -> None:
    pm = new_plugin_manager(entry_points=False)
    reg = collect(pm)
    assert reg.backends["local"].__name__ == "LocalBackend"
    assert {"builtin", "script"} <= set(reg.engines)
    hooks = {p["name"]: set(p["hooks"]) for p in describe(pm)}
    assert "register_backends" in hooks["skillrun.defaults.backends"]
    assert "register_engines" in hooks["skillrun.defaults.engines"]


def test_third_party_pack_registered_by_entry_point_is_listed(tmp_path: Path) -> None:
    site = make_pack(tmp_path / "site")
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), "SKILLRUN_DISABLE_PLUGINS": "0"}
    listed = run_skillrun("list", "--json", env=env)
    assert listed.code == 0, listed.err
    skills = {s["name"]: s for s in listed.json()["skills"]}
    assert skills["acme-counter"]["origin"] == "plugin:acme"
    assert "rtdetr" in skills
    plugins = run_skillrun("plugins", "--json", env=env).json()
    assert plugins["backends"]["acme"] == "acme_pack.plugin.AcmeBackend"
    assert plugins["backends"]["local"] == "skillrun.backends.local.LocalBackend"
    acme = next(p for p in plugins["plugins"] if p["name"] == "acme")
    assert acme["distribution"] == "acme-pack 1.0"
    assert {"register_backends", "register_skill_dirs"} <= set(acme["hooks"])
    # the same pack is ignored when plugins are disabled
    off = run_skillrun("list", "--json", env={**env, "SKILLRUN_DISABLE_PLUGINS": "1"}).json()
    assert "acme-counter" not in {s["name"] for s in off["skills"]}


def test_two_backends_with_one_name_fail_naming_both() -> None:
    class One:
        NAME = "dup"

    class Two:
        NAME = "dup"

    class PluginA:
        @hookimpl
        def register_backends(self, register):
            register(One)

    class PluginB:
        @hookimpl
        def register_backends(self, register):
            register(Two)

    pm = new_plugin_manager(entry_points=False)
    pm.register(PluginA(), name="a")
    pm.register(PluginB(), name="b")
    with pytest.raises(SkillrunError) as err:
        collect(pm)
    assert "One" in err.value.message and "Two" in err.value.message and "'dup'" in err.value.message


def test_backend_without_name_is_rejected() -> None:
    class Nameless:
        pass

    class Plugin:
        @hookimpl
        def register_engines(self, register):
            register(Nameless)

    pm = new_plugin_manager(entry_points=False)
    pm.register(Plugin(), name="p")
    with pytest.raises(SkillrunError, match="no NAME"):
        collect(pm)
