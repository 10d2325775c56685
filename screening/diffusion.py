"""Li diffusion from MD trajectories: FFT mean-squared displacement, D ± σ, σ_ion (Nernst–Einstein).

Engine-free: the core (:func:`msd_fft`, :func:`analyze_diffusion`) takes plain numpy arrays; only
the file loaders (:func:`analyze_file`, :func:`load_vasp_trajectory`) touch files.

Conventions: positions are UNWRAPPED Cartesian Å, time in fs, D in cm²/s, σ in S/cm.
The MSD uses every time origin (Wiener–Khinchin: MSD(m) = S1(m) − 2·S2(m), S2 by FFT
autocorrelation), so one trajectory costs O(N log N) per atom. Errors come from independent time
blocks (least squares on the correlated MSD points of one trajectory underestimates σ) or from
kinisi's Bayesian regression.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.fft import irfft, next_fast_len, rfft

from screening.errors import InputError
from screening.hashing import file_sha256
from screening.units import (
    A2_PER_FS_TO_CM2_PER_S,
    ANGSTROM3_TO_CM3,
    E_CHARGE_C,
    FS_TO_PS,
    KB_J,
    PS_TO_FS,
)

log = logging.getLogger(__name__)

#: dimensionality of the MSD (3-D diffusion: D = slope / 6)
DIMENSIONS = 3
#: default fit window: start at max(DEFAULT_MIN_START_FS, 15 % of the run), end at 60 % of the run.
#: After ~1 ps Li vibrations have decorrelated; beyond ~60 % of the run few time origins remain.
DEFAULT_MIN_START_FS = 1000.0
DEFAULT_START_FRACTION = 0.15
DEFAULT_END_FRACTION = 0.60
#: lag at which the vibrational (cage) MSD plateau is read, fs
DEFAULT_PLATEAU_FS = 500.0
#: at most this many points of the MSD curve are kept in the result (for plots)
MSD_CURVE_POINTS = 256
#: transient memory of one FFT chunk: cache-sized, since |FFT|² is summed chunk by chunk
_FFT_CHUNK_BYTES = 4_000_000
#: frames per step of the time-last transpose of the displacements (cache-sized)
_TRANSPOSE_FRAMES = 256

Method = Literal["blocks", "kinisi"]


class TrajectorySource(BaseModel):
    """Which file a result came from (content hash: a result traces back to its exact input)."""

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    format: Literal["ilscreen-h5", "xdatcar", "vasprun"]


class DiffusionResult(BaseModel):
    """D(T) ± σ, ionic conductivity and the choices behind them (window, blocks, convergence)."""

    model_config = ConfigDict(frozen=True)

    species: str
    temperature_K: float
    D_cm2_s: float = Field(description="tracer (self) diffusion coefficient")
    D_sigma_cm2_s: float | None = Field(
        description="1σ: std of the M block D / sqrt(M) (blocks), or std of posterior (kinisi)"
    )
    D_ci95_cm2_s: tuple[float, float] | None = Field(
        default=None, description="95 % credible interval (kinisi only)"
    )
    D_blocks_cm2_s: list[float] = Field(default_factory=list)
    D_full_run_cm2_s: float = Field(
        description="one fit to the MSD of the whole run (same window); a large gap to D_cm2_s "
        "(mean of blocks, shorter lags) means the window is not yet linear"
    )
    D_collective_cm2_s: float | None = Field(
        description="from the MSD of the species' centre of mass × N (charge diffusivity)"
    )
    D_collective_sigma_cm2_s: float | None
    haven_ratio: float | None = Field(description="D_tracer / D_collective (None if not resolved)")
    sigma_S_cm: float = Field(description="Nernst–Einstein from tracer D, Haven ratio assumed 1")
    sigma_sigma_S_cm: float | None
    sigma_collective_S_cm: float | None
    sigma_collective_sigma_S_cm: float | None
    nernst_einstein: str = "sigma = n q^2 D / (kB T), n = N/V, q = e, tracer D (Haven ratio = 1)"
    t_start_fs: float
    t_end_fs: float
    window_source: Literal["default", "user"]
    method: Method
    n_blocks: int | None
    n_hops: int = Field(description="species atoms that moved > hop_distance_A from their start")
    hop_distance_A: float
    min_hops: int
    msd_plateau_A2: float = Field(description="MSD at the plateau lag (vibrational cage)")
    msd_end_A2: float = Field(description="MSD at t_end")
    converged: bool
    reason: str
    n_frames: int
    frame_interval_fs: float
    duration_ps: float
    n_species_atoms: int
    n_framework_atoms: int
    drift_reference: Literal["framework", "system"]
    volume_A3: float
    fit_intercept_A2: float
    msd_t_fs: list[float] = Field(default_factory=list, description="down-sampled MSD curve")
    msd_A2: list[float] = Field(default_factory=list)
    source: TrajectorySource | None = None


# -------------------------------------------------------------------------------------------------
# MSD
# -------------------------------------------------------------------------------------------------


def _msd_sums(sig: np.ndarray, sq: np.ndarray, n_lags: int) -> np.ndarray:
    """All-time-origin MSD at lags 0..n_lags−1, summed over the signals of each group.

    ``sig``: (n_groups, n_signals, n), time on the last axis (one signal = one coordinate of one
    particle); ``sq``: (n_groups, n) = Σ_signals sig², passed in because callers reuse it.
    MSD(m) = [S1(m) − 2·S2(m)] / (n − m): S1 from prefix sums of ``sq``, S2 the autocorrelation,
    summed over signals as |FFT|² so each group needs one inverse FFT. Zero-padding to
    n + n_lags − 1 (not 2n) suffices: circular wrap-around only reaches lags > n_fft − n, so the
    block fits, which need short lags only, pay for short lags.
    """
    n_groups, n_sig, n = sig.shape
    n_fft = next_fast_len(n + n_lags - 1, real=True)
    n_freq = n_fft // 2 + 1
    # chunks small enough for the padded copy and the spectrum to stay in cache (2× faster than
    # one big transform); whole groups per chunk when a group fits, else slices of one group
    per_sig = 8 * n_fft + 16 * n_freq
    sig_chunk = max(1, min(n_sig, _FFT_CHUNK_BYTES // per_sig))
    grp_chunk = max(1, _FFT_CHUNK_BYTES // (per_sig * n_sig))
    power = np.zeros((n_groups, n_freq))
    for g0 in range(0, n_groups, grp_chunk):
        for s0 in range(0, n_sig, sig_chunk):
            spec = rfft(sig[g0 : g0 + grp_chunk, s0 : s0 + sig_chunk], n=n_fft, axis=-1)
            power[g0 : g0 + grp_chunk] += (spec.real**2 + spec.imag**2).sum(axis=1)
    s2 = irfft(power, n=n_fft, axis=-1)[:, :n_lags]
    lags = np.arange(n_lags)
    prefix = np.zeros((n_groups, n + 1))
    np.cumsum(sq, axis=1, out=prefix[:, 1:])
    s1 = prefix[:, n - lags] + (prefix[:, n : n + 1] - prefix[:, lags])
    msd = (s1 - 2.0 * s2) / (n - lags)
    msd[:, 0] = 0.0
    return msd


def msd_fft(x: np.ndarray, *, per_particle: bool = False) -> np.ndarray:
    """All-time-origin MSD of trajectories ``x`` by FFT (Wiener–Khinchin), summed over dimensions.

    ``x``: (n_frames,), (n_frames, d) or (n_frames, n_particles, d), evenly spaced in time.
    Returns MSD at every lag 0..n_frames−1: shape (n_frames,) averaged over particles, or
    (n_frames, n_particles) with ``per_particle=True``.

    MSD(m) = [Σ_t |x(t+m)|² + |x(t)|²  −  2 Σ_t x(t)·x(t+m)] / (N − m); the first sum comes from
    prefix sums, the autocorrelation from |FFT|² zero-padded to ≥ 2N (no circular wrap-around).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None, None]
    elif x.ndim == 2:
        x = x[:, None, :]
    elif x.ndim != 3:
        raise ValueError(f"msd_fft expects 1-3 dimensions, got shape {x.shape}")
    n = x.shape[0]
    sig = np.ascontiguousarray(x.transpose(1, 2, 0))  # (particle, dim, time)
    sq = np.einsum("pdt,pdt->pt", sig, sig)
    if per_particle:
        return _msd_sums(sig, sq, n).T
    return _msd_mean(sig, sq.sum(axis=0))


