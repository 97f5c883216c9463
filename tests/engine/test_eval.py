"""Behaviour of RT-DETR post-processing, COCO evaluation and plots (skillrun.engine.rtdetr)."""
from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("pycocotools")

from skillrun.data.sdg import generate_coco  # noqa: E402
from skillrun.engine.rtdetr.coco_eval import STAT_KEYS, CocoMetrics, evaluate_coco, per_class_table  # noqa: E402
from skillrun.engine.rtdetr.plots import class_colour, draw_detections, plot_pr_curves, plot_training  # noqa: E402
from skillrun.engine.rtdetr.postprocess import select_detections, to_coco_results, topk_detections  # noqa: E402

SPARSE = [201, 305, 412]
ONE = pytest.approx(1.0, abs=1e-12)


@pytest.fixture(scope="module")
def val(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    ds = generate_coco(tmp_path_factory.mktemp("sdg"), splits={"val": 8}, image_size=(96, 96), seed=0)
    path = ds.splits["val"].json_file
    return path, json.loads(Path(path).read_text())


def _perfect(gt: dict, cats: set[int] | None = None) -> list[dict]:
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": list(a["bbox"]), "score": 1.0}
            for a in gt["annotations"] if cats is None or a["category_id"] in cats]


def _shifted(gt: dict, dx: float) -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"image_id": a["image_id"], "category_id": a["category_id"],
             "bbox": [a["bbox"][0] + dx * a["bbox"][2], a["bbox"][1], a["bbox"][2], a["bbox"][3]],
             "score": float(rng.uniform(0.1, 1.0))} for a in gt["annotations"]]


def _plain_cocoeval(path: Path, results: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats), np.asarray(ev.eval["precision"])


# --- evaluate_coco ----------------------------------------------------------------------------


def test_perfect_detections_score_one_for_sparse_ids(val: tuple[Path, dict]) -> None:
    path, gt = val
    m = evaluate_coco(path, _perfect(gt))
    # pycocotools divides tp / (tp + fp + eps), so "perfect" is 1 to within float rounding
    assert m.stats["mAP"] == ONE and m.stats["mAP50"] == ONE and m.stats["AR100"] == ONE
    assert m.category_ids == SPARSE
    assert [r["category_id"] for r in m.per_class] == SPARSE
    assert [r["name"] for r in m.per_class] == ["pallet", "box", "cone"]
    assert all(r["AP"] == ONE and r["AP50"] == ONE for r in m.per_class)
    assert sum(r["num_gt"] for r in m.per_class) == len(gt["annotations"])
    assert m.num_images == 8 and m.num_detections == len(gt["annotations"])
    assert m.precision is not None and m.precision.shape == (10, 101, 3, 4, 3)


def test_shifted_boxes_lower_map(val: tuple[Path, dict]) -> None:
    path, gt = val
    small, large = evaluate_coco(path, _shifted(gt, 0.05)), evaluate_coco(path, _shifted(gt, 0.2))
    assert 0.0 < large.stats["mAP"] < small.stats["mAP"] < 1.0


def test_numbers_equal_a_plain_cocoeval_run(val: tuple[Path, dict]) -> None:
    path, gt = val
    results = _shifted(gt, 0.15) + _shifted(gt, 0.35)
    m = evaluate_coco(path, results)
    stats, precision = _plain_cocoeval(path, results)
    assert [m.stats[k] for k in STAT_KEYS] == stats.tolist()
    np.testing.assert_array_equal(m.precision, precision)
    for k, row in enumerate(m.per_class):
        p = precision[:, :, k, 0, 2]
        assert row["AP"] == float(np.mean(p[p > -1]))
    # the dict form gives the same numbers and leaves the caller's dict alone
    before = json.dumps(gt, sort_keys=True)
    assert evaluate_coco(gt, results).stats == m.stats
    assert json.dumps(gt, sort_keys=True) == before


