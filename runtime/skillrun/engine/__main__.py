"""``python -m skillrun.engine SKILL ACTION -e spec.yaml``: the builtin engine's entry point inside a job.

It loads the resolved spec, puts the encryption key back from ``$SKILLRUN_KEY``,
and calls the handler registered for the action in :data:`HANDLERS`. Failures
become a FAILURE event in ``status.json`` (with the exception class) and a
non-zero exit, which the runner turns into the job's ERROR record.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from skillrun import yamlio
from skillrun.record.secrets import KEY_ENV, KEY_PLACEHOLDER
from skillrun.results.status import StatusWriter

#: (network_arch, action) -> "module:function(spec: dict, out: Path) -> int", imported only when called
HANDLERS: dict[tuple[str, str], str] = {
    ("rtdetr", "train"): "skillrun.engine.rtdetr.train:run",
    ("rtdetr", "evaluate"): "skillrun.engine.rtdetr.evaluate:run",
    ("rtdetr", "inference"): "skillrun.engine.rtdetr.inference:run",
    ("rtdetr", "export"): "skillrun.engine.rtdetr.export:run",
    ("rtdetr", "distill"): "skillrun.engine.rtdetr.distill:run",
    ("rtdetr", "quantize"): "skillrun.engine.rtdetr.quantize:run",
    ("rtdetr", "deploy"): "skillrun.engine.rtdetr.deploy:run",
    # data skills (no torch): issue 5
    ("coco-prepare", "prepare"): "skillrun.data.prepare:run",
    ("dataset-convert", "kitti-to-coco"): "skillrun.data.convert:run_kitti_to_coco",
    ("dataset-convert", "yolo-to-coco"): "skillrun.data.convert:run_yolo_to_coco",
    ("dataset-convert", "jsonl-to-coco"): "skillrun.data.convert:run_jsonl_to_coco",
    ("dataset-convert", "coco-to-jsonl"): "skillrun.data.convert:run_coco_to_jsonl",
    ("dataset-convert", "coco-to-yolo"): "skillrun.data.convert:run_coco_to_yolo",
    ("dataset-validate", "validate"): "skillrun.data.validate:run",
}


def load_spec(path: str | Path) -> dict[str, Any]:
    """The spec file with ``${SKILLRUN_KEY}`` placeholders replaced from the environment."""
    spec = yamlio.load_file(Path(path))
    if not isinstance(spec, dict):
        msg = f"{path}: the spec must be a mapping"
        raise SystemExit(msg)
    return _fill_key(spec, os.environ.get(KEY_ENV))


def _fill_key(node: Any, key: str | None) -> Any:
    if node == KEY_PLACEHOLDER:
        return key
    if isinstance(node, dict):
        return {k: _fill_key(v, key) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill_key(v, key) for v in node]
    return node


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skillrun.engine", description=__doc__.splitlines()[0])
    parser.add_argument("skill")
    parser.add_argument("action")
    parser.add_argument("-e", "--spec", required=True)
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    out = Path(spec["results_dir"]) / args.action
    status = StatusWriter(out) if int(os.environ.get("RANK", "0")) == 0 else None
    from skillrun.api import load_bank

    arch = load_bank().get(args.skill).info.network_arch or args.skill
    target = HANDLERS.get((arch, args.action))
    if target is None:
        msg = f"the builtin engine has no handler for {arch} {args.action} in this skillrun version"
        if status:
            status.write("FAILURE", msg, error_class="NotImplementedError")
        print(msg, file=sys.stderr)
        return 2
    module, func = target.split(":")
    try:
        return int(getattr(importlib.import_module(module), func)(spec, out) or 0)
    except Exception as exc:
        if status and not _failure_written(out):  # a handler may have written a more precise one
            status.write("FAILURE", f"{exc}", error_class=type(exc).__name__)
        raise


def _failure_written(out: Path) -> bool:
    from skillrun.results.summary import read_status

    events = read_status(out)
    return bool(events) and events[-1].status == "FAILURE"


if __name__ == "__main__":
    sys.exit(main())
