"""RT-DETR augmentation and resizing on (image, target) pairs, without torchvision.

Why: the reference recipe (lyuwenyu/RT-DETR ``rtdetrv2_pytorch/src/data``) is built on
torchvision.transforms.v2, and torchvision has no working build here. These are small
PIL/numpy/torch re-implementations of the parts our spec exposes
(``dataset.augmentation``): photometric distortion, SSD-style IoU crop, horizontal flip,
resize (stretch or letterbox), box sanitising and tensor conversion.

Conventions: an image is a PIL image or a float32 tensor [3, H, W] in 0..1; a target is a
dict whose ``boxes`` are absolute xyxy float32 [N, 4] and ``labels`` int64 [N] (other keys
pass through). Transforms that drop boxes drop the matching per-box entries too. Every
random draw uses torch's global RNG (``torch.rand``), so DataLoader worker seeding makes a
run reproducible. Training and evaluation share one ``Resize`` (always on tensors): a
train/eval preprocessing mismatch costs mAP (RT-DETR#215). RT-DETR inputs are rescaled to
0..1 with no mean/std normalisation.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

Img = Union[Image.Image, torch.Tensor]
Target = dict[str, Any]
PER_BOX_KEYS = ("boxes", "labels", "area", "iscrowd")
PAD_VALUE = 114.0 / 255.0  #: letterbox grey, as in the Isaac ROS / YOLO preprocessors
IOU_OPTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
DEFAULTS: dict[str, Any] = {"train_spatial_size": [640, 640], "eval_spatial_size": [640, 640], "distortion_prob": 0.8,
                             "iou_crop_prob": 0.8, "hflip_prob": 0.5, "preserve_aspect_ratio": False}  # the spec's defaults


def to_tensor(img: Img) -> torch.Tensor:
    """Float32 [3, H, W] in 0..1 from a PIL image (any mode: converted to RGB) or a tensor."""
    if isinstance(img, torch.Tensor):
        return img.to(torch.float32) if img.is_floating_point() else img.to(torch.float32).div_(255.0)
    arr = np.array(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr).permute(2, 0, 1).to(torch.float32).div_(255.0)


def image_hw(img: Img) -> tuple[int, int]:
    """(height, width) of a PIL image or a [C, H, W] tensor."""
    if isinstance(img, torch.Tensor):
        return int(img.shape[-2]), int(img.shape[-1])
    return img.height, img.width


def keep_boxes(target: Target, keep: torch.Tensor) -> Target:
    """Filter every per-box entry of ``target`` with the boolean mask ``keep``."""
    out = dict(target)
    for key in PER_BOX_KEYS:
        value = out.get(key)
        if isinstance(value, torch.Tensor) and value.shape[:1] == keep.shape:
            out[key] = value[keep]
    return out


def _coin(p: float) -> bool:
    return p > 0 and float(torch.rand(())) < p


def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()))


def _check_prob(p: float, name: str) -> float:
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable[[Img, Target], tuple[Img, Target]]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Img, target: Target) -> tuple[Img, Target]:
        for t in self.transforms:
            img, target = t(img, target)
        return img, target

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


# -- photometric --------------------------------------------------------------------------


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (0.2989 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(0)
    maxc = torch.maximum(torch.maximum(r, g), b)  # elementwise: much faster than x.max(0) on CPU
    span = maxc - torch.minimum(torch.minimum(r, g), b)
    s = span / maxc.clamp(min=1e-12)
    div = span.clamp(min=1e-12)
    h = torch.where(maxc == r, (g - b).div_(div), torch.where(maxc == g, (b - r).div_(div).add_(2.0), (r - g).div_(div).add_(4.0)))
    return torch.stack((h.div_(6.0).remainder_(1.0), s, maxc))


_HSV_N = torch.tensor([5.0, 3.0, 1.0]).view(3, 1, 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Branch-free HSV -> RGB: channel n is v - v*s*clamp(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6."""
    h, s, v = x[0:1], x[1:2], x[2:3]
    k = (h * 6.0 + _HSV_N).remainder_(6.0)
    k = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return k.mul_(v * s).neg_().add_(v)


def adjust_hue(x: torch.Tensor, shift: float) -> torch.Tensor:
    """Rotate the hue of a [3, H, W] 0..1 image by ``shift`` turns (-0.5..0.5)."""
    hsv = _rgb_to_hsv(x)
    hsv[0] = torch.remainder(hsv[0] + shift, 1.0)
    return _hsv_to_rgb(hsv)


