"""``rtdetr export``: checkpoint -> ONNX + metadata sidecar, checked against PyTorch in ONNX Runtime.

Why: an ONNX file alone does not say how to feed it (RGB 0..1, no mean/std, stretch or
letterbox, ``orig_target_sizes`` order) or what its labels mean (contiguous 0..K-1, not
the COCO category ids), and a graph that exports without error can still compute
something else. So this module writes a JSON sidecar with all of that next to the model
and, unless told not to, runs the exported graph in ONNX Runtime against PyTorch on real
images and fails loudly (``ParityError``, FAILURE event) on a mismatch.

Exporter (PITFALLS §2): the TorchScript exporter (``dynamo=False``) with ``dynamic_axes``
for the batch. The torch.export path silently fixes the batch (HF RT-DETR's
``batch_size = len(source_flatten)`` becomes a guard) and needs onnxscript, which is not
installed here. Opset >= 16 for GridSample. H x W are fixed, as the spec asks.

Parity compares *matched detections*, not raw tensors in query order: the encoder's and
the post-processor's top-k can order (or, at the cut-off, select) near-tied queries
differently in ORT and torch. Weights straight from the HF init tie *every* encoder score
(features ~1e-7), so no check can pass there; the report's hint says so. The ``postprocessed`` graph follows the RT-DETR deploy
interface: ``images`` [B,3,H,W] float 0..1 and ``orig_target_sizes`` [B,2] int64 as
**(w, h)** -> ``labels`` int64, ``boxes`` xyxy pixels, ``scores`` float32, top ``num_select``.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from skillrun.engine.rtdetr.checkpoint import model_from_checkpoint
from skillrun.engine.rtdetr.classmap import ClassMap
from skillrun.engine.rtdetr.postprocess import topk_detections
from skillrun.engine.rtdetr.transforms import PAD_VALUE, Resize
from skillrun.errors import SkillrunError
from skillrun.record_io import atomic_write_text
from skillrun.results.status import StatusWriter

#: a detection takes part in the parity check when its score is at least this ...
PARITY_SCORE_FLOOR = 0.05
#: ... or it is among the top this many of its image (so a low-confidence model is checked too)
PARITY_TOP_N = 10
#: torch and ORT detections match when the label is equal and the IoU at least this
PARITY_MIN_IOU = 0.9
#: pass: every matched pair's |score_torch - score_onnx| at most this ...
PARITY_MAX_SCORE_DIFF = 1e-3
#: ... and at least this share of the compared detections (both sides) matched
PARITY_MIN_MATCH_RATE = 0.99
#: images compared (from the checkpoint's val/test data, else generated ones)
PARITY_MAX_IMAGES = 8
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
POSTPROCESSED_OUTPUTS = ("labels", "boxes", "scores")
RAW_OUTPUTS = ("logits", "pred_boxes")


class ParityError(SkillrunError):
    """The exported graph disagrees with PyTorch beyond the documented tolerances."""


class ExportWrapper(torch.nn.Module):
    """``images`` [B,3,H,W] 0..1, ``orig_target_sizes`` [B,2] int64 (w, h) -> labels, boxes, scores.

    The RT-DETR deploy interface: boxes are absolute xyxy in the size given (the original
    image for stretch resizing), top ``num_select`` (query, class) pairs sorted by score.
    """

    def __init__(self, model: torch.nn.Module, num_select: int) -> None:
        super().__init__()
        self.model = model
        self.num_select = int(num_select)

    def forward(self, images: torch.Tensor, orig_target_sizes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model(pixel_values=images)
        sizes_hw = orig_target_sizes.flip(-1)  # deploy (w, h) -> postprocess (h, w)
        scores, labels, boxes = topk_detections(out.logits, out.pred_boxes, sizes_hw, self.num_select)
        return labels, boxes, scores


class RawWrapper(torch.nn.Module):
    """``images`` -> ``logits`` [B,Q,K] (pre-sigmoid), ``pred_boxes`` [B,Q,4] normalised cx,cy,w,h."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(pixel_values=images)
        return out.logits, out.pred_boxes