def test_eval_class_ids_restrict_per_class(val: tuple[Path, dict]) -> None:
    path, gt = val
    results = _perfect(gt, {305})
    assert evaluate_coco(path, results).stats["mAP"] < 0.5
    m = evaluate_coco(path, results, category_ids=[305], names={305: "crate"})
    assert [r["category_id"] for r in m.per_class] == [305] and m.category_ids == [305]
    assert m.per_class[0]["name"] == "crate" and m.per_class[0]["AP"] == ONE
    assert m.stats["mAP"] == ONE and m.precision.shape[2] == 1
    with pytest.raises(ValueError, match="999"):
        evaluate_coco(path, results, category_ids=[999])


def test_image_ids_subset(val: tuple[Path, dict]) -> None:
    path, gt = val
    m = evaluate_coco(path, _perfect(gt), image_ids=[1, 2])
    assert m.num_images == 2 and m.stats["mAP"] == ONE
    assert m.num_detections == sum(1 for a in gt["annotations"] if a["image_id"] in (1, 2))


def test_empty_results_give_zeros(val: tuple[Path, dict]) -> None:
    path, _ = val
    m = evaluate_coco(path, [])
    assert m.stats["mAP"] == 0.0 and m.stats["mAP50"] == 0.0 and m.stats["AR100"] == 0.0
    assert set(m.stats.values()) <= {0.0, -1.0}
    assert [r["AP"] for r in m.per_class] == [0.0, 0.0, 0.0]
    assert m.num_detections == 0


def test_unknown_image_id_is_a_value_error(val: tuple[Path, dict]) -> None:
    path, gt = val
    bad = _perfect(gt) + [{"image_id": 999, "category_id": 201, "bbox": [0, 0, 5, 5], "score": 0.5}]
    with pytest.raises(ValueError, match="999"):
        evaluate_coco(path, bad)


def test_to_json_and_table(val: tuple[Path, dict]) -> None:
    path, gt = val
    m = evaluate_coco(path, _shifted(gt, 0.2))
    data = m.to_json()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert set(data["stats"]) == set(STAT_KEYS)
    assert all(type(v) is float for v in data["stats"].values())
    assert all(type(r["num_gt"]) is int and type(r["AP"]) is float for r in data["per_class"])
    table = per_class_table(m)
    assert "pallet" in table and "412" in table and "all" in table


# --- post-processing --------------------------------------------------------------------------


def _hand_made() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # B=2, Q=3, K=2. Image 0: query 0 is confident for both classes, query 1 weak for class 1.
    logits = torch.tensor([[[5.0, 4.0], [-5.0, 0.0], [-9.0, -8.0]],
                           [[-9.0, -1.0], [-9.0, 3.0], [2.0, -9.0]]])
    boxes = torch.tensor([[[0.5, 0.25, 0.2, 0.1], [0.25, 0.5, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]],
                          [[0.5, 0.5, 0.1, 0.1], [0.1, 0.2, 0.2, 0.2], [0.9, 0.8, 0.2, 0.4]]])
    sizes = torch.tensor([[100, 200], [50, 400]])  # (h, w), non-square
    return logits, boxes, sizes


def test_select_detections_topk_over_queries_and_classes() -> None:
    logits, boxes, sizes = _hand_made()
    dets = select_detections(logits, boxes, sizes, num_select=3, threshold=0.0)
    d0 = dets[0]
    assert d0["labels"].tolist() == [0, 1, 1]  # query 0 appears twice, with both labels
    torch.testing.assert_close(d0["scores"], torch.sigmoid(torch.tensor([5.0, 4.0, 0.0])))
    # cx=.5, cy=.25, w=.2, h=.1 in an image 200 wide and 100 high
    torch.testing.assert_close(d0["boxes"][0], torch.tensor([80.0, 20.0, 120.0, 30.0]))
    torch.testing.assert_close(d0["boxes"][1], d0["boxes"][0])
    torch.testing.assert_close(d0["boxes"][2], torch.tensor([0.0, 25.0, 100.0, 75.0]))
    d1 = dets[1]  # 400 wide, 50 high
    assert d1["labels"].tolist() == [1, 0, 1]
    torch.testing.assert_close(d1["boxes"][0], torch.tensor([0.0, 5.0, 80.0, 15.0]))
    torch.testing.assert_close(d1["boxes"][1], torch.tensor([320.0, 30.0, 400.0, 50.0]))
    torch.testing.assert_close(d1["boxes"][2], torch.tensor([180.0, 22.5, 220.0, 27.5]))


