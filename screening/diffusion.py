"""Li diffusion from MD trajectories: D ± σ, its diffusive-regime checks, σ_ion (Nernst–Einstein).

Engine-free: :func:`analyze_diffusion` takes plain numpy arrays and returns a
:class:`~screening.diffusion_result.DiffusionResult`; :func:`screening.diffusion_files.analyze_file`
reads a file first.

The estimator (one, for the mean and its σ): the all-time-origin tracer MSD of the whole run,
fitted by least squares over ONE window in absolute time — the window the result reports — with
σ from kinisi's covariance model of correlated MSD points propagated through that fit
(:func:`screening.msd.fit_msd_slope`). No block count enters D or σ. Why not the mean of short
blocks: each block fits lags a block-count times shorter than the window, where the MSD still
rises out of the vibrational cage and correlated back-hops steepen it (13–14 % high on the
shipped model's Li3Sb runs, BENCHMARKS.md; up to 2–3× on ab initio runs).

The default window (:mod:`screening.diffusion_window`) starts where the MSD has left the cage and
is diffusive and ends at a third of the run. A result is converged only if α over the window is
≈ 1, the window's early and late halves give the same D within 2σ, σ/D is small and enough Li
atoms moved. Independent segments of the run, fitted over the same window, are a cross-check.

Vacancy-mediated transport (:mod:`screening.hops`): hop counting on the Li site lattice gives D
with a computed correlation factor and a Poisson σ; it is reported beside the tracer D and becomes
D where the tracer MSD fails its checks and the hop count resolves D.
"""

from __future__ import annotations

import numpy as np

from screening.diffusion_inputs import masses, mean_cell, species_mask, validate_arrays
from screening.diffusion_result import DIMENSIONS, METHODS, DiffusionResult, Method
from screening.diffusion_window import (
    DEFAULT_ALPHA_TOLERANCE,
    cage,
    choose_window,
    segment_cross_check,
)
from screening.errors import InputError
from screening.hops import analyze_hops
from screening.msd import (
    SlopeFit,
    SquaredDisplacementVariance,
    drift_corrected_displacements,
    fit_lags,
    fit_msd_slope,
    loglog_slope,
    msd_mean,
)
from screening.trajectory_files import TrajectorySource
from screening.units import (
    A2_PER_FS_TO_CM2_PER_S,
    ANGSTROM3_TO_CM3,
    E_CHARGE_C,
    FS_TO_PS,
    KB_J,
)

#: at most this many points of the MSD curve are kept in the result (for plots)
MSD_CURVE_POINTS = 256


def nernst_einstein_S_cm(
    D_cm2_s: float, n_ions: int, volume_A3: float, temperature_K: float
) -> float:
    """σ = n q² D / (kB T) in S/cm, with n = N/V in cm⁻³ and q = e (monovalent ion)."""
    n_cm3 = n_ions / (volume_A3 * ANGSTROM3_TO_CM3)
    return n_cm3 * E_CHARGE_C**2 * D_cm2_s / (KB_J * temperature_K)


def _downsample(t: np.ndarray, y: np.ndarray, n_keep: int = MSD_CURVE_POINTS) -> tuple[list, list]:
    idx = np.unique(np.linspace(0, len(t) - 1, min(n_keep, len(t))).astype(int))
    return t[idx].tolist(), y[idx].tolist()


def _to_D(fit: SlopeFit) -> tuple[float, float]:
    k = A2_PER_FS_TO_CM2_PER_S / (2 * DIMENSIONS)
    return fit.slope * k, fit.slope_sigma * k


