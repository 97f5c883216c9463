"""Training images/s of the builtin RT-DETR engine, next to a plain hand-written loop and pure compute.

On one generated dataset (``generate_coco``, sparse ids 201/305/412) and one model
(the tiny CPU recipe ``examples/rtdetr_tiny_cpu.yaml``: tiny preset, 100 queries,
batch 8, fp32, its own ``dataset.workers``), measures three ways of training:

* **engine** - ``loop.train_one_epoch`` over the engine's own DataLoader
  (``runtime.train_loader``: CocoDetection + ``build_transforms(train=True)`` +
  MultiScaleCollate), with the engine's AdamW param groups, LambdaLR schedule,
  ModelEMA and gradient clipping, built exactly as ``train.run`` builds them. A
  thin window over the loader hands ``train_one_epoch`` a fixed number of steps
  (crossing epoch boundaries with ``set_epoch``), so all three do the same steps;
  validation and checkpoints (not part of training throughput) are left out.
* **plain** - what a user writes in 30 lines: a Dataset that opens the image with
  PIL, resizes it to the same size and converts its COCO boxes, no augmentation,
  ``DataLoader(batch, shuffle=True, num_workers=0)``, ``AdamW(model.parameters())``,
  ``loss.backward()``, ``step()``; same HF model and config.
* **pure** - forward + backward + AdamW step on batches already in memory, with the
  engine's compute settings (``runtime.place_model``: channels-last; ``runtime.make_optimizer``:
  fused AdamW), so engine/pure is the cost of everything the engine adds around the step.

Each variant gets the same warm-up steps, then ``--rounds`` rounds of ``--steps``
timed steps; the rounds of the three are interleaved (order rotated) so load from
other processes hits all of them alike, and each round starts with ``--round-warmup``
untimed steps (drains batches a persistent worker prefetched while the others ran).
Prints median images/s, the ratios engine/plain and engine/pure (median of the per-round
ratios: the variants of one round run back to back under the same load) against the targets
(engine >= 1.1x plain, >= 0.95x pure), then a per-step breakdown of the engine path
(data wait, forward, backward, clip, step, EMA; a timed replica of train_one_epoch's
body) and per-image data costs (decode, augmentation, collate).

    .venv/bin/python benchmarks/train_throughput.py [--train-images 64] [--size 128]
        [--rounds 24] [--steps 4] [--round-warmup 1] [--warmup 8] [--workers N] [--threads N] [--engine-threads N]
        [--no-breakdown] [--profile] [--keep]

Threads matter on a shared 2-core machine: with torch's default (2 intra-op OpenMP
threads) every variant collapses to a few images/s while other processes load the
cores; ``--threads 1`` is steadier there. ``--workers`` / ``--engine-threads`` try
other settings for the engine without touching engine code.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "examples" / "rtdetr_tiny_cpu.yaml"
TARGETS = {"engine/plain": 1.1, "engine/pure": 0.95}
DEFAULT_THREADS = [1]  #: the training process's thread count, set in main()


# -- the spec -----------------------------------------------------------------------------


def make_data(root: Path, train: int, val: int, size: int, seed: int = 0) -> Any:
    from skillrun.data.sdg import generate_coco

    return generate_coco(root, splits={"train": train, "val": val}, image_size=(size, size), seed=seed)


def recipe_spec(data: Any, *, size: int | None = None, workers: int | None = None, recipe: Path = RECIPE,
                overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The composed (schema defaults <- recipe <- data paths) train spec, as ``skillrun run`` hands it to the engine."""
    import skillrun

    tr, va = data.splits["train"], data.splits["val"]
    ov = [
        f"dataset.train_data_sources=[{{image_dir: {tr.image_dir}, json_file: {tr.json_file}}}]",
        f"dataset.val_data_sources={{image_dir: {va.image_dir}, json_file: {va.json_file}}}",
        *overrides,
    ]
    spec = skillrun.compose("rtdetr", "train", spec_file=recipe, overrides=ov).spec
    spec = json.loads(json.dumps(spec))  # plain dicts/lists
    if size is not None:
        spec["dataset"]["augmentation"]["train_spatial_size"] = [size, size]
        spec["dataset"]["augmentation"]["eval_spatial_size"] = [size, size]
    if workers is not None:
        spec["dataset"]["workers"] = workers
    return spec