def test_select_detections_threshold_and_cap() -> None:
    logits, boxes, sizes = _hand_made()
    kept = select_detections(logits, boxes, sizes, num_select=3, threshold=0.6)
    assert kept[0]["labels"].tolist() == [0, 1] and len(kept[1]["scores"]) == 2
    everything = select_detections(logits, boxes, sizes, num_select=300, threshold=None)
    assert all(len(d["scores"]) == 6 for d in everything)  # capped at Q*K
    scores, labels, xyxy = topk_detections(logits, boxes, sizes, 4)
    assert scores.shape == (2, 4) and labels.dtype == torch.int64 and xyxy.shape == (2, 4, 4)
    assert torch.all(scores[:, :-1] >= scores[:, 1:])


def test_topk_detections_exports_to_onnx(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")

    class Head(torch.nn.Module):
        def forward(self, logits, boxes, sizes):  # noqa: ANN001, ANN202
            return topk_detections(logits, boxes, sizes, 4)

    logits, boxes, sizes = _hand_made()
    path = tmp_path / "head.onnx"
    torch.onnx.export(Head(), (logits, boxes, sizes), str(path), dynamo=False, opset_version=17,
                      input_names=["logits", "boxes", "sizes"], output_names=["scores", "labels", "xyxy"],
                      dynamic_axes={"logits": {0: "b"}, "boxes": {0: "b"}, "sizes": {0: "b"}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    one = {"logits": logits[:1].numpy(), "boxes": boxes[:1].numpy(), "sizes": sizes[:1].numpy()}
    got = sess.run(None, one)
    want = topk_detections(logits[:1], boxes[:1], sizes[:1], 4)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-6, atol=1e-5)


def test_to_coco_results_maps_ids_and_undoes_letterbox() -> None:
    dets = [{"scores": torch.tensor([0.9, 0.4]), "labels": torch.tensor([2, 0]),
             "boxes": torch.tensor([[10.0, 20.0, 40.0, 60.0], [0.0, 0.0, 5.0, 5.0]])},
            {"scores": torch.tensor([0.7]), "labels": torch.tensor([1]), "boxes": torch.tensor([[20.0, 30.0, 60.0, 80.0]])}]
    res = to_coco_results(dets, [7, 8], SPARSE)
    assert [r["category_id"] for r in res] == [412, 201, 305]
    assert res[0] == {"image_id": 7, "category_id": 412, "bbox": [10.0, 20.0, 30.0, 40.0], "score": pytest.approx(0.9)}
    assert all(type(v) is float for r in res for v in [*r["bbox"], r["score"]])
    assert all(type(r["image_id"]) is int and type(r["category_id"]) is int for r in res)
    # image 8 was letterboxed: scale 0.5, padded 10 left / 20 top, original 100 high x 200 wide
    lb = [None, {"scale": 0.5, "pad": (10, 20), "orig_size": (100, 200)}]
    res = to_coco_results(dets, [7, 8], SPARSE, letterbox=lb)
    assert res[0]["bbox"] == [10.0, 20.0, 30.0, 40.0]
    assert res[2]["bbox"] == [20.0, 20.0, 80.0, 80.0]  # y1 = 120 clipped to the 100-pixel height
    res = to_coco_results(dets, [7, 8], SPARSE, letterbox=[None, {"scale": 0.5, "pad": (10, 20)}], orig_sizes=[None, (100, 200)])
    assert res[2]["bbox"] == [20.0, 20.0, 80.0, 80.0]
    with pytest.raises(ValueError, match="label 3"):
        to_coco_results([{"scores": [0.5], "labels": [3], "boxes": [[0, 0, 1, 1]]}], [1], SPARSE)


def test_postprocess_to_eval_round_trip(val: tuple[Path, dict]) -> None:
    """GT boxes encoded as model outputs come back as a perfect score through the whole path."""
    path, gt = val
    index = {c: i for i, c in enumerate(SPARSE)}
    images = gt["images"]
    q = max(1, max(sum(1 for a in gt["annotations"] if a["image_id"] == im["id"]) for im in images))
    logits = torch.full((len(images), q, 3), -10.0)
    boxes = torch.zeros(len(images), q, 4)
    for b, im in enumerate(images):
        anns = [a for a in gt["annotations"] if a["image_id"] == im["id"]]
        for j, a in enumerate(anns):
            x, y, w, h = a["bbox"]
            logits[b, j, index[a["category_id"]]] = 10.0
            boxes[b, j] = torch.tensor([(x + w / 2) / im["width"], (y + h / 2) / im["height"], w / im["width"], h / im["height"]])
    sizes = torch.tensor([[im["height"], im["width"]] for im in images])
    dets = select_detections(logits, boxes, sizes, num_select=q * 3, threshold=0.0)
    m = evaluate_coco(path, to_coco_results(dets, [im["id"] for im in images], SPARSE))
    assert m.stats["mAP"] == ONE


# --- plots ------------------------------------------------------------------------------------


def test_plots_write_png(val: tuple[Path, dict], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path, gt = val
    m = evaluate_coco(path, _shifted(gt, 0.2))
    pr = plot_pr_curves(m, tmp_path / "plots" / "pr.png")
    history = [{"epoch": 0, "train_loss": 1.2, "lr": 1e-4}, {"epoch": 1, "train_loss": 0.9, "val_mAP": 0.1, "val_mAP50": 0.2, "lr": 1e-4},
               {"epoch": 2, "train_loss": 0.7, "val_mAP": None, "lr": 5e-5}]
    tr = plot_training(history, tmp_path / "train.png")
    for p in (pr, tr):
        assert p is not None and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert Image.open(p).size[0] > 100
    assert plot_training([], tmp_path / "none.png") is None
    assert plot_pr_curves(CocoMetrics(stats={}), tmp_path / "none.png") is None


def test_draw_detections_marks_the_box() -> None:
    image = Image.new("RGB", (64, 48), (128, 128, 128))
    out = draw_detections(image, torch.tensor([[10.0, 20.0, 40.0, 44.0], [50.0, 0.0, 63.0, 10.0]]), ["pallet", "cone"], [0.87, 0.5])
    assert image.getpixel((10, 30)) == (128, 128, 128)  # the input is untouched
    assert out.size == image.size and out.mode == "RGB"
    assert out.getpixel((10, 30)) == class_colour("pallet")  # left edge of the box
    assert out.getpixel((25, 43)) == class_colour("pallet")  # bottom edge
    assert out.getpixel((25, 32)) == (128, 128, 128)  # box interior stays clear
    assert out.getpixel((2, 46)) == (128, 128, 128)  # far from both boxes
    assert class_colour("pallet") == class_colour("pallet") != class_colour("cone")
    arr = np.asarray(out)
    assert (arr[:20, 10:40] != 128).any()  # label drawn above the first box
    assert not math.isnan(float(arr.mean()))
    gray = draw_detections(Image.new("L", (32, 32), 0), [[1, 1, 30, 30]], ["box"])  # no scores, names only
    assert gray.mode == "RGB"
