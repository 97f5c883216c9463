"""Latency and mAP of one model three ways: PyTorch eager, ONNX Runtime fp32, ONNX Runtime INT8.

One run, one machine, one model: the model is trained here (the tiny preset on generated
data, so its mAP means something) or taken from ``--checkpoint``; then exported (postprocessed,
dynamic batch) and quantized with the engine's own actions (``export.run``, ``quantize.run``:
calibration on the train split). "ort fp32" and "ort int8" are the engines the deploy action
builds (fp32: onnxslim, then ONNX Runtime's offline optimisation; int8: the QDQ graph as
quantize wrote it, optimised offline); "ort fp32 export" is the exported graph as it is, to show
what the simplification adds. Latency is the mean milliseconds per image of ``runner.detect``
(network + top-k post-processing) at batch 1 and 8 on random input, after warm-up; the runners
are measured in ``--rounds`` interleaved rounds and the median round is shown. mAP is COCO mAP
on the val split through the same evaluation code (``loop.predict_with`` + ``coco_eval``).
Targets (issue 8): ORT fp32 >= 4x eager, INT8 >= 1.3x
ORT fp32 with <= 1 mAP point (0.01) lost.

Model size matters for the ratios: a tiny network is dominated by per-op overhead, where
ORT's graph fusions help most and int8 kernels least. ``--backbone resnet_18 --size 640
--epochs 0`` measures the speed of a real-size model (weights from PyTorch's default layer
init, not trained: its mAP is then not meaningful and is printed as such).

``--profile`` adds where the batch-1 time goes: PyTorch's profiler (self time per aten op) for
eager and ONNX Runtime's node profiler for the fp32 engine, by op type. Convolutions run on
similar kernels in both (oneDNN, MLAS), so eager time / ORT's convolution time alone bounds
what any ORT graph optimisation could reach; it is printed as the ceiling.

    .venv/bin/python benchmarks/deploy.py [--backbone tiny] [--size 128] [--epochs 40] [--train-images 64]
        [--val-images 32] [--iters 10] [--threads N] [--checkpoint model_epoch_NNN.pth] [--keep DIR] [--profile]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_ORT = 4.0  #: ORT fp32 speed / eager speed
TARGET_INT8 = 1.3  #: ORT int8 speed / ORT fp32 speed
TARGET_MAP_LOSS = 0.01  #: fp32 mAP - int8 mAP


def spec_for(root: Path, data: Any, args: argparse.Namespace) -> dict[str, Any]:
    tr, va = data.splits["train"], data.splits["val"]
    s = args.size
    return {
        "results_dir": str(root / "train-job"),
        "model": {"version": "v2", "backbone": args.backbone, "num_queries": 100, "num_select": 100, "num_denoising": 50},
        "dataset": {"train_data_sources": [{"image_dir": str(tr.image_dir), "json_file": str(tr.json_file)}],
                    "val_data_sources": {"image_dir": str(va.image_dir), "json_file": str(va.json_file)}, "batch_size": 8, "workers": 0,
                    "augmentation": {"train_spatial_size": [s, s], "eval_spatial_size": [s, s], "multi_scales": [], "distortion_prob": 0.5,
                                     "iou_crop_prob": 0.3, "hflip_prob": 0.5}},
        "train": {"num_epochs": max(1, args.epochs), "checkpoint_interval": max(1, args.epochs), "validation_interval": max(1, args.epochs), "seed": 1,
                  "enable_ema": True, "ema_decay": 0.999, "clip_grad_norm": 0.1,
                  "optim": {"lr": 1e-3, "lr_backbone": 4e-4, "weight_decay": 1e-4, "lr_scheduler": "Cosine", "warmup_steps": 10, "min_lr": 2e-5}},
    }


def untrained_checkpoint(spec: dict[str, Any], data: Any, folder: Path) -> Path:
    """A checkpoint with PyTorch's default layer init (HF's init ties every encoder score: no stable top-k)."""
    import torch

    from skillrun.engine.rtdetr.checkpoint import save_checkpoint
    from skillrun.engine.rtdetr.classmap import ClassMap
    from skillrun.engine.rtdetr.model import build_model, model_config

    cm = ClassMap.from_coco([Path(data.splits["train"].json_file)])
    cfg = model_config(spec["model"], len(cm), cm.id2label())
    torch.manual_seed(0)
    model = build_model(cfg)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    folder.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(folder, 0, {"model": model.state_dict(), "ema": None, "model_config": cfg, "class_map": cm.to_dict(), "spec": spec, "epoch": 0})


def _by_op(times: dict[str, float], runs: int) -> tuple[float, float, list[tuple[str, float]]]:
    """(total ms, convolution ms, top op types) per run, from summed microseconds per op type."""
    total = sum(times.values()) / runs / 1000
    conv = sum(v for k, v in times.items() if "conv" in k.lower()) / runs / 1000
    top = sorted(((k, v / runs / 1000) for k, v in times.items()), key=lambda kv: -kv[1])[:6]
    return total, conv, top


def profile_b1(eager: Any, engine_file: Path, size: int, threads: int, runs: int = 5) -> None:
    """Batch-1 time per op type, eager vs the ORT fp32 engine, and the ceiling it implies."""
    import onnxruntime as ort
    import torch
    from torch.profiler import ProfilerActivity, profile

    from skillrun.engine.rtdetr.runner import OrtRunner, measure_latency, ort_session_options

    x, sizes = torch.rand(1, 3, size, size), torch.tensor([[size, size]])
    for attempt in range(2):  # the profiler's own first session is slow (its set-up lands on the first ops): measure the second
        eager.detect(x, sizes, num_select=10, threshold=None)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(runs if attempt else 1):
                eager.detect(x, sizes, num_select=10, threshold=None)
    eager_times: dict[str, float] = {}
    for ev in prof.key_averages():
        eager_times[ev.key] = eager_times.get(ev.key, 0.0) + ev.self_cpu_time_total
    opts = ort_session_options(level="all", threads=threads)  # as the deploy engine loads it
    opts.enable_profiling = True
    opts.profile_file_prefix = str(engine_file.parent / "ort-profile")
    runner = OrtRunner(ort.InferenceSession(str(engine_file), opts, providers=["CPUExecutionProvider"]))
    for _ in range(runs + 1):
        runner.detect(x, sizes, num_select=10, threshold=None)
    kernels = sorted((ev for ev in json.loads(Path(runner.session.end_profiling()).read_text())
                      if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time")), key=lambda ev: ev["ts"])
    ort_times: dict[str, float] = {}
    for ev in kernels[len(kernels) // (runs + 1):]:  # the first run (arena allocation) is the warm-up
        ort_times[ev["args"]["op_name"]] = ort_times.get(ev["args"]["op_name"], 0.0) + ev["dur"]
    wall_eager = measure_latency(eager, batch=1, height=size, width=size, iters=runs)
    wall_ort = measure_latency(OrtRunner(engine_file, threads=threads), batch=1, height=size, width=size, iters=runs)
    e_total, e_conv, e_top = _by_op(eager_times, runs)
    o_total, o_conv, o_top = _by_op(ort_times, runs)
    print(f"\nprofile, batch 1 ({runs} profiled runs each, after a warm-up; ms per image):")
    print(f"  eager: wall {wall_eager:.2f}; op self time {e_total:.2f} (profiled, summed over threads), convolutions {e_conv:.2f}")
    print("    top: " + ", ".join(f"{k} {v:.2f}" for k, v in e_top))
    print(f"  ort fp32: wall {wall_ort:.2f}; kernel time {o_total:.2f} (profiled), convolutions {o_conv:.2f}")
    print("    top: " + ", ".join(f"{k} {v:.2f}" for k, v in o_top))
    if o_conv:
        print(f"  ceiling: eager wall / ORT convolution time alone = {wall_eager / o_conv:.2f}x (the {TARGET_ORT}x target needs ORT under {wall_eager / TARGET_ORT:.2f} ms)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="tiny")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=40, help="training epochs here; 0 = untrained (speed only)")
    ap.add_argument("--train-images", type=int, default=64)
    ap.add_argument("--val-images", type=int, default=32)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved measuring rounds (the median is shown)")
    ap.add_argument("--threads", type=int, default=0, help="torch and ORT intra-op threads (0 = their default)")
    ap.add_argument("--checkpoint", type=Path, help="a trained checkpoint instead of training here (its val data is generated at --size)")
    ap.add_argument("--keep", type=Path, help="keep the work folder here")
    ap.add_argument("--profile", action="store_true", help="also profile batch 1 by op type (eager vs ORT fp32)")
    args = ap.parse_args()

    import torch

    from skillrun.data.sdg import generate_coco
    from skillrun.engine.rtdetr import deploy, export, quantize, train
    from skillrun.engine.rtdetr.checkpoint import model_from_checkpoint
    from skillrun.engine.rtdetr.runner import OrtRunner, TorchRunner, measure_latency

    if args.threads:
        torch.set_num_threads(args.threads)
    root = args.keep or Path(tempfile.mkdtemp(prefix="skillrun-deploy-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = generate_coco(root / "data", splits={"train": args.train_images, "val": args.val_images}, image_size=(args.size, args.size), seed=11, overwrite=True)
    spec = spec_for(root, data, args)
    trained = bool(args.checkpoint) or args.epochs > 0
    if args.checkpoint:
        ckpt = args.checkpoint
    elif args.epochs > 0:
        train.run(spec, root / "train-job" / "train")
        ckpt = sorted((root / "train-job" / "train").glob("model_epoch_*.pth"))[-1]
    else:
        ckpt = untrained_checkpoint(spec, data, root / "train-job" / "train")
    t_train = time.perf_counter() - t0
    onnx_file = root / "export-job" / "export" / "model.onnx"
    ex = {"checkpoint": str(ckpt), "onnx_file": str(onnx_file), "input_height": args.size, "input_width": args.size, "opset_version": 17,
          "batch_size": -1, "output_format": "postprocessed", "verify_parity": False}
    export.run({"results_dir": str(root / "export-job"), "export": ex}, root / "export-job" / "export")
    ds = {**spec["dataset"], "quant_calibration_data_sources": spec["dataset"]["train_data_sources"][0]}
    quantize.run({"results_dir": str(root / "q-job"), "dataset": ds, "quantize": {"model_path": str(onnx_file), "calibration_batches": 8, "per_channel": True}},
                 root / "q-job" / "quantize")
    int8_file = root / "q-job" / "quantize" / "model_int8.onnx"
    io = quantize.graph_io(json.loads(onnx_file.with_suffix(".json").read_text()))
    model, _ = model_from_checkpoint(ckpt)
    model = model.to(memory_format=torch.channels_last)
    # the deploy action's own ONNX Runtime engines (fp32: onnxslim + ORT offline optimisation; int8: ORT offline)
    build, fp32_engine = deploy._ort_engine(onnx_file, root / "deploy-fp32" / "model.ort.onnx", 8, quantized=False)
    _, int8_engine = deploy._ort_engine(int8_file, root / "deploy-int8" / "model.ort.onnx", 8, quantized=True)
    for engine in (fp32_engine, int8_engine):
        engine.max_batch = None
    runners = {"pytorch eager": TorchRunner(model), "ort fp32 export": OrtRunner(onnx_file, threads=args.threads),
               "ort fp32": fp32_engine, "ort int8": int8_engine}
    samples: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):  # interleaved rounds, median per runner: one slow spell on a shared VM moves one round, not a runner
        for name, runner in runners.items():
            for b in (1, 8):
                samples.setdefault((name, b), []).append(measure_latency(runner, batch=b, height=args.size, width=args.size, iters=args.iters))
    rows: dict[str, dict[str, float]] = {}
    for name, runner in runners.items():
        rows[name] = {f"b{b}_ms": statistics.median(samples[(name, b)]) for b in (1, 8)}
        rows[name]["mAP"] = quantize.evaluate_runner(runner, ds, io)["mAP"]
    eager, fp32, int8 = rows["pytorch eager"], rows["ort fp32"], rows["ort int8"]
    print(f"\nmodel: {args.backbone} at {args.size}x{args.size}, {'trained ' + str(args.epochs) + ' epochs' if args.epochs and not args.checkpoint else ckpt}"
          f"{'' if trained else ' (UNTRAINED: mAP not meaningful)'}; {args.val_images} val images; torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"ort fp32 = the deploy engine: {build['optimization']} ({build['simplified']['nodes_before']} -> {build['simplified']['nodes_after']} nodes); "
          f"ort fp32 export = the exported graph in ONNX Runtime as it is; median of {args.rounds} interleaved rounds of {args.iters} runs")
    print(f"{'runtime':<16} {'b1 ms/img':>10} {'b8 ms/img':>10} {'mAP':>8}")
    for name, row in rows.items():
        print(f"{name:<16} {row['b1_ms']:>10.2f} {row['b8_ms']:>10.2f} {row['mAP']:>8.4f}")
    for b in (1, 8):
        r_ort, r_int8 = eager[f"b{b}_ms"] / fp32[f"b{b}_ms"], fp32[f"b{b}_ms"] / int8[f"b{b}_ms"]
        print(f"batch {b}: ORT fp32 {r_ort:.2f}x eager (target >= {TARGET_ORT}x: {'met' if r_ort >= TARGET_ORT else 'NOT met'}); "
              f"int8 {r_int8:.2f}x ORT fp32 (target >= {TARGET_INT8}x: {'met' if r_int8 >= TARGET_INT8 else 'NOT met'})")
    loss = fp32["mAP"] - int8["mAP"]
    print(f"int8 mAP loss {loss:+.4f} (target <= {TARGET_MAP_LOSS}: {'met' if loss <= TARGET_MAP_LOSS else 'NOT met'}); "
          f"eager vs ORT fp32 mAP diff {abs(eager['mAP'] - fp32['mAP']):.5f}; setup (data + training) {t_train:.0f} s")
    if args.profile:
        profile_b1(runners["pytorch eager"], root / "deploy-fp32" / "model.ort.onnx", args.size, args.threads)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