def class_map_of(spec: dict[str, Any]) -> Any:
    from skillrun.engine.rtdetr.classmap import ClassMap

    ds = spec["dataset"]
    files = [Path(s["json_file"]) for s in ds["train_data_sources"]] + [Path(ds["val_data_sources"]["json_file"])]
    return ClassMap.from_coco(files)


def fresh_model(spec: dict[str, Any], class_map: Any, seed: int) -> Any:
    import torch
    from skillrun.engine.rtdetr.model import build_model, model_config

    torch.manual_seed(seed)
    return build_model(model_config(spec["model"], len(class_map), class_map.id2label()))


# -- (a) the engine ------------------------------------------------------------------------


class StepWindow:
    """``n`` batches of a DataLoader at a time, crossing epochs (``set_epoch``) as ``train.run`` would.

    Has ``len`` and ``batch_size``, which is all ``train_one_epoch`` asks of its loader.
    """

    def __init__(self, loader: Any) -> None:
        self.loader, self.batch_size, self.epoch, self.n = loader, loader.batch_size, 0, 0
        self._it: Any = None

    def take(self, n: int) -> StepWindow:
        self.n = n
        return self

    def __len__(self) -> int:
        return self.n

    def next_batch(self) -> Any:
        from skillrun.engine.rtdetr.data import set_epoch

        while True:
            if self._it is None:
                set_epoch(self.loader, self.epoch)
                self._it = iter(self.loader)
            try:
                return next(self._it)
            except StopIteration:
                self._it, self.epoch = None, self.epoch + 1

    def __iter__(self) -> Any:
        for _ in range(self.n):
            yield self.next_batch()


class Engine:
    """The pieces ``train.run`` builds (same calls, same order), stepped through ``train_one_epoch``."""

    name = "engine"
    threads: int | None = None

    def __init__(self, spec: dict[str, Any], *, num_epochs: int = 1000) -> None:
        import torch
        from skillrun.engine.rtdetr import runtime
        from skillrun.engine.rtdetr.model import param_groups
        from skillrun.engine.rtdetr.optim import ModelEMA, lr_lambda

        tr, ds = spec["train"], spec["dataset"]
        self.ctx = runtime.setup(tr.get("seed", 1234), tr.get("precision", "fp32"))
        self.class_map = class_map_of(spec)
        self.model = runtime.place_model(fresh_model(spec, self.class_map, tr.get("seed", 1234)), self.ctx)
        loader, _ = runtime.train_loader(ds, self.class_map, self.ctx, seed=tr.get("seed", 1234), num_epochs=num_epochs)
        self.loader = loader
        o = tr["optim"]
        self.optimizer = runtime.make_optimizer(param_groups(self.model, lr=o["lr"], lr_backbone=o["lr_backbone"], weight_decay=o["weight_decay"]), o["lr"], self.ctx)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(o, iters_per_epoch=len(loader), num_epochs=num_epochs))
        self.ema = ModelEMA(self.model, tr.get("ema_decay", 0.9999)) if tr.get("enable_ema", True) else None
        self.clip = tr.get("clip_grad_norm", 0.1)
        self.window = StepWindow(loader)
        self.batch_size = ds["batch_size"]
        self.workers = loader.num_workers

    def steps(self, n: int) -> None:
        from skillrun.engine.rtdetr.loop import train_one_epoch

        train_one_epoch(self.model, self.window.take(n), self.optimizer, self.scheduler, device=self.ctx.device,
                        precision=self.ctx.precision, scaler=None, clip_grad_norm=self.clip, ema=self.ema, log=lambda _m: None)


# -- (b) the plain loop a user writes ------------------------------------------------------


