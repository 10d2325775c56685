"""MSD (FFT vs direct), D recovery with calibrated error bars on Gaussian walks, drift removal,
units, Nernst–Einstein, the not-converged flag and the kinisi / pymatgen cross-checks.
(Trajectories with a vibrational cage and correlated hops: test_diffusion_cage.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from screening.diffusion import analyze_diffusion, nernst_einstein_S_cm
from screening.errors import InputError
from screening.msd import drift_corrected_displacements, msd_direct, msd_fft
from screening.units import A2_PER_FS_TO_CM2_PER_S

DT_FS = 10.0


def random_walk(
    d_cm2_s: float,
    *,
    n_frames: int = 2000,
    n_li: int = 32,
    n_host: int = 8,
    seed: int = 0,
    dt_fs: float = DT_FS,
):
    """Gaussian-step walk with ⟨Δx²⟩ = 2 D Δt per axis for Li; vibrating Sb host."""
    rng = np.random.default_rng(seed)
    d_a2fs = d_cm2_s / A2_PER_FS_TO_CM2_PER_S
    steps = rng.normal(scale=np.sqrt(2 * d_a2fs * dt_fs), size=(n_frames, n_li, 3))
    steps[0] = 0.0
    li = rng.uniform(0, 10, (1, n_li, 3)) + np.cumsum(steps, axis=0)
    host = rng.uniform(0, 10, (1, n_host, 3)) + rng.normal(scale=0.1, size=(n_frames, n_host, 3))
    pos = np.concatenate([li, host], axis=1)
    numbers = np.array([3] * n_li + [51] * n_host)
    return pos, np.arange(n_frames) * dt_fs, numbers


@pytest.mark.parametrize("shape", [(64,), (64, 3), (64, 5, 3), (63, 2, 2)])
def test_msd_fft_equals_direct(shape):
    x = np.random.default_rng(1).normal(size=shape).cumsum(axis=0)
    np.testing.assert_allclose(msd_fft(x), msd_direct(x), rtol=1e-10, atol=1e-10)


def test_msd_fft_per_particle_equals_direct():
    x = np.random.default_rng(2).normal(size=(80, 4, 3)).cumsum(axis=0)
    per = msd_fft(x, per_particle=True)
    assert per.shape == (80, 4)
    for i in range(4):
        np.testing.assert_allclose(per[:, i], msd_direct(x[:, i]), rtol=1e-10, atol=1e-10)


def test_random_walk_D_recovered_with_sensible_error_bar():
    d_true = 1e-5  # cm²/s — the units test: 1e-5 in, 1e-5 out
    pos, t, numbers = random_walk(d_true, n_frames=4000, n_li=64, seed=3)
    res = analyze_diffusion(pos, t, numbers, 1000.0, 600.0)
    assert abs(res.D_cm2_s - d_true) < 3 * res.D_sigma_cm2_s
    assert abs(res.D_cm2_s / d_true - 1) < 0.1
    assert 0.01 * d_true < res.D_sigma_cm2_s < 0.2 * d_true
    assert res.converged, res.reason
    assert res.D_source == "msd" and res.method == "msd"
    assert res.n_hops == 64
    # no cage: the window starts at the 1 ps floor and ends at a third of the run
    assert res.window_source == "default"
    assert res.t_start_fs == pytest.approx(1000.0, abs=DT_FS)
    assert res.t_end_fs == pytest.approx(39990.0 / 3, abs=DT_FS)
    assert res.alpha_window == pytest.approx(1.0, abs=0.1)
    assert res.n_species_atoms == 64 and res.n_framework_atoms == 8
    assert res.drift_reference == "framework"
    # the segment cross-check (2 segments ≥ 1.5 × the window end) agrees
    assert len(res.D_segments_cm2_s) == 2
    assert abs(res.D_segments_mean_cm2_s - res.D_cm2_s) < 3 * res.D_segments_sigma_cm2_s


def test_error_bar_is_calibrated_on_gaussian_walks():
    """Over independent walks the pull (D − D_true)/σ has spread ≈ 1: σ is neither the far too
    small least-squares σ of correlated MSD points nor inflated."""
    d_true = 1e-5
    pulls = []
    for seed in range(40):
        pos, t, numbers = random_walk(d_true, n_frames=1200, n_li=16, n_host=4, seed=100 + seed)
        res = analyze_diffusion(pos, t, numbers, 800.0, 600.0, hops=False)
        pulls.append((res.D_cm2_s - d_true) / res.D_sigma_cm2_s)
    assert 0.7 < float(np.std(pulls)) < 1.4, pulls
    assert abs(float(np.mean(pulls))) < 0.5


def test_fit_equals_direct_definition():
    """The FFT path reproduces, to rounding, the definition: mass-weighted host drift removed, an
    O(N²) all-origin MSD, least squares over the reported window's lags; collective D from the
    species' centre of mass."""
    from screening.msd import fit_lags

    n_frames, n_li, dt = 1003, 8, DT_FS
    pos, t, numbers = random_walk(1e-5, n_frames=n_frames, n_li=n_li, n_host=6, seed=20)
    numbers = numbers.copy()
    numbers[-2:] = 32  # two Ge among the Sb: the host COM is mass-weighted
    pos = pos + t[:, None, None] * np.array([1e-3, 0.0, -2e-3])
    res = analyze_diffusion(pos, t, numbers, 1000.0, 600.0, window=(1000.0, 4000.0))

    from ase.data import atomic_masses

    disp = pos - pos[0]
    host_m = atomic_masses[numbers[n_li:]]
    dc = disp[:, :n_li] - np.einsum("tad,a->td", disp[:, n_li:], host_m / host_m.sum())[:, None]
    lags = fit_lags(n_frames, dt, 1000.0, 4000.0)
    assert (res.t_start_fs, res.t_end_fs) == (lags[0] * dt, lags[-1] * dt)
    to_D = A2_PER_FS_TO_CM2_PER_S / 6
    full = msd_direct(dc)
    assert res.D_msd_cm2_s == pytest.approx(np.polyfit(lags * dt, full[lags], 1)[0] * to_D)
    com = msd_direct(dc.mean(axis=1))
    assert res.D_collective_cm2_s == pytest.approx(
        n_li * np.polyfit(lags * dt, com[lags], 1)[0] * to_D, rel=1e-9
    )
    assert res.msd_end_A2 == pytest.approx(full[lags[-1]], rel=1e-9)
    np.testing.assert_allclose(
        res.msd_A2, full[np.round(np.array(res.msd_t_fs) / dt).astype(int)], rtol=1e-9, atol=1e-12
    )


