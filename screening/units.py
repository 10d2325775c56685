"""Unit conversions, defined once. Internal conventions: eV, Å, fs, K, cm²/s, S/cm, V vs Li+/Li.

Every boundary (ASE time units, torch-sim's ps, VASP's POTIM in fs) converts through here.
"""

from __future__ import annotations

from ase import units as _ase

#: one femtosecond in ASE internal time units (ASE time unit = Å·sqrt(amu/eV) ≈ 10.18 fs)
FS_TO_ASE_TIME: float = _ase.fs
#: torch-sim uses ps for time in its metal unit system
FS_TO_PS: float = 1e-3
PS_TO_FS: float = 1e3
#: diffusion coefficient: Å²/fs → cm²/s  (1 Å² = 1e-16 cm², 1 fs = 1e-15 s)
A2_PER_FS_TO_CM2_PER_S: float = 1e-16 / 1e-15
#: Boltzmann constant in eV/K
KB_EV: float = _ase.kB
#: elementary charge in C, Boltzmann in J/K (for Nernst–Einstein)
E_CHARGE_C: float = 1.602176634e-19
KB_J: float = 1.380649e-23
ANGSTROM3_TO_CM3: float = 1e-24


def fs_to_ase_time(t_fs: float) -> float:
    """Femtoseconds → ASE internal time units."""
    return t_fs * FS_TO_ASE_TIME
