"""Behaviour of the RT-DETR data path (skillrun.engine.rtdetr.classmap / transforms / data) on SDG data."""
from __future__ import annotations

import colorsys
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from skillrun.data.sdg import SdgDataset, generate_coco  # noqa: E402
from skillrun.engine.rtdetr.classmap import ClassMap  # noqa: E402
from skillrun.engine.rtdetr.data import (  # noqa: E402
    CocoDetection,
    ImageFolderDataset,
    MultiScaleCollate,
    available_cpus,
    build_loader,
    collate,
    set_epoch,
)
from skillrun.engine.rtdetr.transforms import (  # noqa: E402
    PAD_VALUE,
    Compose,
    PhotometricDistort,
    RandomHorizontalFlip,
    RandomIoUCrop,
    Resize,
    SanitizeBoxes,
    ToTensor,
    adjust_hue,
    boxes_to_original,
    build_transforms,
    unletterbox_boxes,
)

SIZE = 96


def _src(ds: SdgDataset, split: str = "train") -> dict[str, str]:
    s = ds.splits[split]
    return {"image_dir": str(s.image_dir), "json_file": str(s.json_file)}


@pytest.fixture(scope="module")
def sdg(tmp_path_factory: pytest.TempPathFactory) -> SdgDataset:
    return generate_coco(tmp_path_factory.mktemp("sdg"), splits={"train": 6, "val": 3}, image_size=(SIZE, SIZE), seed=4)


@pytest.fixture(scope="module")
def sdg2(tmp_path_factory: pytest.TempPathFactory) -> SdgDataset:
    return generate_coco(tmp_path_factory.mktemp("sdg2"), splits={"train": 4}, image_size=(SIZE, SIZE), seed=9)


@pytest.fixture(scope="module")
def cmap(sdg: SdgDataset) -> ClassMap:
    return ClassMap.from_coco([sdg.splits["train"].json_file])