def _msd_mean(sig: np.ndarray, sq_total: np.ndarray) -> np.ndarray:
    """Particle-averaged MSD at every lag; ``sig`` (n_part, dim, n) time-last, ``sq_total`` (n,)
    = Σ over particles and dimensions of sig² (callers that already have it pass it in)."""
    n_part, dim, n = sig.shape
    return _msd_sums(sig.reshape(1, n_part * dim, n), sq_total[None], n)[0] / n_part


def msd_direct(x: np.ndarray) -> np.ndarray:
    """Reference O(N²) all-time-origin MSD (same conventions as :func:`msd_fft`); for tests."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None, None]
    elif x.ndim == 2:
        x = x[:, None, :]
    n = x.shape[0]
    out = np.zeros(n)
    for m in range(1, n):
        d = x[m:] - x[:-m]
        out[m] = np.mean(np.sum(d * d, axis=-1))
    return out


# -------------------------------------------------------------------------------------------------
# helpers
# -------------------------------------------------------------------------------------------------


def _species_mask(numbers_or_mask: np.ndarray, species: str, n_atoms: int) -> np.ndarray:
    arr = np.asarray(numbers_or_mask)
    if arr.shape != (n_atoms,):
        raise InputError(
            f"expected {n_atoms} entries (one per atom), got shape {arr.shape}", field="numbers"
        )
    if arr.dtype == bool:
        return arr
    from ase.data import atomic_numbers

    if species not in atomic_numbers:
        raise InputError(f"unknown element '{species}'", field="species")
    return arr.astype(int) == atomic_numbers[species]


def _masses(numbers_or_mask: np.ndarray) -> np.ndarray:
    arr = np.asarray(numbers_or_mask)
    if arr.dtype == bool:
        return np.ones(arr.shape)
    from ase.data import atomic_masses

    return atomic_masses[arr.astype(int)]


def _volume_A3(cell_or_volume: np.ndarray | float, n_frames: int) -> float:
    arr = np.asarray(cell_or_volume, dtype=np.float64)
    if arr.ndim == 0:
        vol = float(arr)
    elif arr.shape == (3, 3):
        vol = abs(float(np.linalg.det(arr)))
    elif arr.ndim == 3 and arr.shape[1:] == (3, 3) and arr.shape[0] == n_frames:
        vol = float(np.mean(np.abs(np.linalg.det(arr))))
    else:
        raise InputError(
            f"cell must be a volume (Å³), a 3×3 matrix or (n_frames, 3, 3); got shape {arr.shape}",
            field="cell",
        )
    if not vol > 0:
        raise InputError(f"cell volume must be positive, got {vol}", field="cell")
    return vol


def drift_corrected_displacements(
    positions: np.ndarray, mask: np.ndarray, masses: np.ndarray
) -> tuple[np.ndarray, Literal["framework", "system"]]:
    """Displacements of the ``mask`` atoms from frame 0, minus the host's centre-of-mass motion.

    The reference is the mass-weighted centre of mass of the non-species (framework) atoms, or of
    the whole system when there is no framework (e.g. pure Li metal). The result is an
    (n_frames, n_species, 3) view of time-last storage (n_species, 3, n_frames): the MSD FFTs run
    along contiguous time, and only the species atoms are ever copied.
    """
    has_host = bool(np.any(~mask))
    ref = ~mask if has_host else np.ones_like(mask)
    weights = np.where(ref, masses, 0.0) / masses[ref].sum()
    com = weights @ positions  # (n_frames, 3)
    com -= com[0]
    species = positions.compress(mask, axis=1)  # (n_frames, n_species, 3)
    start = species[0][:, :, None]
    out = np.empty((species.shape[1], 3, len(positions)))
    # transpose in cache-sized runs of frames: one strided pass over all frames is 2× slower
    for t0 in range(0, len(positions), _TRANSPOSE_FRAMES):
        sl = slice(t0, t0 + _TRANSPOSE_FRAMES)
        np.subtract(species[sl].transpose(1, 2, 0), start, out=out[:, :, sl])
        out[:, :, sl] -= com[sl].T
    label: Literal["framework", "system"] = "framework" if has_host else "system"
    return out.transpose(2, 0, 1), label


def _linear_fit(
    t: np.ndarray, y: np.ndarray, t0: float, t1: float
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept over t0 ≤ t ≤ t1; ``y`` (n,) or (n, k): k fits at once."""
    sel = (t >= t0 - 1e-9) & (t <= t1 + 1e-9)
    if sel.sum() < 3:
        raise InputError(
            f"fit window {t0 * FS_TO_PS:.3g}-{t1 * FS_TO_PS:.3g} ps holds {int(sel.sum())} MSD "
            "points; need ≥ 3 (longer trajectory, wider window or fewer blocks)",
            field="window",
        )
    slope, intercept = np.polyfit(t[sel], y[sel], 1)
    return slope, intercept


