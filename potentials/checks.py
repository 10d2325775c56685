"""Sanity checks and speed measurement of a loaded potential on small, well-known cells.

Used by ``ilscreen potentials check`` and ``benchmarks/potential_speed.py``. Cells are built with
ASE from crystallographic data, not read from files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from ase import Atoms
    from ase.calculators.calculator import Calculator

# Li3Sb, cubic Fm-3m (BiF3 type): Sb 4a (0,0,0), Li 4b (1/2,1/2,1/2) and 8c (1/4,1/4,1/4).
# a = 6.5445 Å: the cell of the reference study (2x2x2 supercell edge 13.089 Å, SCIENCE.md).
LI3SB_A = 6.5445


def li3sb(a: float = LI3SB_A, *, primitive: bool = False) -> Atoms:
    """Li3Sb conventional cell (16 atoms) or primitive cell (4 atoms)."""
    from ase.spacegroup import crystal

    return crystal(
        ["Sb", "Li", "Li"],
        basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)],
        spacegroup=225,
        cellpar=[a, a, a, 90, 90, 90],
        primitive_cell=primitive,
    )


def li3sb_vacancy_supercell(n_vacancies: int = 1, repeat: int = 2) -> Atoms:
    """The reference MD cell: Li3Sb conventional cell repeated ``repeat``³, minus Li atoms.

    Vacancies are taken at the first Li sites in ASE's ordering, so the cell is deterministic.
    """
    atoms = li3sb().repeat(repeat)
    li = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Li"]
    del atoms[li[:n_vacancies]]
    return atoms


def check_cells(elements: Iterable[str]) -> dict[str, Atoms]:
    """Small cells for an energy/force sanity check: each element's ASE reference bulk, plus Li3Sb.

    Elements without an ASE reference crystal are skipped.
    """
    from ase.build import bulk
    from ase.data import atomic_numbers, reference_states

    wanted = sorted(set(elements))
    cells: dict[str, Atoms] = {}
    for symbol in wanted:
        state = reference_states[atomic_numbers[symbol]] or {}
        # cubic cells for cubic lattices: >= 2 atoms, so rattled forces are non-trivial
        cubic = state.get("symmetry") in {"bcc", "fcc", "diamond", "sc"}
        try:
            cells[f"{symbol} bulk"] = bulk(symbol, cubic=cubic)
        except (ValueError, KeyError, RuntimeError):  # no reference crystal in ASE
            continue
    if {"Li", "Sb"} <= set(wanted):
        cells["Li3Sb primitive"] = li3sb(primitive=True)
    return cells


class EvalResult(BaseModel):
    """One single-point evaluation."""

    cell: str
    n_atoms: int
    energy_per_atom_eV: float
    max_force_eV_per_A: float
    finite: bool


def evaluate(calc: Calculator, name: str, atoms: Atoms, rattle: float = 0.03) -> EvalResult:
    """Energy and forces of a (rattled, seeded) copy of ``atoms``; flags non-finite results."""
    import numpy as np

    atoms = atoms.copy()
    atoms.rattle(stdev=rattle, seed=0)
    atoms.calc = calc
    energy = float(atoms.get_potential_energy())
    forces = np.asarray(atoms.get_forces())
    finite = bool(math.isfinite(energy) and np.all(np.isfinite(forces)))
    return EvalResult(
        cell=name,
        n_atoms=len(atoms),
        energy_per_atom_eV=energy / len(atoms),
        max_force_eV_per_A=float(np.abs(forces).max()),
        finite=finite,
    )


class SpeedResult(BaseModel):
    """Throughput of a short MD run."""

    n_atoms: int
    steps: int
    seconds: float
    atom_steps_per_s: float
    ensemble: str


def md_speed(
    calc: Calculator,
    atoms: Atoms,
    *,
    steps: int = 20,
    warmup: int = 3,
    temperature_K: float = 300.0,
    timestep_fs: float = 2.0,
    ensemble: str = "nve",
    seed: int = 0,
) -> SpeedResult:
    """Atom-steps per second of ASE MD (``nve`` velocity Verlet or ``langevin`` NVT).

    ``warmup`` steps run first and are not timed (model compilation, neighbour-list caches).
    """
    import numpy as np
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    atoms = atoms.copy()
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    dt = timestep_fs * units.fs  # ASE time unit conversion happens here, once
    if ensemble == "nve":
        dyn = VelocityVerlet(atoms, timestep=dt)
    elif ensemble == "langevin":
        from ase.constraints import FixCom

        # FixCom instead of Langevin's deprecated fixcm=True (which biases the NVT distribution)
        atoms.set_constraint(FixCom())
        friction = 0.01 / units.fs  # 100 fs relaxation time
        dyn = Langevin(
            atoms,
            timestep=dt,
            temperature_K=temperature_K,
            friction=friction,
            fixcm=False,
            rng=rng,
        )
    else:
        raise ValueError(f"unknown ensemble {ensemble!r} (allowed: nve, langevin)")
    dyn.run(warmup)
    start = time.perf_counter()
    dyn.run(steps)
    seconds = time.perf_counter() - start
    return SpeedResult(
        n_atoms=len(atoms),
        steps=steps,
        seconds=seconds,
        atom_steps_per_s=len(atoms) * steps / seconds,
        ensemble=ensemble,
    )
