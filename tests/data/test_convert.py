"""dataset-convert: each format built independently (skillrun.data.sdg_formats), converted, checked exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skillrun.data import convert
from skillrun.data.formats.common import DataError
from skillrun.data.sdg import SdgSplit, generate_coco
from skillrun.data.sdg_formats import write_jsonl, write_kitti, write_yolo
from tests.data.test_prepare import jobs_in, needs_wire

SORTED = {"box": 1, "cone": 2, "pallet": 3}  #: KITTI/JSONL without a names file: sorted labels
BY_ID = {"pallet": 1, "box": 2, "cone": 3}  #: COCO/YOLO keep the category-id order (201, 305, 412)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> SdgSplit:
    """Five non-square images (48x32: a swapped width/height shows), sparse ids 201/305/412."""
    return generate_coco(tmp_path_factory.mktemp("conv"), splits={"train": 5}, image_size=(48, 32), seed=2).splits["train"]


def source(split: SdgSplit) -> dict[str, Any]:
    return json.loads(split.json_file.read_text())


def expected_coco(split: SdgSplit, ids: dict[str, int], action: str, file_name: Any = lambda f: f) -> dict[str, Any]:
    """The generated split as a converter must write it: ids 1..N by ``ids``, annotation ids renumbered."""
    src = source(split)
    names = {c["id"]: c["name"] for c in src["categories"]}
    anns = [{"id": i, "image_id": a["image_id"], "category_id": ids[names[a["category_id"]]], "bbox": a["bbox"], "area": a["area"], "iscrowd": 0} for i, a in enumerate(src["annotations"], start=1)]
    images = [{**im, "file_name": file_name(im["file_name"])} for im in src["images"]]
    cats = [{"id": i, "name": n} for n, i in sorted(ids.items(), key=lambda kv: kv[1])]
    return {"info": {"description": f"skillrun dataset-convert {action}"}, "licenses": [], "images": images, "annotations": anns, "categories": cats}


def boxes(coco: dict[str, Any]) -> list[tuple[str, str, list[float]]]:
    """(file name, class name, bbox) triples: what a round trip must preserve."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {im["id"]: Path(im["file_name"]).name for im in coco["images"]}
    return sorted((files[a["image_id"]], names[a["category_id"]], [round(v, 2) for v in a["bbox"]]) for a in coco["annotations"])


def run_ok(cli: Any, *args: Any) -> dict[str, Any]:
    res = cli("run", "dataset-convert", *map(str, args), "--json")
    assert res.code == 0, res.out
    job = res.json()["job"]
    return json.loads((Path(job["results_dir"]) / args[0] / "report.json").read_text())


def test_kitti_to_coco_through_the_cli(cli: Any, split: SdgSplit, tmp_path: Path) -> None:
    labels, images = write_kitti(split, tmp_path / "kitti")
    out = tmp_path / "kitti.json"
    report = run_ok(cli, "kitti-to-coco", f"input={labels}", f"output={out}")  # image_dir found: image_2/ beside label_2/
    assert json.loads(out.read_text()) == expected_coco(split, SORTED, "kitti-to-coco")
    assert report["image_dir"] == str(images) and report["skipped"] == {"ignored:DontCare": 1}
    assert report["rtdetr_source"] == {"image_dir": str(images), "json_file": str(out)}
    assert report["kpi"] == {"images": 5, "annotations": split.num_annotations, "num_classes": 3}


