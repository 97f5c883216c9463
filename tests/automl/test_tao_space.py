"""The default search space as TAO's AutoML means it (``tao_automl/search_space/params.py``).

TAO searches the leaves flagged ``automl_enabled: true``; a section's own flag
or its name in ``automl_disabled_parameters`` does not remove the enabled
leaves under it (every TAO model once planned an empty space because it did).
Open bounds follow TAO's ``math_utils.get_valid_range`` (an infinite side) and
its brains' no-range branch (an absent side). The first tests use a small
schema and need nothing else; the rest check the real TAO skill bank
(``$TAO_SKILL_BANK``) against an independent restatement of TAO's rule.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import skillrun
from skillrun.automl.plan import skill_space
from skillrun.automl.settings import AutomlSettings
from skillrun.automl.space import Space, build_space
from skillrun.automl.tao_rules import infinite_bounds, open_bounds
from skillrun.bank.tao_dialect import normalize_schema
from skillrun.bank import schemas
from skillrun.composition import paths
from tests.conftest import REPO


def _num(default: float, *, kind: str = "number", flag: bool | None = True, **bounds: float) -> dict[str, Any]:
    leaf: dict[str, Any] = {"type": kind, "default": default, **bounds}
    return leaf if flag is None else {**leaf, "automl_enabled": flag}


#: A TAO-shaped (normalised) schema: disabled sections holding enabled leaves, a disabled array leaf, another action's section.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "automl_disabled_parameters": ["train", "train.optim", "model", "model.frozen", "dataset.sources"],
    "properties": {
        "train": {"type": "object", "automl_enabled": False, "properties": {
            "num_epochs": _num(10, kind="integer", flag=None, minimum=1),
            "optim": {"type": "object", "automl_enabled": False, "properties": {
                "lr": _num(1e-4, minimum=0.0, maximum=1.0),
                "momentum": _num(0.9, flag=None, minimum=0.0, maximum=1.0),
                "betas": {"type": "array", "items": {"type": "number"}, "default": [0.9, 0.999], "automl_enabled": True},
            }},
        }},
        "model": {"type": "object", "automl_enabled": False, "properties": {
            "layers": _num(6, kind="integer", minimum=1),  # no maximum at all
            "queries": _num(300, kind="integer", minimum=1),  # maximum: inf in the TAO file
            "scale": _num(2.0, minimum=0.5),  # maximum: inf
            "dropout": _num(0.2, minimum=0.05, maximum=0.5),
            "width": _num(64, kind="integer", minimum=40),  # no maximum: TAO draws 32..128, the schema starts at 40
            "frozen": {"type": "array", "items": {"type": "string"}, "default": [], "automl_enabled": False},
        }},
        "dataset": {"type": "object", "properties": {
            "sources": {"type": "array", "default": [], "items": {"type": "object", "properties": {"path": {"type": "string"}, "weight": _num(1.0, flag=None, minimum=0.0, maximum=1.0)}}},
            "flip": {"type": "boolean", "default": True, "automl_enabled": True},
        }},
        "distill": {"type": "object", "properties": {"alpha": _num(0.5, minimum=0.0, maximum=1.0)}},
    },
}
INFINITE = {"model.queries": frozenset({"max"}), "model.scale": frozenset({"max"})}
FOREIGN = frozenset({"distill", "evaluate"})


def _build(spec: dict[str, Any] | None = None, **settings: Any) -> Space:
    return build_space(SCHEMA, spec if spec is not None else schemas.defaults(SCHEMA), AutomlSettings(**settings), foreign=FOREIGN, infinite=INFINITE)


def _codes(space: Space) -> dict[str, str]:
    return {str(i.value): i.message for i in space.issues if i.code == "automl_disabled_parameter"}


def test_enabled_leaves_of_disabled_sections_are_searched() -> None:
    space = _build()
    assert set(space.names) == {"train.optim.lr", "model.layers", "model.queries", "model.scale", "model.dropout", "model.width", "dataset.flip"}
    assert not space.issues
    assert any(n.startswith("distill.alpha skipped") and "distill action" in n for n in space.notes)  # another action's section
    assert any(n.startswith("train.optim.betas skipped") for n in space.notes)  # an enabled list TAO samples with a per-network helper
    assert "model.frozen" not in space.names and "train.optim.momentum" not in space.names  # disabled leaf; unflagged leaf


def test_a_root_list_is_the_default_space_as_stated() -> None:
    listed = {**SCHEMA, "automl_default_parameters": ["train.optim.momentum", "model.layers"]}
    space = build_space(listed, schemas.defaults(listed), AutomlSettings(), foreign=FOREIGN)
    assert space.names == ["train.optim.momentum", "model.layers"]


def test_bounds_follow_tao_for_open_sides() -> None:
    by = {p.path: p for p in _build().params}
    assert (by["model.queries"].low, by["model.queries"].high) == (1, 600)  # infinite max: default x2
    assert by["model.queries"].source == "schema (TAO: unbounded max = default 300 x2)"
    assert (by["model.scale"].low, by["model.scale"].high) == (0.5, 20.0)  # float: default x10
    assert (by["model.layers"].low, by["model.layers"].high) == (3, 12)  # absent max: default//2 .. x2, the minimum unused
    assert by["model.layers"].source.startswith("schema (TAO: no max in the schema")
    assert (by["model.width"].low, by["model.width"].high) == (40, 128) and by["model.width"].source.endswith("kept within the schema's limits)")
    assert (by["model.dropout"].low, by["model.dropout"].high, by["model.dropout"].source) == (0.05, 0.5, "schema")
    assert by["dataset.flip"].choices == (True, False)


@pytest.mark.parametrize(
    ("low", "high", "default", "is_int", "infinite", "want"),
    [
        (1.0, None, 4.0, True, {"max"}, (1.0, 8.0)),  # get_valid_range: x2
        (None, 10.0, 4.0, True, {"min"}, (2.0, 10.0)),  # /2
        (None, 10.0, 1.0, True, {"min"}, (1.0, 10.0)),  # /2, at least 1
        (0.0, None, 0.0, False, {"max"}, (0.0, 1.0)),  # a default of 0: 1.0 for floats
        (0.0, None, 0.0, True, {"max"}, (0.0, 100.0)),  # and 100 for integers
        (None, 0.0, -3.0, False, {"min"}, (-30.0, 0.0)),  # a negative default: x10 on the min side
        (None, None, -3.0, False, set(), (-30.0, -0.3)),  # no range: /10 .. x10 around it
        (1.0, None, 7.0, True, set(), (3.0, 14.0)),  # no range: 7//2 .. 7x2, the minimum unused
        (1.0, None, 0.0, True, set(), (1.0, 100.0)),  # no range and no positive default
        (None, 1.0, 0.0, False, set(), (-1.0, 1.0)),
    ],
)
def test_tao_s_open_bounds(low: float | None, high: float | None, default: float, is_int: bool, infinite: set[str], want: tuple[float, float]) -> None:
    assert open_bounds(low, high, default, is_int, frozenset(infinite))[:2] == pytest.approx(want)


def test_a_user_side_stands_and_the_open_one_follows_tao() -> None:
    by = {p.path: p for p in _build(ranges={"model.queries": {"min": 100}}).params}
    assert (by["model.queries"].low, by["model.queries"].high) == (100, 600)


def test_infinite_bounds_read_every_spelling_of_the_tao_file() -> None:
    raw = {"properties": {"a": {"maximum": float("inf"), "minimum": 1}, "b": {"properties": {"c": {"minimum": "-inf", "valid_max": "Infinity"}}}, "d": {"maximum": 5}}}
    assert infinite_bounds(normalize_schema(raw)[0]) == {"a": frozenset({"max"}), "b.c": frozenset({"min", "max"})}


def test_a_removed_leaf_is_not_searched_by_default() -> None:
    spec = schemas.defaults(SCHEMA)
    paths.remove(spec, paths.parse("model.layers"))
    space = _build(spec)
    assert "model.layers" not in space.names and "model.layers skipped: it was removed from the spec" in space.notes


def test_a_stated_list_is_taken_as_stated_but_never_a_disabled_leaf() -> None:
    space = _build(parameters=["train.optim.momentum", "distill.alpha", "model.frozen", "dataset.sources[0].weight", "train.num_epochs"])
    assert space.names == ["train.optim.momentum", "distill.alpha"]  # unflagged, and another action's section: as stated
    refused = _codes(space)
    assert refused["model.frozen"].startswith("model.frozen cannot be searched: 'model.frozen' is in automl_disabled_parameters")
    assert "'dataset.sources' is in automl_disabled_parameters" in refused["dataset.sources[0].weight"]  # inside a disabled array leaf
    assert "budget key" in refused["train.num_epochs"]


def test_a_disabled_flag_alone_refuses_a_leaf() -> None:
    unlisted = {**SCHEMA, "automl_disabled_parameters": []}
    space = build_space(unlisted, schemas.defaults(unlisted), AutomlSettings(parameters=["model.frozen"]))
    assert "model.frozen" in _codes(space) and "automl_enabled: false" in _codes(space)["model.frozen"]


# -- the real TAO skill bank --------------------------------------------------
def _tao_bank() -> Path:
    raw = os.environ.get("TAO_SKILL_BANK")
    if not raw:
        pytest.skip("TAO_SKILL_BANK is unset (CI sets it to ../shared/tao-skill-bank)")
    path = Path(raw) if Path(raw).is_absolute() else REPO / raw
    if not path.is_dir():
        pytest.skip(f"TAO_SKILL_BANK={raw} is not a folder")
    return path


@pytest.fixture(scope="module")
def tao() -> Any:
    return skillrun.load_bank([_tao_bank()], plugins=False, cache=False)


def _train_models() -> list[str]:
    raw = os.environ.get("TAO_SKILL_BANK")
    root = (Path(raw) if raw and Path(raw).is_absolute() else REPO / (raw or "-")) / "skills" / "models"
    return sorted(p.parent.parent.name for p in root.glob("*/schemas/train.schema.json")) or ["(none)"]


# TAO's value types its brains sample, and the action blocks a train run leaves alone (params.py: _VALID_TYPES, _ACTION_SCOPED_BLOCKS less train).
TAO_TYPES = {"int", "integer", "float", "ordered_int", "bool", "string", "ordered", "categorical", "list_1_backbone", "list_1_normal", "list_2", "list_3", "subset_list", "optional_list", "collection", "dict"}
NOT_TRAIN = {"distill", "evaluate", "export", "gen_trt_engine", "inference", "prune", "quantize", "retrain", "dataset_convert"}


def _tao_leaves(props: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """TAO's flatten_properties, restated: open object sections that have properties."""
    for key, node in props.items():
        if not isinstance(node, dict):
            continue  # TAO's generator leaks per-section automl lists in here
        path = f"{prefix}.{key}" if prefix else key
        if node.get("type") in ("object", "collection", "dict") and "properties" in node:
            yield from _tao_leaves(node["properties"], path)
        else:
            yield path, node


