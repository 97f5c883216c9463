"""Seconds to validate a 20 000-image COCO dataset with ``skillrun.data.checks`` (target <= 10 s).

Generates the dataset once (8 distinct 640x480 JPEG/PNG files, hard-linked 20 000
times, about 3 boxes per image over 5 classes; a handful of deliberate problems so the
problem paths run too), then times ``check_dataset`` (every header read, every box
checked, statistics) a few times and reports the median, the first (coldest) run, and
the whole ``dataset-validate`` handler once (report.json, metrics, tables, samples.png).

    .venv/bin/python benchmarks/data_validate.py [--images 20000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "runtime"))  # run from a checkout without installing

TARGET_S = 10.0
CATEGORIES = {1: "pallet", 2: "box", 3: "cone", 4: "forklift", 5: "person"}


def generate(root: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """``root/images/*.{jpg,png}`` (hard links to 8 distinct files) and ``root/annotations.json``."""
    from PIL import Image

    rng = random.Random(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    w, h = 640, 480
    bases = []
    for k in range(8):
        ext = "jpg" if k % 2 else "png"
        path = root / f"base{k}.{ext}"
        Image.new("RGB", (w, h), (30 * k, 255 - 30 * k, 90)).save(path)
        bases.append((path, ext))
    images, annotations = [], []
    for i in range(n):
        base, ext = bases[i % len(bases)]
        name = f"{i:06d}.{ext}"
        target = images_dir / name
        if not target.exists():
            try:
                os.link(base, target)
            except OSError:  # another file system or no hard links: copy
                shutil.copyfile(base, target)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for _ in range(rng.randint(0, 6)):
            bw, bh = rng.uniform(4, 300), rng.uniform(4, 300)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": rng.choice(list(CATEGORIES)), "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)], "area": round(bw * bh, 2), "iscrowd": 0})
    annotations[0]["bbox"][2] = 0  # a few problems, so their code paths are timed too
    annotations[1]["bbox"] = [w + 10, 0, 5, 5]
    annotations[2]["image_id"] = n + 99
    coco = {"images": images, "annotations": annotations, "categories": [{"id": c, "name": name} for c, name in CATEGORIES.items()]}
    json_file = root / "annotations.json"
    json_file.write_text(json.dumps(coco))
    return json_file, images_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--keep", type=Path, default=None, help="generate into (and reuse) this folder instead of a temp one")
    args = parser.parse_args()
    from skillrun.data.checks import CheckOptions, check_dataset
    from skillrun.data.validate import run

    root = args.keep or Path(tempfile.mkdtemp(prefix="skillrun-bench-validate-"))
    try:
        start = time.perf_counter()
        json_file = root / "annotations.json"
        if json_file.exists() and len(json.loads(json_file.read_text())["images"]) == args.images:
            image_dir = root / "images"
        else:
            json_file, image_dir = generate(root, args.images)
        gen_s = time.perf_counter() - start
        options = CheckOptions(workers=args.workers)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            report, _ = check_dataset([(json_file, image_dir)], options)
            times.append(time.perf_counter() - start)
        stats = report.sources[0].stats
        assert stats is not None and stats.images == args.images
        spec = {"dataset": {"json_file": str(json_file), "image_dir": str(image_dir)}, "validate": {"workers": args.workers}}
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = run(spec, root / "results" / "validate")
        handler_s = time.perf_counter() - start
        median = statistics.median(times)
        print(f"dataset: {stats.images} images, {stats.annotations} annotations, {stats.categories} categories (generated in {gen_s:.1f} s)")
        print(f"problems found: {report.errors} error kinds, {report.warnings} warning kinds (expected: bad_boxes, boxes_outside_image, unknown_image_ids + warnings)")
        print(f"check_dataset   median {median:6.2f} s  first {times[0]:6.2f} s  ({args.repeat} runs, {args.workers} header threads, {os.cpu_count()} cores)")
        print(f"whole handler          {handler_s:6.2f} s  (report.json, metrics, tables, samples.png; exit code {code})")
        print(f"target {TARGET_S:.0f} s: median / target = {median / TARGET_S:.2f}  {'ok' if median <= TARGET_S else 'OVER'}")
        return 0 if median <= TARGET_S else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