def test_coco_yolo_round_trip_through_the_cli(cli: Any, split: SdgSplit, tmp_path: Path) -> None:
    labels = tmp_path / "yolo" / "labels"
    run_ok(cli, "coco-to-yolo", f"input={split.json_file}", f"output={labels}")
    assert (labels / "classes.txt").read_text() == "pallet\nbox\ncone\n"
    src = source(split)
    first = src["annotations"][0]
    x, y, w, h = first["bbox"]
    line = f"{[201, 305, 412].index(first['category_id'])} {(x + w / 2) / 48:.6f} {(y + h / 2) / 32:.6f} {w / 48:.6f} {h / 32:.6f}"
    assert (labels / "000000.txt").read_text().splitlines()[0] == line
    assert sorted(p.name for p in labels.iterdir()) == ["000000.txt", "000001.txt", "000002.txt", "000003.txt", "000004.txt", "classes.txt"]
    back = tmp_path / "back.json"
    report = run_ok(cli, "yolo-to-coco", f"input={labels}", f"image_dir={split.image_dir}", f"output={back}")
    coco = json.loads(back.read_text())
    assert boxes(coco) == boxes(src) and coco == expected_coco(split, BY_ID, "yolo-to-coco")
    assert report["class_names"] == str(labels / "classes.txt") and report["empty_images"] == sum(1 for im in src["images"] if not any(a["image_id"] == im["id"] for a in src["annotations"]))


def test_yolo_folder_with_data_yaml(split: SdgSplit, tmp_path: Path) -> None:
    labels, images, data_yaml = write_yolo(split, tmp_path / "ultra")
    out = tmp_path / "ultra.json"
    report = convert.yolo_to_coco({"input": str(labels), "output": str(out), "class_names": str(data_yaml)})  # images/ beside labels/
    assert json.loads(out.read_text()) == expected_coco(split, BY_ID, "yolo-to-coco")
    assert report["image_dir"] == str(images)


def test_jsonl_coco_round_trip_through_the_cli(cli: Any, split: SdgSplit, tmp_path: Path) -> None:
    jsonl, data = write_jsonl(split, tmp_path / "seed004")
    coco_file = tmp_path / "from_jsonl.json"
    run_ok(cli, "jsonl-to-coco", f"input={jsonl}", f"image_dir={data}", f"output={coco_file}")
    assert json.loads(coco_file.read_text()) == expected_coco(split, SORTED, "jsonl-to-coco", lambda f: Path(f).name)
    again = tmp_path / "again.jsonl"
    run_ok(cli, "coco-to-jsonl", f"input={coco_file}", f"output={again}")
    original = [json.loads(line) for line in jsonl.read_text().splitlines()]
    result = [json.loads(line) for line in again.read_text().splitlines()]
    assert [r["image_path"] for r in result] == [o["image_path"] for o in original]
    for o, r in zip(original, result):
        assert sorted(b["annotation_label"] for b in r["bounding_box_annotations"]) == sorted(b["annotation_label"] for b in o["bounding_box_annotations"])
        key = lambda b: (b["annotation_label"], b["x_min_normalized"], b["y_min_normalized"])  # noqa: E731
        for ob, rb in zip(sorted(o["bounding_box_annotations"], key=key), sorted(r["bounding_box_annotations"], key=key)):
            assert all(abs(ob[k] - rb[k]) <= 1e-6 for k in ob if k.endswith("_normalized"))


def test_reruns_rewrite_nothing_and_class_names_fix_the_order(split: SdgSplit, tmp_path: Path) -> None:
    labels, _ = write_kitti(split, tmp_path / "k", dontcare=False)
    names = tmp_path / "names.txt"
    names.write_text("pallet\nbox\ncone\nforklift\n")
    params = {"input": str(labels), "output": str(tmp_path / "k.json"), "class_names": str(names)}
    first = convert.kitti_to_coco(params)
    stamp = (tmp_path / "k.json").stat().st_mtime_ns
    assert convert.kitti_to_coco(params)["files_written"] == 0 and first["files_written"] == 1
    assert (tmp_path / "k.json").stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "k.json").read_text())["categories"] == [{"id": 1, "name": "pallet"}, {"id": 2, "name": "box"}, {"id": 3, "name": "cone"}, {"id": 4, "name": "forklift"}]
    names.write_text("pallet\nbox\n")
    with pytest.raises(DataError, match=r"labels cone are not in the class-names file"):
        convert.kitti_to_coco(params)