def _kinisi_D(
    positions: np.ndarray,
    numbers: np.ndarray,
    cells: np.ndarray,
    dt_fs: float,
    species: str,
    lags: np.ndarray,
    seed: int,
) -> tuple[float, float, tuple[float, float]]:
    """Tracer D (cm²/s) from kinisi's Bayesian regression over ``lags`` (frame units)."""
    import scipp as sc
    from ase import Atoms
    from kinisi.analyze import DiffusionAnalyzer as KinisiAnalyzer

    images = [
        Atoms(numbers=numbers, positions=positions[i], cell=cells[i], pbc=True)
        for i in range(len(positions))
    ]
    # a few dozen lags in the window: kinisi's covariance matrix is n_lags², its MSD loop is per lag
    lags = np.unique(np.linspace(lags[0], lags[-1], min(50, len(lags))).round().astype(int))
    dt = sc.array(dims=["time interval"], values=lags * dt_fs, unit="fs")
    analyzer = KinisiAnalyzer.from_ase(
        images,
        specie=species,
        time_step=sc.scalar(dt_fs, unit="fs"),
        step_skip=sc.scalar(1, unit=sc.units.dimensionless),
        dt=dt,
        progress=False,
    )
    analyzer.diffusion(
        sc.scalar(lags[0] * dt_fs, unit="fs"),
        progress=False,
        random_state=np.random.RandomState(seed),
    )
    samples = np.asarray(sc.to_unit(analyzer.D, "cm^2/s").values)
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return float(np.mean(samples)), float(np.std(samples, ddof=1)), (float(lo), float(hi))