def _tao_type(node: dict[str, Any]) -> str:
    kind = node.get("type", "")
    if node.get("enum"):
        return "ordered_int" if kind in ("int", "integer", "ordered_int") and all(isinstance(o, int) for o in node["enum"]) else "categorical"
    return {"number": "float", "boolean": "bool"}.get(kind, kind)


def _tao_space(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What TAO's generate_hyperparams_to_search picks for train from a schema file, restated independently."""
    return {p: n for p, n in _tao_leaves(raw["properties"]) if n.get("automl_enabled") is True and _tao_type(n) in TAO_TYPES and p.split(".")[0] not in NOT_TRAIN}


def _tao_range(node: dict[str, Any]) -> tuple[float, float]:
    """The range TAO's bayesian brain draws a number from (positive defaults, as the bank has)."""
    is_int, d = _tao_type(node) in ("int", "integer"), node["default"]
    low, high = node.get("minimum", ""), node.get("maximum", "")
    if low != "" and high != "" and not math.isinf(low) and not math.isinf(high):
        return low, high
    assert d > 0, node
    if low == "" or high == "":
        return (max(1, d // 2), d * 2) if is_int else (d / 10, d * 10)
    factor = 2 if is_int else 10
    high = d * factor if math.isinf(high) else high
    low = (max(1, d / factor) if is_int else d / factor) if math.isinf(low) else low
    return low, high


def _raw(model: str) -> dict[str, Any]:
    return json.loads((_tao_bank() / "skills" / "models" / model / "schemas" / "train.schema.json").read_text())


def test_rtdetr_launch_review_searches_what_tao_searches(tao: Any) -> None:
    review = skillrun.plan("tao-train-rtdetr", "train", bank=tao, backend="docker", check_data=False).study.review
    raw = _raw("tao-train-rtdetr")
    rows = {r["path"]: r for r in review.space}
    manifest = json.loads((_tao_bank() / "skills" / "models" / "tao-train-rtdetr" / "schemas" / "manifest.json").read_text())
    assert len(raw["automl_default_parameters"]) == 15
    assert set(rows) == set(raw["automl_default_parameters"]) == set(manifest["actions"]["train"]["automl_default_parameters"]) == set(_tao_space(raw))
    for path, node in _tao_space(raw).items():
        assert (rows[path]["low"], rows[path]["high"]) == _tao_range(node), path
    assert (rows["dataset.batch_size"]["low"], rows["dataset.batch_size"]["high"]) == (1, 8)  # default 4, minimum 1, maximum inf
    assert rows["dataset.batch_size"]["source"] == "schema (TAO: unbounded max = default 4 x2)"
    assert (rows["model.dec_layers"]["low"], rows["model.dec_layers"]["high"]) == (3, 12)  # no maximum: around default 6
    assert (rows["model.enc_layers"]["low"], rows["model.enc_layers"]["high"]) == (1, 2)
    assert (rows["model.num_queries"]["low"], rows["model.num_queries"]["high"]) == (1, 600)
    assert (rows["train.optim.lr"]["low"], rows["train.optim.lr"]["high"], rows["train.optim.lr"]["source"]) == (0.0, 1.0, "schema")
    assert not review.notes


@pytest.mark.parametrize("model", _train_models())
def test_every_tao_train_model_plans_tao_s_space(tao: Any, model: str) -> None:
    raw = _raw(model)
    spec = skillrun.compose(model, "train", bank=tao).spec
    space = skill_space(tao.get(model), spec, AutomlSettings())
    by = {p.path: p for p in space.params}
    assert by and not space.issues
    helper_lists = {p for p, n in _tao_space(raw).items() if _tao_type(n).startswith(("list_", "subset_list", "optional_list", "collection", "dict")) and not n.get("enum")}
    assert set(by) == set(_tao_space(raw)) - helper_lists  # what TAO samples with a per-network helper is left out, and said so
    assert all(any(n.startswith(f"{p} skipped") for n in space.notes) for p in helper_lists)
    assert not {p for p in by if p.split(".")[0] in tao.get(model).foreign_sections("train")}
    for path, param in by.items():
        node = _tao_space(raw)[path]
        if _tao_type(node) in ("int", "integer", "float"):
            assert (param.low, param.high) == _tao_range(node), path


def test_a_spec_value_outside_tao_s_bounds_is_planned_and_said(tao: Any) -> None:
    review = skillrun.plan("tao-train-rtdetr", "train", overrides=["dataset.batch_size=16"], bank=tao, backend="docker", check_data=False).study.review
    row = next(r for r in review.space if r["path"] == "dataset.batch_size")
    assert (row["low"], row["high"], row["baseline"]) == (1, 8, 16)
    assert any(n.startswith("dataset.batch_size: the spec's 16 lies outside [1, 8]") for n in review.notes)


def test_a_stated_tao_leaf_with_automl_disabled_is_refused_by_name(tao: Any) -> None:
    skill = tao.get("tao-train-rtdetr")
    spec = skillrun.compose("tao-train-rtdetr", "train", bank=tao).spec
    space = skill_space(skill, spec, AutomlSettings(parameters=["train.optim.lr", "model.hidden_dim", "train.cudnn.benchmark"]))
    assert space.names == ["train.optim.lr", "train.cudnn.benchmark"]  # an unflagged leaf of a disabled section, as stated
    assert _codes(space) == {"model.hidden_dim": "model.hidden_dim cannot be searched: 'model.hidden_dim' is in automl_disabled_parameters"}
    flag_only = skill_space(skill, spec, AutomlSettings(parameters=["model.hidden_dim"]))  # flagged false in the file too
    assert skill.schema("train")["properties"]["model"]["properties"]["hidden_dim"]["automl_enabled"] is False and not flag_only.params