def plain_dataset_class() -> type:
    """The 30-line user Dataset (defined lazily so importing this file stays torch-free)."""
    import numpy as np
    import torch
    from PIL import Image
    from torch.utils.data import Dataset

    class PlainCoco(Dataset):
        """PIL image -> resized 0..1 tensor; COCO xywh -> HF targets (class index, normalised cxcywh)."""

        def __init__(self, image_dir: str, json_file: str, size: int) -> None:
            data = json.loads(Path(json_file).read_text())
            self.cats = sorted(c["id"] for c in data["categories"])
            self.images, self.dir, self.size = data["images"], Path(image_dir), size
            self.anns: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for a in data["annotations"]:
                self.anns[a["image_id"]].append(a)

        def __len__(self) -> int:
            return len(self.images)

        def __getitem__(self, i: int) -> tuple[Any, dict[str, Any]]:
            info = self.images[i]
            img = Image.open(self.dir / info["file_name"]).convert("RGB")
            w, h = img.size
            img = img.resize((self.size, self.size), Image.BILINEAR)
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
            anns = self.anns[info["id"]]
            b = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
            boxes = torch.stack([(b[:, 0] + b[:, 2] / 2) / w, (b[:, 1] + b[:, 3] / 2) / h, b[:, 2] / w, b[:, 3] / h], 1)
            labels = torch.tensor([self.cats.index(a["category_id"]) for a in anns], dtype=torch.int64)
            return x, {"class_labels": labels, "boxes": boxes}

    return PlainCoco


def plain_collate(batch: list[Any]) -> tuple[Any, list[dict[str, Any]]]:
    import torch

    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


class Plain:
    name = "plain"
    threads: int | None = None

    def __init__(self, spec: dict[str, Any], *, lr: float = 1e-4, weight_decay: float = 1e-4, seed: int = 1234) -> None:
        import torch
        from torch.utils.data import DataLoader

        ds = spec["dataset"]
        src = ds["train_data_sources"][0]
        size = ds["augmentation"]["train_spatial_size"][0]
        class_map = class_map_of(spec)
        dataset = plain_dataset_class()(src["image_dir"], src["json_file"], size)
        if dataset.cats != list(class_map.category_ids):
            raise SystemExit(f"class order differs: plain {dataset.cats} vs engine {list(class_map.category_ids)}")
        self.loader = DataLoader(dataset, batch_size=ds["batch_size"], shuffle=True, num_workers=0, collate_fn=plain_collate, drop_last=True)
        self.model = fresh_model(spec, class_map, seed)
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=weight_decay)
        self.batch_size = ds["batch_size"]
        self._it: Any = None

    def next_batch(self) -> Any:
        while True:
            if self._it is None:
                self._it = iter(self.loader)
            try:
                return next(self._it)
            except StopIteration:
                self._it = None

    def step(self, x: Any, targets: list[dict[str, Any]]) -> Any:
        out = self.model(pixel_values=x, labels=targets)
        self.optimizer.zero_grad()
        out.loss.backward()
        self.optimizer.step()
        return out.loss.detach()

    def steps(self, n: int) -> None:
        self.model.train()
        for _ in range(n):
            self.step(*self.next_batch())


# -- (c) pure compute ------------------------------------------------------------------------


class Pure(Plain):
    """The plain model/optimizer stepping over batches decoded once, up front."""

    name = "pure"

    def __init__(self, spec: dict[str, Any], *, lr: float = 1e-4, weight_decay: float = 1e-4, seed: int = 1234) -> None:
        from skillrun.engine.rtdetr import runtime

        super().__init__(spec, lr=lr, weight_decay=weight_decay, seed=seed)
        # The engine's compute settings (channels-last model, fused AdamW), so engine/pure
        # measures only what the engine adds around the step (data, clip, schedule, EMA).
        ctx = runtime.setup(seed, "fp32")
        self.model = runtime.place_model(self.model, ctx)
        self.optimizer = runtime.make_optimizer([{"params": list(self.model.parameters()), "weight_decay": weight_decay}], lr, ctx)
        self.batches = [b for b in self.loader]
        self.i = 0

    def steps(self, n: int) -> None:
        self.model.train()
        for _ in range(n):
            x, t = self.batches[self.i % len(self.batches)]
            self.i += 1
            out = self.model(pixel_values=x, labels=t)
            self.optimizer.zero_grad()
            out.loss.backward()
            self.optimizer.step()


