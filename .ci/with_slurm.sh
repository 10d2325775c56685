#!/usr/bin/env bash
# with_slurm.sh [COMMAND ...] -- run COMMAND with a throw-away single-node SLURM up, then stop it.
# .ci/run wraps the README test command (`pytest`) in it, so the SLURM campaign test runs in CI
# instead of skipping. Without a COMMAND it runs only the SLURM tests (MLIP and `engine: vasp` with
# the stand-in VASP binary; developers: ~5 min on 2 cores).
# Exports SLURM_CONF (from start_slurm.sh) and ILSCREEN_REQUIRE_SLURM=1, which turns the test's
# "SLURM not up"/"no model" skips into failures. Needs root or passwordless sudo (apt-get, munge,
# slurmd); SLURM jobs use the python of the active venv (sys.executable of the submitting test).
set -euo pipefail
cd "$(dirname "$0")/.."
export SLURM_BASE=${SLURM_BASE:-/tmp/ilscreen-slurm}
bash .ci/start_slurm.sh
trap 'bash .ci/stop_slurm.sh' EXIT
# shellcheck source=/dev/null
source "$SLURM_BASE/slurm.env"
export ILSCREEN_REQUIRE_SLURM=1
if [ "$#" -eq 0 ]; then
    set -- python -m pytest -q -rs -p no:cacheprovider tests/workflows/test_slurm_campaign.py \
        tests/workflows/test_slurm_vasp_campaign.py
fi
"$@"
