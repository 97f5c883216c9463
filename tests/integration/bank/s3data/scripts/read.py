"""s3data's script: ``read.py SPEC RESULTS_DIR``. Checks every image of every source, writes counts.json."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import yaml


def main(spec_file: str, results_dir: str) -> int:
    spec = yaml.safe_load(Path(spec_file).read_text(encoding="utf-8"))
    out = Path(results_dir) / "read"
    out.mkdir(parents=True, exist_ok=True)
    for name in spec["read"].get("print_env", []):
        print(f"{name}={os.environ.get(name, '')}", flush=True)
    ds = spec["dataset"]
    entries = list(ds["train_data_sources"]) + ([ds["val_data_sources"]] if ds.get("val_data_sources") else [])
    report, missing = [], 0
    for entry in entries:
        coco = json.loads(Path(entry["json_file"]).read_text(encoding="utf-8"))
        found = sum(1 for im in coco["images"] if (Path(entry["image_dir"]) / im["file_name"]).is_file())
        missing += len(coco["images"]) - found
        report.append({"image_dir": entry["image_dir"], "json_file": entry["json_file"], "images": len(coco["images"]), "found": found})
    weights = spec["read"].get("weights")
    time.sleep(float(spec["read"].get("sleep") or 0))
    doc = {"sources": report, "num_classes": ds["num_classes"], "eval_class_ids": ds["eval_class_ids"], "weights": Path(weights).read_text() if weights else None}
    (out / "counts.json").write_text(json.dumps(doc, indent=1))
    (out / "notes.tmp").write_text("left out of uploads by upload_excludes")
    (out / "scratch").mkdir(exist_ok=True)
    (out / "scratch" / "cache.bin").write_bytes(b"\0" * 16)
    status = {"date": time.strftime("%m/%d/%Y"), "time": time.strftime("%H:%M:%S"), "status": "SUCCESS" if not missing else "FAILURE", "message": f"{missing} image(s) missing"}
    (out / "status.json").write_text(json.dumps(status) + "\n")
    print(f"read {len(entries)} source(s), {missing} image(s) missing", flush=True)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
