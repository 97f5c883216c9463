#!/usr/bin/env bash
# The main job, end to end on this machine's CPU, exactly as a user types it:
# generate synthetic SDG-style COCO data -> train the tiny RT-DETR recipe ->
# evaluate -> export to ONNX with a parity check -> inference, each step a
# `skillrun run` chained to the previous one with --parent.
#   QUICKSTART_EPOCHS=48 (default) sets the training length (~3 minutes of training on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh engine
sr=.venv/bin/skillrun
out=runs/quickstart
data=$out/data
export SKILLRUN_HOME="${SKILLRUN_HOME:-$PWD/$out/workspace}"
epochs="${QUICKSTART_EPOCHS:-48}"

job_id() { .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["job"]["id"])'; }
step() { echo; echo "== $*"; }

step "1/5 generate synthetic SDG-style COCO data (shapes on textured backgrounds, sparse category ids 201/305/412)"
.venv/bin/python -m skillrun.data.sdg "$data" --train 160 --val 32 --size 128 --seed 3 --overwrite

train_src="dataset.train_data_sources=[{image_dir: $data/train/images, json_file: $data/train/annotations.json}]"
val_src="dataset.val_data_sources={image_dir: $data/val/images, json_file: $data/val/annotations.json}"
test_src="dataset.test_data_sources={image_dir: $data/val/images, json_file: $data/val/annotations.json}"

step "2/5 skillrun run rtdetr train (tiny recipe, $epochs epochs, plain training: --automl off)"
"$sr" run rtdetr train -e examples/rtdetr_tiny_cpu.yaml --automl off "train.num_epochs=$epochs" "$train_src" "$val_src"
train=$("$sr" jobs --skill rtdetr --state COMPLETE --json | .venv/bin/python -c 'import json, sys; print(next(j["id"] for j in json.load(sys.stdin)["jobs"] if j["action"] == "train"))')

step "3/5 skillrun run rtdetr evaluate --parent $train (its best checkpoint)"
"$sr" run rtdetr evaluate --parent "$train" "$test_src" 'dataset.augmentation.eval_spatial_size=[128,128]' dataset.workers=0 dataset.batch_size=8
evaluate=$("$sr" jobs --skill rtdetr --json | .venv/bin/python -c 'import json, sys; print(next(j["id"] for j in json.load(sys.stdin)["jobs"] if j["action"] == "evaluate"))')

step "4/5 skillrun run rtdetr export --parent $train (ONNX opset 17, ONNX Runtime vs PyTorch parity)"
"$sr" run rtdetr export --parent "$train" export.input_height=128 export.input_width=128
export_job=$("$sr" jobs --skill rtdetr --json | .venv/bin/python -c 'import json, sys; print(next(j["id"] for j in json.load(sys.stdin)["jobs"] if j["action"] == "export"))')

step "5/5 skillrun run rtdetr inference --parent $train (boxes drawn on the val images)"
"$sr" run rtdetr inference --parent "$train" "dataset.infer_data_sources={image_dir: [$data/val/images]}" 'dataset.augmentation.eval_spatial_size=[128,128]' inference.conf_threshold=0.3 dataset.workers=0
inference=$("$sr" jobs --skill rtdetr --json | .venv/bin/python -c 'import json, sys; print(next(j["id"] for j in json.load(sys.stdin)["jobs"] if j["action"] == "inference"))')

ws="$SKILLRUN_HOME/jobs"
step "results"
.venv/bin/python - "$ws" "$train" "$evaluate" "$export_job" "$inference" <<'EOF'
import json, sys
from pathlib import Path
ws, train, evaluate, export, inference = sys.argv[1:]
m = json.loads((Path(ws) / evaluate / "results/evaluate/metrics.json").read_text())
p = json.loads((Path(ws) / export / "results/export/onnx_parity.json").read_text())
print(f"COCO mAP {m['mAP']:.3f}  mAP50 {m['mAP50']:.3f}  (evaluate {evaluate})")
for row in m["per_class"]:
    print(f"  {row['name']:>8} (id {row['category_id']}): AP {row['AP']:.3f}  AP50 {row['AP50']:.3f}")
summary = p.get("summary", p)
print(f"ONNX parity: {'passed' if p.get('passed') else 'FAILED'}  " + json.dumps({k: v for k, v in summary.items() if isinstance(v, (int, float))}))
print(f"training plots   {Path(ws) / train / 'results/train/training.png'}")
print(f"PR curves        {Path(ws) / evaluate / 'results/evaluate/pr_curves.png'}")
print(f"per-class AP     {Path(ws) / evaluate / 'results/evaluate/per_class_ap.txt'}")
print(f"ONNX model       {next((Path(ws) / export / 'results/export').glob('*.onnx'))}")
print(f"parity report    {Path(ws) / export / 'results/export/onnx_parity.json'}")
print(f"drawn images     {Path(ws) / inference / 'results/inference/images'}")
print(f"predictions      {Path(ws) / inference / 'results/inference/predictions.json'}")
EOF
echo
echo "quickstart ok: every step above is a job in $SKILLRUN_HOME (skillrun jobs)"
