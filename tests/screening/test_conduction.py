"""σ_ion, σ_e and the conduction class against known answers (textbook semiconductor and metals).

References: S. M. Sze, K. K. Ng, *Physics of Semiconductor Devices*, 3rd ed. (Wiley 2007),
Appendix G (Si at 300 K: E_g 1.12 eV, N_c 2.8e19 cm⁻³, n_i 9.65e9 cm⁻³, μ_n 1400, μ_p 450
cm²/Vs, intrinsic resistivity 3.2e5 Ω·cm); N. W. Ashcroft, N. D. Mermin, *Solid State Physics*
(1976), Table 1.1 (free-electron densities) and Table 1.2 (resistivities at 273 K).
"""

from __future__ import annotations

import math

import pytest

from screening.conduction import (
    ConductionClass,
    Conductivity,
    SigmaEModel,
    class_score,
    classify_ratio,
    conduction_class,
    drude_conductivity_S_cm,
    effective_dos_cm3,
    electronic_conductivity,
    free_electron_density_cm3,
    intrinsic_carrier_density_cm3,
    intrinsic_conductivity_S_cm,
    ionic_conductivity,
)
from screening.electronic import ElectronicClass, LiteratureElectronic, assess_electronic

SI = dict(m_e_eff=1.08, m_h_eff=0.81, mobility_e_cm2_Vs=1400.0, mobility_h_cm2_Vs=450.0)
SI_SIGMA_300K = 1 / 3.2e5  # S/cm, Sze Appendix G


def within_decade(value: float, reference: float) -> bool:
    return abs(math.log10(value / reference)) < 1.0


def test_effective_density_of_states_of_si():
    assert effective_dos_cm3(1.08, 300.0) == pytest.approx(2.8e19, rel=0.05)


def test_intrinsic_si_at_300K_from_its_gap():
    n_i = intrinsic_carrier_density_cm3(1.12, 300.0, m_e_eff=1.08, m_h_eff=0.81)
    assert n_i == pytest.approx(9.65e9, rel=0.2)  # 8.9e9
    sigma = intrinsic_conductivity_S_cm(1.12, 300.0, **SI)
    assert within_decade(sigma, SI_SIGMA_300K)  # 2.6e-6 vs 3.1e-6 S/cm


def test_pbe_gap_correction_recovers_si_and_is_needed():
    """Si's PBE gap (0.61 eV) + the default scissor gives the textbook σ; the raw PBE gap is
    more than three decades off, which is why the correction exists."""
    shift = SigmaEModel().gap_shift_eV
    corrected = intrinsic_conductivity_S_cm(0.61 + shift, 300.0, **SI)
    raw = intrinsic_conductivity_S_cm(0.61, 300.0, **SI)
    assert within_decade(corrected, SI_SIGMA_300K)
    assert math.log10(raw / SI_SIGMA_300K) > 3


@pytest.mark.parametrize(
    ("element", "volume_per_atom_A3", "n_table_cm3", "rho_uohm_cm"),
    [
        ("Li", 3.49**3 / 2, 4.70e22, 8.55),  # bcc, a = 3.49 Å (78 K, A&M)
        ("Mg", 23.24, 8.61e22, 3.9),  # hcp
        ("Ag", 4.09**3 / 4, 5.86e22, 1.51),  # fcc
    ],
)
def test_drude_estimate_of_metals_against_measured(
    element, volume_per_atom_A3, n_table_cm3, rho_uohm_cm
):
    n = free_electron_density_cm3(element, volume_per_atom_A3)
    assert n == pytest.approx(n_table_cm3, rel=0.02)  # outer s+p valence count
    sigma = drude_conductivity_S_cm(n, SigmaEModel().tau_s)
    measured = 1 / (rho_uohm_cm * 1e-6)
    assert within_decade(sigma, measured)  # Li 1.3e5 vs 1.2e5, Ag 1.7e5 vs 6.6e5 S/cm


def test_free_electron_density_refuses_open_d_shells():
    assert free_electron_density_cm3("Fe", 11.8) is None


def test_nernst_einstein_by_hand():
    # Li3Sb 2x2x2 with one vacancy: 95 Li in 13.089³ Å³, D = 1e-10 cm²/s at 298 K
    value, sigma = ionic_conductivity(
        1e-10, 2e-11, n_li=95, volume_A3=13.089**3, temperature_K=298.0
    )
    n = 95 / (13.089**3 * 1e-24)
    hand = n * (1.602176634e-19) ** 2 * 1e-10 / (1.380649e-23 * 298.0)
    assert value == pytest.approx(hand, rel=1e-9)
    assert value == pytest.approx(2.63e-5, rel=0.01)
    assert sigma == pytest.approx(0.2 * value)


