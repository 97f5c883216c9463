"""COCO and image-folder datasets, batch collation and DataLoader construction for RT-DETR.

Why: Hugging Face's RT-DETR wants ``pixel_values`` [B, 3, H, W] in 0..1 and one target
dict per image with ``class_labels`` (int64, 0..K-1) and ``boxes`` (normalised cx, cy, w,
h). This module turns the spec's data sources (several COCO sources are concatenated, sparse
category ids are remapped through a ``ClassMap``) into exactly that, keeps the bookkeeping
evaluation needs (``image_id`` and ``source`` to find the ground truth, ``orig_size`` and
any letterbox to map boxes back), and builds reproducible loaders for one process or DDP.
Multi-scale training follows RT-DETR's BatchImageCollateFuncion: the whole batch is
resized to one random square size until ``stop_epoch``.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from skillrun.engine.rtdetr.classmap import ClassMap
from skillrun.engine.rtdetr.transforms import image_hw, to_tensor

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
Sample = tuple[torch.Tensor, dict[str, Any]]
Transform = Callable[[Any, dict[str, Any]], tuple[Any, dict[str, Any]]]


@dataclass(frozen=True)
class CocoSource:
    """One COCO source as read: images under ``image_dir`` named by ``json_file``."""

    image_dir: Path
    json_file: Path
    num_images: int
    num_annotations: int


@dataclass(frozen=True)
class _Item:
    source: int
    image_id: int
    path: str
    boxes: np.ndarray  # float32 [N, 4] absolute xyxy, crowd boxes removed
    labels: np.ndarray  # int64 [N] contiguous labels


def _open_rgb(path: str | Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError as exc:
        raise OSError(f"cannot read image {path}: {exc}") from exc


def _read_source(index: int, entry: Mapping[str, Any], class_map: ClassMap) -> tuple[CocoSource, list[_Item]]:
    """Parse one ``{image_dir, json_file}`` source into items; errors name the file."""
    if not isinstance(entry, Mapping) or "image_dir" not in entry or "json_file" not in entry:
        raise ValueError(f"data source {index} must have 'image_dir' and 'json_file', got {entry!r}")
    image_dir, json_file = Path(entry["image_dir"]), Path(entry["json_file"])
    try:
        data = json.loads(json_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read COCO annotations {json_file}: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations")):
        raise ValueError(f"{json_file} is not a COCO detection file: needs lists 'images' and 'annotations'")
    per_image: dict[int, list[dict[str, Any]]] = {}
    unknown: set[Any] = set()
    n_ann = 0
    for ann in data["annotations"]:
        if not isinstance(ann, dict) or ann.get("iscrowd", 0):
            continue  # crowd regions are not instances: RT-DETR (like the HF processor) does not train on them
        cat = ann.get("category_id")
        if cat not in class_map:
            unknown.add(cat)
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise ValueError(f"{json_file}: annotation {ann.get('id')!r} has bbox {bbox!r}, expected [x, y, w, h]")
        per_image.setdefault(ann.get("image_id"), []).append(ann)
        n_ann += 1
    if unknown:
        shown = sorted(map(str, unknown))[:5]
        raise ValueError(f"{json_file}: annotations use category ids {shown} that are not in the class map "
                         f"(ids {list(class_map.category_ids)})")
    items: list[_Item] = []
    for im in data["images"]:
        image_id = im.get("id") if isinstance(im, dict) else None
        if not isinstance(image_id, int) or isinstance(image_id, bool) or "file_name" not in im:
            raise ValueError(f"{json_file}: every image needs an integer 'id' and a 'file_name', got {im!r}")
        anns = per_image.get(image_id, [])
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        labels = np.array([class_map.index(a["category_id"]) for a in anns], dtype=np.int64)
        items.append(_Item(index, image_id, str(image_dir / str(im["file_name"])), boxes, labels))
    return CocoSource(image_dir, json_file, len(items), n_ann), items


def finalize_target(target: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """Absolute xyxy ``boxes`` + ``labels`` -> HF's normalised cxcywh ``boxes`` + ``class_labels``."""
    h, w = size
    out = dict(target)
    boxes = out.pop("boxes").to(torch.float32)
    cxcywh = torch.cat([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], dim=1)
    out["boxes"] = (cxcywh / torch.tensor([w, h, w, h], dtype=torch.float32)).clamp_(0.0, 1.0)
    out["class_labels"] = out.pop("labels").to(torch.int64)
    out["size"] = torch.tensor([h, w], dtype=torch.int64)
    return out


