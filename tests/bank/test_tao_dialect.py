"""TAO-dialect schemas normalise to standard draft 2020-12 (issue 2).

The fixture ``tests/fixtures/tao_bank/skills/models/tao-train-boxnet`` (a
fictional network) is written the way TAO Core's generator ships a skill: TAO
value types (``optional_list`` too), bare ``Infinity`` bounds and ``"inf"``
strings, ``???`` required markers, AutoML keys (list-valued ones inside
``properties`` as well), ``default: null`` on a plain type, a shipped default
that breaks its own bound, and a ``tags`` frontmatter field.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from skillrun.bank.tao_dialect import SCHEMA_URI, TAO_TYPES, is_tao_dialect, normalize_schema
from tests.conftest import TAO_BANK

SKILL = TAO_BANK / "skills" / "models" / "tao-train-boxnet"
ACTIONS = ("train", "evaluate")
#: the shipped default that breaks its own bound (as TAO ships pointpillars' train.tcp_port): key, default, a value within bounds
BAD_DEFAULT = ("train.tcp_port", 18888, 49152)


def raw(action: str) -> dict[str, Any]:
    return json.loads((SKILL / "schemas" / f"{action}.schema.json").read_text(encoding="utf-8"))


def norm(action: str) -> dict[str, Any]:
    return normalize_schema(raw(action))[0]


def template(action: str) -> dict[str, Any]:
    return yaml.safe_load((SKILL / "references" / f"spec_template_{action}.yaml").read_text(encoding="utf-8"))


def node(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    """Sub-schema at ``a.b[].c`` (``[]`` steps into ``items``)."""
    for part in dotted.split("."):
        name, items = part.removesuffix("[]"), part.endswith("[]")
        schema = schema["properties"][name]
        if items:
            schema = schema["items"]
    return schema


def types_used(schema: Any) -> set[str]:
    """Every ``type`` name anywhere in a raw schema tree (defaults hold no types here)."""
    if isinstance(schema, list):
        return set().union(*(types_used(x) for x in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    own = schema.get("type")
    found = set(own if isinstance(own, list) else [own] if isinstance(own, str) else [])
    return found.union(*(types_used(v) for k, v in schema.items() if k != "default"))


def fill_missing(spec: Any, values: dict[str, Any], path: str = "") -> Any:
    """Replace every ``???`` in ``spec`` by ``values[dotted path]`` (list indices dropped)."""
    if isinstance(spec, dict):
        return {k: fill_missing(v, values, f"{path}.{k}" if path else k) for k, v in spec.items()}
    if isinstance(spec, list):
        return [fill_missing(v, values, path) for v in spec]
    return values[path] if spec == "???" else spec


FILL = {
    "dataset.train_data_sources.image_dir": "/data/train/images",
    "dataset.train_data_sources.json_file": "/data/train/annotations.json",
    "dataset.val_data_sources.image_dir": "/data/val/images",
    "dataset.val_data_sources.json_file": "/data/val/annotations.json",
    "dataset.test_data_sources.image_dir": "/data/val/images",
    "dataset.test_data_sources.json_file": "/data/val/annotations.json",
    "evaluate.checkpoint": "/results/job1/train/model_epoch_011.pth",
}


def filled_template(action: str) -> dict[str, Any]:
    """The template as shipped, every ``???`` filled."""
    return fill_missing(template(action), FILL)


def valid_spec(action: str) -> dict[str, Any]:
    """The filled template with the shipped-bad default set within its bounds: valid under the schema."""
    spec = filled_template(action)
    key, _, good = BAD_DEFAULT
    return set_key(spec, key, good) if action == key.split(".")[0] else spec


def set_key(spec: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    *parents, last = dotted.split(".")
    target = out
    for p in parents:
        target = target[p]
    target[last] = value
    return out


def error_paths(schema: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    return [".".join(str(p) for p in e.absolute_path) for e in Draft202012Validator(schema).iter_errors(spec)]


# -- the fixture is really TAO dialect -----------------------------------------
def test_fixture_uses_every_tao_type_and_both_infinity_spellings() -> None:
    used = types_used(raw("train")) | types_used(raw("evaluate"))
    expected = {"float", "int", "bool", "string", "list", "collection", "categorical", "ordered", "ordered_int", "optional_list"}
    assert expected <= used
    text = (SKILL / "schemas" / "train.schema.json").read_text(encoding="utf-8")
    assert ": Infinity" in text and '"inf"' in text and '"Infinity"' in text and '"???"' in text


def test_fixture_has_what_the_real_generator_emits() -> None:
    """List-valued automl keys inside ``properties``, ``default: null`` on a plain type, a default below its own minimum."""
    train, evaluate = raw("train"), raw("evaluate")
    assert train["properties"]["automl_disabled_parameters"] == ["model", "dataset", "train"]  # root: as tao-train-rtdetr's
    assert evaluate["properties"]["automl_disabled_parameters"] == ["model", "dataset", "evaluate"]
    assert isinstance(train["properties"]["dataset"]["properties"]["automl_disabled_parameters"], list)  # a section's own
    assert isinstance(train["properties"]["train"]["properties"]["automl_default_parameters"], list)
    plain_null = node(train, "model.pretrained_backbone_path")
    assert plain_null["type"] == "string" and plain_null["default"] is None
    assert node(train, "model.frozen_stages")["type"] == "optional_list"
    key, default, _ = BAD_DEFAULT
    bad = node(train, key)
    assert bad["default"] == default < bad["minimum"]
    assert train["x_tao_schema"]["network_arch"] == "boxnet" and train["x_tao_schema"]["action"] == "train"


def test_fixture_frontmatter_keeps_the_extra_tags_field() -> None:
    text = (SKILL / "SKILL.md").read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---")[1])
    assert front["name"] == SKILL.name
    assert front["tags"] == ["detection", "tao"]


@pytest.mark.parametrize("action", ACTIONS)
def test_template_is_the_schema_top_level_default(action: str) -> None:
    assert template(action) == raw(action)["default"]


# -- normalisation ---------------------------------------------------------------
@pytest.mark.parametrize("action", ACTIONS)
def test_normalised_fixture_is_a_valid_draft_2020_12_schema(action: str) -> None:
    schema, notes = normalize_schema(raw(action))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == SCHEMA_URI
    assert notes and all(": " in n for n in notes)
    json.dumps(schema, allow_nan=False)  # no Infinity left anywhere: strict JSON can carry it


@pytest.mark.parametrize(
    ("path", "json_type"),
    [
        ("results_dir", "string"),
        ("model", "object"),
        ("model.num_queries", "integer"),
        ("model.dropout_ratio", "number"),
        ("train.optim.lr", "number"),
        ("model.aux_loss", "boolean"),
        ("model.return_interm_indices", "array"),
        ("dataset.train_data_sources", "array"),
        ("dataset.train_data_sources[]", "object"),
        ("dataset.train_data_sources[].image_dir", "string"),
        ("dataset.augmentation.input_mean[]", "number"),
        ("encryption_key", ["string", "null"]),
        ("dataset.eval_class_ids", ["array", "null"]),
        ("model.pretrained_backbone_path", ["string", "null"]),  # "string" with default null: Optional[str] = None
        ("train.pretrained_model_path", ["string", "null"]),
        ("model.frozen_stages", ["array", "null"]),  # optional_list
        ("model.frozen_stages[]", "integer"),
        ("train.tcp_port", "integer"),
    ],
)
def test_simple_tao_types_map_to_json_types(path: str, json_type: Any) -> None:
    assert node(norm("train"), path)["type"] == json_type


def test_root_collection_becomes_object() -> None:
    assert raw("train")["type"] == "collection"
    assert norm("train")["type"] == "object"


def test_categorical_keeps_its_enum_as_strings() -> None:
    before, after = node(raw("train"), "model.backbone"), node(norm("train"), "model.backbone")
    assert after["type"] == "string"
    assert after["enum"] == before["enum"]
    assert after["valid_options"] == ["resnet_50", "fan_small", "swin_tiny_224_1k"]
    assert after["option_weights"] == [0.5, 0.25, 0.25]


def test_categorical_with_non_string_enum_keeps_only_the_enum() -> None:
    schema, _ = normalize_schema({"type": "categorical", "enum": ["auto", 1, 2]})
    assert "type" not in schema and schema["enum"] == ["auto", 1, 2]


def test_ordered_becomes_an_enum_typed_from_its_values() -> None:
    lr_decay = node(norm("train"), "train.optim.lr_decay")
    assert lr_decay["type"] == "number" and lr_decay["enum"] == [0.1, 0.2, 0.5]
    max_dets = node(norm("evaluate"), "evaluate.max_dets")
    assert max_dets["type"] == "integer" and max_dets["enum"] == [1, 10, 100]


def test_ordered_options_written_as_strings_become_numbers() -> None:
    out, _ = normalize_schema({"type": "ordered", "enum": ["0.1", "0.5"]})
    assert out["type"] == "number" and out["enum"] == [0.1, 0.5]
    out, _ = normalize_schema({"type": "ordered_int", "valid_options": ["8", "16"]})
    assert out["type"] == "integer" and out["enum"] == [8, 16]
    out, _ = normalize_schema({"type": "ordered", "enum": ["low", "high"]})
    assert out["type"] == "string" and out["enum"] == ["low", "high"]


def test_ordered_int_is_an_integer_enum() -> None:
    levels = node(norm("train"), "model.num_feature_levels")
    assert levels["type"] == "integer" and levels["enum"] == [1, 2, 3, 4]
    hidden = node(norm("train"), "model.hidden_dim")  # options only as a comma-separated string
    assert hidden["type"] == "integer" and hidden["enum"] == [128, 256, 512]
    assert hidden["valid_options"] == [128, 256, 512]


def test_infinite_bounds_are_dropped_and_finite_ones_kept() -> None:
    schema = norm("train")
    queries = node(schema, "model.num_queries")  # maximum: Infinity (bare token)
    assert queries["minimum"] == 1 and "maximum" not in queries
    assert (queries["valid_min"], queries["valid_max"]) == (300, 900)
    assert "maximum" not in node(schema, "model.num_select")  # "inf"
    assert "maximum" not in node(schema, "train.optim.lr_backbone")  # "Infinity"
    assert "maximum" not in node(schema, "train.optim.weight_decay")
    dropout = node(schema, "model.dropout_ratio")
    assert (dropout["minimum"], dropout["maximum"]) == (0.0, 1.0)
    assert node(schema, "dataset.augmentation.input_std[]")["exclusiveMinimum"] == 0.0


def test_numeric_string_bounds_become_numbers() -> None:
    lr = node(norm("train"), "train.optim.lr")
    assert lr["valid_min"] == pytest.approx(1e-6) and lr["valid_max"] == pytest.approx(1e-3)
    assert lr["exclusiveMinimum"] == 0 and "maximum" not in lr
    batch = node(norm("train"), "dataset.batch_size")
    assert batch["valid_max"] == 16 and isinstance(batch["valid_max"], int)


def test_tao_extension_keys_are_kept_by_name() -> None:
    schema = norm("train")
    assert "train.optim.lr" in schema["automl_default_parameters"]
    assert "train.num_gpus" in schema["automl_disabled_parameters"]
    assert node(schema, "dataset.batch_size")["math_cond"] == "^ 2"
    assert node(schema, "dataset.augmentation.random_resize_max_size")["math_cond"] == "/ 32"
    assert node(schema, "train.optim.lr_backbone")["depends_on"] == "train.optim.lr"
    assert node(schema, "train.optim.lr")["automl_enabled"] == "TRUE"
    assert schema["properties"]["model"]["popular"] == ["backbone", "num_queries"]


def test_list_valued_automl_keys_inside_properties_move_to_their_section() -> None:
    before, schema = raw("train"), norm("train")
    # the root's list joins the root's own list (nothing of either is lost) and leaves properties
    assert "automl_disabled_parameters" not in schema["properties"]
    assert schema["automl_disabled_parameters"] == list(dict.fromkeys([*before["automl_disabled_parameters"], "model", "dataset", "train"]))
    # a section's lists become the section's own keys
    dataset, train = node(schema, "dataset"), node(schema, "train")
    assert dataset["automl_disabled_parameters"] == ["train_data_sources", "val_data_sources", "augmentation"]
    assert train["automl_default_parameters"] == ["optim.lr", "optim.lr_decay", "num_epochs"]
    assert "automl_disabled_parameters" not in dataset["properties"] and "automl_default_parameters" not in train["properties"]
    assert all(isinstance(v, dict) for sub in (schema, dataset, train) for v in sub["properties"].values())


def test_null_default_on_a_plain_type_and_optional_list_allow_null() -> None:
    spec = valid_spec("train")
    assert error_paths(norm("train"), set_key(spec, "model.pretrained_backbone_path", None)) == []
    assert error_paths(norm("train"), set_key(spec, "model.pretrained_backbone_path", "/ptm/backbone.pth")) == []
    assert error_paths(norm("train"), set_key(spec, "model.pretrained_backbone_path", 3)) == ["model.pretrained_backbone_path"]
    assert error_paths(norm("train"), set_key(spec, "model.frozen_stages", [0, 1])) == []
    assert error_paths(norm("train"), set_key(spec, "model.frozen_stages", None)) == []
    assert error_paths(norm("train"), set_key(spec, "model.frozen_stages", "0,1")) == ["model.frozen_stages"]
    assert error_paths(norm("train"), set_key(spec, "model.frozen_stages", [5])) == ["model.frozen_stages.0"]


def test_missing_markers_are_kept() -> None:
    train, evaluate = norm("train"), norm("evaluate")
    assert node(train, "dataset.train_data_sources[].image_dir")["default"] == "???"
    assert node(train, "dataset.val_data_sources.json_file")["default"] == "???"
    assert node(evaluate, "evaluate.checkpoint")["default"] == "???"
    assert evaluate["default"]["evaluate"]["checkpoint"] == "???"


@pytest.mark.parametrize("action", ACTIONS)
def test_input_is_not_mutated(action: str) -> None:
    schema = raw(action)
    before = copy.deepcopy(schema)
    normalize_schema(schema)
    assert schema == before


def test_notes_name_the_path_and_the_change() -> None:
    _, notes = normalize_schema(raw("train"))
    assert any(n.startswith("model.num_queries:") and "maximum" in n for n in notes)
    assert any(n.startswith("train.optim.lr:") and "'float' -> 'number'" in n for n in notes)
    assert any(n.startswith("(root):") and "properties.automl_disabled_parameters" in n for n in notes)
    assert any(n.startswith("train:") and "properties.automl_default_parameters" in n for n in notes)
    assert any(n.startswith("model.pretrained_backbone_path:") and "null" in n for n in notes)


def test_existing_schema_uri_is_kept_and_standard_schema_is_untouched() -> None:
    standard = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                "properties": {"lr": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}}}
    out, notes = normalize_schema(standard)
    assert out == standard and notes == []


def test_recurses_through_defs_combinators_and_additional_properties() -> None:
    schema = {
        "$defs": {"Lr": {"type": "float", "maximum": "+inf"}},
        "definitions": {"Flag": {"type": "bool"}},
        "type": "collection",
        "additionalProperties": {"type": "int", "minimum": "-Infinity"},
        "properties": {"x": {"anyOf": [{"type": "float"}, {"type": "null"}]},
                       "y": {"allOf": [{"type": "ordered_int", "valid_options": "1, 2"}]},
                       "z": {"oneOf": [{"type": "list", "items": {"type": "collection"}}]}},
    }
    out, _ = normalize_schema(schema)
    Draft202012Validator.check_schema(out)
    assert out["$defs"]["Lr"] == {"type": "number", "x_unbounded": ["max"]}  # the infinite side is dropped and recorded
    assert out["definitions"]["Flag"] == {"type": "boolean"}
    assert out["additionalProperties"] == {"type": "integer", "x_unbounded": ["min"]}
    assert out["properties"]["x"]["anyOf"][0] == {"type": "number"}
    assert out["properties"]["y"]["allOf"][0]["enum"] == [1, 2]
    assert out["properties"]["z"]["oneOf"][0] == {"type": "array", "items": {"type": "object"}}


def test_null_and_empty_bounds_are_dropped_and_valid_options_split() -> None:
    out, _ = normalize_schema({"type": "float", "minimum": None, "maximum": "", "valid_min": "", "valid_max": "10"})
    assert out == {"$schema": SCHEMA_URI, "type": "number", "valid_max": 10}
    out, _ = normalize_schema({"type": "categorical", "valid_options": "a, b,c"})
    assert out["valid_options"] == ["a", "b", "c"] and out["type"] == "string"


# -- the normalised schema validates specs -----------------------------------------
@pytest.mark.parametrize("action", ACTIONS)
def test_filled_template_validates(action: str) -> None:
    spec = valid_spec(action)
    assert "???" not in json.dumps(spec)
    assert error_paths(norm(action), spec) == []


def test_the_shipped_template_breaks_only_its_own_bad_default() -> None:
    """As TAO ships it, the one schema error of a filled template is the default below its own minimum."""
    key, default, _ = BAD_DEFAULT
    schema, spec = norm("train"), filled_template("train")
    assert node(schema, key)["minimum"] > default and spec["train"]["tcp_port"] == default
    assert error_paths(schema, spec) == [key]
    assert error_paths(norm("evaluate"), filled_template("evaluate")) == []


@pytest.mark.parametrize(
    ("action", "path", "value"),
    [
        ("train", "dataset.batch_size", 0),  # minimum 1
        ("train", "train.optim.lr", -1),  # exclusiveMinimum 0
        ("train", "model.dropout_ratio", 1.5),  # maximum 1.0
        ("train", "model.backbone", "vgg16"),  # categorical enum
        ("train", "train.precision", "int4"),  # categorical enum
        ("train", "train.optim.lr_decay", 0.3),  # ordered enum
        ("train", "model.num_feature_levels", 5),  # ordered_int enum
        ("train", "train.num_epochs", 2.5),  # int
        ("train", "train.tcp_port", 80),  # minimum 49152
        ("train", "train.tcp_port", 70000),  # maximum 65535
        ("evaluate", "evaluate.conf_threshold", 2.0),  # maximum 1.0
        ("evaluate", "evaluate.max_dets", 50),  # ordered enum
    ],
)
def test_out_of_range_or_out_of_enum_values_fail(action: str, path: str, value: Any) -> None:
    spec = set_key(valid_spec(action), path, value)
    assert error_paths(norm(action), spec) == [path]


def test_huge_values_pass_where_the_bound_was_infinity() -> None:
    spec = set_key(valid_spec("train"), "model.num_queries", 10**9)
    assert error_paths(norm("train"), spec) == []


# -- detection -----------------------------------------------------------------
def test_is_tao_dialect() -> None:
    assert is_tao_dialect(raw("train")) and is_tao_dialect(raw("evaluate"))
    assert not is_tao_dialect(norm("train")) and not is_tao_dialect(norm("evaluate"))
    standard = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 8},
                                                 "s": {"type": "string", "enum": ["a"]}}}
    assert not is_tao_dialect(standard)
    assert is_tao_dialect({"type": "object", "properties": {"n": {"type": "integer", "maximum": math.inf}}})
    assert is_tao_dialect({"type": "object", "properties": {"n": {"type": "number", "valid_max": "Infinity"}}})
    assert is_tao_dialect({"type": "array", "items": {"type": ["int", "null"]}})
    assert not is_tao_dialect({"type": "object", "default": {"type": "float"}})  # defaults are data, not schema


# -- property: normalising is idempotent ---------------------------------------------
TYPE_NAMES = st.sampled_from(sorted(TAO_TYPES | {"string", "number", "integer", "boolean", "array", "object", "null"}))
BOUND = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(["inf", "-inf", "+inf", "Infinity", "-Infinity", "1e-4", "10", "-3", "0.5"]),
    st.integers(-100, 100),
    st.floats(allow_nan=False),  # includes +-inf
)
SCALAR = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet="ab1", min_size=1, max_size=3),
)
NAMES = st.text(alphabet="xyz", min_size=1, max_size=3)
LEAF = st.fixed_dictionaries(
    {"type": st.one_of(TYPE_NAMES, st.lists(TYPE_NAMES, min_size=1, max_size=3, unique=True))},
    optional={
        "minimum": BOUND,
        "maximum": BOUND,
        "exclusiveMinimum": BOUND,
        "exclusiveMaximum": BOUND,
        "valid_min": st.one_of(BOUND, st.lists(BOUND, max_size=3)),
        "valid_max": BOUND,
        "enum": st.lists(SCALAR, min_size=1, max_size=4),
        "valid_options": st.one_of(st.lists(SCALAR, max_size=4), st.text(alphabet="ab12,. ", max_size=8)),
        "default": st.one_of(st.just("???"), SCALAR),
        "math_cond": st.sampled_from(["^ 2", "/ 32", "> 0"]),
        "automl_enabled": st.sampled_from([True, False, "TRUE", "FALSE"]),
        "option_weights": st.lists(st.floats(0, 1), max_size=3),
    },
)
TREES = st.recursive(
    LEAF,
    lambda children: st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(["collection", "object"]),
                               "properties": st.dictionaries(NAMES, children, max_size=3)}),
        st.fixed_dictionaries({"type": st.sampled_from(["list", "array"]), "items": children}),
        st.fixed_dictionaries({"anyOf": st.lists(children, min_size=1, max_size=2)}),
        st.fixed_dictionaries({"$defs": st.dictionaries(NAMES, children, max_size=2),
                               "additionalProperties": children}),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(TREES)
def test_normalize_is_idempotent_and_standard(schema: dict[str, Any]) -> None:
    before = copy.deepcopy(schema)
    once, _ = normalize_schema(schema)
    twice, notes = normalize_schema(once)
    assert twice == once
    assert notes == []
    assert schema == before
    assert not is_tao_dialect(once)
    Draft202012Validator.check_schema(once)
    json.dumps(once, allow_nan=False)
