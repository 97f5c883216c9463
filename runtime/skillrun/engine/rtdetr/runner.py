"""Runners: one interface over a PyTorch model, an ONNX Runtime session and a TensorRT engine.

Why: evaluate and inference must give the same metrics and outputs whatever executes the
network, so they are written once against :class:`Runner` (``detect``: a batch of network
inputs and the (h, w) each image's boxes are wanted in -> per-image ``scores``, ``labels``,
``boxes`` xyxy, sorted by score). Each runner maps that onto its model's interface:

* PyTorch: ``logits``/``pred_boxes`` -> :func:`postprocess.select_detections`.
* ONNX/TensorRT ``postprocessed`` graphs (the RT-DETR deploy interface): ``images`` +
  ``orig_target_sizes`` **(w, h)** -> ``labels``, ``boxes``, ``scores`` (top-k in the graph).
* ONNX/TensorRT ``raw`` graphs: ``images`` -> ``logits``, ``pred_boxes``, post-processed here.

Fixed-batch graphs get padded batches; ``max_batch`` splits larger ones.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from skillrun.engine.rtdetr.postprocess import select_detections


class Runner(Protocol):
    """Something that detects objects in a batch of preprocessed images."""

    name: str

    def detect(self, images: torch.Tensor, sizes_hw: torch.Tensor, *, num_select: int, threshold: float | None) -> list[dict[str, torch.Tensor]]:
        """``images`` [B,3,H,W] 0..1, ``sizes_hw`` [B,2] -> per image ``{scores, labels, boxes}`` (CPU tensors)."""
        ...


class TorchRunner:
    """An RT-DETR ``nn.Module`` (eval mode, no grad, optional autocast)."""

    name = "pytorch"

    def __init__(self, model: Any, device: Any = "cpu", precision: Any = None) -> None:
        self.model, self.device, self.precision = model, torch.device(device), precision

    def detect(self, images: torch.Tensor, sizes_hw: torch.Tensor, *, num_select: int, threshold: float | None) -> list[dict[str, torch.Tensor]]:
        from contextlib import nullcontext

        self.model.eval()
        with torch.no_grad(), (self.precision.autocast() if self.precision is not None else nullcontext()):
            out = self.model(pixel_values=images.to(self.device))
        dets = select_detections(out.logits.float(), out.pred_boxes.float(), sizes_hw.to(self.device), num_select, threshold=threshold)
        return [{k: v.cpu() for k, v in d.items()} for d in dets]


class _GraphRunner:
    """Shared batching and output decoding for graphs with the export interface."""

    name = "graph"
    input_names: list[str]
    fixed_batch: int | None = None
    max_batch: int | None = None

    @property
    def postprocessed(self) -> bool:
        return "orig_target_sizes" in self.input_names

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def detect(self, images: torch.Tensor, sizes_hw: torch.Tensor, *, num_select: int, threshold: float | None) -> list[dict[str, torch.Tensor]]:
        out: list[dict[str, torch.Tensor]] = []
        step = self.fixed_batch or self.max_batch or images.shape[0]
        for i in range(0, images.shape[0], step):
            x, s = images[i : i + step], sizes_hw[i : i + step]
            n = x.shape[0]
            if self.fixed_batch and n < self.fixed_batch:  # pad with repeats of the last image
                pad = self.fixed_batch - n
                x, s = torch.cat([x, x[-1:].expand(pad, -1, -1, -1)]), torch.cat([s, s[-1:].expand(pad, -1)])
            feeds = {"images": np.ascontiguousarray(x.float().numpy())}
            if self.postprocessed:
                feeds["orig_target_sizes"] = np.ascontiguousarray(s.flip(-1).to(torch.int64).numpy())
            res = self._run(feeds)
            out += self._decode(res, s, n, num_select, threshold)
        return out

    def _decode(self, res: dict[str, np.ndarray], sizes_hw: torch.Tensor, n: int, num_select: int, threshold: float | None) -> list[dict[str, torch.Tensor]]:
        if not self.postprocessed:
            logits, boxes = torch.from_numpy(np.asarray(res["logits"][:n])), torch.from_numpy(np.asarray(res["pred_boxes"][:n]))
            return select_detections(logits.float(), boxes.float(), sizes_hw[:n], num_select, threshold=threshold)
        dets = []
        for j in range(n):
            scores = torch.from_numpy(np.asarray(res["scores"][j], dtype=np.float32))[:num_select]
            labels = torch.from_numpy(np.asarray(res["labels"][j]).astype(np.int64))[:num_select]
            boxes = torch.from_numpy(np.asarray(res["boxes"][j], dtype=np.float32))[:num_select]
            if threshold is not None:
                keep = scores > threshold
                scores, labels, boxes = scores[keep], labels[keep], boxes[keep]
            dets.append({"scores": scores, "labels": labels, "boxes": boxes})
        return dets


class OrtRunner(_GraphRunner):
    """An ONNX Runtime session (CPU unless told otherwise) over an exported or quantized graph."""

    name = "onnxruntime"

    def __init__(self, model: str | Path | Any, *, providers: list[str] | None = None, level: str = "all", threads: int = 0) -> None:
        import onnxruntime as ort

        if isinstance(model, ort.InferenceSession):
            self.session = model
        else:
            self.session = ort.InferenceSession(str(model), ort_session_options(level=level, threads=threads), providers=providers or ["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        batch = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))


def ort_session_options(*, level: str = "all", threads: int = 0, optimized_path: Path | None = None) -> Any:
    """SessionOptions with a graph optimisation level (basic | extended | all), optionally saving the optimised graph."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    if threads:
        opts.intra_op_num_threads = threads
    if optimized_path is not None:
        opts.optimized_model_filepath = str(optimized_path)
    opts.log_severity_level = 3
    return opts


