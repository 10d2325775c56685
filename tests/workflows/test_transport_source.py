"""Which transport a row reads (MD or NEB-TST), and the MD vs NEB-TST comparison."""

from __future__ import annotations

import math

import pytest

from screening.barriers import HopBarrier, NEBResult, NEBTransport, TSTPoint, compare_md_tst
from screening.query import explain, flat_row
from screening.results import CandidateResult, Provenance, ThermoSummary, apply_ranking
from workflows.jobs import tst_arrhenius

K_B = 8.617333262e-5


def _tst(Ea: float = 0.25, D0: float = 1e-3, converged: bool = True) -> NEBTransport:
    hop = HopBarrier(
        label=0, length_A=2.84, multiplicity=32, e_start_eV=-10.0, e_end_eV=-10.1,
        e_saddle_eV=-9.85, forward_barrier_eV=0.15, backward_barrier_eV=0.25,
        image_energies_eV=[-10.0, -9.9, -9.85, -9.95, -10.1], image_path_A=[0, 0.7, 1.4, 2.1, 2.8],
        fmax_eV_A=0.03, converged=True, steps=40, wall_s=3.0,
    )  # fmt: skip
    neb = NEBResult(candidate_id="Li-Sb/Li3Sb/2x2x2/vac1/seed0", potential="mace:test",
                    n_atoms=127, n_vacancies=1, cutoff_A=4.5, hops=[hop])  # fmt: skip
    points = [
        TSTPoint(temperature_K=T, D_cm2_s=D0 * math.exp(-Ea / (K_B * T)),
                 D_sigma_cm2_s=0.5 * D0 * math.exp(-Ea / (K_B * T)), converged=converged)
        for T in (298.0, 548.0, 900.0)
    ]  # fmt: skip
    return NEBTransport(neb=neb, points=points, Ea_eV=Ea, Ea_sigma_eV=0.03, D0_cm2_s=D0,
                        n_li=95, volume_A3=2268.0, percolation_barrier_eV=Ea,
                        percolation_dimensionality=3)  # fmt: skip


def _doc(**kw) -> CandidateResult:
    prov = Provenance.collect(engine="mlip", potential="mace:test", settings={"p": "quick"})
    thermo = ThermoSummary(formation_energy_eV_atom=-0.6, e_above_hull_eV_atom=0.0,
                           neighbour_e_above_hull_eV_atom=0.0, voltage_V=0.8,
                           volume_change_step=0.1)  # fmt: skip
    return CandidateResult(candidate_id="Li-Sb/Li3Sb/2x2x2/vac1/seed0", system="Li-Sb",
                           phase="Li3Sb", formula="Li95Sb32", thermo=thermo, provenance=prov,
                           **kw)  # fmt: skip


def test_row_without_md_fit_reads_neb_tst_with_sigma_and_nernst_einstein():
    tst = _tst()
    arr = tst_arrhenius(tst, [298.0])
    assert arr.source == "NEB-TST" and arr.Ea_eV == pytest.approx(0.25)
    op = arr.at(298.0)
    assert op.D_cm2_s == pytest.approx(tst.at(298.0).D_cm2_s)
    assert op.D_sigma_cm2_s == pytest.approx(0.5 * op.D_cm2_s)
    # Nernst–Einstein: σ = n q² D / (kB T) with n = 95 Li / 2268 Å^3
    n_cm3 = 95 / 2268.0 * 1e24
    expected = n_cm3 * (1.602176634e-19) ** 2 * op.D_cm2_s / (1.380649e-23 * 298.0)
    assert op.sigma_S_cm == pytest.approx(expected, rel=1e-3)
    doc = apply_ranking([_doc(arrhenius=arr, neb=tst)], T_op_K=298.0)[0]
    row = flat_row(doc)
    assert row["transport_source"] == "NEB-TST" and row["D_op_cm2_s"] == pytest.approx(op.D_cm2_s)
    assert doc.transport_converged() is True
    assert any(line.startswith("transport: NEB-TST") for line in explain(doc))
    assert doc.sigma_ion.source == "computed (NEB-TST)"


def test_unconverged_kmc_marks_the_row_not_converged():
    tst = _tst(converged=False)
    doc = _doc(arrhenius=tst_arrhenius(tst, [298.0]), neb=tst)
    assert doc.transport_converged() is False


def test_md_and_tst_compared_and_disagreement_flagged():
    tst = _tst(Ea=0.25)
    d900 = tst.at(900.0).D_cm2_s
    agree = compare_md_tst(tst, [(900.0, 1.2 * d900, 0.2 * d900)], (0.27, 0.04))
    assert [c.agree for c in agree] == [True, True]
    off = compare_md_tst(tst, [(900.0, 30 * d900, 3 * d900)], (0.60, 0.02))
    assert [c.quantity for c in off] == ["Ea_eV", "D_900K_cm2_s"]
    assert [c.agree for c in off] == [False, False]