def test_sigma_e_sources_in_order_of_evidence():
    T = 298.0
    # a computed PBE gap gets the scissor; the range spans (corrected, μ/10)..(raw, μ×10)
    pbe = assess_electronic("Li3Sb", band_gap_eV=0.76, engine="GPAW, PBE")
    s = electronic_conductivity(pbe, formula="Li3Sb", volume_per_atom_A3=14.0, temperature_K=T)
    m = SigmaEModel()
    expect = intrinsic_conductivity_S_cm(
        0.76 + m.gap_shift_eV, T, m_e_eff=1, m_h_eff=1, mobility_e_cm2_Vs=10,
        mobility_h_cm2_Vs=10,
    )  # fmt: skip
    assert s.S_cm == pytest.approx(expect) and s.source.startswith("estimate (intrinsic")
    assert s.range_S_cm[0] == pytest.approx(expect / 10)
    assert s.range_S_cm[1] > 1e4 * s.S_cm and "PBE 0.76 + 0.50 eV" in s.method
    # a cited gap is used as given
    table = {
        "X": LiteratureElectronic(electronic_class=ElectronicClass.SMALL_GAP, band_gap_eV=0.4,
                                  citation="A. Author, J. 1 (2000)"),
        "Y": LiteratureElectronic(electronic_class=ElectronicClass.METAL, sigma_e_S_cm=3e4,
                                  sigma_e_T_K=295.0, citation="B. Author, J. 2 (2001)"),
    }  # fmt: skip
    cited = assess_electronic("X", literature=table)
    c = electronic_conductivity(cited, formula="LiSb", volume_per_atom_A3=20.0, temperature_K=T)
    assert "0.40 eV (as cited)" in c.method
    # a cited measured σ_e wins over any estimate and keeps its citation
    meas = electronic_conductivity(assess_electronic("Y", literature=table), formula="LiMg",
                                   volume_per_atom_A3=20.0, temperature_K=T)  # fmt: skip
    assert meas.S_cm == 3e4 and meas.source == "literature: B. Author, J. 2 (2001)"
    assert meas.temperature_K == 295.0
    # metal: Drude, ×/÷ 10
    metal = assess_electronic("LiMg", band_gap_eV=0.0, engine="GPAW, PBE")
    d = electronic_conductivity(metal, formula="LiMg", volume_per_atom_A3=20.0, temperature_K=T)
    assert d.source.startswith("estimate (Drude") and d.range_S_cm == pytest.approx(
        (d.S_cm / 10, d.S_cm * 10)
    )
    # missing inputs say why
    unknown = assess_electronic("Li15Si4", formula="Li15Si4", literature={})
    u = electronic_conductivity(unknown, formula="Li15Si4", volume_per_atom_A3=20.0,
                                temperature_K=T)  # fmt: skip
    assert u.S_cm is None and "unknown" in (u.note or "")
    no_v = electronic_conductivity(metal, formula="LiMg", volume_per_atom_A3=None, temperature_K=T)
    assert no_v.S_cm is None and "volume" in (no_v.note or "")


BOUNDS = (1e-2, 10.0)


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        (1e-2 * 0.999, ConductionClass.IONIC),
        (1e-2, ConductionClass.MIXED),
        (10.0, ConductionClass.MIXED),
        (10.0 * 1.001, ConductionClass.ELECTRONIC),
    ],
)
def test_each_class_boundary(ratio, expected):
    assert classify_ratio(ratio, BOUNDS) is expected


def test_nature_energy_layers_fall_in_their_classes_with_the_default_bounds():
    from screening.ranking import RankingThresholds

    bounds = RankingThresholds().conduction_class_bounds
    layers = {  # (σ_ion, σ_e) S/cm, the 2024 Nature Energy study's LNI-x%CNT layers
        ConductionClass.IONIC: (3.0e-4, 6.7e-8),
        ConductionClass.MIXED: (2.9e-4, 2.8e-5),
        ConductionClass.ELECTRONIC: (2.4e-5, 5.0e-2),
    }
    for cls, (s_ion, s_e) in layers.items():
        assert classify_ratio(s_e / s_ion, bounds) is cls


def test_class_score_prefers_mixed():
    assert class_score(1.0, BOUNDS) == 1.0
    assert class_score(1e-2 / 10**1.5, BOUNDS) == pytest.approx(0.5)
    assert class_score(10.0 * 1e3, BOUNDS) == 0.0


def _c(v, rng=None, note=None):
    return Conductivity(S_cm=v, range_S_cm=rng, source="test", note=note)


def test_conduction_class_missing_inputs_and_metal_without_sigma_ion():
    v = conduction_class(_c(None, note="no band gap"), _c(1e-5), BOUNDS)
    assert v.conduction_class is ConductionClass.UNKNOWN and "no band gap" in v.rule
    v = conduction_class(_c(1e-6), _c(None, note="D not converged"), BOUNDS)
    assert v.conduction_class is ConductionClass.UNKNOWN and "D not converged" in v.rule
    # a metal is electronic even with σ_ion unknown: σ_e/1 S/cm already exceeds the upper bound
    v = conduction_class(_c(1e5, (1e4, 1e6)), _c(None, note="D not converged"), BOUNDS)
    assert v.conduction_class is ConductionClass.ELECTRONIC and v.ratio == pytest.approx(1e4)
    assert "σ_ion unknown" in v.rule
    # a σ_e range crossing a bound is reported, not hidden
    v = conduction_class(_c(1e-7, (1e-8, 1e-4)), _c(1e-5), BOUNDS)
    assert v.conduction_class is ConductionClass.IONIC and v.robust is False
    assert "mixed conductor" in v.rule
    v = conduction_class(_c(1e-6, (2e-7, 5e-6)), _c(1e-5), BOUNDS)
    assert v.conduction_class is ConductionClass.MIXED and v.robust is True