def _coco(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _coded_image(h: int, w: int) -> torch.Tensor:
    """Channel 0 = x / w, channel 1 = y / h: a crop's offset can be read from its first pixel."""
    x = torch.zeros(3, h, w)
    x[0] = torch.arange(w).float().view(1, w) / w
    x[1] = torch.arange(h).float().view(h, 1) / h
    return x


# -- class map ----------------------------------------------------------------------------


def test_class_map_from_sparse_ids_and_back(cmap: ClassMap, tmp_path: Path) -> None:
    assert cmap.category_ids == (201, 305, 412) and cmap.names == ("pallet", "box", "cone") and len(cmap) == 3
    assert [cmap.index(c) for c in (201, 305, 412)] == [0, 1, 2]
    assert [cmap.category(i) for i in range(3)] == [201, 305, 412]
    assert cmap.id2label() == {0: "pallet", 1: "box", 2: "cone"}
    payload = json.loads(json.dumps(cmap.to_dict()))
    assert ClassMap.from_dict(payload) == cmap
    with pytest.raises(KeyError, match="202"):
        cmap.index(202)
    with pytest.raises(IndexError):
        cmap.category(3)
    names = tmp_path / "names.txt"
    names.write_text("pallet\n\nbox\r\ncone\n")
    assert ClassMap.from_label_map(names) == ClassMap((0, 1, 2), ("pallet", "box", "cone"))
    ids = tmp_path / "ids.txt"
    ids.write_text("412 cone\n201 pallet\n305 big box\n")
    assert ClassMap.from_label_map(ids) == ClassMap((201, 305, 412), ("pallet", "big box", "cone"))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    with pytest.raises(ValueError, match="no categories"):
        ClassMap.from_coco([empty])


def test_conflicting_category_names_across_sources_name_both_files(sdg: SdgDataset, tmp_path: Path) -> None:
    a = sdg.splits["train"].json_file
    data = _coco(a)
    data["categories"][1]["name"] = "crate"  # id 305 is "box" in a
    b = tmp_path / "other.json"
    b.write_text(json.dumps(data))
    with pytest.raises(ValueError) as err:
        ClassMap.from_coco([a, b])
    assert str(a) in str(err.value) and str(b) in str(err.value) and "305" in str(err.value)


# -- datasets -----------------------------------------------------------------------------


def test_two_sources_are_concatenated(sdg: SdgDataset, sdg2: SdgDataset, cmap: ClassMap) -> None:
    ds = CocoDetection([_src(sdg), _src(sdg2)], cmap, build_transforms({"eval_spatial_size": [64, 64]}, train=False))
    n0, n1 = sdg.splits["train"].num_images, sdg2.splits["train"].num_images
    assert len(ds) == n0 + n1
    assert ds.coco_gt(0) == sdg.splits["train"].json_file and ds.coco_gt(1) == sdg2.splits["train"].json_file
    second = _coco(sdg2.splits["train"].json_file)
    for k in (0, n1 - 1):
        x, t = ds[n0 + k]
        im = second["images"][k]
        cats = [a["category_id"] for a in second["annotations"] if a["image_id"] == im["id"]]
        assert int(t["source"]) == 1 and int(t["image_id"]) == im["id"]
        assert sorted(t["class_labels"].tolist()) == sorted(cmap.index(c) for c in cats)
        assert t["class_labels"].dtype == torch.int64 and t["boxes"].dtype == torch.float32
    assert int(ds[0][1]["source"]) == 0


def test_boxes_are_normalized_cxcywh_after_a_plain_resize(sdg: SdgDataset, cmap: ClassMap) -> None:
    ds = CocoDetection([_src(sdg)], cmap, Compose([Resize((64, 80)), ToTensor()]))
    coco = _coco(sdg.splits["train"].json_file)
    for i, im in enumerate(coco["images"]):
        x, t = ds[i]
        assert x.shape == (3, 64, 80) and x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        assert t["size"].tolist() == [64, 80] and t["orig_size"].tolist() == [SIZE, SIZE]
        anns = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
        expected = torch.tensor([[(a["bbox"][0] + a["bbox"][2] / 2) / SIZE, (a["bbox"][1] + a["bbox"][3] / 2) / SIZE,
                                  a["bbox"][2] / SIZE, a["bbox"][3] / SIZE] for a in anns]).reshape(-1, 4)
        assert torch.allclose(t["boxes"], expected, atol=1e-5)
        assert t["class_labels"].tolist() == [cmap.index(a["category_id"]) for a in anns]


def test_crowd_boxes_are_skipped(sdg: SdgDataset, cmap: ClassMap, tmp_path: Path) -> None:
    data = _coco(sdg.splits["train"].json_file)
    first = data["annotations"][0]
    first["iscrowd"] = 1
    path = tmp_path / "crowd.json"
    path.write_text(json.dumps(data))
    ds = CocoDetection([{"image_dir": str(sdg.splits["train"].image_dir), "json_file": str(path)}], cmap)
    n = sum(1 for a in data["annotations"] if a["image_id"] == first["image_id"])
    index = [im["id"] for im in data["images"]].index(first["image_id"])
    assert len(ds[index][1]["boxes"]) == n - 1


def test_image_folder_dataset(sdg: SdgDataset, tmp_path: Path) -> None:
    folder = sdg.splits["val"].image_dir
    extra = tmp_path / "more"
    extra.mkdir()
    Image.new("RGBA", (40, 30)).save(extra / "b.webp")
    Image.new("L", (20, 10)).save(extra / "a.jpg")
    (extra / "notes.txt").write_text("not an image")
    ds = ImageFolderDataset([folder, extra], build_transforms({"eval_spatial_size": [64, 64]}, train=False))
    assert len(ds) == 3 + 2
    assert [p.name for p in ds.paths[-2:]] == ["a.jpg", "b.webp"]
    x, meta = ds[len(ds) - 1]
    assert x.shape == (3, 64, 64) and meta["file_name"] == "b.webp" and meta["orig_size"].tolist() == [30, 40]
    assert meta["size"].tolist() == [64, 64] and meta["path"] == str(extra / "b.webp")
    with pytest.raises(ValueError, match="does not exist"):
        ImageFolderDataset([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        ImageFolderDataset(tmp_path / "empty")


# -- transforms ---------------------------------------------------------------------------


def test_hflip_mirrors_cx(sdg: SdgDataset, cmap: ClassMap) -> None:
    plain = CocoDetection([_src(sdg)], cmap, Compose([Resize((64, 64)), ToTensor()]))
    flipped = CocoDetection([_src(sdg)], cmap, Compose([RandomHorizontalFlip(1.0), Resize((64, 64)), ToTensor()]))
    for i in range(len(plain)):
        (x0, t0), (x1, t1) = plain[i], flipped[i]
        assert torch.allclose(t1["boxes"][:, 0], 1.0 - t0["boxes"][:, 0], atol=1e-6)
        assert torch.allclose(t1["boxes"][:, 1:], t0["boxes"][:, 1:], atol=1e-6)
        assert torch.allclose(x1, x0.flip(-1), atol=1e-6)


def test_iou_crop_keeps_only_boxes_whose_centres_are_inside() -> None:
    h, w = 120, 160
    boxes = torch.tensor([[10.0, 10.0, 50.0, 40.0], [60.0, 30.0, 150.0, 110.0], [100.0, 5.0, 104.0, 9.0], [0.0, 70.0, 30.0, 120.0]])
    labels = torch.arange(4)
    crop = RandomIoUCrop(1.0)
    cropped = 0
    for seed in range(60):
        torch.manual_seed(seed)
        img, t = crop(_coded_image(h, w), {"boxes": boxes.clone(), "labels": labels.clone()})
        ch, cw = img.shape[-2:]
        assert len(t["boxes"]) == len(t["labels"])
        if (ch, cw) == (h, w):
            continue
        cropped += 1
        left, top = round(float(img[0, 0, 0]) * w), round(float(img[1, 0, 0]) * h)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        inside = (centres[:, 0] > left) & (centres[:, 0] < left + cw) & (centres[:, 1] > top) & (centres[:, 1] < top + ch)
        assert t["labels"].tolist() == labels[inside].tolist()
        expected = boxes[inside] - torch.tensor([left, top, left, top])
        expected[:, 0::2] = expected[:, 0::2].clamp(0, cw)
        expected[:, 1::2] = expected[:, 1::2].clamp(0, ch)
        assert torch.allclose(t["boxes"], expected)
        wh = t["boxes"][:, 2:] - t["boxes"][:, :2]
        assert bool((wh > 0).all()) and len(t["boxes"]) >= 1
    assert cropped >= 10
    img, t = crop(_coded_image(h, w), {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)})
    assert img.shape[-2:] == (h, w)  # nothing to anchor a crop on: left as is


def test_train_transforms_on_real_images_never_give_empty_boxes(sdg: SdgDataset, cmap: ClassMap) -> None:
    aug = {"train_spatial_size": [64, 64], "distortion_prob": 1.0, "iou_crop_prob": 1.0, "hflip_prob": 0.5}
    ds = CocoDetection([_src(sdg)], cmap, build_transforms(aug, train=True))
    torch.manual_seed(0)
    for _ in range(3):
        for i in range(len(ds)):
            x, t = ds[i]
            assert x.shape == (3, 64, 64) and t["size"].tolist() == [64, 64]
            assert bool((t["boxes"][:, 2:] > 0).all()) and bool((t["boxes"] >= 0).all() and (t["boxes"] <= 1).all())
            assert len(t["boxes"]) == len(t["class_labels"])


def test_sanitize_drops_tiny_boxes() -> None:
    t = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 5.5, 20.0], [1.0, 1.0, 3.0, 1.9], [2.0, 2.0, 3.0, 3.0]]),
         "labels": torch.tensor([0, 1, 2, 1]), "area": torch.tensor([100.0, 7.5, 1.8, 1.0]), "image_id": torch.tensor(7)}
    _, out = SanitizeBoxes(min_size=1)(torch.zeros(3, 20, 20), t)
    assert out["labels"].tolist() == [0, 1] and out["area"].tolist() == [100.0, 1.0]
    assert out["boxes"].tolist() == [[0.0, 0.0, 10.0, 10.0], [2.0, 2.0, 3.0, 3.0]] and int(out["image_id"]) == 7


