"""Override words: dotted keys with list indices, YAML values, +add, ~delete, JSON form."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from skillrun.composition import paths
from skillrun.composition.overrides import load_overrides_json, parse_override, parse_value
from skillrun.errors import UsageError

names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
tokens = st.lists(st.one_of(names, st.integers(0, 20)), min_size=1, max_size=6).filter(lambda t: isinstance(t[0], str))
scalars = st.one_of(st.integers(-10**6, 10**6), st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8))


@given(tokens)
def test_parse_inverts_format(toks: list[paths.Token]) -> None:
    assert paths.parse(paths.format(toks)) == toks


@given(tokens)
def test_bracket_and_dotted_indices_are_the_same_key(toks: list[paths.Token]) -> None:
    dotted = ".".join(str(t) for t in toks)
    assert paths.parse(dotted) == paths.parse(paths.format(toks))


@given(scalars)
def test_values_parse_like_a_yaml_spec_file(value: object) -> None:
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    text = text.removesuffix("...").strip()
    assert parse_value(text) == yaml.safe_load(text)


@given(tokens, scalars)
def test_assign_then_get_returns_the_value(toks: list[paths.Token], value: object) -> None:
    tree: dict = {}
    # indices must be reachable: use 0 wherever an index appears so the list can grow
    toks = [0 if isinstance(t, int) else t for t in toks]
    paths.assign(tree, toks, value)
    assert paths.get(tree, toks) == value
    assert paths.has(tree, toks)


@given(st.dictionaries(names, scalars, min_size=1, max_size=5))
def test_json_overrides_round_trip(data: dict) -> None:
    parsed = load_overrides_json(json.dumps(data))
    assert {o.key: o.value for o in parsed} == data
    assert all(o.op == "set" and o.source == "overrides-json" for o in parsed)


@pytest.mark.parametrize(
    ("word", "op", "toks", "value"),
    [
        ("a.b[0].c=5", "set", ["a", "b", 0, "c"], 5),
        ("a.b.0.c=5", "set", ["a", "b", 0, "c"], 5),
        ("train.optim.lr=1e-4", "set", ["train", "optim", "lr"], 1e-4),
        ("x=[1, 2]", "set", ["x"], [1, 2]),
        ("x={image_dir: /d, json_file: /j.json}", "set", ["x"], {"image_dir": "/d", "json_file": "/j.json"}),
        ("x=null", "set", ["x"], None),
        ("x=", "set", ["x"], None),
        ("x=auto", "set", ["x"], "auto"),
        ("x='10'", "set", ["x"], "10"),
        ("x=a=b", "set", ["x"], "a=b"),
        ("+meta.owner=me", "add", ["meta", "owner"], "me"),
        ("++meta.owner=me", "add", ["meta", "owner"], "me"),
        ("~train.seed", "delete", ["train", "seed"], None),
    ],
)
def test_parse_override_forms(word: str, op: str, toks: list, value: object) -> None:
    o = parse_override(word)
    assert (o.op, list(o.tokens), o.value) == (op, toks, value)


@pytest.mark.parametrize("word", ["train.num_epochs", "=3", "a..b=1", "a.b[x]=1", "~a=1", " a=1"])
def test_bad_words_are_usage_errors_with_a_hint(word: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_override(word)
    assert word.strip("~ ").split("=")[0] in err.value.message or "=" in err.value.message
    assert err.value.hint


def test_overrides_json_from_file_and_errors(tmp_path) -> None:
    f = tmp_path / "o.json"
    f.write_text('{"train.num_epochs": 3, "~train.seed": null, "+x.y": 1}')
    ops = {(o.op, o.key) for o in load_overrides_json(f"@{f}")}
    assert ops == {("set", "train.num_epochs"), ("delete", "train.seed"), ("add", "x.y")}
    with pytest.raises(UsageError, match="not valid JSON"):
        load_overrides_json("{nope")
    with pytest.raises(UsageError, match="expected a JSON object"):
        load_overrides_json("[1, 2]")
    with pytest.raises(UsageError, match="cannot read"):
        load_overrides_json(f"@{tmp_path / 'missing.json'}")


def test_assign_rejects_gaps_and_type_clashes() -> None:
    tree = {"a": [1], "s": "text"}
    with pytest.raises(paths.PathError, match="past the end"):
        paths.assign(tree, ["a", 5], 1)
    with pytest.raises(paths.PathError, match="not a mapping"):
        paths.assign(tree, ["s", "x"], 1)
    paths.assign(tree, ["a", 1], 2)
    assert tree["a"] == [1, 2]
    assert paths.remove(tree, ["a", 0]) and tree["a"] == [2]
    assert not paths.remove(tree, ["nope"])
