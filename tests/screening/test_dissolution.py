"""M-in-Li solution energy: bookkeeping on a toy system with hand-computed energies."""

from __future__ import annotations

import math

import pytest
from pymatgen.core import Lattice, Structure

from screening.dissolution import li_richest_hull_phase, solute_supercell, solution_energy
from screening.errors import InputError
from screening.thermo import PhaseEnergy, build_system_thermo


def _phase(name: str, formula: str, energy: float, n: int, system: str = "Li-Mg") -> PhaseEnergy:
    return PhaseEnergy(system=system, phase=name, formula=formula, energy_eV=energy, n_atoms=n,
                       volume_A3=20.0 * n, engine="mlip", potential="toy")  # fmt: skip


def toy_thermo(li3m: float = -10.25, system: str = "Li-Mg", m: str = "Mg", mp2020=None):
    """Li-bcc −1.900, Li-fcc −1.905 (lower, as in DFT), M −4.0 eV/atom; LiM −6.5 eV per LiM is on
    the hull; Li3M −10.25 is 0.015 eV/atom above LiM + 2 Li(fcc) = −10.31."""
    return build_system_thermo(
        [
            _phase("Li-bcc", "Li2", -3.8, 2, system),
            _phase("Li-fcc", "Li4", -7.62, 4, system),
            _phase(m, f"{m}2", -8.0, 2, system),
            _phase(f"Li{m}", f"Li{m}", -6.5, 2, system),
            _phase(f"Li3{m}", f"Li3{m}", li3m, 4, system),
        ],
        mp2020=mp2020,
    )


def test_solution_energy_by_hand():
    thermo = toy_thermo()
    assert li_richest_hull_phase(thermo).phase == "LiMg"  # Li3Mg is above the hull
    # μ_Li = −1.9 (bcc), μ_Mg = E[LiMg] − μ_Li = −4.6; a cell 0.3 eV above 53 μ_Li + μ_Mg
    cell = 53 * -1.9 + -4.6 + 0.3
    res = solution_energy(thermo, solute_cell_energy_eV=cell, n_li=53, li_phase="Li-bcc")
    assert res.mu_li_eV == pytest.approx(-1.9) and res.mu_m_eV == pytest.approx(-4.6)
    assert res.solution_energy_eV == pytest.approx(0.3)
    assert (res.li_richest_phase, res.x_li_per_m, res.solute) == ("LiMg", 1.0, "Mg")
    assert res.solubility(298.0) == pytest.approx(math.exp(-0.3 / (8.617333e-5 * 298.0)), rel=1e-4)
    assert res.source == "computed (mlip toy)"


def test_li3m_on_the_hull_sets_mu_m_and_host_when_no_compound():
    # Li3M at −10.40 < −10.31: now on the hull and Li-richest → μ_M = −10.40 − 3·(−1.9) = −4.7
    thermo = toy_thermo(li3m=-10.40)
    res = solution_energy(thermo, solute_cell_energy_eV=53 * -1.9 - 4.6, n_li=53,
                          li_phase="Li-bcc")  # fmt: skip
    assert res.li_richest_phase == "Li3Mg" and res.mu_m_eV == pytest.approx(-4.7)
    assert res.solution_energy_eV == pytest.approx(0.1)
    # no compound on the hull: μ_M is elemental M; a negative E_sol means M dissolves into Li
    only_host = build_system_thermo([
        _phase("Li-bcc", "Li2", -3.8, 2), _phase("Mg", "Mg2", -8.0, 2),
        _phase("LiMg", "LiMg", -5.8, 2),  # above Li + Mg (−5.9)
    ])  # fmt: skip
    res = solution_energy(only_host, solute_cell_energy_eV=53 * -1.9 - 4.2, n_li=53,
                          li_phase="Li-bcc")  # fmt: skip
    assert (res.li_richest_phase, res.x_li_per_m) == ("Mg", 0.0)
    assert res.solution_energy_eV == pytest.approx(-0.2) and res.solubility(298.0) == 1.0


def test_mp2020_corrections_do_not_enter():
    """The solute cell is uncorrected, so E_sol uses raw energies whatever the hull applied."""
    raw = toy_thermo(system="Li-Sb", m="Sb", mp2020=False)
    corrected = toy_thermo(system="Li-Sb", m="Sb", mp2020=True)
    assert li_richest_hull_phase(corrected).correction_eV_atom != 0.0
    kw = dict(solute_cell_energy_eV=53 * -1.9 - 4.6, n_li=53, li_phase="Li-bcc")
    assert solution_energy(corrected, **kw).solution_energy_eV == pytest.approx(
        solution_energy(raw, **kw).solution_energy_eV
    )


def test_li_phase_must_be_elemental_li():
    with pytest.raises(InputError):
        solution_energy(toy_thermo(), solute_cell_energy_eV=0.0, n_li=53, li_phase="LiMg")


def test_solute_supercell():
    bcc = Structure(Lattice.cubic(3.51), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cell = solute_supercell(bcc, "Ag")
    assert len(cell) == 54 and cell.composition.formula == "Li53 Ag1"
    assert min(cell.lattice.abc) == pytest.approx(3 * 3.51)
    fcc = Structure(Lattice.cubic(4.4), ["Li"] * 4,
                    [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])  # fmt: skip
    with pytest.raises(InputError):
        solute_supercell(fcc, "Ag")
