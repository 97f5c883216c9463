"""The bank's parse cache: an unchanged skill folder is not read again; a changed one is; a bad cache costs a re-parse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skillrun.bank import loader
from skillrun.bank.bank import SkillBank
from skillrun.bank.cache import BankCache
from skillrun.errors import BankError
from skillrun.plugins.manager import SkillDir
from tests.conftest import TAO_BANK

MODEL = "tao-train-boxnet"


def load(root: Path, cache_file: Path) -> SkillBank:
    return SkillBank([SkillDir(root, "test")], cache=BankCache(cache_file))


@pytest.fixture
def bank_copy(tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(TAO_BANK, tmp_path / "bank")
    return tmp_path / "bank"


def _no_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path) -> None:
        raise AssertionError(f"read {path} although the cache holds it")

    monkeypatch.setattr(loader, "read_yaml", refuse)


def test_an_unchanged_bank_loads_from_the_cache_as_it_loaded_from_its_files(bank_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache" / "bank.json"
    fresh = load(bank_copy, cache)
    assert cache.is_file()
    _no_yaml(monkeypatch)
    again = load(bank_copy, cache)
    assert again.names == fresh.names
    for skill in fresh:
        cached = again.get(skill.name)
        assert cached.info == skill.info and cached.frontmatter == skill.frontmatter and cached.warnings == skill.warnings
        assert cached.summary() == skill.summary()


def test_a_changed_file_is_parsed_again_and_only_that_skill(bank_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache" / "bank.json"
    load(bank_copy, cache)
    info = bank_copy / "skills" / "models" / MODEL / "references" / "skill_info.yaml"
    info.write_text(info.read_text().replace("automl_enabled: true", "automl_enabled: false"))
    st = info.stat()
    os.utime(info, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    read: list[Path] = []
    real = loader.read_yaml
    monkeypatch.setattr(loader, "read_yaml", lambda p: (read.append(p), real(p))[1])
    again = load(bank_copy, cache)
    assert again.get(MODEL).info.automl_enabled is False
    assert read == [info]


def test_a_broken_skill_stays_broken_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bank" / "broken-one"
    (bad / "references").mkdir(parents=True)
    (bad / "SKILL.md").write_text("---\nname: broken-one\ndescription: x\n---\n")
    (bad / "references" / "skill_info.yaml").write_text("name: broken-one\nkind: modle\nactions: {x: {}}\n")
    cache = tmp_path / "cache.json"
    first = load(tmp_path / "bank", cache)
    _no_yaml(monkeypatch)
    again = load(tmp_path / "bank", cache)
    assert "broken-one" in again.broken
    with pytest.raises(BankError) as err:
        again.get("broken-one")
    assert [i.path for i in err.value.issues] == [i.path for i in first.broken["broken-one"].issues]


@pytest.mark.parametrize("text", ["{not json", '{"version": "other", "skills": {}}', '{"version": null}'])
def test_a_bad_or_foreign_cache_is_ignored_and_rewritten(bank_copy: Path, tmp_path: Path, text: str) -> None:
    cache = tmp_path / "bank.json"
    cache.write_text(text)
    bank = load(bank_copy, cache)
    assert MODEL in bank and BankCache(cache).entries, "rewritten with this code's parses"
