#!/usr/bin/env bash
# Install everything into .venv (torch==2.13.0 first) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh all
# --dist loadgroup: the Slurm tests (xdist_group "slurm") share one worker and one local cluster
exec .venv/bin/python -m pytest -n 2 --dist loadgroup -q "$@"