class CocoDetection(Dataset):
    """Concatenated COCO sources -> (image [3, H, W] 0..1, target) pairs for HF RT-DETR.

    Target keys: ``class_labels`` int64 [N] (via ``class_map``), ``boxes`` float32 [N, 4]
    normalised cxcywh relative to the output image, ``image_id`` (the COCO id within its
    source) and ``source`` (index into ``sources``) as 0-d int64, ``orig_size`` and ``size``
    (h, w) int64 tensors, plus ``letterbox`` (a dict of plain numbers, see ``Resize``) when
    letterboxing. Crowd boxes are skipped; boxes are clipped to the decoded image and empty
    ones dropped.
    """

    def __init__(self, sources: Sequence[Mapping[str, Any]], class_map: ClassMap, transforms: Transform | None = None) -> None:
        if isinstance(sources, Mapping):
            sources = [sources]
        if not sources:
            raise ValueError("no COCO data sources given")
        self.class_map = class_map
        self.transforms = transforms
        self.sources: list[CocoSource] = []
        self._items: list[_Item] = []
        for i, entry in enumerate(sources):
            src, items = _read_source(i, entry, class_map)
            self.sources.append(src)
            self._items.extend(items)

    def __len__(self) -> int:
        return len(self._items)

    def coco_gt(self, source_index: int) -> Path:
        """Ground-truth COCO json of one source (``target['source']``), for evaluation."""
        if not 0 <= int(source_index) < len(self.sources):
            raise IndexError(f"source {source_index} is outside 0..{len(self.sources) - 1}")
        return self.sources[int(source_index)].json_file

    def image_info(self, index: int) -> dict[str, Any]:
        """``{source, image_id, path}`` of one item, without decoding the image."""
        item = self._items[index]
        return {"source": item.source, "image_id": item.image_id, "path": item.path}

    def __getitem__(self, index: int) -> Sample:
        item = self._items[index]
        img = _open_rgb(item.path)
        w, h = img.size
        boxes = torch.from_numpy(item.boxes.copy())
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0.0, float(w))
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0.0, float(h))
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        target: dict[str, Any] = {
            "boxes": boxes[keep],
            "labels": torch.from_numpy(item.labels.copy())[keep],
            "image_id": torch.tensor(item.image_id, dtype=torch.int64),
            "source": torch.tensor(item.source, dtype=torch.int64),
            "orig_size": torch.tensor([h, w], dtype=torch.int64),
        }
        out: Any = img
        if self.transforms is not None:
            out, target = self.transforms(out, target)
        x = to_tensor(out)
        return x, finalize_target(target, image_hw(x))


class ImageFolderDataset(Dataset):
    """Every image (jpg/jpeg/png/bmp/webp) directly inside one or more folders, for inference.

    Folders keep their order, files are sorted by name; sub-folders are not searched.
    Items are (image [3, H, W] 0..1, ``{file_name, path, orig_size, size}`` plus any
    letterbox keys).
    """

    def __init__(self, folders: Sequence[str | Path] | str | Path, transforms: Transform | None = None) -> None:
        if isinstance(folders, (str, Path)):
            folders = [folders]
        self.transforms = transforms
        self.paths: list[Path] = []
        for folder in map(Path, folders):
            if not folder.is_dir():
                raise ValueError(f"image folder {folder} does not exist or is not a folder")
            self.paths.extend(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()))
        if not self.paths:
            names = ", ".join(str(f) for f in folders)
            raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {names}")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Sample:
        path = self.paths[index]
        img = _open_rgb(path)
        target: dict[str, Any] = {"file_name": path.name, "path": str(path),
                                  "orig_size": torch.tensor([img.height, img.width], dtype=torch.int64)}
        out: Any = img
        if self.transforms is not None:
            out, target = self.transforms(out, target)
        x = to_tensor(out)
        target["size"] = torch.tensor(image_hw(x), dtype=torch.int64)
        return x, target