def analyze_diffusion(
    positions: np.ndarray,
    time_fs: np.ndarray,
    numbers: np.ndarray,
    cell: np.ndarray | float,
    temperature_K: float,
    *,
    species: str = "Li",
    window: tuple[float, float] | None = None,
    n_blocks: int = 5,
    hop_distance_A: float = 2.0,
    min_hops: int = 5,
    alpha_tolerance: float = DEFAULT_ALPHA_TOLERANCE,
    max_rel_sigma: float = 0.5,
    method: Method = "msd",
    collective: bool = True,
    hops: bool = True,
    seed: int = 0,
    source: TrajectorySource | None = None,
) -> DiffusionResult:
    """Tracer and collective D, σ_ion, hop statistics and a convergence verdict (module doc).

    positions: (n_frames, n_atoms, 3) unwrapped Å; time_fs: (n_frames,) evenly spaced;
    numbers: atomic numbers (n_atoms,) or a boolean mask of the diffusing species;
    cell: volume (Å³), a 3×3 cell or per-frame cells (n_frames, 3, 3);
    window: (t_start_fs, t_end_fs), default from the MSD (module doc);
    n_blocks: at most this many segments for the cross-check (never enters D or σ).
    """
    pos = np.asarray(positions, dtype=np.float64)
    t = np.asarray(time_fs, dtype=np.float64)
    dt_fs = validate_arrays(
        pos, t, temperature_K, hop_distance=hop_distance_A, alpha_tolerance=alpha_tolerance
    )
    if method not in METHODS:
        raise InputError(f"unknown method '{method}'", field="method", allowed=METHODS)
    if n_blocks < 2:
        raise InputError("need ≥ 2 segments for the cross-check", field="n_blocks")
    n_frames, n_atoms, _ = pos.shape
    mask = species_mask(numbers, species, n_atoms)
    n_sp = int(mask.sum())
    if n_sp == 0:
        raise InputError(f"no {species} atoms in the trajectory", field="species")
    cell33 = mean_cell(cell, n_frames)
    volume = abs(float(np.linalg.det(cell33)))
    duration = (n_frames - 1) * dt_fs

    disp, drift_ref = drift_corrected_displacements(pos, mask, masses(numbers))
    sig = disp.transpose(1, 2, 0)  # (n_sp, 3, n_frames), contiguous: time-last for the FFTs
    sq_atom = np.einsum("adt,adt->at", sig, sig)  # |displacement|² per atom and frame
    msd = msd_mean(sig, sq_atom.sum(axis=0))
    lag_t = np.arange(n_frames) * dt_fs

    # --- the window: where the MSD has left its vibrational cage ---
    raw_t, raw_alpha = loglog_slope(msd, dt_fs, duration / 2)
    alpha_min, t_cage = cage(raw_t, raw_alpha, 1 - alpha_tolerance)
    plateau = 0.0 if t_cage is None else float(msd[round(t_cage / dt_fs)])
    excess = np.where(lag_t > (t_cage or 0.0), msd - plateau, 0.0)
    alpha_t, alpha = loglog_slope(excess, dt_fs, duration / 2)
    t0, t1, window_source, problems = choose_window(
        window, alpha_t, alpha, duration, dt_fs, alpha_tolerance
    )
    lags = fit_lags(n_frames, dt_fs, t0, t1)
    variance = SquaredDisplacementVariance(sig, int(lags[0]), int(lags[-1])) if len(lags) else None
    fit = fit_msd_slope(msd, sig, dt_fs, t0, t1, variance=variance)
    if fit is None:
        raise InputError(
            f"fit window {t0 * FS_TO_PS:.3g}-{t1 * FS_TO_PS:.3g} ps holds fewer than 3 MSD "
            "points (longer trajectory or wider window)",
            field="window",
        )
    D_msd, D_msd_sigma = _to_D(fit)
    t0, t1 = fit.t_start_fs, fit.t_end_fs
    i0, i1 = round(t0 / dt_fs), round(t1 / dt_fs)
    e0, e1 = msd[i0] - plateau, msd[i1] - plateau
    alpha_w = float(np.log(e1 / e0) / np.log(t1 / t0)) if e0 > 0 and e1 > 0 else np.nan

    # --- diffusive-regime checks: α over the window, early vs late half ---
    if not abs(alpha_w - 1) <= alpha_tolerance:
        problems.append(
            f"MSD not diffusive over the window: d log(MSD − cage)/d log t = {alpha_w:.2f} "
            f"(need 1 ± {alpha_tolerance:g})"
        )
    tm = 0.5 * (t0 + t1)
    early = fit_msd_slope(msd, sig, dt_fs, t0, tm, variance=variance)
    late = fit_msd_slope(msd, sig, dt_fs, tm, t1, variance=variance)
    De = _to_D(early) if early else (None, None)
    Dl = _to_D(late) if late else (None, None)
    if early and late:
        gap = abs(De[0] - Dl[0])
        if gap > 2 * np.hypot(De[1], Dl[1]):
            problems.append(
                f"D over the window's halves differs: {De[0]:.3g} ± {De[1]:.2g} vs "
                f"{Dl[0]:.3g} ± {Dl[1]:.2g} cm²/s (> 2σ: the MSD is not yet linear)"
            )
    n_hops = int(np.sum(np.sqrt(sq_atom.max(axis=1)) > hop_distance_A))
    if n_hops < min_hops:
        problems.append(
            f"only {n_hops} {species} atoms moved > {hop_distance_A} Å (need ≥ {min_hops})"
        )

    D, D_sigma, D_source, D_ci95 = D_msd, D_msd_sigma, "msd", None
    if method == "kinisi":
        numbers_arr = np.asarray(numbers)
        z = np.where(mask, 3, 0) if numbers_arr.dtype == bool else numbers_arr.astype(int)
        cell_arr = np.asarray(cell, dtype=np.float64)
        cells = np.broadcast_to(cell33, (n_frames, 3, 3)) if cell_arr.ndim < 3 else cell_arr
        sym = species if numbers_arr.dtype != bool else "Li"
        D, D_sigma, D_ci95 = _kinisi_D(pos, z, cells, dt_fs, sym, lags, seed)
        D_source = "kinisi"
    rel = D_sigma / D if D > 0 else np.inf
    if not rel <= max_rel_sigma:
        problems.append(f"D not resolved: σ/D = {rel:.2f} (need ≤ {max_rel_sigma:g})")

    # --- hops on the site lattice (vacancy mechanism): D where the tracer MSD is still caged ---
    hop_result = None
    if hops and drift_ref == "framework":
        sp_pos = pos[0, mask][None] + disp
        hop_result = analyze_hops(sp_pos, cell33, dt_fs)
    converged = not problems
    if converged:
        reason = (
            f"window {t0 * FS_TO_PS:.3g}-{t1 * FS_TO_PS:.3g} ps: d log(MSD − cage)/d log t = "
            f"{alpha_w:.2f}, halves agree, {n_hops} atoms moved > {hop_distance_A} Å, "
            f"σ/D = {rel:.2f}"
        )
    else:
        reason = "; ".join(problems)
        if (
            method == "msd"
            and hop_result is not None
            and hop_result.valid
            and hop_result.D_tracer_sigma_cm2_s  # type: ignore[operator]
            <= max_rel_sigma * hop_result.D_tracer_cm2_s
        ):
            D = float(hop_result.D_tracer_cm2_s)  # type: ignore[arg-type]
            D_sigma = float(hop_result.D_tracer_sigma_cm2_s)  # type: ignore[arg-type]
            D_source, converged = "hops", True
            reason = f"D from hop counting ({hop_result.reason}); tracer MSD: {reason}"

    # --- collective (centre-of-mass) diffusion: needs a framework, else momentum conservation
    # pins the species' COM to the system COM and the collective MSD is zero by construction ---
    D_coll = D_coll_sigma = haven = None
    if collective and drift_ref == "framework":
        com = sig.mean(axis=0)[None]  # (1, 3, n_frames)
        msd_com = msd_mean(com, np.einsum("pdt,pdt->t", com, com))
        cfit = fit_msd_slope(msd_com, com, dt_fs, t0, t1, scale=n_sp)
        if cfit is not None:
            D_coll, D_coll_sigma = _to_D(cfit)
            if D_coll > 0 and D_coll_sigma < D_coll:
                haven = D_msd / D_coll

    seg_D, seg_ps, seg_note = segment_cross_check(sig, n_blocks, dt_fs, t0, t1)

    def ne(d: float | None) -> float | None:
        return None if d is None else nernst_einstein_S_cm(d, n_sp, volume, temperature_K)

    curve_t, curve_msd = _downsample(lag_t, msd)
    return DiffusionResult(
        species=species,
        temperature_K=float(temperature_K),
        D_cm2_s=float(D),
        D_sigma_cm2_s=float(D_sigma),
        D_source=D_source,  # type: ignore[arg-type]
        D_ci95_cm2_s=D_ci95,
        D_msd_cm2_s=D_msd,
        D_msd_sigma_cm2_s=D_msd_sigma,
        D_early_cm2_s=De[0],
        D_early_sigma_cm2_s=De[1],
        D_late_cm2_s=Dl[0],
        D_late_sigma_cm2_s=Dl[1],
        alpha_window=alpha_w,
        alpha_min=alpha_min,
        t_cage_fs=t_cage,
        D_segments_cm2_s=seg_D,
        segment_ps=seg_ps,
        D_segments_mean_cm2_s=float(np.mean(seg_D)) if seg_D else None,
        D_segments_sigma_cm2_s=(
            float(np.std(seg_D, ddof=1) / np.sqrt(len(seg_D))) if seg_D else None
        ),
        segments_note=seg_note,
        hops=hop_result,
        D_collective_cm2_s=D_coll,
        D_collective_sigma_cm2_s=D_coll_sigma,
        haven_ratio=haven,
        sigma_S_cm=float(ne(D)),  # type: ignore[arg-type]
        sigma_sigma_S_cm=ne(D_sigma),
        sigma_collective_S_cm=ne(D_coll),
        sigma_collective_sigma_S_cm=ne(D_coll_sigma),
        t_start_fs=t0,
        t_end_fs=t1,
        window_source=window_source,
        method=method,
        n_hops=n_hops,
        hop_distance_A=hop_distance_A,
        min_hops=min_hops,
        msd_plateau_A2=plateau,
        msd_end_A2=float(msd[i1]),
        converged=converged,
        reason=reason,
        n_frames=n_frames,
        frame_interval_fs=dt_fs,
        duration_ps=duration * FS_TO_PS,
        n_species_atoms=n_sp,
        n_framework_atoms=n_atoms - n_sp,
        drift_reference=drift_ref,
        volume_A3=volume,
        fit_intercept_A2=fit.intercept,
        msd_t_fs=curve_t,
        msd_A2=curve_msd,
        source=source,
    )


__all__ = ["analyze_diffusion", "nernst_einstein_S_cm"]