class PhotometricDistort:
    """With probability ``p``: brightness, contrast, saturation and hue jitter, each with ``op_p``.

    Ranges follow torchvision's RandomPhotometricDistort; contrast goes before or after the
    colour ops at random. The channel permutation of torchvision's version is left out on
    purpose: it would swap the colours that often identify a class in synthetic data.
    """

    def __init__(self, p: float = 0.5, *, op_p: float = 0.5, brightness: tuple[float, float] = (0.875, 1.125),
                 contrast: tuple[float, float] = (0.5, 1.5), saturation: tuple[float, float] = (0.5, 1.5),
                 hue: tuple[float, float] = (-0.05, 0.05)) -> None:
        self.p, self.op_p = _check_prob(p, "distortion_prob"), _check_prob(op_p, "op_p")
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def __call__(self, img: Img, target: Target) -> tuple[Img, Target]:
        if not _coin(self.p):
            return img, target
        x = to_tensor(img).clone()
        draws = torch.rand(5).tolist()
        if draws[0] < self.op_p:
            x = (x * _uniform(*self.brightness)).clamp_(0.0, 1.0)
        contrast_first = draws[1] < 0.5
        if contrast_first and draws[2] < self.op_p:
            x = self._contrast(x)
        if draws[3] < self.op_p:
            f = _uniform(*self.saturation)
            x = (f * x + (1.0 - f) * _gray(x)).clamp_(0.0, 1.0)
        if draws[4] < self.op_p:
            x = adjust_hue(x, _uniform(*self.hue))
        if not contrast_first and draws[2] < self.op_p:
            x = self._contrast(x)
        return x.clamp_(0.0, 1.0), target

    def _contrast(self, x: torch.Tensor) -> torch.Tensor:
        f = _uniform(*self.contrast)
        return (f * x + (1.0 - f) * _gray(x).mean()).clamp_(0.0, 1.0)

    def __repr__(self) -> str:
        return f"PhotometricDistort(p={self.p})"


# -- geometric ----------------------------------------------------------------------------


def _crop(img: Img, left: int, top: int, right: int, bottom: int) -> Img:
    if isinstance(img, torch.Tensor):
        return img[..., top:bottom, left:right]
    return img.crop((left, top, right, bottom))


class RandomIoUCrop:
    """SSD-style crop with probability ``p``.

    Draws a minimum IoU from ``min_ious`` and tries up to ``trials`` crops (side 0.3..1 of
    the image, aspect 0.5..2) until one overlaps some box by at least that IoU. Boxes whose
    centres fall inside the crop are kept and clipped; the rest are dropped. No crop is
    made when no trial succeeds or the image has no boxes.
    """

    def __init__(self, p: float = 0.8, *, min_ious: Sequence[float] = IOU_OPTIONS, trials: int = 40, min_scale: float = 0.3,
                 max_scale: float = 1.0, min_aspect_ratio: float = 0.5, max_aspect_ratio: float = 2.0) -> None:
        self.p = _check_prob(p, "iou_crop_prob")
        self.min_ious, self.trials = tuple(float(v) for v in min_ious), int(trials)
        self.min_scale, self.max_scale = min_scale, max_scale
        self.min_aspect_ratio, self.max_aspect_ratio = min_aspect_ratio, max_aspect_ratio

    def __call__(self, img: Img, target: Target) -> tuple[Img, Target]:
        boxes = target.get("boxes")
        if not _coin(self.p) or not isinstance(boxes, torch.Tensor) or boxes.numel() == 0 or not self.min_ious:
            return img, target
        h, w = image_hw(img)
        min_iou = self.min_ious[int(torch.randint(len(self.min_ious), ()))]
        # All trials are drawn and scored at once (one set of tensor ops instead of a Python
        # loop of tiny ones: ~0.1 ms instead of ~1 ms an image); the first that passes wins.
        n = self.trials
        scale = self.min_scale + (self.max_scale - self.min_scale) * torch.rand(n, 2)
        cw, ch = (w * scale[:, 0]).floor(), (h * scale[:, 1]).floor()
        off = torch.rand(n, 2)
        left, top = ((w - cw) * off[:, 0]).floor(), ((h - ch) * off[:, 1]).floor()
        right, bottom = left + cw, top + ch
        aspect = cw / ch.clamp(min=1)
        ok = (cw >= 1) & (ch >= 1) & (aspect >= self.min_aspect_ratio) & (aspect <= self.max_aspect_ratio)
        b = boxes.to(torch.float32)
        cx, cy = ((b[:, 0] + b[:, 2]) / 2)[None], ((b[:, 1] + b[:, 3]) / 2)[None]
        inside = (cx > left[:, None]) & (cx < right[:, None]) & (cy > top[:, None]) & (cy < bottom[:, None])  # trials x boxes
        iw = (torch.minimum(b[None, :, 2], right[:, None]) - torch.maximum(b[None, :, 0], left[:, None])).clamp(min=0)
        ih = (torch.minimum(b[None, :, 3], bottom[:, None]) - torch.maximum(b[None, :, 1], top[:, None])).clamp(min=0)
        inter = iw * ih
        areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        iou = inter / (areas[None] + (cw * ch)[:, None] - inter).clamp(min=1e-9)
        best = torch.where(inside, iou, torch.full_like(iou, -1.0)).amax(dim=1)
        passed = torch.nonzero(ok & (best >= min_iou))
        if passed.numel():
            i = int(passed[0, 0])
            l, t, r_, b_ = int(left[i]), int(top[i]), int(right[i]), int(bottom[i])
            shifted = boxes - torch.tensor([l, t, l, t], dtype=boxes.dtype)
            shifted[:, 0::2] = shifted[:, 0::2].clamp(0, r_ - l)
            shifted[:, 1::2] = shifted[:, 1::2].clamp(0, b_ - t)
            keep = inside[i] & (shifted[:, 2] > shifted[:, 0]) & (shifted[:, 3] > shifted[:, 1])
            out = dict(target)
            out["boxes"] = shifted
            return _crop(img, l, t, r_, b_), keep_boxes(out, keep)
        return img, target

    def __repr__(self) -> str:
        return f"RandomIoUCrop(p={self.p}, min_ious={self.min_ious}, trials={self.trials})"