@pytest.mark.parametrize(
    ("fmt", "bad", "needle"),
    [
        ("kitti", "pallet 0 0 0 1 2\n", r"label_2/000000.txt:1 = 'pallet 0 0 0 1 2': has 6 column\(s\)"),
        ("kitti", "pallet 0 0 0 a b c d\n", r"columns 5-8 \(left top right bottom\) are not numbers"),
        ("yolo", "7 0.5 0.5 0.1 0.1\n", r"labels/000000.txt:1 = 7: class 7 is outside the class names \(allowed: 0..2"),
        ("yolo", "0 0.5 0.5 0.1 0.1 0.2 0.3\n", r"is not a YOLO box line"),
        ("jsonl", '{"image_path": "000000.png", "bounding_box_annotations": [{"annotation_label": "box"}]}\n', r"dataset.jsonl:1 = .*: does not have the seed-004 JSONL shape"),
    ],
)
def test_bad_label_lines_name_file_line_value_and_shape(split: SdgSplit, tmp_path: Path, fmt: str, bad: str, needle: str) -> None:
    if fmt == "kitti":
        labels, _ = write_kitti(split, tmp_path)
        (labels / "000000.txt").write_text(bad)
        work, params = convert.kitti_to_coco, {"input": str(labels)}
    elif fmt == "yolo":
        labels, _, data_yaml = write_yolo(split, tmp_path)
        (labels / "000000.txt").write_text(bad)
        work, params = convert.yolo_to_coco, {"input": str(labels), "class_names": str(data_yaml)}
    else:
        jsonl, _ = write_jsonl(split, tmp_path)
        jsonl.write_text(bad)
        work, params = convert.jsonl_to_coco, {"input": str(jsonl), "image_dir": str(tmp_path / "data")}
    with pytest.raises(DataError, match=needle) as err:
        work({**params, "output": str(tmp_path / "out.json")})
    assert err.value.issues[0].allowed and not (tmp_path / "out.json").exists()


def test_path_problems_are_preflight_issues(split: SdgSplit, tmp_path: Path) -> None:
    labels, _, _ = write_yolo(split, tmp_path / "y")
    spec = {"convert": {"input": str(split.json_file), "output": str(tmp_path / "o.json")}}
    (kind,) = convert.check(spec, "kitti-to-coco")
    assert (kind.path, kind.code, kind.value) == ("convert.input", "input_kind", str(split.json_file)) and "folder" in kind.message
    (names,) = convert.check({"convert": {"input": str(labels), "output": str(tmp_path / "o.json")}}, "yolo-to-coco")
    assert names.path == "convert.class_names" and str(labels / "classes.txt") in names.message
    (same,) = convert.check({"convert": {"input": str(split.json_file), "output": str(split.json_file)}}, "coco-to-jsonl")
    assert same.code == "output_is_input"
    assert convert.check({"convert": {"input": str(tmp_path / "missing"), "output": "x"}}, "coco-to-yolo") == []  # the inputs check reports it


@needs_wire
def test_wrong_input_kind_stops_the_run_before_any_job(cli: Any, split: SdgSplit, tmp_path: Path, _isolated_home: Path) -> None:
    res = cli("run", "dataset-convert", "kitti-to-coco", f"input={split.json_file}", f"output={tmp_path / 'o.json'}", "--json")
    assert res.code == 2 and res.json()["errors"][0]["path"] == "convert.input"
    assert jobs_in(_isolated_home) == []


@pytest.mark.parametrize("action", sorted(convert.KINDS))
def test_missing_input_exits_2_before_any_job(cli: Any, tmp_path: Path, _isolated_home: Path, action: str) -> None:
    res = cli("run", "dataset-convert", action, f"input={tmp_path / 'nope'}", f"output={tmp_path / 'out'}", "--json")
    assert res.code == 2, res.out
    (err,) = res.json()["errors"]
    assert err["path"] == "convert.input" and err["value"] == str(tmp_path / "nope")
    assert jobs_in(_isolated_home) == []
