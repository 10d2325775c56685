"""Hull, formation energies and voltage plateaus on synthetic phase sets, answers by hand."""

from __future__ import annotations

import pytest
from pymatgen.apps.battery.insertion_battery import InsertionElectrode
from pymatgen.entries.computed_entries import ComputedEntry

from screening.errors import InputError
from screening.thermo import (
    PhaseEnergy,
    build_system_thermo,
    plot_convex_hull,
    plot_voltage_profile,
    voltage_per_li,
)

MU_LI = -1.90  # eV/atom, Li reference
E_SB = -4.10  # eV/atom, Sb reference


def _p(phase, formula, energy, n, vol, engine="mlip", potential="mace:test", **kw):
    return PhaseEnergy(system="Li-Sb", phase=phase, formula=formula, energy_eV=energy, n_atoms=n,
                       volume_A3=vol, engine=engine, potential=potential, **kw)  # fmt: skip


def li_sb_phases(engine="mlip", potential="mace:test", **kw):
    """Energies chosen so Sb→Li2Sb is 0.90 V and Li2Sb→Li3Sb 0.85 V (Weppner–Huggins-like)."""
    e_li2sb = E_SB + 2 * MU_LI - 2 * 0.90  # -9.70 eV per Li2Sb
    e_li3sb = e_li2sb + MU_LI - 0.85  # -12.45 eV per Li3Sb
    e_lisb = 2 * -0.42 + (MU_LI + E_SB)  # E_f = -0.42 eV/atom: 0.03 eV/atom above the hull
    kw = {"engine": engine, "potential": potential, **kw}
    return [
        _p("Li", "Li2", 2 * MU_LI, 2, 40.0, **kw),
        _p("Li-fcc", "Li", MU_LI + 0.002, 1, 20.0, **kw),  # a polymorph 2 meV/atom above
        _p("Sb", "Sb2", 2 * E_SB, 2, 60.0, **kw),
        _p("LiSb", "LiSb", e_lisb, 2, 40.0, **kw),
        _p("Li2Sb", "Li2Sb", e_li2sb, 3, 60.0, **kw),
        # a 2x2x2-like supercell given with its reduced formula: scaled to n_atoms
        _p("Li3Sb", "Li3Sb", 8 * e_li3sb, 32, 8 * 70.0, **kw),
    ]


def test_li_sb_plateaus_formation_energies_and_hull():
    t = build_system_thermo(li_sb_phases())
    assert t.host == "Sb" and t.li_reference == "Li" and t.host_reference == "Sb"
    assert t.corrections.startswith("uncorrected")
    assert [(p.phase_from, p.phase_to) for p in t.plateaus] == [("Sb", "Li2Sb"), ("Li2Sb", "Li3Sb")]
    assert [p.voltage_V for p in t.plateaus] == pytest.approx([0.90, 0.85], abs=1e-9)
    assert t.average_voltage_V == pytest.approx((2 * 0.90 + 0.85) / 3)
    # E_f by hand: Li2Sb -1.8/3, Li3Sb (-12.45 + 9.8)/4
    assert t.phase("Li2Sb").formation_energy_eV_atom == pytest.approx(-0.6)
    assert t.phase("Li3Sb").formation_energy_eV_atom == pytest.approx(-0.6625)
    # LiSb: hull at c_Li = 1/2 between Sb (0) and Li2Sb (2/3, -0.6) is -0.45 eV/atom
    lisb = t.phase("LiSb")
    assert not lisb.on_hull
    assert lisb.e_above_hull_eV_atom == pytest.approx(0.03, abs=1e-9)
    assert lisb.formation_voltage_V == pytest.approx(0.84)  # -(E_LiSb - E_Sb - mu_Li)
    assert lisb.delithiated_neighbour == "Sb"
    assert t.phase("Li-fcc").e_above_hull_eV_atom == pytest.approx(0.002)
    li3sb = t.phase("Li3Sb")
    assert li3sb.on_hull and li3sb.x_li_per_m == pytest.approx(3.0)
    assert li3sb.formation_voltage_V == pytest.approx(0.85)
    assert li3sb.delithiated_neighbour == "Li2Sb"
    # volumes per Sb: Sb 30, Li2Sb 60, Li3Sb 70 Å^3
    assert li3sb.volume_change_step == pytest.approx(70 / 60 - 1)
    assert t.plateaus[0].volume_change == pytest.approx(1.0)
    assert t.full_lithiation_phase == "Li3Sb"
    assert t.full_lithiation_volume_change == pytest.approx(70 / 30 - 1)


