"""Mean-squared displacements and the statistics of fitting them.

The MSD uses every time origin (Wiener–Khinchin: MSD(m) = S1(m) − 2·S2(m), S2 by FFT
autocorrelation), so one trajectory costs O(N log N) per atom. MSD points at different lags share
time origins and are strongly correlated, so the least-squares σ of a slope fitted through them is
far too small. :func:`fit_msd_slope` therefore propagates the MSD covariance model of kinisi
(McCluskey et al., JOSS 9, 5984 (2024), doi:10.21105/joss.05984; method: arXiv:2305.18244):
var⟨Δr²⟩(t_i) = var(Δr²)/n_i with n_i = N_particles·T/t_i independent observations, and
cov(t_i, t_j) = var(t_i)·n_i/n_j for t_i ≤ t_j — through an ordinary least-squares slope, which
keeps the point estimate the classic all-origin MSD fit (what pymatgen-analysis-diffusion reports).
Where the model matrix is not positive semi-definite it is projected onto the nearest one that is.
Conventions: positions are UNWRAPPED Cartesian Å, time in fs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

#: transient memory of one FFT chunk: cache-sized, since |FFT|² is summed chunk by chunk
_FFT_CHUNK_BYTES = 4_000_000
#: frames per step of the time-last transpose of the displacements (cache-sized)
_TRANSPOSE_FRAMES = 256
#: the slope is fitted through at most this many lags of the window (evenly spaced): neighbouring
#: MSD points are nearly perfectly correlated, so more lags add cost, not information
FIT_LAGS = 200
#: lags at which var(Δr²) is sampled (it is smooth in the lag; interpolated in log-log between)
VARIANCE_LAGS = 24
#: at most this many time origins per lag for var(Δr²) (evenly strided; unbiased for the variance)
VARIANCE_ORIGINS = 2000

#: what the drift is removed against: the host (framework) atoms, or the whole system (no host)
Reference = Literal["framework", "system"]


def msd_sums(sig: np.ndarray, sq: np.ndarray, n_lags: int) -> np.ndarray:
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
        return msd_sums(sig, sq, n).T
    return msd_mean(sig, sq.sum(axis=0))


def msd_mean(sig: np.ndarray, sq_total: np.ndarray) -> np.ndarray:
    """Particle-averaged MSD at every lag; ``sig`` (n_part, dim, n) time-last, ``sq_total`` (n,)
    = Σ over particles and dimensions of sig² (callers that already have it pass it in)."""
    n_part, dim, n = sig.shape
    return msd_sums(sig.reshape(1, n_part * dim, n), sq_total[None], n)[0] / n_part


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


def drift_corrected_displacements(
    positions: np.ndarray, mask: np.ndarray, masses: np.ndarray
) -> tuple[np.ndarray, Reference]:
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
    label: Reference = "framework" if has_host else "system"
    return out.transpose(2, 0, 1), label


@dataclass(frozen=True)
class SlopeFit:
    """An MSD slope (Å²/fs) over one window with its covariance-propagated 1σ."""

    slope: float
    slope_sigma: float
    intercept: float
    t_start_fs: float
    t_end_fs: float
    n_lags: int


def fit_lags(n_frames: int, dt_fs: float, t0: float, t1: float) -> np.ndarray:
    """Frame lags (≥ 1) inside [t0, t1], at most :data:`FIT_LAGS` of them, evenly spaced."""
    i0 = max(1, int(np.ceil(t0 / dt_fs - 1e-9)))
    i1 = min(n_frames - 2, int(np.floor(t1 / dt_fs + 1e-9)))
    if i1 < i0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(i0, i1, min(FIT_LAGS, i1 - i0 + 1)).round().astype(int))


class SquaredDisplacementVariance:
    """var(Δr²) over particles and time origins as a function of the lag (frame units).

    ``sig``: (n_particles, dim, n_frames) time-last displacements. Sampled at
    :data:`VARIANCE_LAGS` lags in [lag_lo, lag_hi] with ≤ :data:`VARIANCE_ORIGINS` origins each
    and interpolated linearly in log-log (the variance is smooth in the lag); built once per
    window, shared by the fits of its sub-windows.
    """

    def __init__(self, sig: np.ndarray, lag_lo: int, lag_hi: int) -> None:
        n = sig.shape[-1]
        probe = np.unique(np.geomspace(lag_lo, max(lag_hi, lag_lo), VARIANCE_LAGS).round())
        self.lags = probe.astype(int)
        var = np.empty(len(self.lags))
        for k, m in enumerate(self.lags):
            origins = np.arange(0, n - m, max(1, (n - m) // VARIANCE_ORIGINS))
            d = sig[:, :, origins + m] - sig[:, :, origins]
            sq = np.einsum("pdt,pdt->pt", d, d)
            var[k] = sq.var(ddof=1) if sq.size > 1 else 0.0
        self.log_var = np.log(np.maximum(var, max(var.max() * 1e-12, 1e-300)))

    def __call__(self, lags: np.ndarray) -> np.ndarray:
        if len(self.lags) == 1:
            return np.full(len(lags), np.exp(self.log_var[0]))
        return np.exp(np.interp(np.log(lags), np.log(self.lags), self.log_var))


def fit_msd_slope(
    msd: np.ndarray,
    sig: np.ndarray,
    dt_fs: float,
    t0: float,
    t1: float,
    *,
    scale: float = 1.0,
    variance: SquaredDisplacementVariance | None = None,
) -> SlopeFit | None:
    """OLS slope of ``scale``·MSD over lags in [t0, t1] with kinisi's covariance model (module doc).

    ``msd``: all-lag MSD (n_frames,) of the signals ``sig`` (n_particles, dim, n_frames) — the
    particle mean for the tracer, the centre of mass for the collective MSD (``scale`` = N then).
    ``variance``: a model built over a wider window to reuse (default: built for this one).
    Returns None when the window holds fewer than 3 lags.
    """
    n_part, _, n = sig.shape
    lags = fit_lags(n, dt_fs, t0, t1)
    if len(lags) < 3:
        return None
    t = lags * dt_fs
    y = scale * msd[lags]
    n_obs = np.maximum(n_part * (n - 1) / lags, 1.0)
    if variance is None:
        variance = SquaredDisplacementVariance(sig, int(lags[0]), int(lags[-1]))
    var_mean = scale**2 * variance(lags) / n_obs
    # cov_ij = var_i·n_i/n_j for t_i ≤ t_j (symmetric): the later lag shares all earlier origins
    lo = np.minimum.outer(np.arange(len(lags)), np.arange(len(lags)))
    hi = np.maximum.outer(np.arange(len(lags)), np.arange(len(lags)))
    cov = var_mean[lo] * n_obs[lo] / n_obs[hi]
    # the model is not positive semi-definite where var(Δr²) barely grows with the lag (a caged,
    # vibration-dominated MSD): clip negative eigenvalues, as kinisi reconditions it too
    vals, vecs = np.linalg.eigh(cov)
    cov = (vecs * np.clip(vals, 0.0, None)) @ vecs.T
    tc = t - t.mean()
    w = tc / (tc @ tc)  # OLS slope = w·y
    slope = float(w @ y)
    return SlopeFit(
        slope=slope,
        slope_sigma=float(np.sqrt(max(w @ cov @ w, 0.0))),
        intercept=float(y.mean() - slope * t.mean()),
        t_start_fs=float(t[0]),
        t_end_fs=float(t[-1]),
        n_lags=len(lags),
    )


def loglog_slope(msd: np.ndarray, dt_fs: float, t_max_fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Local exponent α(t) = d log MSD / d log t on log-spaced lags up to ``t_max_fs``.

    α = 1 in the diffusive regime, < 1 while the MSD leaves the vibrational cage (its plateau),
    2 for ballistic motion. Each point is a least-squares slope over ±0.1 decade, so single-lag
    noise does not decide where the diffusive regime starts.
    """
    i_max = min(len(msd) - 1, int(t_max_fs / dt_fs))
    if i_max < 4:
        return np.zeros(0), np.zeros(0)
    idx = np.unique(np.geomspace(1, i_max, 40).round().astype(int))
    idx = idx[msd[idx] > 0]
    lt, lm = np.log10(idx * dt_fs), np.log10(msd[idx])
    alpha = np.empty(len(idx))
    for k in range(len(idx)):
        sel = np.abs(lt - lt[k]) <= 0.1 + 1e-12
        if sel.sum() < 2:
            sel = np.abs(np.arange(len(idx)) - k) <= 1
        alpha[k] = np.polyfit(lt[sel], lm[sel], 1)[0]
    return idx * dt_fs, alpha