def collate(batch: Sequence[Sample]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Stack same-sized images -> (pixel_values [B, 3, H, W], list of targets)."""
    images = [b[0] for b in batch]
    shapes = {tuple(x.shape) for x in images}
    if len(shapes) > 1:
        raise ValueError(f"images in a batch differ in size {sorted(shapes)}: add a Resize to the transforms")
    return torch.stack(images), [b[1] for b in batch]


class MultiScaleCollate:
    """``collate`` plus RT-DETR multi-scale: before ``stop_epoch`` resize the batch to a random square.

    The size is drawn from ``scales`` with torch's RNG (seeded per DataLoader worker), the
    batch is interpolated bilinearly, and the ``size`` / ``letterbox`` entries of the targets follow;
    normalised boxes need no change. ``scales=[]`` is plain ``collate``; ``stop_epoch=None``
    never stops. The epoch lives in shared memory, so ``set_epoch`` reaches persistent
    workers too (call it before iterating the epoch, e.g. via ``data.set_epoch(loader, e)``).
    """

    def __init__(self, scales: Sequence[int] = (), stop_epoch: int | None = None) -> None:
        bad = [s for s in scales if not isinstance(s, int) or isinstance(s, bool) or s < 1]
        if bad:
            raise ValueError(f"multi_scales must be positive integer sizes, got {list(scales)}")
        self.scales = tuple(int(s) for s in scales)
        self.stop_epoch = stop_epoch
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(int(epoch))

    def active(self) -> bool:
        """Whether batches of the current epoch are rescaled."""
        return bool(self.scales) and (self.stop_epoch is None or self.epoch < self.stop_epoch)

    def __call__(self, batch: Sequence[Sample]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        images, targets = collate(batch)
        if not self.active():
            return images, targets
        side = self.scales[int(torch.randint(len(self.scales), ()))]
        h, w = int(images.shape[-2]), int(images.shape[-1])
        if (h, w) == (side, side):
            return images, targets
        images = F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
        ry, rx = side / h, side / w
        out = []
        for t in targets:
            t = dict(t)
            t["size"] = torch.tensor([side, side], dtype=torch.int64)
            lb = t.get("letterbox")
            if lb is not None:  # the content and its offset scale with the batch
                (sx, sy), (left, top), (ch, cw) = lb["scale"], lb["pad"], lb["content_size"]
                t["letterbox"] = {**lb, "scale": (sx * rx, sy * ry), "pad": (left * rx, top * ry), "content_size": (ch * ry, cw * rx)}
            out.append(t)
        return images, out

    def __repr__(self) -> str:
        return f"MultiScaleCollate(scales={list(self.scales)}, stop_epoch={self.stop_epoch})"


def available_cpus() -> int:
    """CPU cores this process may use (affinity-aware where the OS supports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive numpy's and ``random``'s seeds from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def build_loader(dataset: Dataset, *, batch_size: int, workers: int, shuffle: bool, drop_last: bool,
                 collate_fn: Callable[[Sequence[Sample]], Any] = collate, seed: int = 0, rank: int = 0,
                 world_size: int = 1, pin_memory: bool | None = None) -> DataLoader:
    """A reproducible DataLoader for one process or one DDP rank.

    ``world_size > 1`` uses a ``DistributedSampler`` (shuffle seeded by ``seed``, same on
    every rank); call ``set_epoch(loader, epoch)`` each epoch so it reshuffles. The loader's
    generator is seeded with ``seed`` (offset by ``rank``), which fixes the shuffle order and
    the per-worker torch seeds that drive augmentation; with ``workers=0`` augmentation
    draws from the global torch RNG, so seed that too. ``workers`` is capped at the usable
    CPU cores; workers persist across epochs; memory is pinned only when CUDA is available
    (unless ``pin_memory`` says otherwise). Raises ValueError when no batch would result.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not valid for world_size {world_size}")
    workers = max(0, min(int(workers), available_cpus()))
    generator = torch.Generator()
    generator.manual_seed(int(seed) + 1_000_003 * int(rank))
    sampler = None
    if world_size > 1:
        sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=int(seed), drop_last=drop_last)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=torch.cuda.is_available() if pin_memory is None else bool(pin_memory),
        drop_last=drop_last,
        worker_init_fn=seed_worker if workers > 0 else None,
        generator=generator,
        persistent_workers=workers > 0,
    )
    if len(loader) == 0:
        n = len(dataset)  # type: ignore[arg-type]
        raise ValueError(f"the dataset has {n} images, too few for one batch of {batch_size}"
                         + (f" per rank over {world_size} ranks" if world_size > 1 else "") + " with drop_last; lower batch_size")
    return loader


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell the sampler (DDP reshuffle) and the collate function (multi-scale stop) the epoch."""
    for part in (loader.sampler, loader.collate_fn):
        fn = getattr(part, "set_epoch", None)
        if callable(fn):
            fn(epoch)
