#!/usr/bin/env bash
# CI: start a throw-away single-node SLURM, run the SLURM campaign test against it, stop SLURM.
# Needs root (or passwordless sudo) for apt-get/munge/slurmd; run from an activated venv or set
# PYTHON. ILSCREEN_REQUIRE_SLURM=1 turns the test's "SLURM not up"/"no model" skips into failures.
set -euo pipefail
cd "$(dirname "$0")/.."
export SLURM_BASE=${SLURM_BASE:-/tmp/ilscreen-slurm}
PY=${PYTHON:-$(command -v python)}
bash .ci/start_slurm.sh
trap 'bash .ci/stop_slurm.sh' EXIT
# shellcheck source=/dev/null
source "$SLURM_BASE/slurm.env"
export ILSCREEN_REQUIRE_SLURM=1 OMP_NUM_THREADS=1
"$PY" -m pytest -q -rs -p no:cacheprovider tests/workflows/test_slurm_campaign.py
