"""Arrhenius fit: recovery of known Ea/D0 with σ, covariance-based extrapolation, exclusions."""

from __future__ import annotations

import numpy as np
import pytest

from screening.arrhenius import arrhenius_from_results, fit_arrhenius
from screening.errors import InputError
from screening.units import KB_EV

D0, EA = 2e-3, 0.35  # cm²/s, eV
TEMPS = np.array([500.0, 600.0, 700.0, 800.0, 900.0, 1000.0])


def _data(rel_sigma: float = 0.1, seed: int = 0):
    rng = np.random.default_rng(seed)
    exact = D0 * np.exp(-EA / (KB_EV * TEMPS))
    noisy = exact * np.exp(rng.normal(scale=rel_sigma, size=len(TEMPS)))
    return noisy, noisy * rel_sigma


def test_recovers_known_parameters_within_sigma():
    vals, sig = _data()
    fit = fit_arrhenius(TEMPS, vals, sig)
    assert abs(fit.Ea_eV - EA) < 3 * fit.Ea_sigma_eV
    assert abs(fit.ln_prefactor - np.log(D0)) < 3 * fit.ln_prefactor_sigma
    assert 0.005 < fit.Ea_sigma_eV < 0.05  # 10 % points over 500–1000 K: ~0.02 eV
    assert fit.dof == 4 and fit.weighted and fit.n_points == 6
    # ln D0 and Ea are strongly positively correlated (both set the slope through the data)
    corr = fit.cov_ln_prefactor_Ea / (fit.ln_prefactor_sigma * fit.Ea_sigma_eV)
    assert corr > 0.9


def test_pulls_over_many_data_sets_are_unit_width():
    pulls = []
    for seed in range(200):
        vals, sig = _data(seed=seed)
        fit = fit_arrhenius(TEMPS, vals, sig)
        pulls.append((fit.Ea_eV - EA) / fit.Ea_sigma_eV)
    # σ(Ea) from the point σ alone: calibrated, spread ≈ 1
    assert 0.85 < np.std(pulls) < 1.15
    assert abs(np.mean(pulls)) < 0.2


def test_extrapolation_uncertainty_grows_away_from_data():
    vals, sig = _data()
    fit = fit_arrhenius(TEMPS, vals, sig, operating_K=(298.0, 348.0))
    e298, e348 = fit.extrapolations
    mid = fit.predict(700.0)
    assert e298.extrapolated and not mid.extrapolated
    assert e298.ln_sigma > e348.ln_sigma > mid.ln_sigma
    # propagated σ matches the textbook formula with the covariance term
    x = 1 / (KB_EV * 298.0)
    var = fit.ln_prefactor_sigma**2 + x**2 * fit.Ea_sigma_eV**2 - 2 * x * fit.cov_ln_prefactor_Ea
    assert e298.ln_sigma == pytest.approx(np.sqrt(var))
    truth = D0 * np.exp(-EA / (KB_EV * 298.0))
    assert abs(np.log(e298.value / truth)) < 3 * e298.ln_sigma
    assert e298.lower_1sigma < e298.value < e298.upper_1sigma


def test_two_points_zero_dof():
    fit = fit_arrhenius([600.0, 900.0], [1e-6, 1e-5], [1e-7, 1e-6])
    assert fit.dof == 0 and "0 degrees of freedom" in fit.note
    expected = np.log(10) / (1 / (KB_EV * 600) - 1 / (KB_EV * 900))
    assert fit.Ea_eV == pytest.approx(expected)
    # σ(Ea) = sqrt(σ1² + σ2²) / Δx with σ_ln = 0.1 each
    dx = 1 / (KB_EV * 600) - 1 / (KB_EV * 900)
    assert fit.Ea_sigma_eV == pytest.approx(np.hypot(0.1, 0.1) / dx)


def test_unconverged_points_excluded_and_recorded():
    vals, sig = _data()
    conv = [False, True, True, True, True, True]
    fit = fit_arrhenius(TEMPS, vals * np.array([100, 1, 1, 1, 1, 1]), sig, converged=conv)
    assert 500.0 not in fit.temperatures_used_K and fit.n_points == 5
    assert fit.points[0].note == "not converged" and not fit.points[0].used
    assert abs(fit.Ea_eV - EA) < 3 * fit.Ea_sigma_eV
    forced = fit_arrhenius(TEMPS, vals, sig, converged=conv, include_unconverged=True)
    assert forced.n_points == 6
    with pytest.raises(InputError, match="≥ 2 usable"):
        fit_arrhenius([500.0, 600.0], [1e-6, 1e-5], [1e-7, 1e-6], converged=[False, True])


def test_sigma_T_fit_reports_sigma():
    # σT = A exp(−Ea/kT): extrapolated value is σ (S/cm), not σT
    a, ea = 1e5, 0.3
    sig_t = a * np.exp(-ea / (KB_EV * TEMPS))
    fit = fit_arrhenius(TEMPS, sig_t, 0.05 * sig_t, quantity="sigmaT", operating_K=(298.0,))
    assert fit.Ea_eV == pytest.approx(ea, rel=1e-8)
    assert fit.extrapolations[0].value == pytest.approx(a * np.exp(-ea / (KB_EV * 298)) / 298)
    assert fit.extrapolations[0].unit == "S/cm"


def test_from_diffusion_results_duck_typed():
    class R:
        def __init__(self, t, d):
            self.temperature_K, self.D_cm2_s, self.D_sigma_cm2_s = t, d, 0.1 * d
            self.converged = True
            self.sigma_S_cm, self.sigma_sigma_S_cm = d * 1e5, d * 1e4

    res = [R(t, D0 * np.exp(-EA / (KB_EV * t))) for t in (600.0, 800.0, 1000.0)]
    fit = arrhenius_from_results(res)
    assert fit.Ea_eV == pytest.approx(EA, rel=1e-8)
    assert fit.chi2_reduced == pytest.approx(0.0, abs=1e-12) and fit.p_value == pytest.approx(1.0)


def test_sigma_from_point_uncertainties_not_residuals_and_goodness_of_fit():
    """Same σ for every point → the same σ(Ea), however large the scatter; χ² and p say how good."""
    exact = D0 * np.exp(-EA / (KB_EV * TEMPS))
    sig = 0.1 * exact
    tight = fit_arrhenius(TEMPS, exact, sig)
    wobble = exact * np.exp(0.3 * np.array([1, -1, 1, -1, 1, -1]))
    loose = fit_arrhenius(TEMPS, wobble, 0.1 * wobble)
    assert loose.Ea_sigma_eV == pytest.approx(tight.Ea_sigma_eV, rel=1e-9)
    assert tight.p_value == pytest.approx(1.0) and loose.p_value < 1e-3
    assert loose.chi2_reduced > 5 and loose.note  # named: poor fit or off-line points


def test_point_off_the_line_is_flagged_by_temperature():
    """A 900 K point 3× too high (melting, a phase change) is named; the others are not."""
    temps = np.array([300.0, 548.0, 700.0, 900.0])
    vals = D0 * np.exp(-EA / (KB_EV * temps))
    vals[3] *= 3.0
    fit = fit_arrhenius(temps, vals, 0.1 * vals)
    assert fit.outliers_K == [900.0]
    assert "900 K" in fit.note
    ok = fit_arrhenius(temps[:3], vals[:3], 0.1 * vals[:3])
    assert ok.outliers_K == [] and ok.note == ""
