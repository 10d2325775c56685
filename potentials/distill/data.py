"""Training data for distillation: sampled configurations, teacher labels, splits, files.

The round-0 recipe (all seeded through one :class:`numpy.random.Generator`), for every phase of
:mod:`potentials.distill.phases`:

* **teacher relaxation** (a few FIRE steps with cell filter) so sampling starts near the teacher's
  own minimum;
* **perturbations** — ±strains (isotropic and shear), Gaussian rattles from 0.03 to 0.30 Å,
  compressed cells with large rattles, **contact pairs** (one neighbour pair pushed to 45–85 % of
  its bond length, never below 1.2 Å: samples the short-range wall the student must reproduce;
  a student trained without them collapsed Li–Li pairs at 1100 K), single vacancies (Li, or the
  host atom for elemental phases) with rattles;
* **teacher NVT snapshots** — short Langevin MD at 300–1200 K on every phase.

Later rounds add the student's own MD snapshots (:mod:`potentials.distill.explore`). Each
configuration carries ``info["system"]`` (the phase label) and ``info["config_id"]`` so the
train/validation/test split is made by configuration and per-system errors can be reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from potentials.distill.phases import Phase
from screening.atomic import atomic_path

log = logging.getLogger(__name__)

#: keys under which teacher labels are stored in ``Atoms.info`` / ``Atoms.arrays`` (extxyz)
ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"
STRESS_KEY = "REF_stress"


def min_distance(atoms: Atoms) -> float:
    """Smallest interatomic distance under periodic boundary conditions (Å)."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, 3.0)
    return float(d.min()) if len(d) else 3.0


def label(atoms: Atoms, teacher: Calculator) -> Atoms:
    """Return a copy of ``atoms`` with teacher energy, forces and stress stored as REF_* keys."""
    at = atoms.copy()
    at.calc = teacher
    energy = float(at.get_potential_energy())
    forces = np.array(at.get_forces())
    stress = np.array(at.get_stress(voigt=False)) if at.pbc.all() else None
    at.calc = None
    at.info[ENERGY_KEY] = energy
    at.arrays[FORCES_KEY] = forces
    if stress is not None:
        at.info[STRESS_KEY] = stress.reshape(-1)  # 9 components, eV/Å^3 (ASE sign convention)
    return at


