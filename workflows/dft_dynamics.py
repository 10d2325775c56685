"""GPAW molecular dynamics and NEB for ``engine: dft``, and the cost guard that decides whether
they run.

GPAW makes MD of a 127-atom cell over thousands of steps a matter of days on a workstation CPU, so
:func:`gpaw_cost_hours` estimates each run first: ``engine.dft.cost_s_per_atom2_kpt_step`` ×
atoms² × k points × steps (the coefficient from a measured 128-atom SCF on 2 CPU cores, see
:class:`screening.campaign.DFTSettings`; each step is one SCF restarted from the last
wavefunctions, and for these sizes its cost grows about as atoms²). Runs within
``engine.dft.max_hours`` go through the project's own MD loop and NEB with a GPAW calculator; the
others are refused with the estimate (:func:`refusal`), never replaced by another engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from screening.barriers import NEBResult
from screening.campaign import DFTSettings, MDSettings, NEBSettings
from workflows.dft_gpaw import GPAWSettings, gpaw_calculator, kpoint_mesh
from workflows.md.maker import md_steps, trajectory_path

# ----------------------------------------------------------------------------- cost guard


def irreducible_kpts_no_symmetry(structure: Structure, settings: GPAWSettings) -> int:
    """k points of a cell without symmetry (MD snapshots, NEB images): time reversal halves
    the Gamma-centred mesh."""
    mesh = kpoint_mesh(AseAtomsAdaptor.get_atoms(structure), settings)
    return max(1, math.ceil(math.prod(mesh) / 2))


def gpaw_cost_hours(n_atoms: int, n_kpts: int, n_steps: int, dft: DFTSettings) -> float:
    """Estimated wall time of ``n_steps`` GPAW force calls (each one SCF reusing the last
    wavefunctions): ``engine.dft.cost_s_per_atom2_kpt_step`` × atoms² × k points × steps."""
    return dft.cost_s_per_atom2_kpt_step * n_atoms**2 * n_kpts * n_steps / 3600.0


def md_cost(
    structure: Structure,
    md: MDSettings,
    temps: Sequence[float],
    settings: GPAWSettings,
    dft: DFTSettings,
) -> tuple[float, str]:
    """(hours, description) of GPAW NVT MD of one cell at every temperature."""
    steps = md_steps(md)
    per_t = steps["equilibration_steps"] + steps["production_steps"]
    nk = irreducible_kpts_no_symmetry(structure, settings)
    hours = gpaw_cost_hours(len(structure), nk, per_t * len(temps), dft)
    what = (
        f"GPAW MD of {len(structure)} atoms × {per_t} steps × {len(temps)} temperature(s) "
        f"({nk} k points)"
    )
    return hours, what


def neb_cost(
    cell: Structure,
    matrix: np.ndarray,
    n_vacancies: int,
    neb: NEBSettings,
    settings: GPAWSettings,
    dft: DFTSettings,
) -> tuple[float, str]:
    """(hours, description) of a GPAW CI-NEB of every distinct hop, at its step limit."""
    from screening.migration import distinct_hops, migration_graph

    n_hops = min(len(distinct_hops(migration_graph(cell, neb.cutoff_A, "Li"))), neb.max_hops)
    sc = cell.copy()
    sc.make_supercell(matrix)
    n_atoms = len(sc) - n_vacancies
    nk = irreducible_kpts_no_symmetry(sc, settings)
    steps = n_hops * (neb.n_images + 2) * neb.max_steps  # endpoints + band, at most
    hours = gpaw_cost_hours(n_atoms, nk, steps, dft)
    what = (
        f"GPAW CI-NEB of {n_hops} hop(s) × {neb.n_images} images in {n_atoms} atoms "
        f"({nk} k points, ≤ {neb.max_steps} steps)"
    )
    return hours, what


def refusal(what: str, hours: float, dft: DFTSettings, kind: str) -> str:
    """The row's note when the guard refuses a GPAW MD or NEB."""
    return (
        f"{kind}: not computed, {what} would take ~{hours:.3g} h on 2 CPU cores "
        f"(> engine.dft.max_hours {dft.max_hours:g} h; no MLIP number is used instead)"
    )


# ----------------------------------------------------------------------------- Makers


@dataclass
class GPAWMDMaker(Maker):
    """NVT MD with GPAW forces through the project's ASE MD loop (:func:`workflows.md.run_nvt`:
    checkpointed, resumable, same guards and trajectory format as the MLIP runs)."""

    name: str = "gpaw nvt md"
    settings: GPAWSettings = field(default_factory=GPAWSettings)
    spec: str = "gpaw"
    md: MDSettings = field(default_factory=MDSettings)
    seed: int = 0
    out_dir: str = "md"

    @job
    def make(
        self, structures: list[Structure], candidate_ids: list[str], temperatures_K: list[float]
    ) -> list[Any]:
        """One run per (structure, T); returns their :class:`workflows.md.MDResult`."""
        from workflows.md import run_nvt

        out = []
        for s, cid, t in zip(structures, candidate_ids, temperatures_K, strict=True):
            atoms = AseAtomsAdaptor.get_atoms(s)
            out.append(
                run_nvt(
                    atoms,
                    gpaw_calculator(atoms, self.settings, symmetry="off"),  # atoms move
                    temperature_K=t,
                    timestep_fs=self.md.timestep_fs,
                    thermostat=self.md.thermostat,
                    thermostat_timescale_fs=self.md.thermostat_timescale_fs,
                    seed=self.seed,
                    trajectory_path=trajectory_path(self.out_dir, cid, t),
                    candidate_id=cid,
                    potential=self.spec,
                    **md_steps(self.md),
                )
            )
        return out


@dataclass
class GPAWNEBMaker(Maker):
    """CI-NEB of every distinct Li vacancy hop with GPAW (:func:`workflows.neb.phase_barriers`)."""

    name: str = "gpaw ci-neb"
    settings: GPAWSettings = field(default_factory=GPAWSettings)
    spec: str = "gpaw"
    neb: NEBSettings = field(default_factory=NEBSettings)

    @job
    def make(
        self,
        cell: Structure,
        supercell_matrix: list[list[int]],
        candidate_id: str,
        n_vacancies: int = 1,
    ) -> NEBResult:
        """Barriers of every distinct hop (endpoints relaxed in the fixed cell)."""
        from workflows.neb import candidate_barriers

        matrix = np.array(supercell_matrix, dtype=int)
        sc = cell.copy()
        sc.make_supercell(matrix)
        calc = gpaw_calculator(AseAtomsAdaptor.get_atoms(sc), self.settings, symmetry="off")
        return candidate_barriers(
            cell,
            matrix,
            calc,
            self.neb,
            candidate_id=candidate_id,
            potential=self.spec,
            n_vacancies=n_vacancies,
        )
