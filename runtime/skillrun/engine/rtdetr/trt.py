"""TensorRT engine building for deploy, and the honest answer where it cannot run.

A TensorRT engine is specific to the GPU and TensorRT version it was built with, so a Jetson
needs its own build: :func:`trtexec_command` gives the command for the target either way, and
the deploy manifest records it. Building here needs the ``tensorrt`` Python package and a CUDA
GPU visible to PyTorch (the runner's buffers are torch CUDA tensors); :func:`availability`
says which is missing. Written for the TensorRT >= 10 API (explicit batch, named I/O tensors,
``build_serialized_network``); untested without a GPU.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any


def availability() -> tuple[bool, str | None]:
    """(True, None) when an engine can be built and run here, else (False, why not)."""
    if importlib.util.find_spec("tensorrt") is None:
        return False, "the tensorrt Python package is not installed (pip install tensorrt, on a machine with an NVIDIA GPU)"
    import torch

    if not torch.cuda.is_available():
        return False, "no CUDA GPU is visible (TensorRT engines are built and run on an NVIDIA GPU)"
    return True, None


def shapes(inputs: list[dict[str, Any]], batch: int) -> dict[str, tuple[int, ...]]:
    """Concrete input shapes for ``batch`` (the sidecar writes a dynamic batch as the string ``batch``)."""
    return {i["name"]: tuple(batch if not isinstance(d, int) else d for d in i["shape"]) for i in inputs}


def trtexec_command(onnx_file: Path, engine_file: Path, inputs: list[dict[str, Any]], *, data_type: str, max_batch: int, workspace_mb: int, dynamic: bool) -> str:
    """The ``trtexec`` line that builds the same engine on the target (e.g. a Jetson)."""
    parts = ["trtexec", f"--onnx={onnx_file}", f"--saveEngine={engine_file}", f"--memPoolSize=workspace:{workspace_mb}M"]
    if dynamic:
        def spec(b: int) -> str:
            return ",".join(f"{n}:{'x'.join(str(d) for d in s)}" for n, s in shapes(inputs, b).items())

        parts += [f"--minShapes={spec(1)}", f"--optShapes={spec(max_batch)}", f"--maxShapes={spec(max_batch)}"]
    if data_type == "fp16":
        parts.append("--fp16")
    elif data_type == "int8":
        parts += ["--int8", "--fp16"]  # the QDQ nodes fix the int8 layers; fp16 for the float rest
    return " ".join(parts)


def build_engine(onnx_file: Path, engine_file: Path, inputs: list[dict[str, Any]], *, data_type: str, max_batch: int, workspace_mb: int) -> dict[str, Any]:
    """Build and atomically write a serialized engine; returns what was built (version, flags, profile)."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_file).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        msg = f"TensorRT could not parse {onnx_file}: {errors}"
        raise RuntimeError(msg)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    flags = []
    wanted = {"fp16": ["FP16"], "int8": ["INT8", "FP16"]}.get(data_type, [])
    for name in wanted:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is None:
            msg = f"TensorRT {trt.__version__} has no BuilderFlag.{name} (strongly typed networks only): deploy.data_type={data_type} needs a model already in that precision"
            raise RuntimeError(msg)
        config.set_flag(flag)
        flags.append(name)
    dynamic = any(not isinstance(d, int) for i in inputs for d in i["shape"])
    if dynamic:
        profile = builder.create_optimization_profile()
        lo, hi = shapes(inputs, 1), shapes(inputs, max_batch)
        for name in lo:
            profile.set_shape(name, lo[name], hi[name], hi[name])
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        msg = f"TensorRT failed to build an engine from {onnx_file} (see the log above)"
        raise RuntimeError(msg)
    engine_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = engine_file.with_name(f".{engine_file.name}.tmp")
    tmp.write_bytes(bytes(serialized))
    os.replace(tmp, engine_file)
    return {"tensorrt": trt.__version__, "flags": flags, "profile": {"min_batch": 1, "max_batch": max_batch} if dynamic else None}
