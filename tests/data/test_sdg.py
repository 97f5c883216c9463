"""Tests for the synthetic SDG dataset generator (skillrun.data.sdg)."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skillrun.data.sdg import DEFAULT_CATEGORIES, SdgDataset, generate_coco, main

SAT = 70  # shapes have max-min channel >= ~130, backgrounds <= ~20


def _load(split) -> dict:
    return json.loads(Path(split.json_file).read_text())


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> SdgDataset:
    return generate_coco(tmp_path_factory.mktemp("coco"), splits={"train": 24, "val": 8, "test": 6})


@pytest.fixture(scope="module")
def replicator(tmp_path_factory) -> SdgDataset:
    return generate_coco(tmp_path_factory.mktemp("rep"), layout="replicator", seed=3)


def test_coco_structure_and_unique_ids(coco):
    assert set(coco.splits) == {"train", "val", "test"}
    for name, split in coco.splits.items():
        assert split.json_file == coco.root / name / "annotations.json"
        assert split.image_dir == coco.root / name / "images"
        d = _load(split)
        assert {"images", "annotations", "categories"} <= set(d)
        assert len(d["images"]) == split.num_images and len(d["annotations"]) == split.num_annotations
        img_ids = [im["id"] for im in d["images"]]
        ann_ids = [a["id"] for a in d["annotations"]]
        assert len(set(img_ids)) == len(img_ids) and len(set(ann_ids)) == len(ann_ids)
        assert all(type(i) is int for i in img_ids + ann_ids)
        cat_ids = {c["id"] for c in d["categories"]}
        for im in d["images"]:
            assert set(im) >= {"id", "file_name", "width", "height"}
            with Image.open(split.image_dir / im["file_name"]) as pil:
                assert pil.mode == "RGB" and pil.size == (im["width"], im["height"]) == (128, 128)
        for a in d["annotations"]:
            assert set(a) >= {"id", "image_id", "category_id", "bbox", "area", "iscrowd"}
            assert a["image_id"] in set(img_ids) and a["category_id"] in cat_ids
            assert a["iscrowd"] == 0 and all(isinstance(v, float) for v in a["bbox"])
        for c in d["categories"]:
            assert set(c) >= {"id", "name", "supercategory"}


def test_boxes_inside_positive_area(coco):
    for split in coco.splits.values():
        d = _load(split)
        sizes = {im["id"]: (im["width"], im["height"]) for im in d["images"]}
        for a in d["annotations"]:
            x, y, w, h = a["bbox"]
            W, H = sizes[a["image_id"]]
            assert w > 0 and h > 0 and a["area"] > 0
            assert x >= 0 and y >= 0 and x + w <= W and y + h <= H
            assert a["area"] == w * h


def test_boxes_are_tight(coco):
    """The shape mask touches all four borders of its box; the ring just outside is background."""
    checked = 0
    for split in coco.splits.values():
        d = _load(split)
        files = {im["id"]: im["file_name"] for im in d["images"]}
        for a in d["annotations"]:
            rgb = np.asarray(Image.open(split.image_dir / files[a["image_id"]])).astype(int)
            shape = (rgb.max(axis=2) - rgb.min(axis=2)) > SAT
            x, y, w, h = (int(v) for v in a["bbox"])
            crop = shape[y:y + h, x:x + w]
            assert crop[0].any() and crop[-1].any() and crop[:, 0].any() and crop[:, -1].any()
            H, W = shape.shape
            if y > 0:
                assert not shape[y - 1, x:x + w].any()
            if y + h < H:
                assert not shape[y + h, x:x + w].any()
            if x > 0:
                assert not shape[y:y + h, x - 1].any()
            if x + w < W:
                assert not shape[y:y + h, x + w].any()
            checked += 1
    assert checked > 10


def test_every_category_in_every_split_and_sparse_ids(coco, replicator):
    for ds in (coco, replicator):
        assert ds.categories == DEFAULT_CATEGORIES
        for split in ds.splits.values():
            d = _load(split)
            assert {c["id"]: c["name"] for c in d["categories"]} == {201: "pallet", 305: "box", 412: "cone"}
            assert {a["category_id"] for a in d["annotations"]} == set(DEFAULT_CATEGORIES)


def test_guarantee_with_tight_capacity(tmp_path):
    cats = {7: "a", 70: "b", 700: "c", 7000: "d", 9001: "e"}
    ds = generate_coco(tmp_path, splits={"train": 3, "val": 2}, categories=cats, max_objects=3, seed=5)
    for split in ds.splits.values():
        assert {a["category_id"] for a in _load(split)["annotations"]} == set(cats)
    with pytest.raises(ValueError):
        generate_coco(tmp_path / "x", splits={"train": 1}, categories=cats, max_objects=3)


def test_some_empty_images(coco):
    d = _load(coco.splits["train"])
    with_boxes = {a["image_id"] for a in d["annotations"]}
    assert 0 < len(with_boxes) < len(d["images"])
    assert max(sum(a["image_id"] == i for a in d["annotations"]) for i in with_boxes) <= 3


def test_deterministic_bytes(tmp_path):
    for layout in ("coco", "replicator"):
        a = generate_coco(tmp_path / f"a_{layout}", layout=layout, seed=11)
        b = generate_coco(tmp_path / f"b_{layout}", layout=layout, seed=11)
        da, db = _digest(a.root), _digest(b.root)
        assert da == db and any(k.endswith(".png") for k in da)


def test_different_seeds_differ(tmp_path):
    a = _digest(generate_coco(tmp_path / "s0", seed=0).root)
    b = _digest(generate_coco(tmp_path / "s1", seed=1).root)
    assert a.keys() == b.keys()
    pngs = [k for k in a if k.endswith(".png")]
    assert sum(a[k] != b[k] for k in pngs) == len(pngs)
    assert a["train/annotations.json"] != b["train/annotations.json"]


def test_same_seed_same_images_across_layouts(coco, tmp_path):
    rep = generate_coco(tmp_path, layout="replicator", splits={"train": 24, "val": 8, "test": 6})
    for name in coco.splits:
        a = sorted((coco.root / name / "images").glob("*.png"))
        b = sorted((rep.root / name / "Replicator").glob("*.png"))
        assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_replicator_layout(replicator):
    root = replicator.root
    assert (root / "classes_unique.txt").read_text().splitlines() == list(replicator.categories.values())
    suffixes = set()
    for name, split in replicator.splits.items():
        split_dir = root / name
        jsons = list(split_dir.glob("coco_*.json"))
        assert jsons == [split.json_file]
        suffix = split.json_file.stem.rsplit("_", 1)[-1]
        assert len(suffix) == 8 and int(suffix, 16) >= 0
        suffixes.add(suffix)
        assert split.image_dir == split_dir and (split_dir / "Replicator").is_dir()
        d = _load(split)
        for im in d["images"]:
            assert im["file_name"].startswith("Replicator/rgb_") and im["file_name"].endswith(".png")
            assert (split_dir / im["file_name"]).is_file()
        assert len(list((split_dir / "Replicator").glob("*.png"))) == split.num_images
    assert len(suffixes) == len(replicator.splits)


def test_refuses_to_mix_with_old_output(tmp_path):
    generate_coco(tmp_path, layout="replicator", seed=1)
    with pytest.raises(FileExistsError):
        generate_coco(tmp_path, layout="replicator", seed=2)
    ds = generate_coco(tmp_path, layout="replicator", seed=2, overwrite=True)
    for name in ds.splits:
        assert len(list((tmp_path / name).glob("coco_*.json"))) == 1


def test_custom_size_and_invalid_args(tmp_path):
    ds = generate_coco(tmp_path / "ok", splits={"train": 4}, image_size=(96, 64), seed=2)
    d = _load(ds.splits["train"])
    assert {(im["width"], im["height"]) for im in d["images"]} == {(96, 64)}
    with Image.open(ds.splits["train"].image_dir / d["images"][0]["file_name"]) as pil:
        assert pil.size == (96, 64)
    for bad in ({"layout": "voc"}, {"categories": {0: "x"}}, {"categories": {1: "a", 2: "a"}},
                {"max_objects": 0}, {"splits": {"train": 0}}):
        with pytest.raises(ValueError):
            generate_coco(tmp_path / "bad", **bad)


def test_defaults_are_fast(tmp_path):
    start = time.perf_counter()
    generate_coco(tmp_path)
    assert time.perf_counter() - start < 2.0


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main([str(out), "--train", "5", "--val", "3", "--layout", "coco", "--seed", "0", "--size", "64"]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "train=5" in line and "val=3" in line
    assert len(json.loads((out / "val" / "annotations.json").read_text())["images"]) == 3
    assert main([str(out)]) == 2  # existing output is not silently mixed


@pytest.mark.parametrize("module", ["faster_coco_eval", "pycocotools"])
def test_loads_with_coco_api(coco, module):
    if module == "faster_coco_eval":
        COCO = pytest.importorskip("faster_coco_eval").COCO
    else:
        COCO = pytest.importorskip("pycocotools.coco").COCO
    api = COCO(str(coco.splits["val"].json_file))
    assert sorted(api.getCatIds()) == sorted(DEFAULT_CATEGORIES)
    assert len(api.getImgIds()) == coco.splits["val"].num_images
    assert len(api.getAnnIds()) == coco.splits["val"].num_annotations
