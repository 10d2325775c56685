"""The back-end protocol of the MD runner: what an engine must do, nothing about files or guards.

The runner (:mod:`workflows.md.runner`) owns everything a run has besides the integration: the
settings hash, resume/refuse, trajectory files, frames, guards, checkpoints, the summary and the
progress. A back end integrates a batch of systems and answers questions about it:

* ``start`` — fresh initial conditions (Maxwell–Boltzmann momenta, zero net momentum, seeded);
* ``step(n)`` — advance every active system by ``n`` MD steps;
* ``observe`` — per-system guard inputs after the last step (one host transfer per step);
* ``frames`` / ``structures`` — per-system frame data (unwrapped positions), ASE structures;
* ``state_dict`` / ``load_state_dict`` — everything a bit-for-bit resume needs;
* ``drop`` — remove systems a guard flagged (the others continue);
* ``close`` — release what ``start`` took (e.g. a forked torch RNG).

Like torch-sim's ``integrate`` with its init/update functions, the loop lives in one place; a new
engine (say, a GPU-resident LAMMPS) is one class implementing this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class StepObservation:
    """Guard inputs of the active systems after a step, one entry per system (host arrays)."""

    temperature_K: np.ndarray
    potential_energy_eV: np.ndarray
    max_force_eV_per_A: np.ndarray
    max_displacement_A: np.ndarray
    positions_finite: np.ndarray


@dataclass(frozen=True)
class Frame:
    """One trajectory frame of one system (positions unwrapped, Å; energies eV)."""

    positions: np.ndarray
    cell: np.ndarray
    temperature_K: float
    potential_energy_eV: float
    kinetic_energy_eV: float
    conserved_eV: float


@dataclass
class BackendState:
    """A back end's part of a checkpoint: arrays (``.npz``) and JSON-safe metadata."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class MDBackend(Protocol):
    """An NVT integrator for a batch of systems (see the module docstring)."""

    #: engine name written to trajectories and hashed into the settings
    engine: str
    #: True: one batch integrates many systems (one checkpoint, one hash for the batch)
    batched: bool
    #: thermostats this back end integrates
    thermostats: tuple[str, ...]

    def hash_settings(self) -> dict[str, Any]:
        """Engine-specific entries of the settings hash (e.g. the dtype)."""
        ...

    def start(
        self,
        systems: Sequence[Any],
        temperatures_K: Sequence[float],
        *,
        thermostat: str,
        timestep_fs: float,
        thermostat_timescale_fs: float,
        seed: int,
    ) -> None: ...

    def load_state_dict(self, state: BackendState, active: Sequence[int]) -> None:
        """Restore a checkpoint; ``active`` are the original indices still in the batch."""
        ...

    def state_dict(self) -> BackendState: ...

    def step(self, n: int = 1) -> None: ...

    def observe(self) -> StepObservation: ...

    def frames(self) -> list[Frame]: ...

    def structures(self) -> list[Any]:
        """ASE ``Atoms`` of the active systems at the current step (for contact checks)."""
        ...

    def drop(self, keep: Sequence[int]) -> None:
        """Keep only the active systems at positions ``keep`` (positions in the active list)."""
        ...

    def close(self) -> None: ...


def maxwell_boltzmann_momenta(atoms: Any, temperature_K: float, seed: int) -> np.ndarray:
    """Momenta (amu·Å/ASE-time) exactly as the ASE back end draws them for ``seed``: ASE's
    Maxwell–Boltzmann distribution from ``numpy.random.default_rng(seed)``, net momentum zeroed."""
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    atoms = atoms.copy()
    MaxwellBoltzmannDistribution(
        atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed)
    )
    Stationary(atoms)
    return atoms.get_momenta()