def _default_window(duration_fs: float) -> tuple[float, float]:
    t_end = DEFAULT_END_FRACTION * duration_fs
    t_start = max(DEFAULT_MIN_START_FS, DEFAULT_START_FRACTION * duration_fs)
    if t_start >= 0.5 * t_end:  # short run: the 1 ps floor would leave no window, keep the fraction
        t_start = DEFAULT_START_FRACTION * duration_fs
    return t_start, t_end


def nernst_einstein_S_cm(
    D_cm2_s: float, n_ions: int, volume_A3: float, temperature_K: float
) -> float:
    """σ = n q² D / (kB T) in S/cm, with n = N/V in cm⁻³ and q = e (monovalent ion)."""
    n_cm3 = n_ions / (volume_A3 * ANGSTROM3_TO_CM3)
    return n_cm3 * E_CHARGE_C**2 * D_cm2_s / (KB_J * temperature_K)


def _downsample(t: np.ndarray, y: np.ndarray, n_keep: int = MSD_CURVE_POINTS) -> tuple[list, list]:
    idx = np.unique(np.linspace(0, len(t) - 1, min(n_keep, len(t))).astype(int))
    return t[idx].tolist(), y[idx].tolist()


# -------------------------------------------------------------------------------------------------
# analysis
# -------------------------------------------------------------------------------------------------