def test_uniform_drift_removed():
    pos, t, numbers = random_walk(2e-5, seed=4)
    base = analyze_diffusion(pos, t, numbers, 1000.0, 600.0)
    drift = t[:, None, None] * np.array([0.02, -0.01, 0.015])  # Å/fs, huge vs diffusion
    moved = analyze_diffusion(pos + drift, t, numbers, 1000.0, 600.0)
    assert moved.D_cm2_s == pytest.approx(base.D_cm2_s, rel=1e-8)
    assert moved.D_sigma_cm2_s == pytest.approx(base.D_sigma_cm2_s, rel=1e-6)
    # the drift really matters without the correction: the raw Li MSD is dominated by it
    raw = msd_fft(pos[:, numbers == 3] + drift)
    assert raw[len(t) // 2] > 10 * msd_fft(pos[:, numbers == 3])[len(t) // 2]


def test_pure_lithium_uses_system_com_and_has_no_collective_D():
    pos, t, numbers = random_walk(1e-5, n_host=0, seed=5)
    res = analyze_diffusion(pos, t, numbers, 1000.0, 600.0)
    assert res.drift_reference == "system"
    assert res.D_collective_cm2_s is None and res.haven_ratio is None
    assert res.D_cm2_s == pytest.approx(1e-5, rel=0.2)


def test_collective_D_equals_tracer_for_independent_walkers():
    pos, t, numbers = random_walk(1e-5, n_frames=6000, n_li=32, seed=6)
    res = analyze_diffusion(pos, t, numbers, 1000.0, 600.0)
    # uncorrelated ions: Haven ratio 1 (collective D is noisy: one centre of mass)
    assert abs(res.D_collective_cm2_s - 1e-5) < 3 * res.D_collective_sigma_cm2_s
    assert res.sigma_collective_S_cm == pytest.approx(
        nernst_einstein_S_cm(res.D_collective_cm2_s, 32, 1000.0, 600.0)
    )


def test_nernst_einstein_hand_value():
    # n = 96 / 1728 Å³ = 5.5556e22 cm⁻³; σ = n e² D / (kB T)
    # = 5.5556e22 · (1.602177e-19)² · 1e-5 / (1.380649e-23 · 600) = 1.7215 S/cm
    assert nernst_einstein_S_cm(1e-5, 96, 1728.0, 600.0) == pytest.approx(1.7215, rel=1e-3)
    pos, t, numbers = random_walk(1e-5, seed=7)
    cell = np.diag([10.0, 10.0, 10.0])
    res = analyze_diffusion(pos, t, numbers, cell, 600.0)
    assert res.volume_A3 == pytest.approx(1000.0)
    assert res.sigma_S_cm == pytest.approx(nernst_einstein_S_cm(res.D_cm2_s, 32, 1000.0, 600.0))
    assert res.sigma_sigma_S_cm / res.sigma_S_cm == pytest.approx(res.D_sigma_cm2_s / res.D_cm2_s)


def test_pure_vibration_is_not_converged():
    rng = np.random.default_rng(8)
    n, n_li = 2000, 16
    sites = rng.uniform(0, 10, (1, n_li + 4, 3))
    pos = sites + rng.normal(scale=0.15, size=(n, n_li + 4, 3))  # thermal rattling, no hops
    numbers = np.array([3] * n_li + [51] * 4)
    res = analyze_diffusion(pos, np.arange(n) * DT_FS, numbers, 1000.0, 300.0)
    assert res.n_hops == 0
    assert not res.converged
    assert "moved > 2.0 Å" in res.reason and "diffusive" in res.reason
    # a caged MSD's covariance model is not positive definite: σ must still be real and large
    assert res.D_sigma_cm2_s > 0.3 * abs(res.D_cm2_s)
    # the cage: 2·3·σ², σ² of the Li plus that of the 4-atom host centre the drift removes
    assert res.msd_plateau_A2 == pytest.approx(6 * 0.15**2 * (1 + 1 / 4), rel=0.05)


def test_user_window_recorded_and_validated():
    pos, t, numbers = random_walk(1e-5, seed=9)
    res = analyze_diffusion(pos, t, numbers, 1000.0, 600.0, window=(2000.0, 10000.0))
    assert (res.t_start_fs, res.t_end_fs, res.window_source) == (2000.0, 10000.0, "user")
    for bad in ({"hop_distance_A": -1.0}, {"alpha_tolerance": float("nan")}):
        with pytest.raises(InputError, match="positive"):
            analyze_diffusion(pos, t, numbers, 1000.0, 600.0, **bad)
    with pytest.raises(InputError, match="NaN"):
        analyze_diffusion(np.where(pos > 5, np.nan, pos), t, numbers, 1000.0, 600.0)
    with pytest.raises(InputError, match="window"):
        analyze_diffusion(pos, t, numbers, 1000.0, 600.0, window=(5000.0, 1e6))
    with pytest.raises(InputError, match="no Li atoms"):
        analyze_diffusion(pos, t, np.full(len(numbers), 51), 1000.0, 600.0)
    with pytest.raises(InputError, match="evenly spaced"):
        analyze_diffusion(pos, t**1.01, numbers, 1000.0, 600.0)


def test_boolean_species_mask_equals_numbers():
    pos, t, numbers = random_walk(1e-5, seed=10)
    a = analyze_diffusion(pos, t, numbers, 1000.0, 600.0)
    # a mask gives equal-weight host COM; the host is one element, so same result
    b = analyze_diffusion(pos, t, numbers == 3, 1000.0, 600.0)
    assert b.D_cm2_s == pytest.approx(a.D_cm2_s, rel=1e-10)


def test_kinisi_method_agrees_with_default():
    pos, t, numbers = random_walk(1e-5, n_frames=1500, n_li=32, seed=11)
    blocks = analyze_diffusion(pos, t, numbers, 1000.0, 600.0)
    kin = analyze_diffusion(pos, t, numbers, np.eye(3) * 10.0, 600.0, method="kinisi")
    assert kin.method == "kinisi" and kin.D_source == "kinisi"
    assert (kin.t_start_fs, kin.t_end_fs) == (blocks.t_start_fs, blocks.t_end_fs)
    # the Haven ratio divides like by like: the same MSD estimator and window in both
    assert kin.haven_ratio == pytest.approx(blocks.haven_ratio, rel=1e-12)
    lo, hi = kin.D_ci95_cm2_s
    assert lo < kin.D_cm2_s < hi
    assert lo < 1e-5 < hi
    both = np.hypot(kin.D_sigma_cm2_s, blocks.D_sigma_cm2_s)
    assert abs(kin.D_cm2_s - blocks.D_cm2_s) < 3 * both


def test_agrees_with_pymatgen_diffusion_analyzer():
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import Lattice, Structure

    pos, t, numbers = random_walk(1e-5, n_frames=3000, n_li=32, seed=12)
    species = ["Li" if z == 3 else "Sb" for z in numbers]
    structure = Structure(Lattice.cubic(10.0), species, pos[0], coords_are_cartesian=True)
    disp = (pos - pos[0]).transpose(1, 0, 2)
    pmg = DiffusionAnalyzer(structure, disp, "Li", 600.0, DT_FS, 1, smoothed="max")
    # identical drift-corrected, all-origin MSD at pymatgen's lags
    dc, _ = drift_corrected_displacements(pos, numbers == 3, np.ones(len(numbers)))
    lags = np.round(pmg.dt / DT_FS).astype(int)
    np.testing.assert_allclose(msd_fft(dc)[lags], pmg.msd, rtol=1e-8)
    # D: pymatgen fits 1 ps..end with 1/t weights; same window here (unweighted), within our σ
    ours = analyze_diffusion(pos, t, numbers, 1000.0, 600.0, window=(1000.0, t[-1]))
    assert abs(ours.D_cm2_s - pmg.diffusivity) < 2 * ours.D_sigma_cm2_s
    assert abs(ours.D_cm2_s / pmg.diffusivity - 1) < 0.05
