"""The dataset-validate skill: handler outputs, exit codes, job states, results, spec errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from skillrun.data.checks import CODES, check_dataset
from skillrun.data.dataset_report import DatasetReport
from skillrun.data.report_grid import grid_shape, pick
from skillrun.data.sdg import generate_coco
from skillrun.data.validate import run
from skillrun.results.summary import read_status
from tests.conftest import SKILLS


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ds = generate_coco(tmp_path_factory.mktemp("vskill"), splits={"train": 10}, image_size=(64, 64), seed=4)
    return ds.splits["train"].json_file.parent


@pytest.fixture
def clean(base: Path, tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "train"
    shutil.copytree(base, root)
    return root / "annotations.json", root / "images"


@pytest.fixture
def broken(clean: tuple[Path, Path]) -> tuple[Path, Path, dict[str, Any]]:
    """Three error-level problems: a zero-width box, a missing image, a grayscale image."""
    json_file, image_dir = clean
    coco = json.loads(json_file.read_text())
    missing = coco["images"][1]
    bad = next(a for a in coco["annotations"] if a["image_id"] != missing["id"])  # drawn: its image is still there
    bad["bbox"][2] = 0
    coco["bad_ann"] = bad["id"]  # extra top-level key: tests read it, COCO readers ignore it
    (image_dir / missing["file_name"]).unlink()
    grey = image_dir / coco["images"][2]["file_name"]
    Image.open(grey).convert("L").save(grey)
    json_file.write_text(json.dumps(coco))
    return json_file, image_dir, coco


def spec(json_file: Path, image_dir: Path, **validate: Any) -> dict[str, Any]:
    return {"dataset": {"json_file": str(json_file), "image_dir": str(image_dir), "sources": []}, "validate": {"num_samples": 6, "sample_size": 64, **validate}}


def test_clean_data_succeeds_with_report_samples_metrics_and_tables(clean, tmp_path: Path, capsys) -> None:
    json_file, image_dir = clean
    out = tmp_path / "results" / "validate"
    assert run(spec(json_file, image_dir), out) == 0
    report = DatasetReport.model_validate_json((out / "report.json").read_text())
    assert report.ok and report.errors == 0 and report.sources[0].stats.images == 10  # type: ignore[union-attr]
    assert report.samples == str(out / "samples.png")
    with Image.open(out / "samples.png") as img:
        assert img.format == "PNG" and img.mode == "RGB"
        cols, rows = grid_shape(6)
        assert img.size == (cols * 64, rows * 64) == (192, 128)
    events = read_status(out)
    assert [e.status for e in events] == ["STARTED", "SUCCESS"]
    assert events[-1].kpi["errors"] == 0 and events[-1].kpi["images"] == 10 and events[-1].kpi["categories"] == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["report"] == str(out / "report.json") and metrics["warnings"] == report.warnings
    printed = capsys.readouterr().out
    assert "class balance" in printed and "box sizes" in printed and "0 errors" in printed


def test_errors_exit_2_listing_every_problem(broken, tmp_path: Path) -> None:
    json_file, image_dir, coco = broken
    out = tmp_path / "validate"
    assert run(spec(json_file, image_dir), out) == 2
    report = json.loads((out / "report.json").read_text())
    assert not report["ok"] and report["errors"] == 3
    by_code = {p["code"]: p for p in report["problems"]}
    assert by_code["bad_boxes"]["ids"] == [coco["bad_ann"]]
    assert by_code["missing_images"]["ids"] == [coco["images"][1]["file_name"]]
    assert by_code["not_rgb"]["ids"] == [coco["images"][2]["file_name"]]
    assert [p["level"] for p in report["problems"]][:3] == ["error"] * 3
    last = read_status(out)[-1]
    assert last.status == "FAILURE" and last.error_class == "DatasetInvalid" and last.kpi["errors"] == 3
    assert last.message and last.message.startswith("3 error-level problems in the dataset (every problem: ")
    assert all(code in last.message for code in ("bad_boxes", "missing_images", "not_rgb"))
    assert (out / "samples.png").is_file(), "the grid is drawn from the images that could be read"


def test_images_with_box_problems_are_sampled_first(broken) -> None:
    json_file, image_dir, coco = broken
    _, checked = check_dataset([(json_file, image_dir)])
    bad_image = next(a["image_id"] for a in coco["annotations"] if a["id"] == coco["bad_ann"])
    picks = pick(checked, 4)
    images = checked[0].images
    assert images is not None and images.ids[picks[0][1]] == bad_image
    assert len(picks) == 4 and len(set(picks)) == 4
    assert images.files[1] not in [images.files[p] for _, p in picks], "a missing image is never drawn"


def test_fail_on_warning_and_never(clean, tmp_path: Path) -> None:
    json_file, image_dir = clean
    assert run(spec(json_file, image_dir, fail_on="warning"), tmp_path / "a") == 2, "the clean split has an image without boxes"
    assert run(spec(json_file, image_dir, fail_on="never", num_samples=0), tmp_path / "b") == 0
    assert not (tmp_path / "b" / "samples.png").exists()


def test_several_sources(clean, tmp_path: Path) -> None:
    json_file, image_dir = clean
    doc = spec(json_file, image_dir)
    doc["dataset"]["sources"] = [{"json_file": str(json_file), "image_dir": str(image_dir)}]
    assert run(doc, tmp_path / "v") == 0
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    assert [s["index"] for s in report["sources"]] == [0, 1]


def _job(res: Any) -> dict[str, Any]:
    data = res.json()
    return data["job"]


def test_a_job_with_errors_ends_error_and_results_show_the_report(cli, broken) -> None:
    json_file, image_dir, _ = broken
    res = cli("run", "dataset-validate", "validate", f"json_file={json_file}", f"image_dir={image_dir}", "samples=4", "--json")
    assert res.code == 1, res.out
    job = _job(res)
    assert job["state"] == "ERROR" and job["exit_code"] == 2 and job["error_class"] == "DatasetInvalid"
    assert re.match(r"3 error-level problems in the dataset \(every problem: .*/validate/report\.json\)", job["error_message"])
    assert job["metrics"]["errors"] == 3 and job["metrics"]["bad_boxes"] == 1 and job["metrics"]["missing_images"] == 1
    shown = cli("results", job["id"], "--json")
    assert shown.code == 0, shown.err
    found = shown.json()
    assert {name for name, out in found["outputs"].items() if out["files"]} == {"report", "samples", "metrics", "status"}
    assert found["metrics"]["not_rgb"] == 1 and found["metrics"]["report"].endswith("validate/report.json")
    human = cli("results", job["id"])
    assert human.code == 0 and "report.json" in human.out and "missing_images" in human.out


def test_a_clean_job_completes(cli, clean) -> None:
    json_file, image_dir = clean
    res = cli("run", "dataset-validate", "validate", f"json_file={json_file}", f"image_dir={image_dir}", "--json")
    assert res.code == 0, res.out
    job = _job(res)
    assert job["state"] == "COMPLETE" and job["metrics"]["errors"] == 0 and job["metrics"]["images"] == 10


@pytest.mark.parametrize(
    ("args", "path", "code"),
    [
        ((), "dataset.json_file", "rule:needs-a-source"),
        (("json_file={json}",), "dataset.json_file", "rule:json-file-needs-image-dir"),  # blamed on the field the user set
        (("json_file={json}.nope", "image_dir={dir}"), "dataset.json_file", "not_found"),
        (("sources=[{{json_file: {json}}}]",), "dataset.sources[0].image_dir", "missing"),
    ],
)
def test_spec_errors_stop_before_any_job(cli, clean, _isolated_home: Path, args: tuple[str, ...], path: str, code: str | None) -> None:
    json_file, image_dir = clean
    words = [a.format(json=json_file, dir=image_dir) for a in args]
    res = cli("run", "dataset-validate", "validate", *words, "--json")
    assert res.code == 2, res.out
    errors = {e["path"]: e for e in res.json()["errors"]}
    assert path in errors, errors
    assert code is None or errors[path]["code"] == code
    assert not (_isolated_home / "jobs").exists() or not any((_isolated_home / "jobs").iterdir())


def test_skill_md_documents_every_problem_code() -> None:
    text = (SKILLS / "dataset-validate" / "SKILL.md").read_text()
    table = dict(re.findall(r"^\| `([a-z_]+)` \| (error|warning) \|", text, flags=re.M))
    assert table == {code: info.level for code, info in CODES.items()}