def relax(atoms: Atoms, teacher: Calculator, steps: int = 40, fmax: float = 0.05) -> list[Atoms]:
    """Teacher FIRE relaxation of positions and cell; returns labelled frames (start, mid, end)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    at = atoms.copy()
    at.calc = teacher
    frames: list[Atoms] = []
    opt = FIRE(FrechetCellFilter(at), logfile=None)
    for i, _ in enumerate(opt.irun(fmax=fmax, steps=steps)):
        if i in (0, steps // 2):
            frames.append(label(at, teacher))
    final = label(at, teacher)
    frames.append(final)
    return frames


def perturbations(atoms: Atoms, rng: np.random.Generator, vacancy_species: str) -> list[Atoms]:
    """Strained, rattled, compressed and vacancy configurations derived from ``atoms``."""
    out: list[Atoms] = []
    cell = np.array(atoms.cell)
    # isotropic and shear strains with a small rattle
    for eps in (-0.04, -0.02, 0.02, 0.05):
        at = atoms.copy()
        at.set_cell(cell * (1 + eps), scale_atoms=True)
        at.rattle(0.02, seed=int(rng.integers(1 << 31)))
        at.info["kind"] = f"strain{eps:+.2f}"
        out.append(at)
    for _ in range(2):
        at = atoms.copy()
        strain = np.eye(3) + rng.uniform(-0.03, 0.03, size=(3, 3))
        strain = 0.5 * (strain + strain.T)
        at.set_cell(cell @ strain, scale_atoms=True)
        at.rattle(0.03, seed=int(rng.integers(1 << 31)))
        at.info["kind"] = "shear"
        out.append(at)
    # thermal-like rattles of growing amplitude
    for sigma in (0.03, 0.06, 0.1, 0.15, 0.2):
        at = atoms.copy()
        at.rattle(sigma, seed=int(rng.integers(1 << 31)))
        at.info["kind"] = f"rattle{sigma:.2f}"
        out.append(at)
    # compressed cells with large rattles: short contacts the student must learn to repel
    for eps, sigma in ((-0.06, 0.25), (-0.10, 0.30)):
        at = atoms.copy()
        at.set_cell(cell * (1 + eps), scale_atoms=True)
        at.rattle(sigma, seed=int(rng.integers(1 << 31)))
        at.info["kind"] = f"compress{eps:+.2f}_rattle{sigma:.2f}"
        out.append(at)
    out += contact_configs(atoms, rng)
    # single vacancies
    idx = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == vacancy_species]
    if idx and len(atoms) > 2:
        for sigma in (0.05, 0.12):
            at = atoms.copy()
            del at[int(rng.choice(idx))]
            at.rattle(sigma, seed=int(rng.integers(1 << 31)))
            at.info["kind"] = f"vacancy_rattle{sigma:.2f}"
            out.append(at)
    return out


def contact_configs(
    atoms: Atoms,
    rng: np.random.Generator,
    n: int = 4,
    fractions: tuple[float, float] = (0.45, 0.85),
    floor: float = 1.2,
) -> list[Atoms]:
    """Cells in which one nearest-neighbour pair is pushed together along its bond.

    The pair distance is drawn from ``fractions`` x its equilibrium length but kept >= ``floor`` Å
    (below ~1.2 Å the teacher's own Li–Li repulsion softens; the ZBL term owns that range). Half
    of the pairs are Li–Li when the cell has them: the 1100 K failures were Li–Li collapses.
    """
    from ase.neighborlist import neighbor_list

    i, j, vec = neighbor_list("ijD", atoms, 3.5)
    if len(i) == 0:
        return []
    dist = np.linalg.norm(vec, axis=1)
    symbols = np.array(atoms.get_chemical_symbols())
    # each atom's nearest neighbour: the pairs a thermal collision pushes together first
    shortest = np.full(len(atoms), np.inf)
    np.minimum.at(shortest, i, dist)
    nearest = np.flatnonzero((dist <= shortest[i] + 1e-6) & (i < j)).tolist()
    li_li = [k for k in nearest if symbols[i[k]] == "Li" and symbols[j[k]] == "Li"]
    out: list[Atoms] = []
    for m in range(n):
        pool = li_li if (li_li and m % 2 == 0) else nearest
        if not pool:
            continue
        k = int(rng.choice(pool))
        target = max(floor, float(rng.uniform(*fractions)) * dist[k])
        if target >= dist[k]:
            continue
        at = atoms.copy()
        at.rattle(0.03, seed=int(rng.integers(1 << 31)))
        shift = 0.5 * (dist[k] - target) * vec[k] / dist[k]
        at.positions[i[k]] += shift
        at.positions[j[k]] -= shift
        at.info["kind"] = f"contact_{symbols[i[k]]}{symbols[j[k]]}_{target:.2f}"
        out.append(at)
    return out


def md_snapshots(
    atoms: Atoms,
    calc: Calculator,
    temperature_k: float,
    steps: int,
    every: int,
    rng: np.random.Generator,
    timestep_fs: float = 2.0,
) -> list[Atoms]:
    """Langevin NVT snapshots (unlabelled copies) every ``every`` steps.

    Own ASE loop, not workflows.md: it draws from the run's shared RNG (keeps the round-0 data)."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    at = atoms.copy()
    at.calc = calc
    MaxwellBoltzmannDistribution(at, temperature_K=temperature_k, rng=rng)
    dyn = Langevin(at, timestep_fs * units.fs, temperature_K=temperature_k, friction=0.02, rng=rng)
    frames: list[Atoms] = []
    for _ in range(steps // every):
        dyn.run(every)
        snap = at.copy()
        snap.calc = None
        snap.info["kind"] = f"md{temperature_k:.0f}K"
        frames.append(snap)
    return frames


def vacancy_species_for(atoms: Atoms) -> str:
    """Species removed for vacancy configurations: Li, or the host of an elemental phase."""
    symbols = atoms.get_chemical_symbols()
    return "Li" if "Li" in symbols else symbols[0]


def generate_initial(
    phases: Iterable[Phase],
    teacher: Calculator,
    rng: np.random.Generator,
    md_temperatures: Sequence[float] = (300.0, 800.0, 1200.0),
    md_steps: int = 60,
    md_every: int = 10,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Atoms], dict[str, Atoms]]:
    """Round-0 data: relax, perturb and run short teacher MD for every phase.

    Returns the labelled configurations and the relaxed structure of every phase.
    """
    data: list[Atoms] = []
    relaxed: dict[str, Atoms] = {}
    for phase in phases:
        if progress:
            progress(phase.label)
        frames = relax(phase.atoms, teacher)
        eq = frames[-1].copy()
        eq.info = {"system": phase.label}
        relaxed[phase.label] = eq
        for f in frames:
            f.info["kind"] = "relax"
        configs = perturbations(eq, rng, vacancy_species_for(eq))
        for temp in md_temperatures:
            configs += md_snapshots(eq, teacher, temp, md_steps, md_every, rng)
        labelled = frames + [label(c, teacher) for c in configs]
        for c in labelled:
            c.info["system"] = phase.label
        data += labelled
        log.info("%s: %d labelled configurations", phase.label, len(labelled))
    return data, relaxed


def keep_physical(
    configs: Sequence[Atoms], max_force: float = 20.0, max_energy_above_min: float = 2.0
) -> list[Atoms]:
    """Drop teacher labels far outside the MD-relevant range.

    Large rattles of stiff covalent cells (graphite, Sb) produce contacts where the teacher's
    forces reach 10^2-10^4 eV/Å; such points would dominate the loss without teaching anything
    about MD. Kept: max |F| <= ``max_force`` eV/Å and energy within ``max_energy_above_min``
    eV/atom of the lowest energy of the same system. Short distances stay covered by the ZBL term.
    """
    lowest: dict[str, float] = {}
    for c in configs:
        e = c.info[ENERGY_KEY] / len(c)
        lowest[c.info["system"]] = min(e, lowest.get(c.info["system"], e))
    return [
        c
        for c in configs
        if np.abs(c.arrays[FORCES_KEY]).max() <= max_force
        and c.info[ENERGY_KEY] / len(c) - lowest[c.info["system"]] <= max_energy_above_min
    ]


def assign_ids(configs: list[Atoms], start: int = 0) -> None:
    """Number ``configs`` (``info["config_id"]``) from ``start``."""
    for i, c in enumerate(configs):
        c.info["config_id"] = start + i


def split(
    configs: Sequence[Atoms], rng: np.random.Generator, fractions: tuple[float, float] = (0.1, 0.1)
) -> tuple[list[Atoms], list[Atoms], list[Atoms]]:
    """Seeded train/validation/test split by configuration, stratified per system so that every
    system appears in every set."""
    train: list[Atoms] = []
    valid: list[Atoms] = []
    test: list[Atoms] = []
    systems = sorted({c.info["system"] for c in configs})
    for s in systems:
        members = [c for c in configs if c.info["system"] == s]
        order = rng.permutation(len(members))
        n_valid = max(1, round(fractions[0] * len(members)))
        n_test = max(1, round(fractions[1] * len(members)))
        valid += [members[i] for i in order[:n_valid]]
        test += [members[i] for i in order[n_valid : n_valid + n_test]]
        train += [members[i] for i in order[n_valid + n_test :]]
    return train, valid, test


def write_extxyz(path: Path, configs: Sequence[Atoms]) -> None:
    """Write labelled configurations atomically (temp file, then rename)."""
    from ase.io import write

    with atomic_path(path) as tmp:
        write(tmp, list(configs), format="extxyz")


def read_extxyz(path: Path) -> list[Atoms]:
    """All configurations of an extxyz file, with their REF_* labels."""
    from ase.io import read

    return list(read(path, index=":", format="extxyz"))
