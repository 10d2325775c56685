"""Ranking criteria, None handling, failed candidates, Pareto set, electronic classes.

Criterion 3 is the conduction class by σ_e/σ_ion (screening.conduction; bounds 1e-2..10 by
default); criterion 4 combines E_f with the M-in-Li solution energy."""

from __future__ import annotations

import math

import pytest

from screening.conduction import Conductivity
from screening.electronic import (
    ElectronicClass,
    assess_electronic,
    classify_gap,
    load_literature,
)
from screening.ranking import RankingInput, RankingThresholds, pareto_front, rank
from screening.thermo import ThermoSummary


def sigma(value: float | None, note: str | None = None) -> Conductivity:
    return Conductivity(S_cm=value, source="test" if value else "none", note=note)


def good(cid="Li-Sb/Li3Sb/2x2x2/vac1/seed0", **kw) -> RankingInput:
    """A candidate passing everything with default thresholds (a mixed conductor, σ_e/σ_ion 0.1,
    E_sol 0.6 eV); ``kw`` overrides any number, the thermo ones (``voltage_V``, ...) included."""
    thermo = dict(
        voltage_V=0.2, e_above_hull_eV_atom=0.0, neighbour_e_above_hull_eV_atom=0.0,
        volume_change_step=0.2, formation_energy_eV_atom=-0.6,
    )  # fmt: skip
    base = dict(
        candidate_id=cid, system="Li-Sb", phase="Li3Sb", T_op_K=298.15, D_op_cm2_s=1e-10,
        D_op_sigma_cm2_s=2e-11, transport_converged=True,
        electronic_class=ElectronicClass.SMALL_GAP, band_gap_eV=0.7,
        electronic_source="computed (vasp)", sigma_ion=sigma(1e-5),
        sigma_e=sigma(1e-6), solution_energy_eV=0.6,
    )  # fmt: skip
    for key, value in kw.items():
        (thermo if key in ThermoSummary.model_fields else base)[key] = value
    return RankingInput(**base, thermo=ThermoSummary(**thermo))


def crit(result, name):
    return next(c for c in result.criteria if c.name == name)


def test_all_pass_and_score_formula():
    (r,) = rank([good()])
    assert r.passing and r.rank == 1 and r.pareto and not r.flags
    th = RankingThresholds()
    s1 = 1 - 0.2 / 1.0
    d_score = (math.log10(1e-10) + 12) / 4  # between 1e-12 and 1e-8 decades
    s2 = (1.0 + (1 - 0.2) + d_score) / 3
    s3 = (d_score + 1.0) / 2  # class score 1: mixed conductor
    s4 = (min(1.0, 0.6 / th.formation_energy_scale_eV_atom)
          + min(1.0, 0.6 / th.solution_energy_scale_eV)) / 2  # fmt: skip
    assert [c.score for c in r.criteria] == pytest.approx([s1, s2, s3, s4])
    assert r.score == pytest.approx((s1 + s2 + s3 + s4) / 4)


@pytest.mark.parametrize(
    ("change", "criterion"),
    [
        ({"voltage_V": 1.2}, "potential"),  # above the window
        ({"voltage_V": -0.05}, "potential"),  # Li plating wins
        ({"e_above_hull_eV_atom": 0.08}, "reversibility"),
        ({"neighbour_e_above_hull_eV_atom": 0.06}, "reversibility"),
        ({"volume_change_step": 1.5}, "reversibility"),
        ({"D_op_cm2_s": 1e-14}, "reversibility"),
        ({"D_op_cm2_s": 1e-14}, "mixed_conduction"),
        ({"sigma_e": sigma(1e-8)}, "mixed_conduction"),  # ionic conductor
        ({"sigma_e": sigma(1e5)}, "mixed_conduction"),  # electronic conductor (a metal)
        ({"formation_energy_eV_atom": 0.02}, "formation_energy"),
        ({"solution_energy_eV": -0.1}, "formation_energy"),  # M dissolves into Li
        ({"solution_energy_eV": 0.1}, "formation_energy"),  # 2 % Mg-like solubility > 1 %
    ],
)
def test_each_criterion_can_fail(change, criterion):
    (r,) = rank([good(**change)])
    assert crit(r, criterion).passed is False
    assert not r.passing
    assert r.score < rank([good()])[0].score


def test_conduction_class_decides_criterion_3_and_score_prefers_mixed():
    scores = {}
    for label, s_e in (("ionic", 1e-8), ("mixed", 1e-6), ("electronic", 1e5)):
        (r,) = rank([good(sigma_e=sigma(s_e))])
        c3 = crit(r, "mixed_conduction")
        assert c3.values["conduction_class"] == f"{label} conductor"
        assert c3.values["sigma_e_S_cm"] == s_e and c3.values["sigma_ion_S_cm"] == 1e-5
        assert c3.passed is (label == "mixed")
        scores[label] = c3.score
    assert scores["mixed"] > scores["ionic"] > scores["electronic"]  # 1 vs 9 decades outside
    # the bounds are campaign settings
    th = RankingThresholds(conduction_class_bounds=(1e-4, 1e-2))
    (r,) = rank([good()], th)
    assert crit(r, "mixed_conduction").values["conduction_class"] == "electronic conductor"
    with pytest.raises(ValueError):
        RankingThresholds(conduction_class_bounds=(10.0, 1.0))


