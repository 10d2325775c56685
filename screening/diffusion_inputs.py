"""Checks and normalisation of the arrays :func:`screening.diffusion.analyze_diffusion` takes.

Positions, times, species (atomic numbers or a mask) and cell (volume, 3×3 or per frame): every
bad input becomes one :class:`~screening.errors.InputError` naming the field.
"""

from __future__ import annotations

import numpy as np

from screening.errors import InputError


def validate_arrays(pos: np.ndarray, t: np.ndarray, temperature_K: float, **checks: float) -> float:
    """Shape, spacing and range checks; returns the frame interval in fs."""
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise InputError(
            f"positions must be (n_frames, n_atoms, 3), got {pos.shape}", field="positions"
        )
    n_frames = pos.shape[0]
    if t.shape != (n_frames,):
        raise InputError(f"time_fs must have {n_frames} entries, got {t.shape}", field="time_fs")
    if n_frames < 20:
        raise InputError(f"need ≥ 20 frames, got {n_frames}", field="positions")
    if not np.isfinite(pos).all():
        raise InputError("positions contain NaN or inf (corrupt trajectory?)", field="positions")
    steps = np.diff(t)
    dt_fs = float(steps[0])
    if not dt_fs > 0 or not np.allclose(steps, dt_fs, rtol=1e-6, atol=1e-9):
        raise InputError("frames must be evenly spaced and increasing in time", field="time_fs")
    if not (np.isfinite(temperature_K) and temperature_K > 0):
        raise InputError(f"temperature must be > 0 K, got {temperature_K}", field="temperature_K")
    for name, value in checks.items():
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"must be a positive number, got {value}", field=name)
    return dt_fs


def species_mask(numbers_or_mask: np.ndarray, species: str, n_atoms: int) -> np.ndarray:
    """Boolean mask of ``species`` from atomic numbers, or the given mask checked for shape."""
    arr = np.asarray(numbers_or_mask)
    if arr.shape != (n_atoms,):
        raise InputError(
            f"expected {n_atoms} entries (one per atom), got shape {arr.shape}", field="numbers"
        )
    if arr.dtype == bool:
        return arr
    from ase.data import atomic_numbers

    if species not in atomic_numbers:
        raise InputError(f"unknown element '{species}'", field="species")
    return arr.astype(int) == atomic_numbers[species]


def masses(numbers_or_mask: np.ndarray) -> np.ndarray:
    """Atomic masses (u) for the drift correction; ones when only a species mask is known."""
    arr = np.asarray(numbers_or_mask)
    if arr.dtype == bool:
        return np.ones(arr.shape)
    from ase.data import atomic_masses

    return atomic_masses[arr.astype(int)]


def mean_cell(cell_or_volume: np.ndarray | float, n_frames: int) -> np.ndarray:
    """The (mean) 3×3 cell; a bare volume becomes a cube of that volume."""
    arr = np.asarray(cell_or_volume, dtype=np.float64)
    if arr.ndim == 0:
        if not arr > 0:
            raise InputError(f"cell volume must be positive, got {float(arr)}", field="cell")
        return np.eye(3) * float(arr) ** (1 / 3)
    if arr.shape == (3, 3):
        cell = arr
    elif arr.ndim == 3 and arr.shape[1:] == (3, 3) and arr.shape[0] == n_frames:
        cell = arr.mean(axis=0)
    else:
        raise InputError(
            f"cell must be a volume (Å³), a 3×3 matrix or (n_frames, 3, 3); got shape {arr.shape}",
            field="cell",
        )
    if not abs(np.linalg.det(cell)) > 0:
        raise InputError("cell volume must be positive", field="cell")
    return cell