# -- measurement ------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its live children (the DataLoader workers)."""
    try:
        import psutil
    except ImportError:  # main process only
        t = os.times()
        return t.user + t.system
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def use_threads(v: Any) -> None:
    """Apply a variant's intra-op thread count (``v.threads``; None = the process default) before it runs."""
    import torch

    torch.set_num_threads(getattr(v, "threads", None) or DEFAULT_THREADS[0])


def measure(variants: list[Any], *, warmup: int, rounds: int, steps: int, round_warmup: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """images/s and CPU ms per image, per round for each variant; rounds interleaved, order rotated each round."""
    for v in variants:
        use_threads(v)
        v.steps(warmup)
    rates: dict[str, list[float]] = {v.name: [] for v in variants}
    cpu: dict[str, list[float]] = {v.name: [] for v in variants}
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[: r % len(variants)]
        for v in order:
            use_threads(v)
            if round_warmup:
                v.steps(round_warmup)
            c0, start = cpu_seconds(), time.perf_counter()
            v.steps(steps)
            wall, used = time.perf_counter() - start, cpu_seconds() - c0
            rates[v.name].append(steps * v.batch_size / wall)
            cpu[v.name].append(1e3 * used / (steps * v.batch_size))
            print(f"  round {r + 1}/{rounds} {v.name:<6} {rates[v.name][-1]:6.1f} img/s  {cpu[v.name][-1]:6.1f} CPU ms/img", file=sys.stderr, flush=True)
    return rates, cpu


def engine_breakdown(engine: Engine, steps: int) -> dict[str, float]:
    """Mean seconds per step in each phase: a timed replica of ``train_one_epoch``'s body (same calls)."""
    import torch

    model, opt, sched, ema, ctx = engine.model, engine.optimizer, engine.scheduler, engine.ema, engine.ctx
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    t: dict[str, float] = defaultdict(float)
    clock = time.perf_counter
    for _ in range(steps):
        t0 = clock()
        images, targets = engine.window.next_batch()
        t1 = clock()
        images = images.to(ctx.device, non_blocking=True)
        labels = [{"class_labels": x["class_labels"].to(ctx.device), "boxes": x["boxes"].to(ctx.device)} for x in targets]
        with ctx.precision.autocast():
            out = model(pixel_values=images, labels=labels)
        loss = out.loss.float()
        math.isfinite(loss.item())
        t2 = clock()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = clock()
        if engine.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, engine.clip)
        t4 = clock()
        opt.step()
        sched.step()
        t5 = clock()
        if ema is not None:
            ema.update(model)
        t6 = clock()
        loss.item()
        for k, a, b in (("data wait", t0, t1), ("forward + loss", t1, t2), ("backward", t2, t3), ("clip_grad_norm", t3, t4),
                        ("AdamW + LambdaLR step", t4, t5), ("EMA update", t5, t6)):
            t[k] += b - a
    return {k: v / steps for k, v in t.items()}


def simple_breakdown(v: Plain, steps: int) -> dict[str, float]:
    """The same phases for the plain loop (data loaded inline) or the pure one (batches in memory); no clip or EMA."""
    t: dict[str, float] = defaultdict(float)
    clock = time.perf_counter
    v.model.train()
    for _ in range(steps):
        t0 = clock()
        if isinstance(v, Pure):
            x, tg = v.batches[v.i % len(v.batches)]
            v.i += 1
        else:
            x, tg = v.next_batch()
        t1 = clock()
        out = v.model(pixel_values=x, labels=tg)
        t2 = clock()
        v.optimizer.zero_grad()
        out.loss.backward()
        t3 = clock()
        v.optimizer.step()
        t4 = clock()
        for k, a, b in (("data wait", t0, t1), ("forward + loss", t1, t2), ("backward", t2, t3), ("AdamW + LambdaLR step", t3, t4)):
            t[k] += b - a
    return {k: v / steps for k, v in t.items()}