def test_plateaus_agree_with_pymatgen_insertion_electrode():
    phases = li_sb_phases()
    # an extra, deeper Li3Sb energy changes the profile: still must agree with pymatgen
    t = build_system_thermo(phases)
    entries = [ComputedEntry(p.cell_composition(), p.energy_eV) for p in phases
               if p.phase not in ("Li", "Li-fcc")]  # fmt: skip
    li = ComputedEntry("Li", MU_LI)
    el = InsertionElectrode.from_entries(entries, li)
    assert [vp.voltage for vp in el.voltage_pairs] == pytest.approx(
        [p.voltage_V for p in t.plateaus]
    )
    assert el.get_average_voltage() == pytest.approx(t.average_voltage_V)


def test_three_step_hull_by_hand():
    """Li–M with LiM, Li2M on the hull and Li3M above it; numbers computed by hand."""
    mu, em = -2.0, -3.0

    def q(phase, formula, e, n):
        return PhaseEnergy(system="Li-Ag", phase=phase, formula=formula, energy_eV=e, n_atoms=n,
                           volume_A3=10.0 * n, engine="dft", potential=None)  # fmt: skip

    # LiM: E_f = -0.3 eV/atom → E = -5.6; Li2M: E_f = -0.25 → -7.75; Li3M: E_f = -0.15 → -9.6
    t = build_system_thermo([q("Li", "Li", mu, 1), q("Ag", "Ag", em, 1),
                             q("LiAg", "LiAg", -5.6, 2), q("Li2Ag", "Li2Ag", -7.75, 3),
                             q("Li3Ag", "Li3Ag", -9.6, 4)])  # fmt: skip
    # plateaus: V1 = -(-5.6 + 3 + 2) = 0.6 ; V2 = -(-7.75 + 5.6 + 2) = 0.15
    assert [p.voltage_V for p in t.plateaus] == pytest.approx([0.6, 0.15])
    # Li3Ag: hull between Li2Ag (2/3, -0.25) and Li (1, 0) at 3/4 is -0.1875 → 0.0375 above
    assert t.phase("Li3Ag").e_above_hull_eV_atom == pytest.approx(0.0375)
    # formed from Li2Ag: -(-9.6 + 7.75 + 2) = -0.15 V (< 0: Li plating is preferred)
    assert t.phase("Li3Ag").formation_voltage_V == pytest.approx(-0.15)
    assert t.full_lithiation_phase == "Li2Ag"
    assert voltage_per_li(-5.6, -3.0, 1.0, mu) == pytest.approx(0.6)


def test_mixing_engines_is_refused():
    phases = li_sb_phases()
    phases[3] = phases[3].model_copy(update={"engine": "vasp", "potential": None})
    with pytest.raises(InputError, match="mlip") as exc:
        build_system_thermo(phases)
    assert "vasp" in str(exc.value)


def test_mixing_potentials_is_refused():
    phases = li_sb_phases()
    phases[2] = phases[2].model_copy(update={"potential": "chgnet"})
    with pytest.raises(InputError, match="chgnet"):
        build_system_thermo(phases)


def test_missing_reference_and_foreign_element():
    phases = [p for p in li_sb_phases() if p.phase != "Sb"]
    with pytest.raises(InputError, match="reference for Sb"):
        build_system_thermo(phases)
    bad = [*li_sb_phases(), _p("LiBi", "LiBi", -6.0, 2, 40.0)]
    with pytest.raises(InputError, match="Bi"):
        build_system_thermo(bad)


def test_mp2020_corrections_for_vasp_pbe_shift_the_first_plateau():
    """MP2020 puts -0.192 eV on each anionic Sb: Sb→Li2Sb +0.096 V, Li2Sb→Li3Sb unchanged."""
    # LiSb left out: with -0.192 eV on its Sb it would drop onto the corrected hull
    raw_set = [p for p in li_sb_phases(engine="vasp", potential=None) if p.phase != "LiSb"]
    raw = build_system_thermo(raw_set, mp2020=False)
    cor = build_system_thermo([p.model_copy(update={"functional": "PBE"}) for p in raw_set])
    assert cor.corrections.startswith("MP2020")
    assert raw.corrections.startswith("uncorrected")
    assert cor.phase("Li3Sb").correction_eV_atom == pytest.approx(-0.192 / 4)
    assert cor.phase("Sb").correction_eV_atom == 0.0
    dv = [c.voltage_V - r.voltage_V for c, r in zip(cor.plateaus, raw.plateaus, strict=True)]
    assert dv == pytest.approx([0.096, 0.0], abs=1e-6)
    # an MLIP is never corrected
    assert build_system_thermo(li_sb_phases()).phase("Li3Sb").correction_eV_atom == 0.0


def test_plots_are_png(tmp_path):
    t = build_system_thermo(li_sb_phases())
    for f in (plot_convex_hull(t, tmp_path / "h.png"), plot_voltage_profile(t, tmp_path / "v.png")):
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
