"""M dissolving from the interlayer into the Li metal: the solution energy of one M atom in bcc Li.

An interlayer Li_xM in contact with Li metal holds M at the chemical potential of the two-phase
equilibrium Li(bcc) + the Li-richest hull phase Li_xM (the last phase before Li metal on the
hull; the host M itself when no compound is on the hull)::

    μ_Li = E[Li-bcc] per atom
    μ_M  = E[Li_xM per formula unit of one M] − x·μ_Li
    E_sol = E[Li_(N−1)M supercell] − (N−1)·μ_Li − μ_M

E_sol < 0: M gains energy by leaving the interlayer for the Li metal (the reference study's Ag and
Mg); E_sol > 0: M stays, and its dilute equilibrium solubility in Li is ≈ exp(−E_sol/k_BT).
All energies come from one engine; raw (uncorrected) energies are used throughout, because the
solute cell gets no MP2020 anion correction. μ_Li is bcc Li, the Li metal at T_op, also where
the hull's lowest Li reference is fcc (a few meV/atom lower in DFT), so that the N−1 Li atoms of
the supercell cancel exactly. Vibrational and configurational entropy are left out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from screening.errors import InputError
from screening.thermo import PhaseThermo, SystemThermo
from screening.units import KB_EV

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: bcc Li conventional cells per edge of the solute supercell: 3x3x3 = 54 sites, M–M images
#: ≥ 10 Å apart (Li a ≈ 3.44–3.51 Å)
SOLUTE_SUPERCELL = 3


class SolutionEnergy(BaseModel):
    """Solution energy of one M atom in bcc Li, and the numbers behind it."""

    system: str
    solute: str = Field(description="the host element M")
    solution_energy_eV: float = Field(description="E_sol; negative means M dissolves into Li")
    li_richest_phase: str = Field(description="Li-richest hull phase fixing μ_M")
    x_li_per_m: float = Field(description="x of that phase (0 for the host element)")
    n_li: int = Field(description="Li atoms in the solute supercell (one site holds M)")
    mu_li_eV: float
    mu_m_eV: float
    solute_cell_energy_eV: float
    engine: str
    potential: str | None = None
    max_force_eV_A: float | None = None
    source: str = Field(description="'computed (<engine> <potential>)'")

    def solubility(self, temperature_K: float) -> float:
        """Dilute equilibrium site fraction of M in Li, exp(−E_sol/k_BT) (1 when E_sol ≤ 0)."""
        return min(1.0, math.exp(-self.solution_energy_eV / (KB_EV * temperature_K)))


def solution_energy_eV(
    solute_cell_energy_eV: float,
    n_li: int,
    mu_li_eV: float,
    phase_energy_per_m_eV: float,
    x_li_per_m: float,
) -> tuple[float, float]:
    """(E_sol, μ_M) from the solute cell, μ_Li and the Li-richest phase's energy per M."""
    mu_m = phase_energy_per_m_eV - x_li_per_m * mu_li_eV
    return solute_cell_energy_eV - n_li * mu_li_eV - mu_m, mu_m


def li_richest_hull_phase(thermo: SystemThermo) -> PhaseThermo:
    """The hull phase with the largest x = Li/M (the host element when no compound is on it)."""
    hull = [p for p in thermo.phases if p.on_hull and p.x_li_per_m is not None]
    if not hull:
        raise InputError(f"{thermo.system}: no M-containing phase on the hull", field="phases")
    return max(hull, key=lambda p: p.x_li_per_m or 0.0)


def _raw_energy_per_atom(p: PhaseThermo) -> float:
    return p.energy_per_atom_eV - p.correction_eV_atom


def solution_energy(
    thermo: SystemThermo,
    *,
    solute_cell_energy_eV: float,
    n_li: int,
    li_phase: str,
    max_force_eV_A: float | None = None,
) -> SolutionEnergy:
    """E_sol of the system's host M, with μ from ``thermo`` (same engine as the solute cell).

    ``li_phase`` is the bcc Li reference's label in ``thermo``.
    """
    li = thermo.phase(li_phase)
    if li.x_li_per_m is not None:
        raise InputError(f"{li_phase!r} is not elemental Li", field="li_phase")
    rich = li_richest_hull_phase(thermo)
    x = rich.x_li_per_m or 0.0
    mu_li = _raw_energy_per_atom(li)
    e_sol, mu_m = solution_energy_eV(
        solute_cell_energy_eV, n_li, mu_li, _raw_energy_per_atom(rich) * (1.0 + x), x
    )
    pot = f" {thermo.potential}" if thermo.potential else ""
    return SolutionEnergy(
        system=thermo.system,
        solute=thermo.host,
        solution_energy_eV=e_sol,
        li_richest_phase=rich.phase,
        x_li_per_m=x,
        n_li=n_li,
        mu_li_eV=mu_li,
        mu_m_eV=mu_m,
        solute_cell_energy_eV=solute_cell_energy_eV,
        engine=thermo.engine,
        potential=thermo.potential,
        max_force_eV_A=max_force_eV_A,
        source=f"computed ({thermo.engine}{pot})",
    )


def solute_supercell(li_bcc: Structure, solute: str, n: int = SOLUTE_SUPERCELL) -> Structure:
    """bcc Li as n×n×n conventional cells with the first site replaced by ``solute``."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    conv = SpacegroupAnalyzer(li_bcc, symprec=0.05).get_conventional_standard_structure()
    if conv.composition.reduced_formula != "Li" or len(conv) != 2:
        raise InputError(
            f"solute host must be bcc Li (2-atom conventional cell), got "
            f"{conv.composition.formula} with {len(conv)} atoms",
            field="li_bcc",
        )
    cell = conv * (n, n, n)
    cell.replace(0, solute)
    return cell