def test_letterbox_keeps_aspect_ratio_and_round_trips_boxes() -> None:
    img = Image.new("RGB", (120, 60), (200, 10, 10))
    boxes = torch.tensor([[10.0, 5.0, 50.0, 40.0], [90.0, 20.0, 120.0, 60.0]])
    x, t = Compose([Resize((64, 96), letterbox=True), ToTensor()])(img, {"boxes": boxes.clone(), "labels": torch.tensor([0, 1]),
                                                                        "orig_size": torch.tensor([60, 120])})
    lb = t["letterbox"]
    assert x.shape == (3, 64, 96) and lb["content_size"] == (48, 96) and lb["pad"] == (0, 0)
    assert lb["scale"] == pytest.approx((0.8, 0.8)) and lb["content_size"][1] / lb["content_size"][0] == 120 / 60
    assert torch.allclose(x[:, 48:, :], torch.full((3, 16, 96), PAD_VALUE))  # grey bottom band
    assert torch.allclose(x[:, :48, :], torch.tensor([200, 10, 10]).view(3, 1, 1) / 255.0, atol=1e-5)
    assert torch.allclose(t["boxes"], boxes * 0.8)
    assert torch.allclose(unletterbox_boxes(t["boxes"], lb["scale"], lb["pad"], (60, 120)), boxes, atol=1e-4)
    t["size"] = torch.tensor([64, 96])
    assert torch.allclose(boxes_to_original(t["boxes"], t), boxes, atol=1e-4)
    stretched = {"orig_size": torch.tensor([60, 120]), "size": torch.tensor([64, 96])}
    assert torch.allclose(boxes_to_original(boxes * torch.tensor([0.8, 64 / 60, 0.8, 64 / 60]), stretched), boxes, atol=1e-4)