def _kinisi_D(
    positions: np.ndarray,
    numbers: np.ndarray,
    cells: np.ndarray,
    dt_fs: float,
    species: str,
    i_start: int,
    i_end: int,
    seed: int,
) -> tuple[float, float, tuple[float, float]]:
    """Tracer D (cm²/s) from kinisi's Bayesian regression over lags i_start..i_end (frame units)."""
    import scipp as sc
    from ase import Atoms
    from kinisi.analyze import DiffusionAnalyzer as KinisiAnalyzer

    images = [
        Atoms(numbers=numbers, positions=positions[i], cell=cells[i], pbc=True)
        for i in range(len(positions))
    ]
    # a few dozen lags in the window: kinisi's covariance matrix is n_lags², its MSD loop is per lag
    lags = np.unique(np.linspace(i_start, i_end, min(50, i_end - i_start + 1)).astype(int))
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
    plateau_fs: float = DEFAULT_PLATEAU_FS,
    plateau_factor: float = 3.0,
    max_rel_sigma: float = 0.5,
    method: Method = "blocks",
    collective: bool = True,
    seed: int = 0,
    source: TrajectorySource | None = None,
) -> DiffusionResult:
    """Tracer and collective D, σ_ion and a convergence verdict from one unwrapped trajectory.

    positions: (n_frames, n_atoms, 3) unwrapped Å; time_fs: (n_frames,) evenly spaced;
    numbers: atomic numbers (n_atoms,) or a boolean mask of the diffusing species;
    cell: volume (Å³), a 3×3 cell or per-frame cells (n_frames, 3, 3);
    window: (t_start_fs, t_end_fs) of the diffusive regime, default max(1 ps, 15 %)–60 % of the run;
    n_blocks: M independent time blocks for σ = std(D_block)/√M (same relative window in each);
    converged requires ≥ ``min_hops`` atoms displaced > ``hop_distance_A``, MSD(t_end) ≥
    ``plateau_factor`` × MSD(plateau_fs) and σ_D/D ≤ ``max_rel_sigma``.
    """
    pos = np.asarray(positions, dtype=np.float64)
    t = np.asarray(time_fs, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise InputError(
            f"positions must be (n_frames, n_atoms, 3), got {pos.shape}", field="positions"
        )
    n_frames, n_atoms, _ = pos.shape
    if t.shape != (n_frames,):
        raise InputError(f"time_fs must have {n_frames} entries, got {t.shape}", field="time_fs")
    if n_frames < 20:
        raise InputError(f"need ≥ 20 frames, got {n_frames}", field="positions")
    steps = np.diff(t)
    dt_fs = float(steps[0])
    if not dt_fs > 0 or not np.allclose(steps, dt_fs, rtol=1e-6, atol=1e-9):
        raise InputError("frames must be evenly spaced and increasing in time", field="time_fs")
    if not temperature_K > 0:
        raise InputError(f"temperature must be > 0 K, got {temperature_K}", field="temperature_K")
    if method not in ("blocks", "kinisi"):
        raise InputError(f"unknown method '{method}'", field="method", allowed=["blocks", "kinisi"])
    if n_blocks < 2:
        raise InputError("need ≥ 2 blocks for an uncertainty", field="n_blocks")
    mask = _species_mask(numbers, species, n_atoms)
    n_sp = int(mask.sum())
    if n_sp == 0:
        raise InputError(f"no {species} atoms in the trajectory", field="species")
    volume = _volume_A3(cell, n_frames)
    duration = (n_frames - 1) * dt_fs

    if window is None:
        t0, t1 = _default_window(duration)
        window_source: Literal["default", "user"] = "default"
    else:
        t0, t1 = float(window[0]), float(window[1])
        window_source = "user"
        if not (0 <= t0 < t1 <= duration + 1e-6):
            raise InputError(
                f"window {t0 * FS_TO_PS:g}:{t1 * FS_TO_PS:g} ps must satisfy "
                f"0 ≤ start < end ≤ {duration * FS_TO_PS:g} ps (trajectory length)",
                field="window",
            )

    disp, drift_ref = drift_corrected_displacements(pos, mask, _masses(numbers))
    sig = disp.transpose(1, 2, 0)  # (n_sp, 3, n_frames), contiguous: time-last for the FFTs
    sq_atom = np.einsum("adt,adt->at", sig, sig)  # |displacement|² per atom and frame
    sq = sq_atom.sum(axis=0)
    lag_t = np.arange(n_frames) * dt_fs

    # --- tracer MSD of the whole run (value of D; every lag, for the stored curve) ---
    msd = _msd_mean(sig, sq)
    slope, intercept = _linear_fit(lag_t, msd, t0, t1)
    D_full = float(slope) / (2 * DIMENSIONS) * A2_PER_FS_TO_CM2_PER_S

    # --- independent blocks: σ of D and of the collective D ---
    block_len = n_frames // n_blocks
    n_used = block_len * n_blocks
    f0, f1 = t0 / duration, t1 / duration
    bt0, bt1 = f0 * (block_len - 1) * dt_fs, f1 * (block_len - 1) * dt_fs
    # the block fits read lags up to bt1 only: shorter FFTs (n_lags_b ≤ block_len)
    n_lags_b = min(block_len, int(np.floor((bt1 + 1e-9) / dt_fs)) + 2)
    block_lag_t = np.arange(n_lags_b) * dt_fs
    # all blocks in one call: (n_blocks, n_sp·3, block_len) views, no copy
    blocks = sig.reshape(n_sp * 3, n_frames)[:, :n_used].reshape(n_sp * 3, n_blocks, block_len)
    block_sq = sq[:n_used].reshape(n_blocks, block_len)
    block_msd = _msd_sums(blocks.transpose(1, 0, 2), block_sq, n_lags_b) / n_sp
    D_blocks = (
        _linear_fit(block_lag_t, block_msd.T, bt0, bt1)[0]
        / (2 * DIMENSIONS)
        * A2_PER_FS_TO_CM2_PER_S
    )

    D_ci95 = None
    if method == "kinisi":
        numbers_arr = np.asarray(numbers)
        z = np.where(mask, 3, 0) if numbers_arr.dtype == bool else numbers_arr.astype(int)
        cell_arr = np.asarray(cell, dtype=np.float64)
        if cell_arr.ndim == 0:  # only a volume known: a cubic box of that volume
            cell_arr = np.eye(3) * cell_arr ** (1 / 3)
        cells = np.broadcast_to(cell_arr, (n_frames, 3, 3)) if cell_arr.ndim == 2 else cell_arr
        sym = species if numbers_arr.dtype != bool else "Li"
        i0 = max(1, int(np.ceil(t0 / dt_fs - 1e-9)))
        i1 = int(np.floor(t1 / dt_fs + 1e-9))
        D, D_sigma, D_ci95 = _kinisi_D(pos, z, cells, dt_fs, sym, i0, i1, seed)
        n_blocks_out = None
    else:
        # D = mean of M independent block estimates, σ = its standard error. (The whole-run fit is
        # NOT √M more precise: with a window at a fixed fraction of the run its relative error is
        # length-independent for a random walk, so std/√M belongs to the block mean.)
        D = float(np.mean(D_blocks))
        D_sigma = float(np.std(D_blocks, ddof=1) / np.sqrt(n_blocks))
        n_blocks_out = n_blocks

    # --- collective (centre-of-mass) diffusion: needs a framework, else momentum conservation
    # pins the species' COM to the system COM and the collective MSD is zero by construction ---
    D_coll = D_coll_sigma = None
    if collective and drift_ref == "framework":
        com = sig.mean(axis=0)  # (3, n_frames)
        com_blocks = com[:, :n_used].reshape(3, n_blocks, block_len).transpose(1, 0, 2)
        com_sq = np.einsum("bdt,bdt->bt", com_blocks, com_blocks)
        msd_cb = n_sp * _msd_sums(com_blocks, com_sq, n_lags_b)
        Dc_blocks = (
            _linear_fit(block_lag_t, msd_cb.T, bt0, bt1)[0]
            / (2 * DIMENSIONS)
            * A2_PER_FS_TO_CM2_PER_S
        )
        D_coll = float(np.mean(Dc_blocks))
        D_coll_sigma = float(np.std(Dc_blocks, ddof=1) / np.sqrt(n_blocks))

    # --- convergence ---
    n_hops = int(np.sum(np.sqrt(sq_atom.max(axis=1)) > hop_distance_A))
    i_plateau = min(round(min(plateau_fs, t0) / dt_fs), n_frames - 1)
    plateau = float(msd[max(i_plateau, 1)])
    i_end = min(round(t1 / dt_fs), n_frames - 1)
    msd_end = float(msd[i_end])
    problems = []
    if n_hops < min_hops:
        problems.append(
            f"only {n_hops} {species} atoms moved > {hop_distance_A} Å (need ≥ {min_hops})"
        )
    ratio = msd_end / plateau if plateau > 0 else np.inf
    if ratio < plateau_factor:
        problems.append(
            f"MSD(t_end) = {msd_end:.3g} Å² is {ratio:.2f}× the vibrational plateau "
            f"MSD({plateau_fs:g} fs) (need ≥ {plateau_factor:g}×)"
        )
    rel = D_sigma / D if D > 0 else np.inf
    if not rel <= max_rel_sigma:
        problems.append(f"D not resolved: σ/D = {rel:.2f} (need ≤ {max_rel_sigma:g})")
    converged = not problems
    reason = (
        "; ".join(problems)
        if problems
        else (
            f"{n_hops} atoms hopped (≥ {min_hops}), MSD(t_end)/plateau = {ratio:.1f} "
            f"(≥ {plateau_factor:g}), σ/D = {rel:.2f} (≤ {max_rel_sigma:g})"
        )
    )

    sig = nernst_einstein_S_cm(D, n_sp, volume, temperature_K)
    sig_sigma = nernst_einstein_S_cm(D_sigma, n_sp, volume, temperature_K)
    sig_c = sig_c_sigma = haven = None
    if D_coll is not None:
        sig_c = nernst_einstein_S_cm(D_coll, n_sp, volume, temperature_K)
        sig_c_sigma = nernst_einstein_S_cm(D_coll_sigma, n_sp, volume, temperature_K)
        if D_coll > 0 and D_coll_sigma is not None and D_coll_sigma < D_coll:
            haven = D / D_coll
    curve_t, curve_msd = _downsample(lag_t, msd)

    return DiffusionResult(
        species=species,
        temperature_K=float(temperature_K),
        D_cm2_s=float(D),
        D_sigma_cm2_s=float(D_sigma),
        D_ci95_cm2_s=D_ci95,
        D_blocks_cm2_s=[float(d) for d in D_blocks],
        D_full_run_cm2_s=float(D_full),
        D_collective_cm2_s=D_coll,
        D_collective_sigma_cm2_s=D_coll_sigma,
        haven_ratio=haven,
        sigma_S_cm=float(sig),
        sigma_sigma_S_cm=float(sig_sigma),
        sigma_collective_S_cm=sig_c,
        sigma_collective_sigma_S_cm=sig_c_sigma,
        t_start_fs=t0,
        t_end_fs=t1,
        window_source=window_source,
        method=method,
        n_blocks=n_blocks_out,
        n_hops=n_hops,
        hop_distance_A=hop_distance_A,
        min_hops=min_hops,
        msd_plateau_A2=plateau,
        msd_end_A2=msd_end,
        converged=converged,
        reason=reason,
        n_frames=n_frames,
        frame_interval_fs=dt_fs,
        duration_ps=duration * FS_TO_PS,
        n_species_atoms=n_sp,
        n_framework_atoms=n_atoms - n_sp,
        drift_reference=drift_ref,
        volume_A3=volume,
        fit_intercept_A2=float(intercept),
        msd_t_fs=curve_t,
        msd_A2=curve_msd,
        source=source,
    )


# -------------------------------------------------------------------------------------------------
# files
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedTrajectory:
    """Arrays needed by :func:`analyze_diffusion`, read from a file."""

    numbers: np.ndarray
    positions: np.ndarray  # (n_frames, n_atoms, 3) unwrapped Å
    cell: np.ndarray  # (n_frames, 3, 3)
    time_fs: np.ndarray
    temperature_K: float | None
    source: TrajectorySource


def unwrap_fractional(frac: np.ndarray, lattices: np.ndarray) -> np.ndarray:
    """Unwrapped Cartesian positions from wrapped fractional coordinates (n_frames, n_atoms, 3).

    Between consecutive frames each atom takes the shortest (minimum-image) fractional step, so an
    atom crossing a face keeps going instead of jumping back by a lattice vector. Valid while atoms
    move less than half a cell per frame (always true for MD output every few fs).
    """
    step = np.diff(frac, axis=0)
    step -= np.round(step)
    unwrapped = np.concatenate([frac[:1], frac[:1] + np.cumsum(step, axis=0)], axis=0)
    return np.einsum("tai,tij->taj", unwrapped, lattices)


def _vasp_format(path: Path) -> Literal["xdatcar", "vasprun"]:
    name = path.name.lower()
    if name.endswith(".xml") or "vasprun" in name:
        return "vasprun"
    if "xdatcar" in name:
        return "xdatcar"
    raise InputError(
        "cannot tell the trajectory format from the file name",
        file=path,
        allowed=["*.h5 / *.hdf5 (ilscreen-traj/1)", "XDATCAR*", "vasprun*.xml"],
    )


def load_vasp_trajectory(
    path: str | Path, timestep_fs: float | None = None, stride: int | None = None
) -> LoadedTrajectory:
    """Read an XDATCAR or vasprun.xml (pymatgen) and unwrap it.

    XDATCAR carries no time step: ``timestep_fs`` (POTIM) and ``stride`` (NBLOCK) are required.
    vasprun.xml: POTIM is read from the file unless given; every ionic step is stored (stride 1);
    the temperature is TEBEG when TEBEG == TEEND (NVT), else None.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    fmt = _vasp_format(path)
    temperature = None
    if fmt == "xdatcar":
        from pymatgen.io.vasp.outputs import Xdatcar

        if timestep_fs is None or stride is None:
            raise InputError(
                "an XDATCAR has no time information: "
                "give --timestep (POTIM, fs) and --stride (NBLOCK)",
                file=path,
                field="timestep/stride",
            )
        structures = Xdatcar(str(path)).structures
    else:
        from pymatgen.io.vasp.outputs import Vasprun

        vr = Vasprun(str(path), parse_dos=False, parse_eigen=False, parse_projected_eigen=False)
        structures = vr.structures
        if timestep_fs is None:
            timestep_fs = vr.parameters.get("POTIM")
            if timestep_fs is None:
                raise InputError("no POTIM in vasprun; give --timestep", file=path, field="POTIM")
        stride = 1 if stride is None else stride
        tebeg, teend = vr.parameters.get("TEBEG"), vr.parameters.get("TEEND")
        if tebeg and (teend is None or teend < 0 or abs(teend - tebeg) < 1e-6):
            temperature = float(tebeg)
    if not timestep_fs > 0 or stride < 1:
        raise InputError(
            f"timestep must be > 0 fs and stride ≥ 1, got {timestep_fs}, {stride}", file=path
        )
    if len(structures) < 2:
        raise InputError(f"only {len(structures)} frame(s)", file=path)
    numbers = np.array([site.specie.Z for site in structures[0]], dtype=int)
    frac = np.array([s.frac_coords for s in structures], dtype=np.float64)
    lattices = np.array([s.lattice.matrix for s in structures], dtype=np.float64)
    positions = unwrap_fractional(frac, lattices)
    time_fs = np.arange(len(structures)) * float(timestep_fs) * int(stride)
    return LoadedTrajectory(
        numbers=numbers,
        positions=positions,
        cell=lattices,
        time_fs=time_fs,
        temperature_K=temperature,
        source=TrajectorySource(path=str(path.resolve()), sha256=file_sha256(path), format=fmt),
    )


def load_trajectory_file(
    path: str | Path, *, timestep_fs: float | None = None, stride: int | None = None
) -> LoadedTrajectory:
    """Load an ilscreen HDF5 trajectory (time, temperature from the file) or a VASP one."""
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        from screening.trajectory import read_trajectory

        if not path.is_file():
            raise InputError("file not found", file=path)
        traj = read_trajectory(path)
        target = traj.attrs.get("target_temperature_K")
        if target is None and len(traj.temperature_K):
            target = float(np.mean(traj.temperature_K))
        return LoadedTrajectory(
            numbers=np.asarray(traj.numbers, dtype=int),
            positions=np.asarray(traj.positions, dtype=np.float64),
            cell=np.asarray(traj.cell, dtype=np.float64),
            time_fs=np.asarray(traj.time_fs, dtype=np.float64),
            temperature_K=None if target is None else float(target),
            source=TrajectorySource(
                path=str(path.resolve()), sha256=file_sha256(path), format="ilscreen-h5"
            ),
        )
    return load_vasp_trajectory(path, timestep_fs, stride)


def analyze_file(
    path: str | Path,
    *,
    species: str = "Li",
    temperature_K: float | None = None,
    timestep_fs: float | None = None,
    stride: int | None = None,
    window: tuple[float, float] | None = None,
    n_blocks: int = 5,
    hop_distance_A: float = 2.0,
    method: Method = "blocks",
    **kwargs: object,
) -> DiffusionResult:
    """:func:`analyze_diffusion` on a trajectory file; ``temperature_K`` overrides the file's."""
    p = Path(path)
    if (
        temperature_K is None
        and p.suffix.lower() not in (".h5", ".hdf5", ".xml")
        and "vasprun" not in p.name.lower()
    ):  # an XDATCAR never records T: refuse before a long parse
        raise InputError(
            "an XDATCAR does not record the temperature: give --temperature (K)",
            file=path,
            field="temperature",
        )
    traj = load_trajectory_file(path, timestep_fs=timestep_fs, stride=stride)
    temperature = temperature_K if temperature_K is not None else traj.temperature_K
    if temperature is None:
        raise InputError(
            "the file does not record the temperature: give --temperature (K)",
            file=path,
            field="temperature",
        )
    return analyze_diffusion(
        traj.positions,
        traj.time_fs,
        traj.numbers,
        traj.cell,
        temperature,
        species=species,
        window=window,
        n_blocks=n_blocks,
        hop_distance_A=hop_distance_A,
        method=method,
        source=traj.source,
        **kwargs,  # type: ignore[arg-type]
    )


def parse_window_ps(text: str) -> tuple[float, float]:
    """'START_PS:END_PS' → (start_fs, end_fs)."""
    try:
        a, b = text.split(":")
        return float(a) * PS_TO_FS, float(b) * PS_TO_FS
    except ValueError:
        raise InputError(
            f"window '{text}' is not START_PS:END_PS", field="window", allowed="e.g. 2:12"
        ) from None


__all__ = [
    "DiffusionResult",
    "LoadedTrajectory",
    "TrajectorySource",
    "analyze_diffusion",
    "analyze_file",
    "drift_corrected_displacements",
    "load_trajectory_file",
    "load_vasp_trajectory",
    "msd_direct",
    "msd_fft",
    "nernst_einstein_S_cm",
    "parse_window_ps",
    "unwrap_fractional",
]
