#!/usr/bin/env bash
# Install the licence-free DFT engine (GPAW 26.7.0, PBE/PAW, MPI + ScaLAPACK + FFTW + libxc) into the
# ACTIVE Python environment. Recipe: /work/shared/tools/GPAW.md (measured on Debian 12, Python 3.11).
# Usage:  . .venv/bin/activate && bash .ci/install_dft.sh
# Needs root (or sudo) for the system libraries; the PAW setups come from the gpaw-data wheel, so no
# GPAW_SETUP_PATH is needed afterwards. Do NOT set GPAW_BUILD_JOBS (the wheel then lacks `_gpaw`).
set -euo pipefail

PY="${PYTHON:-python}"
if "$PY" -c "import gpaw, _gpaw" 2>/dev/null; then
    echo "GPAW already installed: $("$PY" -c 'import gpaw; print(gpaw.__version__)')"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y build-essential libxc-dev libopenblas-dev \
    libfftw3-dev libopenmpi-dev openmpi-bin libscalapack-openmpi-dev

"$PY" -m pip install -U "setuptools>=77.0.3" wheel pybind11   # GPAW needs setuptools >= 77.0.3

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/siteconfig.py" <<'CFG'
mpi = True
compiler = 'mpic++'
fftw = True
scalapack = True
libraries += ['fftw3', 'scalapack-openmpi', 'openblas']
CFG
unset GPAW_BUILD_JOBS
GPAW_CONFIG="$WORK/siteconfig.py" "$PY" -m pip install --no-build-isolation gpaw==26.7.0

"$PY" -c "import gpaw, _gpaw; print('GPAW', gpaw.__version__, 'installed')"