def data_costs(spec: dict[str, Any], repeat: int = 3) -> dict[str, float]:
    """Milliseconds per image (main process, one thread as in a worker) for each stage of the input pipelines."""
    import torch
    from skillrun.engine.rtdetr import data as rdata
    from skillrun.engine.rtdetr.transforms import build_transforms

    ds = spec["dataset"]
    aug = ds.get("augmentation", {})
    cm = class_map_of(spec)
    src = ds["train_data_sources"]
    raw = rdata.CocoDetection(src, cm, None)
    train = rdata.CocoDetection(src, cm, build_transforms(aug, train=True))
    evalt = rdata.CocoDetection(src, cm, build_transforms(aug, train=False))
    plain = plain_dataset_class()(src[0]["image_dir"], src[0]["json_file"], aug["train_spatial_size"][0])
    n = len(raw)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what a DataLoader worker runs with
    out: dict[str, float] = {}
    try:
        for name, dset in (("decode + targets (no transforms)", raw), ("engine eval transforms", evalt),
                           ("engine train transforms (augmentation)", train), ("plain Dataset", plain)):
            best = math.inf
            for _ in range(repeat):
                start = time.perf_counter()
                for i in range(n):
                    dset[i]
                best = min(best, time.perf_counter() - start)
            out[name] = 1e3 * best / n
        bs = ds["batch_size"]
        samples = [train[i] for i in range(bs)]
        collate = rdata.MultiScaleCollate(list(aug.get("multi_scales") or []), stop_epoch=None)
        best = math.inf
        for _ in range(repeat * 10):
            start = time.perf_counter()
            collate(samples)
            best = min(best, time.perf_counter() - start)
        out[f"MultiScaleCollate (per image, batch {bs})"] = 1e3 * best / bs
        from skillrun.engine.rtdetr.transforms import PhotometricDistort, RandomIoUCrop
        x, t = raw[0]
        for name, tf in (("PhotometricDistort (p=1)", PhotometricDistort(1.0)), ("RandomIoUCrop (p=1)", RandomIoUCrop(1.0))):
            best = math.inf
            for _ in range(repeat):
                start = time.perf_counter()
                for _ in range(20):
                    tf(x, dict(t))
                best = min(best, time.perf_counter() - start)
            out[f"  {name}"] = 1e3 * best / 20
    finally:
        torch.set_num_threads(threads)
    return out


