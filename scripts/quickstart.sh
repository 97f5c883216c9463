#!/usr/bin/env bash
# The main job on the embedded example data (examples/data, synthetic SDG-style COCO).
# Until the engine lands this lists the bank and validates the example training spec
# (schema, rules and the data preflight that derives num_classes from the annotations).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh data
sr=.venv/bin/skillrun
echo "== skillrun list"
"$sr" list
echo "== skillrun validate rtdetr train -e examples/rtdetr_train.yaml"
"$sr" validate rtdetr train -e examples/rtdetr_train.yaml
echo "== the same spec with three mistakes (expected to fail with exit 2)"
set +e
"$sr" validate rtdetr train -e examples/rtdetr_train.yaml train.optim.lr=-1 model.num_feature_levels=4 train.num_epoch=3
code=$?
set -e
[ "$code" -eq 2 ] || { echo "expected exit 2, got $code" >&2; exit 1; }
echo "quickstart ok: the example spec validates, and the broken one is rejected with exit 2"