class TrtRunner(_GraphRunner):
    """A serialized TensorRT engine (TensorRT >= 10 tensor API), buffers on the CUDA device through torch.

    Only constructed where :func:`skillrun.engine.rtdetr.trt.availability` says TensorRT and a
    GPU are present.
    """

    name = "tensorrt"

    def __init__(self, engine_file: str | Path, *, max_batch: int) -> None:
        import tensorrt as trt

        self._trt = trt
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(self.logger).deserialize_cuda_engine(Path(engine_file).read_bytes())
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.max_batch = max_batch
        batch = self.engine.get_tensor_shape("images")[0]
        self.fixed_batch = int(batch) if batch > 0 else None

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        trt = self._trt
        stream = torch.cuda.current_stream()
        keep = {}
        for name, value in feeds.items():
            t = torch.from_numpy(value).cuda()
            keep[name] = t
            self.context.set_input_shape(name, tuple(t.shape))
            self.context.set_tensor_address(name, t.data_ptr())
        outs = {}
        for name in self.output_names:
            dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))).dtype
            outs[name] = torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=dtype, device="cuda")
            self.context.set_tensor_address(name, outs[name].data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            msg = "TensorRT execute_async_v3 failed"
            raise RuntimeError(msg)
        stream.synchronize()
        return {k: v.cpu().numpy() for k, v in outs.items()}


def measure_latency(runner: Any, *, batch: int, height: int, width: int, iters: int = 10, warmup: int = 2) -> float:
    """Mean milliseconds per image for ``batch``-sized random inputs (after ``warmup`` runs)."""
    x = torch.rand(batch, 3, height, width)
    sizes = torch.tensor([[height, width]] * batch)
    for _ in range(warmup):
        runner.detect(x, sizes, num_select=10, threshold=None)
    t0 = time.perf_counter()
    for _ in range(iters):
        runner.detect(x, sizes, num_select=10, threshold=None)
    return (time.perf_counter() - t0) / (iters * batch) * 1000.0