def test_photometric_distort_stays_in_unit_range() -> None:
    torch.manual_seed(0)
    base = torch.rand(3, 24, 24)
    distort = PhotometricDistort(1.0, op_p=1.0)
    changed = 0
    for _ in range(20):
        x, t = distort(base.clone(), {"boxes": torch.zeros(0, 4)})
        assert x.shape == base.shape and x.dtype == torch.float32
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        changed += int(not torch.allclose(x, base))
    assert changed == 20
    assert torch.allclose(adjust_hue(base, 0.0), base, atol=1e-5)
    rgb = (0.8, 0.3, 0.1)
    hh, s, v = colorsys.rgb_to_hsv(*rgb)
    want = colorsys.hsv_to_rgb((hh + 0.1) % 1.0, s, v)
    got = adjust_hue(torch.tensor(rgb).view(3, 1, 1), 0.1).flatten().tolist()
    assert got == pytest.approx(list(want), abs=1e-5)
    pil, _ = distort(Image.new("RGB", (8, 8), (250, 250, 5)), {})
    assert isinstance(pil, torch.Tensor) and 0.0 <= float(pil.min()) and float(pil.max()) <= 1.0


def test_build_transforms_from_the_spec() -> None:
    ev = build_transforms({"eval_spatial_size": [64, 96], "preserve_aspect_ratio": True}, train=False)
    assert [type(t).__name__ for t in ev.transforms] == ["Resize", "ToTensor"] and ev.transforms[0].letterbox
    tr = build_transforms({}, train=True)
    assert [type(t).__name__ for t in tr.transforms] == ["PhotometricDistort", "RandomIoUCrop", "RandomHorizontalFlip", "Resize", "SanitizeBoxes", "ToTensor"]
    assert tr.transforms[3].size == (640, 640)
    with pytest.raises(ValueError, match="hflip_prob"):
        build_transforms({"hflip_prob": 1.5}, train=True)
    with pytest.raises(ValueError, match="train_spatial_size"):
        build_transforms({"train_spatial_size": [640]}, train=True)


# -- batching and loaders -----------------------------------------------------------------


