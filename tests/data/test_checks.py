"""COCO checks (skillrun.data.checks): each problem found with exact ids and counts, and the statistics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

from skillrun.data.checks import CODES, CheckOptions, check_dataset, check_source
from skillrun.data.headers import read_headers
from skillrun.data.sdg import generate_coco


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ds = generate_coco(tmp_path_factory.mktemp("checks"), splits={"train": 10}, image_size=(64, 64), max_objects=3, seed=2)
    return ds.splits["train"].json_file.parent


@pytest.fixture
def data(base: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """A fresh copy of the clean split: (json_file, image_dir, parsed JSON)."""
    root = tmp_path / "train"
    shutil.copytree(base, root)
    json_file = root / "annotations.json"
    return json_file, root / "images", json.loads(json_file.read_text())


def save(json_file: Path, coco: dict[str, Any]) -> None:
    json_file.write_text(json.dumps(coco))


def found(report: Any) -> dict[str, tuple[int, list[Any]]]:
    return {p.code: (p.count, p.ids) for p in report.problems}


def errors(report: Any) -> set[str]:
    return {p.code for p in report.problems if p.level == "error"}


def busy_annotation(coco: dict[str, Any]) -> dict[str, Any]:
    """An annotation that can move without emptying its image or its class."""
    per_image = Counter(a["image_id"] for a in coco["annotations"])
    per_cat = Counter(a["category_id"] for a in coco["annotations"])
    return next(a for a in coco["annotations"] if per_image[a["image_id"]] > 1 and per_cat[a["category_id"]] > 1)


def test_clean_dataset_has_no_errors_and_exact_statistics(data) -> None:
    json_file, image_dir, coco = data
    report, checked = check_dataset([(json_file, image_dir)])
    assert report.ok and report.errors == 0
    empty = sorted({im["id"] for im in coco["images"]} - {a["image_id"] for a in coco["annotations"]})
    assert found(report) == {"images_without_annotations": (len(empty), empty)}
    stats = report.sources[0].stats
    assert stats is not None and report.sources[0].images_read
    assert (stats.images, stats.annotations, stats.categories) == (10, len(coco["annotations"]), 3)
    assert stats.modes == {"RGB": 10} and [(s.width, s.height, s.count) for s in stats.image_sizes] == [(64, 64, 10)]
    per_cat = Counter(a["category_id"] for a in coco["annotations"])
    assert {c.id: c.annotations for c in stats.classes} == {201: per_cat[201], 305: per_cat[305], 412: per_cat[412]}
    on_images = {c: len({a["image_id"] for a in coco["annotations"] if a["category_id"] == c}) for c in per_cat}
    assert {c.id: c.images for c in stats.classes} == on_images
    widths = [a["bbox"][2] for a in coco["annotations"]]
    assert stats.boxes.width is not None
    assert stats.boxes.width.p50 == pytest.approx(np.percentile(widths, 50), abs=1e-3)
    assert stats.boxes.width.p95 == pytest.approx(np.percentile(widths, 95), abs=1e-3)
    assert stats.boxes.small + stats.boxes.medium + stats.boxes.large == stats.boxes.count == len(widths)
    assert checked[0].categories == {201: "pallet", 305: "box", 412: "cone"}


def _first_image(coco: dict[str, Any]) -> dict[str, Any]:
    return coco["images"][0]


def _zero_width(coco, image_dir):
    a = busy_annotation(coco)
    a["bbox"][2] = 0
    return {"bad_boxes": [a["id"]]}


def _negative_height(coco, image_dir):
    a = busy_annotation(coco)
    a["bbox"][3] = -3
    return {"bad_boxes": [a["id"]]}


def _empty_bbox(coco, image_dir):
    a, b = coco["annotations"][:2]
    a["bbox"] = []
    b["bbox"] = [1, 2, None, 4]
    return {"empty_boxes": [a["id"], b["id"]]}


def _outside(coco, image_dir):
    a = busy_annotation(coco)
    a["bbox"] = [200, 200, 5, 5]
    return {"boxes_outside_image": [a["id"]]}


def _past_border(coco, image_dir):
    a = busy_annotation(coco)
    a["bbox"] = [60, 60, 10, 10]
    return {"boxes_out_of_bounds": [a["id"]]}


def _unknown_image(coco, image_dir):
    a = busy_annotation(coco)
    a["image_id"] = 999
    return {"unknown_image_ids": [a["id"]]}


def _string_image_id(coco, image_dir):
    a = busy_annotation(coco)
    a["image_id"] = str(a["image_id"])
    return {"unknown_image_ids": [a["id"]]}


def _unknown_category(coco, image_dir):
    a = busy_annotation(coco)
    a["category_id"] = 7
    return {"unknown_category_ids": [a["id"]]}


def _duplicate_annotation_id(coco, image_dir):
    a, b = coco["annotations"][:2]
    b["id"] = a["id"]
    return {"duplicate_annotation_ids": [a["id"]]}


def _duplicate_image(coco, image_dir):
    im = _first_image(coco)
    coco["images"].append(dict(im))
    return {"duplicate_image_ids": [im["id"]], "duplicate_file_names": [im["file_name"]]}


def _duplicate_category(coco, image_dir):
    coco["categories"].append({"id": 201, "name": "pallet-again"})
    return {"duplicate_category_ids": [201]}


def _bad_category_id(coco, image_dir):
    coco["categories"].append({"id": "x", "name": "y"})
    return {"bad_category_ids": ["x"]}


def _image_without_file_name(coco, image_dir):
    coco["images"].append({"id": 500, "width": 64, "height": 64})
    return {"bad_entries": [f"images[{len(coco['images']) - 1}]"]}


def _missing_image(coco, image_dir):
    name = _first_image(coco)["file_name"]
    (image_dir / name).unlink()
    return {"missing_images": [name]}


def _grayscale(coco, image_dir):
    name = _first_image(coco)["file_name"]
    Image.open(image_dir / name).convert("L").save(image_dir / name)
    return {"not_rgb": [name]}


def _rgba(coco, image_dir):
    name = coco["images"][1]["file_name"]
    Image.open(image_dir / name).convert("RGBA").save(image_dir / name)
    return {"not_rgb": [name]}


def _corrupt(coco, image_dir):
    name = _first_image(coco)["file_name"]
    (image_dir / name).write_bytes(b"this is not an image")
    return {"unreadable_images": [name]}


def _size_mismatch(coco, image_dir):
    im = _first_image(coco)
    im["width"] = 100
    return {"size_mismatch": [im["file_name"]]}


def _unused_category(coco, image_dir):
    coco["categories"].append({"id": 999, "name": "ghost"})
    return {"unused_categories": [999]}


def _missing_area(coco, image_dir):
    a = coco["annotations"][0]
    del a["area"]
    return {"missing_fields": [a["id"]]}


CASES: dict[str, Callable[[dict[str, Any], Path], dict[str, list[Any]]]] = {f.__name__.strip("_"): f for f in (
    _zero_width, _negative_height, _empty_bbox, _outside, _past_border, _unknown_image, _string_image_id, _unknown_category,
    _duplicate_annotation_id, _duplicate_image, _duplicate_category, _bad_category_id, _image_without_file_name,
    _missing_image, _grayscale, _rgba, _corrupt, _size_mismatch, _unused_category, _missing_area,
)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_found_with_its_ids_and_nothing_else_is_an_error(data, case: str) -> None:
    json_file, image_dir, coco = data
    expected = CASES[case](coco, image_dir)
    save(json_file, coco)
    report, _ = check_dataset([(json_file, image_dir)])
    got = found(report)
    for code, ids in expected.items():
        assert got.get(code) == (len(ids), ids), f"{code}: {[p.render() for p in report.problems]}"
    assert errors(report) == {c for c in expected if CODES[c].level == "error"}, [p.render() for p in report.problems]
    assert report.ok == (not errors(report))


def test_every_problem_names_file_field_allowed_and_hint(data) -> None:
    json_file, image_dir, coco = data
    for mutate in (_zero_width, _missing_image, _unknown_category):
        mutate(coco, image_dir)
    save(json_file, coco)
    report, _ = check_dataset([(json_file, image_dir)])
    by_code = {p.code: p for p in report.problems}
    assert by_code["missing_images"].field == "image_dir" and by_code["missing_images"].file == str(image_dir)
    assert by_code["bad_boxes"].field == "json_file" and by_code["bad_boxes"].file == str(json_file)
    for p in report.problems:
        assert p.hint and p.message and p.level == CODES[p.code].level
    assert [p.level for p in report.problems] == sorted((p.level for p in report.problems), key=lambda lv: lv != "error"), "errors come first"


def test_long_lists_keep_the_exact_count_and_the_first_ids(data) -> None:
    json_file, image_dir, coco = data
    for a in coco["annotations"]:
        a["bbox"][2] = 0
    save(json_file, coco)
    ids = [a["id"] for a in coco["annotations"]]
    report, _ = check_dataset([(json_file, image_dir)], CheckOptions(max_ids=4))
    p = next(p for p in report.problems if p.code == "bad_boxes")
    assert p.count == len(ids) and p.ids == ids[:4]
    assert f"annotation ids {ids[0]}, {ids[1]}, {ids[2]} and {len(ids) - 3} more" in p.message


@pytest.mark.parametrize(("text", "code", "words"), [
    ("{not json", "bad_json", "not valid JSON"),
    ("[1, 2]", "not_coco", "top level is a JSON list"),
    ('{"images": [], "annotations": []}', "not_coco", "categories missing"),
])
def test_unloadable_annotation_files(tmp_path: Path, text: str, code: str, words: str) -> None:
    bad = tmp_path / "ann.json"
    bad.write_text(text)
    checked = check_source(bad, tmp_path)
    assert [(p.code, p.level) for p in checked.problems] == [(code, "error")]
    assert words in checked.problems[0].message and checked.report.stats is None
    missing = check_source(tmp_path / "nope.json")
    assert [p.code for p in missing.problems] == ["unreadable_json"]


def test_without_an_image_folder_boxes_are_checked_against_the_json_sizes(data) -> None:
    json_file, image_dir, coco = data
    _outside(coco, image_dir)
    shutil.rmtree(image_dir)
    save(json_file, coco)
    checked = check_source(json_file, None)
    assert not checked.report.images_read
    assert {p.code for p in checked.problems if p.level == "error"} == {"boxes_outside_image"}


def test_all_images_missing_lists_what_the_folder_holds(data, tmp_path: Path) -> None:
    json_file, _, coco = data
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "readme.txt").write_text("x")
    report, _ = check_dataset([(json_file, other)])
    p = next(p for p in report.problems if p.code == "missing_images")
    assert p.count == 10 and "10 of 10 images" in p.message and "readme.txt" in (p.hint or "")


def test_normalised_boxes_and_class_imbalance_are_warnings(data) -> None:
    json_file, image_dir, coco = data
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        a["bbox"] = [x / 64, y / 64, w / 64, h / 64]
    top = coco["annotations"][0]
    for k in range(40):
        coco["annotations"].append({**top, "id": 1000 + k})
    save(json_file, coco)
    report, checked = check_dataset([(json_file, image_dir)])
    assert report.ok
    got = found(report)
    assert got["normalised_boxes"][0] == len(coco["annotations"])
    counts = Counter(a["category_id"] for a in coco["annotations"])
    rare = sorted((c for c in counts if counts[c] * 10 <= max(counts.values())), key=lambda c: (counts[c], c))
    assert rare and got["class_imbalance"] == (len(rare), rare)


def test_several_sources_and_a_category_named_differently(data, tmp_path: Path) -> None:
    json_file, image_dir, coco = data
    coco["categories"][0]["name"] = "pallet-v2"
    other = tmp_path / "other.json"
    save(other, coco)
    report, checked = check_dataset([(json_file, image_dir), (other, image_dir)])
    assert report.ok and len(report.sources) == 2 and [s.index for s in report.sources] == [0, 1]
    conflict = [p for p in report.problems if p.code == "category_conflict"]
    assert len(conflict) == 1 and conflict[0].source == 1 and conflict[0].ids == [201]
    assert "pallet / pallet-v2" in conflict[0].message


def test_header_reads_keep_order_across_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skillrun.data import headers

    monkeypatch.setattr(headers, "PROBE", 8)
    monkeypatch.setattr(headers, "SLOW_S", 0.0)  # as if on network storage: the rest goes to threads
    Image.new("RGB", (7, 5)).save(tmp_path / "a.png")
    Image.new("L", (3, 2)).save(tmp_path / "b.png")
    paths = [str(tmp_path / ("a.png" if k % 3 else "b.png")) for k in range(100)] + [str(tmp_path / "none.png")]
    heads = read_headers(paths, workers=4)
    assert heads == read_headers(paths, workers=1) and len(heads) == 101
    assert heads[0] == ("ok", "L", 3, 2) and heads[1] == ("ok", "RGB", 7, 5) and heads[-1][0] == "missing"


def test_checks_need_neither_numpy_nor_pillow(data) -> None:
    """The rtdetr preflight runs on the control plane, whose dependencies have neither."""
    json_file, image_dir, _ = data
    code = (
        "import sys; sys.modules['numpy'] = None; sys.modules['PIL'] = None\n"
        "import skillrun.validation.preflight\n"
        "from skillrun.data.checks import check_source\n"
        f"c = check_source({str(json_file)!r}, {str(image_dir)!r})\n"
        "print(sorted(p.code for p in c.problems), c.report.images_read)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "images_not_checked" in proc.stdout and proc.stdout.strip().endswith("False")