class RandomHorizontalFlip:
    """Mirror the image and its boxes left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = _check_prob(p, "hflip_prob")

    def __call__(self, img: Img, target: Target) -> tuple[Img, Target]:
        if not _coin(self.p):
            return img, target
        _, w = image_hw(img)
        flipped = img.flip(-1) if isinstance(img, torch.Tensor) else img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out = dict(target)
        boxes = target.get("boxes")
        if isinstance(boxes, torch.Tensor) and boxes.numel():
            new = boxes.clone()
            new[:, 0], new[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
            out["boxes"] = new
        return flipped, out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Resize:
    """Resize to ``size`` = (h, w): stretch, or ``letterbox`` (keep aspect, pad grey bottom/right).

    Always works on a float tensor (bilinear, antialiased) so train and eval resize
    identically. Letterboxing records ``target["letterbox"]`` = ``{"scale": (sx, sy),
    "pad": (left, top), "content_size": (h, w), "orig_size": (h, w)}`` (plain numbers; pad is
    (0, 0) because the grey padding goes bottom/right): the contract of
    ``postprocess.to_coco_results``; ``unletterbox_boxes`` maps boxes back with it.
    """

    def __init__(self, size: Sequence[int], letterbox: bool = False) -> None:
        self.size = _hw(size, "size")
        self.letterbox = bool(letterbox)

    def __call__(self, img: Img, target: Target) -> tuple[Img, Target]:
        x = to_tensor(img)
        h, w = image_hw(x)
        out_h, out_w = self.size
        if self.letterbox:
            s = min(out_h / h, out_w / w)
            nh, nw = min(out_h, max(1, round(h * s))), min(out_w, max(1, round(w * s)))
        else:
            nh, nw = out_h, out_w
        if (nh, nw) != (h, w):
            x = F.interpolate(x.unsqueeze(0), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0].clamp_(0.0, 1.0)
        sy, sx = nh / h, nw / w
        out = dict(target)
        boxes = target.get("boxes")
        if isinstance(boxes, torch.Tensor):
            out["boxes"] = boxes * torch.tensor([sx, sy, sx, sy], dtype=boxes.dtype)
        if self.letterbox:
            canvas = x.new_full((x.shape[0], out_h, out_w), PAD_VALUE)
            canvas[:, :nh, :nw] = x
            x = canvas
            out["letterbox"] = {"scale": (sx, sy), "pad": (0, 0), "content_size": (nh, nw), "orig_size": (h, w)}
        return x, out

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, letterbox={self.letterbox})"


class SanitizeBoxes:
    """Drop boxes narrower or shorter than ``min_size`` pixels (or non-finite) with their labels."""

    def __init__(self, min_size: float = 1.0) -> None:
        self.min_size = float(min_size)

    def __call__(self, img: Img, target: Target) -> tuple[Img, Target]:
        boxes = target.get("boxes")
        if not isinstance(boxes, torch.Tensor) or boxes.numel() == 0:
            return img, target
        wh = boxes[:, 2:] - boxes[:, :2]
        keep = (wh >= self.min_size).all(1) & torch.isfinite(boxes).all(1)
        return img, keep_boxes(target, keep)

    def __repr__(self) -> str:
        return f"SanitizeBoxes(min_size={self.min_size})"


class ToTensor:
    """PIL image or tensor -> float32 [3, H, W] in 0..1 (no mean/std: RT-DETR expects raw 0..1)."""

    def __call__(self, img: Img, target: Target) -> tuple[Img, Target]:
        return to_tensor(img), target

    def __repr__(self) -> str:
        return "ToTensor()"


def unletterbox_boxes(boxes: torch.Tensor, scale: float | Sequence[float], pad: Sequence[float] = (0, 0),
                      orig_size: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
    """Map absolute xyxy boxes on the letterboxed input back to the original image.

    ``scale`` is one factor or (sx, sy), ``pad`` the (left, top) offset of the content, as in
    ``target["letterbox"]``: ``x = (x' - left) / sx``. With ``orig_size`` (h, w) the result
    is clipped to the image.
    """
    sx, sy = (float(scale), float(scale)) if isinstance(scale, (int, float)) else (float(scale[0]), float(scale[1]))
    left, top = (float(v) for v in pad)
    offset = torch.tensor([left, top, left, top], dtype=torch.float32, device=boxes.device)
    out = (boxes.to(torch.float32) - offset) / torch.tensor([sx, sy, sx, sy], dtype=torch.float32, device=boxes.device)
    if orig_size is not None:
        h, w = (float(v) for v in torch.as_tensor(orig_size).flatten()[:2])
        out[..., 0::2] = out[..., 0::2].clamp(0.0, w)
        out[..., 1::2] = out[..., 1::2].clamp(0.0, h)
    return out


def boxes_to_original(boxes: torch.Tensor, target: Mapping[str, Any]) -> torch.Tensor:
    """Absolute xyxy boxes on the network input (``target['size']``) -> original image pixels.

    For eval-path targets (resize only, no crop/flip): undoes ``target["letterbox"]`` when
    present, else the stretch from ``orig_size`` to ``size``.
    """
    oh, ow = (float(v) for v in torch.as_tensor(target["orig_size"]).flatten()[:2])
    lb = target.get("letterbox")
    if lb is not None:
        return unletterbox_boxes(boxes, lb["scale"], lb.get("pad", (0, 0)), (oh, ow))
    h, w = (float(v) for v in torch.as_tensor(target["size"]).flatten()[:2])
    return unletterbox_boxes(boxes, (w / ow, h / oh), (0, 0), (oh, ow))


def _hw(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in value)):
        raise ValueError(f"{name} must be [height, width] in positive integer pixels, got {value!r}")
    return int(value[0]), int(value[1])


def build_transforms(aug: Mapping[str, Any] | None, train: bool) -> Compose:
    """Transforms from the spec's ``dataset.augmentation`` (missing keys take the spec defaults).

    eval: Resize(eval_spatial_size) -> ToTensor. train: PhotometricDistort(distortion_prob)
    -> RandomIoUCrop(iou_crop_prob) -> RandomHorizontalFlip(hflip_prob) ->
    Resize(train_spatial_size) -> SanitizeBoxes(1) -> ToTensor. ``preserve_aspect_ratio``
    letterboxes in both. Multi-scale batches are ``data.MultiScaleCollate``'s job.
    """
    cfg = {**DEFAULTS, **dict(aug or {})}
    letterbox = cfg["preserve_aspect_ratio"]
    if not isinstance(letterbox, bool):
        raise ValueError(f"preserve_aspect_ratio must be true or false, got {letterbox!r}")
    if not train:
        return Compose([Resize(_hw(cfg["eval_spatial_size"], "eval_spatial_size"), letterbox), ToTensor()])
    return Compose([
        PhotometricDistort(cfg["distortion_prob"]),
        RandomIoUCrop(cfg["iou_crop_prob"]),
        RandomHorizontalFlip(cfg["hflip_prob"]),
        Resize(_hw(cfg["train_spatial_size"], "train_spatial_size"), letterbox),
        SanitizeBoxes(1.0),
        ToTensor(),
    ])