def test_multi_scale_collate_changes_size_only_before_stop_epoch(sdg: SdgDataset, cmap: ClassMap) -> None:
    ds = CocoDetection([_src(sdg)], cmap, build_transforms({"eval_spatial_size": [64, 64]}, train=False))
    batch = [ds[i] for i in range(3)]
    ref_images, ref_targets = collate(batch)
    ms = MultiScaleCollate([32, 96], stop_epoch=2)
    torch.manual_seed(0)
    seen = set()
    for _ in range(12):
        images, targets = ms(batch)
        side = images.shape[-1]
        seen.add(side)
        assert images.shape == (3, 3, side, side) and all(t["size"].tolist() == [side, side] for t in targets)
        for t, r in zip(targets, ref_targets):
            assert torch.equal(t["boxes"], r["boxes"]) and torch.equal(t["class_labels"], r["class_labels"])
    assert seen == {32, 96}
    ms.set_epoch(2)
    images, targets = ms(batch)
    assert torch.equal(images, ref_images) and targets[0]["size"].tolist() == [64, 64]
    images, _ = MultiScaleCollate([], stop_epoch=None)(batch)
    assert images.shape[-2:] == (64, 64)


def test_loader_is_reproducible_with_workers(sdg: SdgDataset, cmap: ClassMap) -> None:
    aug = {"train_spatial_size": [64, 64], "distortion_prob": 1.0, "iou_crop_prob": 1.0}
    ds = CocoDetection([_src(sdg)], cmap, build_transforms(aug, train=True))

    def first(seed: int) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        loader = build_loader(ds, batch_size=2, workers=2, shuffle=True, drop_last=True, collate_fn=collate, seed=seed)
        assert loader.num_workers == min(2, available_cpus())
        return next(iter(loader))

    (a, ta), (b, tb), (c, tc) = first(3), first(3), first(4)
    assert torch.equal(a, b)
    for x, y in zip(ta, tb):
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    assert not torch.equal(a, c) or any(not torch.equal(x["boxes"], y["boxes"]) for x, y in zip(ta, tc))


def test_set_epoch_reaches_persistent_workers(sdg: SdgDataset, cmap: ClassMap) -> None:
    ds = CocoDetection([_src(sdg)], cmap, build_transforms({"eval_spatial_size": [64, 64]}, train=False))
    loader = build_loader(ds, batch_size=3, workers=2, shuffle=False, drop_last=False, collate_fn=MultiScaleCollate([32], stop_epoch=1), seed=0)
    assert loader.persistent_workers == (loader.num_workers > 0)
    set_epoch(loader, 0)
    assert {b[0].shape[-1] for b in loader} == {32}
    set_epoch(loader, 1)
    assert {b[0].shape[-1] for b in loader} == {64}


def test_loader_caps_workers_and_shards_for_ddp(sdg: SdgDataset, cmap: ClassMap) -> None:
    ds = CocoDetection([_src(sdg)], cmap, build_transforms({"eval_spatial_size": [64, 64]}, train=False))
    loader = build_loader(ds, batch_size=2, workers=10_000, shuffle=True, drop_last=False, collate_fn=collate, seed=0)
    assert loader.num_workers == available_cpus() and loader.pin_memory == torch.cuda.is_available()
    shards = []
    for rank in range(2):
        ld = build_loader(ds, batch_size=1, workers=0, shuffle=True, drop_last=False, collate_fn=collate, seed=1, rank=rank, world_size=2)
        set_epoch(ld, 1)
        shards.append(list(iter(ld.sampler)))
    assert sorted(shards[0] + shards[1]) == list(range(len(ds)))
    with pytest.raises(ValueError, match="too few"):
        build_loader(ds, batch_size=64, workers=0, shuffle=True, drop_last=True, collate_fn=collate, seed=0)


def test_no_module_imports_torchvision() -> None:
    code = ("import sys\n"
            "import skillrun.engine.rtdetr.classmap, skillrun.engine.rtdetr.transforms, skillrun.engine.rtdetr.data\n"
            "bad = sorted(m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.'))\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
