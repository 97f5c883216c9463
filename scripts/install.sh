#!/usr/bin/env bash
# Create .venv (if needed) and install skillrun with the given extras.
# torch==2.13.0 (the CPU build) goes in first so no requirement can pull another torch.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-all}"
python3 -m venv .venv 2>/dev/null || python3 -m venv --without-pip .venv
py=.venv/bin/python
"$py" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
if [[ "$extras" == *all* || "$extras" == *engine* ]]; then
  "$py" -m pip install --quiet --disable-pip-version-check "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
  "$py" -c "import sys; from importlib.metadata import version; sys.exit(0 if version('torch').startswith('2.13.0') else 1)" || { echo "torch 2.13.0 is required first" >&2; exit 1; }
fi
"$py" -m pip install --quiet --disable-pip-version-check -e ".[${extras}]" 2>&1 | grep -v "^WARNING: Location" || true
"$py" -c "import skillrun" || { echo "installing skillrun failed" >&2; exit 1; }
