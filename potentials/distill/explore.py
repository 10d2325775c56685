"""Active-learning exploration: the student's own NVT MD, snapshots where it goes wrong.

Each round runs the student at 900–1300 K on every lithiated phase and keeps regular snapshots
plus every frame with a short contact; the teacher labels them and they join the training data.
"""

from __future__ import annotations

import logging

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.md import MolecularDynamics

from potentials.distill.data import min_distance as pair_min_distance

log = logging.getLogger(__name__)


def md_repeat(atoms: Atoms, min_atoms: int) -> tuple[int, int, int]:
    """Smallest near-isotropic repetition giving at least ``min_atoms`` atoms."""
    rep = [1, 1, 1]
    lengths = atoms.cell.lengths()
    while len(atoms) * int(np.prod(rep)) < min_atoms:
        i = int(np.argmin([lengths[k] * rep[k] for k in range(3)]))
        rep[i] += 1
    return (rep[0], rep[1], rep[2])


def bussi(
    atoms: Atoms, temperature_k: float, timestep_fs: float, rng: np.random.Generator
) -> MolecularDynamics:
    """Bussi NVT dynamics on ``atoms`` from Maxwell–Boltzmann velocities drawn from ``rng``."""
    from ase.md.bussi import Bussi
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)
    Stationary(atoms)
    # Bussi (stochastic velocity rescaling): canonical, and gentle enough that temperature swings
    # reflect the potential, not the thermostat; 100 fs coupling time.
    return Bussi(
        atoms, timestep_fs * units.fs, temperature_K=temperature_k, taut=100 * units.fs, rng=rng
    )


def explore(
    atoms: Atoms,
    student: Calculator,
    temperature_k: float,
    steps: int,
    every: int,
    rng: np.random.Generator,
    min_distance: float,
    timestep_fs: float = 2.0,
) -> list[Atoms]:
    """Student NVT exploration: snapshots every ``every`` steps plus every frame (checked each 10
    steps) whose minimum distance falls below ``min_distance``; stops early if atoms collapse.

    Own ASE loop, not workflows.md: it draws from the round's shared RNG (keeps the AL data)."""
    at = atoms.copy()
    at.calc = student
    dyn = bussi(at, temperature_k, timestep_fs, rng)
    frames: list[Atoms] = []
    for step in range(10, steps + 1, 10):
        dyn.run(10)
        dmin = pair_min_distance(at)
        if step % every == 0 or dmin < min_distance:
            snap = at.copy()
            snap.calc = None
            snap.info = {
                "system": atoms.info.get("system"),
                "kind": f"student_md{temperature_k:.0f}K",
            }
            frames.append(snap)
        if dmin < 1.0:  # collapsed: the labelled frames teach the student; no point going on
            log.warning(
                "%s at %.0f K collapsed (d_min %.2f Å)",
                atoms.info.get("system"),
                temperature_k,
                dmin,
            )
            break
    return frames