def test_missing_data_gives_none_does_not_pass_and_is_flagged():
    (r,) = rank([good(sigma_e=sigma(None, "electronic class unknown"))])
    c3 = crit(r, "mixed_conduction")
    assert c3.passed is None and "unknown" in c3.note
    assert c3.values["conduction_class"] == "?"
    assert not r.passing
    assert any("mixed_conduction" in f for f in r.flags)
    (s,) = rank([good(solution_energy_eV=None, solution_energy_note="no bcc Li reference")])
    c4 = crit(s, "formation_energy")
    assert c4.passed is None and "no bcc Li reference" in c4.note


def test_m_solubility_boundary():
    """M stays when exp(−E_sol/k_B T_op) ≤ 1 %: E_sol = k_B T ln 100 = 0.1183 eV at 298.15 K."""
    from screening.units import KB_EV

    edge = KB_EV * 298.15 * math.log(100)
    for e_sol, ok in ((edge * 1.001, True), (edge * 0.999, False)):
        c4 = crit(rank([good(solution_energy_eV=e_sol)])[0], "formation_energy")
        assert c4.passed is ok and c4.values["m_solubility_in_li"] == pytest.approx(0.01, rel=0.01)
    # unconverged D: kinetics and ionic checks become None, not True
    (u,) = rank([good(transport_converged=False)])
    assert crit(u, "reversibility").passed is None
    assert crit(u, "mixed_conduction").passed is None
    assert "transport not converged" in u.flags
    # a failing check wins over a missing one
    (f,) = rank([good(sigma_e=sigma(None), D_op_cm2_s=1e-15)])
    assert crit(f, "mixed_conduction").passed is False


def test_failed_candidates_are_listed_last_with_reason():
    out = rank([good("b", status="failed", reason="MD unstable at 900 K"), good("a"),
                good("c", voltage_V=0.5)])  # fmt: skip
    assert [r.candidate_id for r in out] == ["a", "c", "b"]
    failed = out[-1]
    assert failed.status == "failed" and failed.reason == "MD unstable at 900 K"
    assert failed.rank is None and failed.score is None and not failed.pareto
    assert [r.rank for r in out[:2]] == [1, 2]


def test_ties_broken_by_formation_energy():
    out = rank([good("x", formation_energy_eV_atom=-0.6), good("y", formation_energy_eV_atom=-0.7)])
    # both saturate the formation score (scale 0.5): equal scores, lower E_f first
    assert out[0].score == pytest.approx(out[1].score)
    assert [r.candidate_id for r in out] == ["y", "x"]


def test_pareto_set_on_hand_example():
    # objectives (maximised): (-V, log10 D, -Ef)
    cands = [
        good("A", voltage_V=0.1, D_op_cm2_s=1e-9, formation_energy_eV_atom=-0.2),  # best V and D
        good("B", voltage_V=0.8, D_op_cm2_s=1e-11, formation_energy_eV_atom=-0.7),  # best Ef
        good("C", voltage_V=0.5, D_op_cm2_s=1e-11, formation_energy_eV_atom=-0.5),  # trade-off
        good("D", voltage_V=0.6, D_op_cm2_s=1e-12, formation_energy_eV_atom=-0.4),  # C dominates
        good("E", voltage_V=0.2, D_op_cm2_s=1e-10, formation_energy_eV_atom=-0.1),  # A dominates
        good("F", voltage_V=None),  # missing: never in the front
    ]
    out = {r.candidate_id: r.pareto for r in rank(cands)}
    assert {k for k, v in out.items() if v} == {"A", "B", "C"}
    assert pareto_front({"p": (1, 1), "q": (1, 1)}) == {"p", "q"}  # equal points do not dominate


def test_thresholds_validation_and_custom_weights():
    with pytest.raises(ValueError):
        RankingThresholds(voltage_window_V=(1.0, 0.5))
    with pytest.raises(ValueError):
        RankingThresholds(weights={"nonsense": 1.0})
    th = RankingThresholds(weights={"potential": 1.0, "reversibility": 0.0,
                                    "mixed_conduction": 0.0, "formation_energy": 0.0})  # fmt: skip
    (r,) = rank([good(voltage_V=0.25)], th)
    assert r.score == pytest.approx(0.75)
    with pytest.raises(ValueError, match="duplicate"):
        rank([good("z"), good("z")])


def test_classify_gap_and_literature():
    assert classify_gap(0.0) is ElectronicClass.METAL
    assert classify_gap(0.3) is ElectronicClass.SMALL_GAP
    assert classify_gap(0.3, max_small_gap_eV=0.2) is ElectronicClass.INSULATOR
    assert classify_gap(2.0, dos_at_fermi=0.5) is ElectronicClass.METAL
    assert classify_gap(None) is ElectronicClass.UNKNOWN
    lit = load_literature()
    assert all(e.citation.strip() for e in lit.values())
    a = assess_electronic("LiC6")
    assert a.electronic_class is ElectronicClass.METAL
    assert a.source.startswith("literature: ") and "Phys. Rev. B 28, 1013" in a.source
    # computed values win over literature
    c = assess_electronic("LiC6", band_gap_eV=1.0, engine="vasp")
    assert c.electronic_class is ElectronicClass.INSULATOR and c.source == "computed (vasp)"
    # no computed value, no citation → unknown, and it says so
    u = assess_electronic("Li13Si4")
    assert u.electronic_class is ElectronicClass.UNKNOWN and u.is_conductor is None
    assert u.source == "none" and "no cited" in u.note