def profile_engine(engine: Engine, steps: int, top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    engine.steps(steps)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=64)
    parser.add_argument("--size", type=int, default=128, help="image and train/eval spatial size (px)")
    parser.add_argument("--warmup", type=int, default=8, help="untimed steps per variant before the rounds")
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant per round (short rounds pair better under drifting load)")
    parser.add_argument("--round-warmup", type=int, default=1, help="untimed steps per variant at the start of each round")
    parser.add_argument("--workers", type=int, default=None, help="override the recipe's dataset.workers (benchmark spec only)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads of the training process (default: torch's, = cores)")
    parser.add_argument("--engine-threads", type=int, default=None,
                        help="intra-op threads while the engine steps only (tries a thread default the engine could set; engine code unchanged)")
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--keep", action="store_true", help="keep the generated data (its path is printed)")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the per-phase breakdown and data costs")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of engine steps")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    DEFAULT_THREADS[0] = torch.get_num_threads()
    root = Path(tempfile.mkdtemp(prefix="skillrun-bench-train-"))
    try:
        return run(args, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: Path) -> int:
    import torch

    data = make_data(root, args.train_images, 16, args.size)
    spec = recipe_spec(data, size=args.size, workers=args.workers, recipe=args.recipe)
    ds, m = spec["dataset"], spec["model"]
    engine = Engine(spec)
    engine.threads = args.engine_threads
    plain = Plain(spec)
    pure = Pure(spec)
    print(f"data: {args.train_images} train images, {args.size} px, under {root}")
    print(f"recipe: {args.recipe.name}: backbone {m['backbone']} ({m.get('version')}), num_queries {m['num_queries']}, "
          f"num_denoising {m['num_denoising']}, batch {ds['batch_size']}, fp32 ({spec['train']['precision']}), "
          f"workers {ds['workers']} (loader: {engine.workers}), "
          f"augmentation {json.dumps({k: v for k, v in ds['augmentation'].items() if 'prob' in k or k == 'multi_scales'})}")
    et = f" (engine: {args.engine_threads})" if args.engine_threads else ""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads{et}, {os.cpu_count()} CPUs, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"warm-up {args.warmup} steps each, then {args.rounds} interleaved rounds of {args.round_warmup} untimed + {args.steps} timed steps\n")

    rates, cpu = measure([engine, plain, pure], warmup=args.warmup, rounds=args.rounds, steps=args.steps, round_warmup=args.round_warmup)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| variant | median img/s | min | max | x plain | x pure | median CPU ms/img |\n|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rates.items():
        print(f"| {name} | {med[name]:.1f} | {min(r):.1f} | {max(r):.1f} | {med[name] / med['plain']:.3f} | "
              f"{med[name] / med['pure']:.3f} | {statistics.median(cpu[name]):.1f} |")
    print("\n| ratio (median of per-round ratios) | measured | quartiles | target | verdict |\n|---|---:|---:|---:|---|")
    for key, target in TARGETS.items():
        a, b = key.split("/")
        paired = [x / y for x, y in zip(rates[a], rates[b])]  # one round = the variants back to back, same load
        ratio = statistics.median(paired)
        q = statistics.quantiles(paired, n=4) if len(paired) > 1 else [ratio, ratio, ratio]
        print(f"| {key} | {ratio:.3f} | {q[0]:.3f}-{q[2]:.3f} | >= {target} | {'ok' if ratio >= target else 'BELOW'} |")

    if not args.no_breakdown:
        parts: dict[str, list[dict[str, float]]] = {"engine": [], "plain": [], "pure": []}
        runs: list[tuple[Any, Callable[[], dict[str, float]]]] = [
            (engine, lambda: engine_breakdown(engine, args.steps)), (plain, lambda: simple_breakdown(plain, args.steps)),
            (pure, lambda: simple_breakdown(pure, args.steps))]
        for r in range(args.rounds):
            for v, fn in runs[r % 3:] + runs[: r % 3]:
                use_threads(v)
                parts[v.name].append(fn())
        eb, lb, pb = ({k: statistics.median(d[k] for d in parts[n]) for k in parts[n][0]} for n in ("engine", "plain", "pure"))
        print(f"\nper-step breakdown, median over {args.rounds} interleaved rounds of {args.steps} steps (ms; engine = a timed "
              "replica of train_one_epoch's body; plain/pure have no LambdaLR, clip or EMA)\n")
        print("| phase | engine ms | plain ms | pure ms |\n|---|---:|---:|---:|")
        for k in eb:
            print(f"| {k} | {1e3 * eb[k]:.1f} | " + " | ".join(f"{1e3 * b[k]:.1f}" if k in b else "-" for b in (lb, pb)) + " |")
        print(f"| sum | {1e3 * sum(eb.values()):.1f} | {1e3 * sum(lb.values()):.1f} | {1e3 * sum(pb.values()):.1f} |")
        print("\nper-image data costs (ms, one thread, best of 3)\n")
        print("| stage | ms/image |\n|---|---:|")
        for k, v in data_costs(spec).items():
            print(f"| {k} | {v:.2f} |")
    if args.profile:
        use_threads(engine)
        print("\ncProfile of engine steps (cumulative):\n")
        print(profile_engine(engine, args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