def run(spec: dict[str, Any], out: Path) -> int:
    """Export ``spec["export"]["checkpoint"]`` to ``onnx_file``; sidecar, parity report, status events."""
    status = StatusWriter(out)
    ex = spec["export"]
    height, width = int(ex.get("input_height", 640)), int(ex.get("input_width", 640))
    opset, batch = int(ex.get("opset_version", 17)), int(ex.get("batch_size", -1))
    fmt = ex.get("output_format", "postprocessed")
    _check_options(height, width, opset, batch, fmt)
    onnx_file = Path(ex["onnx_file"])
    status.write("STARTED", f"exporting {ex['checkpoint']} to {onnx_file} ({fmt}, {height}x{width}, opset {opset})")
    wrapper, ckpt, class_map, num_select, letterbox = load_for_export(ex["checkpoint"], fmt)
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(wrapper, onnx_file, height=height, width=width, opset=opset, batch_size=batch, output_format=fmt)
    sidecar = build_sidecar(ckpt, class_map, ex, num_select=num_select, letterbox=letterbox, onnx_file=onnx_file)
    atomic_write_text(onnx_file.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
    kpi: dict[str, Any] = {"onnx_size_mb": (size_mb := round(onnx_file.stat().st_size / 2**20, 3))}
    if ex.get("verify_parity", True):
        with tempfile.TemporaryDirectory(prefix="skillrun-parity-") as scratch:
            images, source = parity_images(ckpt.get("spec") or {}, spec, (width, height), Path(scratch))
            report = check_parity(wrapper, onnx_file, images, height=height, width=width, batch_size=batch,
                                  output_format=fmt, letterbox=letterbox, num_select=num_select)
        report["image_source"] = source
        atomic_write_text(out / "onnx_parity.json", json.dumps(report, indent=2) + "\n")
        if not report["passed"]:
            msg = (f"ONNX Runtime and PyTorch disagree on {len(images)} images from {source}: "
                   f"{'; '.join(report['failures'])} (details in {out / 'onnx_parity.json'})"
                   + (f"; {report['hint']}" if report["hint"] else ""))
            status.write("FAILURE", msg, error_class="ParityError")
            raise ParityError(msg, hint=report.get("hint"), data={"parity": report["summary"]})
        kpi.update(parity_max_score_diff=report["summary"]["max_score_diff"], parity_match_rate=report["summary"]["match_rate"])
    status.write("SUCCESS", f"exported {onnx_file.name} ({size_mb} MB, {fmt})", kpi=kpi)
    return 0


def load_for_export(checkpoint: str | Path, fmt: str) -> tuple[torch.nn.Module, dict[str, Any], Any, int, bool]:
    """(graph wrapper, checkpoint, class map, num_select, letterbox) of a checkpoint's EMA weights; quantize reuses it."""
    model, ckpt = model_from_checkpoint(checkpoint, use_ema=True)
    num_select = int(ckpt["model_config"].get("num_select") or (ckpt.get("spec") or {}).get("model", {}).get("num_select") or 300)
    letterbox = bool(_get(ckpt.get("spec"), "dataset", "augmentation", "preserve_aspect_ratio"))
    wrapper = ExportWrapper(model, num_select) if fmt == "postprocessed" else RawWrapper(model)
    return wrapper, ckpt, ClassMap.from_dict(ckpt["class_map"]), num_select, letterbox


def _check_options(height: int, width: int, opset: int, batch: int, fmt: str) -> None:
    problems = [msg for bad, msg in (
        (height % 32 or width % 32 or min(height, width) < 32, f"export.input_height/input_width must be multiples of 32, got {height}x{width}"),
        (opset < 16, f"export.opset_version must be >= 16 (GridSample), got {opset}"),
        (batch == 0 or batch < -1, f"export.batch_size must be -1 (dynamic) or >= 1, got {batch}"),
        (fmt not in ("postprocessed", "raw"), f"export.output_format must be 'postprocessed' or 'raw', got {fmt!r}"),
    ) if bad]
    if problems:
        raise ValueError("; ".join(problems))


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def export_onnx(wrapper: torch.nn.Module, path: Path, *, height: int, width: int, opset: int,
                batch_size: int, output_format: str) -> None:
    """TorchScript-export ``wrapper``; check the graph and that its input dims are what was asked."""
    import onnx

    example_batch = 2 if batch_size == -1 else batch_size
    images = torch.rand(example_batch, 3, height, width)
    if output_format == "postprocessed":
        args: tuple[torch.Tensor, ...] = (images, torch.tensor([[width, height]] * example_batch, dtype=torch.int64))
        inputs, outputs = ["images", "orig_target_sizes"], list(POSTPROCESSED_OUTPUTS)
    else:
        args, inputs, outputs = (images,), ["images"], list(RAW_OUTPUTS)
    dynamic = {name: {0: "batch"} for name in inputs + outputs} if batch_size == -1 else None
    wrapper.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(wrapper, args, str(path), dynamo=False, opset_version=opset, input_names=inputs,
                          output_names=outputs, dynamic_axes=dynamic, do_constant_folding=True)
    onnx.checker.check_model(str(path))
    graph = onnx.load(str(path), load_external_data=False).graph
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    want_batch: Any = "batch" if batch_size == -1 else batch_size
    if dims.get("images") != [want_batch, 3, height, width]:
        msg = f"{path}: the exported 'images' input is {dims.get('images')}, expected {[want_batch, 3, height, width]}"
        raise RuntimeError(msg)


def build_sidecar(ckpt: dict[str, Any], class_map: Any, ex: dict[str, Any], *, num_select: int,
                  letterbox: bool, onnx_file: Path) -> dict[str, Any]:
    """What a deployer needs to feed the graph and read its outputs (``<onnx stem>.json``)."""
    import onnx
    import transformers

    h, w = int(ex.get("input_height", 640)), int(ex.get("input_width", 640))
    batch = int(ex.get("batch_size", -1))
    b: Any = "batch" if batch == -1 else batch
    fmt = ex.get("output_format", "postprocessed")
    cfg = ckpt["model_config"]
    inputs = [{"name": "images", "shape": [b, 3, h, w], "dtype": "float32", "layout": "NCHW, RGB, 0..1"}]
    if fmt == "postprocessed":
        size_rule = ("(w, h) of the padded canvas in original pixels: (W / scale, H / scale) with scale = "
                     "min(H / h, W / w); [max(h, w)] * 2 for square inputs (Isaac ROS)") if letterbox else "(w, h) of the original image"
        inputs.append({"name": "orig_target_sizes", "shape": [b, 2], "dtype": "int64", "order": "(w, h)", "meaning": size_rule})
        outputs = [
            {"name": "labels", "shape": [b, num_select], "dtype": "int64", "meaning": "contiguous class label 0..K-1; class_map.category_ids[label] is the COCO category id"},
            {"name": "boxes", "shape": [b, num_select, 4], "dtype": "float32", "meaning": "x0, y0, x1, y1 in pixels of orig_target_sizes"},
            {"name": "scores", "shape": [b, num_select], "dtype": "float32", "meaning": "sigmoid confidence, sorted descending; no threshold applied"},
        ]
    else:
        q, k = int(cfg["num_queries"]), int(cfg["num_labels"])
        outputs = [
            {"name": "logits", "shape": [b, q, k], "dtype": "float32", "meaning": "pre-sigmoid class logits per query and label"},
            {"name": "pred_boxes", "shape": [b, q, 4], "dtype": "float32", "meaning": "normalised cx, cy, w, h (0..1 of the network input)"},
        ]
    resize = {"mode": "letterbox" if letterbox else "stretch", "size_hw": [h, w], "keep_aspect_ratio": letterbox,
              "interpolation": "bilinear, antialiased"}
    if letterbox:
        resize.update(pad="bottom-right", pad_value=round(PAD_VALUE, 6))
    ids, names = list(class_map.category_ids), list(class_map.names)
    return {
        "format": "skillrun-rtdetr-onnx", "format_version": 1, "onnx_file": onnx_file.name,
        "output_format": fmt, "opset_version": int(ex.get("opset_version", 17)), "batch": b, "num_select": num_select,
        "inputs": inputs, "outputs": outputs,
        "preprocessing": {"color": "RGB", "resize": resize, "rescale": 1.0 / 255.0, "mean": None, "std": None, "normalize": False},
        "class_map": {"category_ids": ids, "names": names,
                      "labels": [{"label": i, "category_id": c, "name": n} for i, (c, n) in enumerate(zip(ids, names))]},
        "model": {"version": cfg.get("version"), "backbone": cfg.get("backbone_preset"), "num_queries": cfg.get("num_queries"),
                  "num_labels": cfg.get("num_labels"), "decoder_method": cfg.get("decoder_method"),
                  "trained_input_size_hw": _get(ckpt.get("spec"), "dataset", "augmentation", "eval_spatial_size")},
        "source": {"checkpoint": str(Path(ex["checkpoint"]).resolve()), "epoch": ckpt.get("epoch"), "weights": "ema" if ckpt.get("ema") else "model"},
        "exporter": {"path": "torch.onnx.export(dynamo=False) (TorchScript)", "torch": torch.__version__,
                     "transformers": transformers.__version__, "onnx": onnx.__version__},
    }


def parity_images(ckpt_spec: dict[str, Any], spec: dict[str, Any], size_wh: tuple[int, int], scratch: Path,
                  limit: int = PARITY_MAX_IMAGES) -> tuple[list[Path], str]:
    """Up to ``limit`` real images: checkpoint val/test data, else the export spec's data, else generated in ``scratch``."""
    for ds in (ckpt_spec.get("dataset"), spec.get("dataset")):
        for key in ("val_data_sources", "test_data_sources", "infer_data_sources"):
            sources = _get(ds, key)
            for src in sources if isinstance(sources, list) else [sources]:
                dirs = _get(src, "image_dir")
                for d in dirs if isinstance(dirs, list) else [dirs]:
                    found = sorted(p for p in Path(d).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit] if d else []
                    if found:
                        return found, str(d)
    from skillrun.data.sdg import generate_coco

    split = generate_coco(scratch, splits={"parity": limit}, image_size=size_wh).splits["parity"]
    return sorted(split.image_dir.glob("*.png"))[:limit], "generated (skillrun.data.sdg)"


def _preprocess(paths: Sequence[Path], height: int, width: int, letterbox: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Network inputs (the eval transform) and deploy ``orig_target_sizes`` (w, h) for each image."""
    from PIL import Image

    resize = Resize((height, width), letterbox=letterbox)
    pixels, sizes = [], []
    for p in paths:
        with Image.open(p) as im:
            orig_w, orig_h = im.size
            pixels.append(resize(im.convert("RGB"), {})[0])
        if letterbox:  # the padded canvas in original pixels: W / sx, H / sy (content rounded as Resize does)
            s = min(height / orig_h, width / orig_w)
            sx, sy = min(width, max(1, round(orig_w * s))) / orig_w, min(height, max(1, round(orig_h * s))) / orig_h
            orig_w, orig_h = round(width / sx), round(height / sy)
        sizes.append([orig_w, orig_h])
    return torch.stack(pixels), torch.tensor(sizes, dtype=torch.int64)


def _chunks(n: int, batch_size: int) -> list[list[int]]:
    """Index batches for the graph: size 3 when dynamic (not the traced 2), padded to a fixed size."""
    step = 3 if batch_size == -1 else batch_size
    out = [list(range(i, min(i + step, n))) for i in range(0, n, step)]
    if batch_size != -1 and out and len(out[-1]) < batch_size:
        out[-1] += [out[-1][-1]] * (batch_size - len(out[-1]))
    return out


def check_parity(wrapper: torch.nn.Module, onnx_file: Path, paths: Sequence[Path], *, height: int, width: int,
                 batch_size: int, output_format: str, letterbox: bool, num_select: int) -> dict[str, Any]:
    """ORT (CPU) vs PyTorch on ``paths``: matched detections per image, summary, pass/fail."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    pixels, sizes = _preprocess(paths, height, width, letterbox)
    per_image: list[dict[str, Any]] = []
    seen: set[int] = set()
    for idx in _chunks(len(paths), batch_size):
        x, s = pixels[idx], sizes[idx]
        with torch.no_grad():
            ref = [t.numpy() for t in (wrapper(x, s) if output_format == "postprocessed" else wrapper(x))]
        feeds = {"images": x.numpy()} | ({"orig_target_sizes": s.numpy()} if output_format == "postprocessed" else {})
        got = session.run(None, feeds)
        for j, i in enumerate(idx):
            if i not in seen:  # else a pad repeat of a fixed batch
                seen.add(i)
                row = match_detections(_detections(ref, j, s[j], output_format, num_select),
                                       _detections(got, j, s[j], output_format, num_select))
                per_image.append({"image": str(paths[i]), **row, "sorted_max_abs_diff": _sorted_diff(ref, got, j, output_format)})
    return summarize(per_image, encoder_ties=_encoder_ties(wrapper.model, pixels[:4]))


def _encoder_ties(model: Any, x: torch.Tensor) -> float:
    """Share of (near-)equal neighbours among the encoder's top-k query scores; 1.0 for HF-initialised weights."""
    with torch.no_grad():
        enc = model(pixel_values=x).enc_outputs_class.max(-1).values
    top = enc.topk(min(int(model.config.num_queries) + 1, enc.shape[1]), dim=1).values
    return float((top[:, :-1] - top[:, 1:]).abs().lt(1e-6).float().mean())


def _detections(outs: Sequence[np.ndarray], j: int, size_wh: torch.Tensor, fmt: str, k: int) -> dict[str, np.ndarray]:
    if fmt == "postprocessed":
        labels, boxes, scores = (np.asarray(o[j]) for o in outs)
        return {"scores": scores.astype(np.float64), "labels": labels.astype(np.int64), "boxes": boxes.astype(np.float64)}
    logits, boxes = (torch.from_numpy(np.asarray(o[j : j + 1])) for o in outs)
    sc, lab, bx = topk_detections(logits, boxes, size_wh.flip(-1)[None], k)
    return {"scores": sc[0].double().numpy(), "labels": lab[0].numpy(), "boxes": bx[0].double().numpy()}


def _sorted_diff(ref: Sequence[np.ndarray], got: Sequence[np.ndarray], j: int, fmt: str) -> float:
    """Secondary number: outputs compared after sorting by score (still sensitive to top-k selection)."""
    if fmt == "postprocessed":
        return float(np.abs(np.sort(ref[2][j]) - np.sort(got[2][j])).max())
    diffs = []
    for outs in (ref, got):
        order = np.argsort(-outs[0][j].max(-1), kind="stable")
        diffs.append(np.concatenate([outs[0][j][order], outs[1][j][order]], -1))
    return float(np.abs(diffs[0] - diffs[1]).max())


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes [N,4] x [M,4]."""
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a, area_b = (np.clip(x[:, 2:] - x[:, :2], 0, None).prod(-1) for x in (a, b))
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), (np.abs(a[:, None] - b[None]).max(-1) < 1e-6).astype(float))


def _compared(scores: np.ndarray) -> np.ndarray:
    keep = scores >= PARITY_SCORE_FLOOR
    keep[np.argsort(-scores, kind="stable")[:PARITY_TOP_N]] = True
    return keep


def match_detections(t: dict[str, np.ndarray], o: dict[str, np.ndarray]) -> dict[str, Any]:
    """Hungarian matching (same label, IoU >= PARITY_MIN_IOU) of the torch and ORT detection lists.

    Every detection of either list can be a partner; only the compared ones (score >= floor
    or top N) count towards the match rate, so a pair straddling the floor still matches.
    """
    from scipy.optimize import linear_sum_assignment

    iou = _iou(t["boxes"], o["boxes"])
    dscore = np.abs(t["scores"][:, None] - o["scores"][None, :])
    ok = (t["labels"][:, None] == o["labels"][None, :]) & (iou >= PARITY_MIN_IOU)
    rows, cols = linear_sum_assignment(np.where(ok, (1 - iou) + dscore, 1e6))
    pairs = [(r, c) for r, c in zip(rows, cols) if ok[r, c]]
    ct, co = _compared(t["scores"]), _compared(o["scores"])
    matched_t = {r for r, c in pairs if ct[r]}
    matched_o = {c for r, c in pairs if co[c]}
    used = [(r, c) for r, c in pairs if ct[r] or co[c]]
    n = int(ct.sum() + co.sum())
    return {
        "compared_torch": int(ct.sum()), "compared_onnx": int(co.sum()),
        "unmatched_torch": int(ct.sum()) - len(matched_t), "unmatched_onnx": int(co.sum()) - len(matched_o),
        "match_rate": (len(matched_t) + len(matched_o)) / n if n else 1.0,
        "max_score_diff": max((float(dscore[r, c]) for r, c in used), default=0.0),
        "min_iou": min((float(iou[r, c]) for r, c in used), default=1.0),
    }


def summarize(per_image: list[dict[str, Any]], *, encoder_ties: float = 0.0) -> dict[str, Any]:
    """The ``onnx_parity.json`` document: thresholds, summary, per-image rows, pass/fail and why."""
    compared = sum(r["compared_torch"] + r["compared_onnx"] for r in per_image)
    unmatched = sum(r["unmatched_torch"] + r["unmatched_onnx"] for r in per_image)
    summary = {
        "num_images": len(per_image), "compared_detections": compared,
        "unmatched_torch": sum(r["unmatched_torch"] for r in per_image),
        "unmatched_onnx": sum(r["unmatched_onnx"] for r in per_image),
        "match_rate": (compared - unmatched) / compared if compared else 0.0,
        "max_score_diff": max((r["max_score_diff"] for r in per_image), default=0.0),
        "min_iou": min((r["min_iou"] for r in per_image), default=1.0),
        "sorted_max_abs_diff": max((r["sorted_max_abs_diff"] for r in per_image), default=0.0),
        "encoder_topk_tied_fraction": encoder_ties,
    }
    failures = []
    if not per_image:
        failures.append("no image was compared")
    if summary["match_rate"] < PARITY_MIN_MATCH_RATE:
        failures.append(f"match rate {summary['match_rate']:.4f} < {PARITY_MIN_MATCH_RATE} "
                        f"({summary['unmatched_torch']} torch / {summary['unmatched_onnx']} ORT detections unmatched)")
    if summary["max_score_diff"] > PARITY_MAX_SCORE_DIFF:
        failures.append(f"max |score diff| {summary['max_score_diff']:.3g} > {PARITY_MAX_SCORE_DIFF}")
    hint = None
    if failures and encoder_ties > 0.5:
        hint = ("the encoder's query scores are tied (an untrained or collapsed model?): its top-k then picks "
                "different queries in each runtime; export a trained checkpoint")
    return {
        "passed": not failures, "failures": failures, "hint": hint,
        "thresholds": {"score_floor": PARITY_SCORE_FLOOR, "top_n": PARITY_TOP_N, "min_iou": PARITY_MIN_IOU,
                       "max_score_diff": PARITY_MAX_SCORE_DIFF, "min_match_rate": PARITY_MIN_MATCH_RATE},
        "summary": summary, "per_image": per_image,
    }
