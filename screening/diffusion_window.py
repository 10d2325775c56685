"""The fit window of the tracer MSD: where the MSD has left its vibrational cage and is diffusive.

The default window starts where the MSD has left the cage and is diffusive — the first lag from
which the local exponent α = d log(MSD − c)/d log t stays within 1 ± ``alpha_tolerance`` (c: the
cage's MSD plateau, read where d log MSD/d log t first dips to a minimum; subtracting it keeps a
constant vibrational offset, which the fit's intercept absorbs, from posing as sub-diffusion) —
and ends at a third of the run. Segments (independent pieces of the run, each at least 1.5× the
window long, fitted over the same window) are a cross-check beside it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from screening.diffusion_result import DIMENSIONS
from screening.errors import InputError
from screening.msd import fit_lags, msd_sums
from screening.units import A2_PER_FS_TO_CM2_PER_S, FS_TO_PS

#: the window never starts before this lag (vibrations decorrelate within ~0.5 ps) unless the run
#: is so short that it would leave no window
DEFAULT_MIN_START_FS = 1000.0
#: default window end, as a fraction of the run: beyond it few independent origins remain, and
#: the segment cross-check needs segments ≥ 1.5 × the window
DEFAULT_END_FRACTION = 1 / 3
#: diffusive regime: |α − 1| ≤ this over the window (α = d log MSD / d log t)
DEFAULT_ALPHA_TOLERANCE = 0.3
#: segments for the cross-check are at least this many times the window end long
SEGMENT_FACTOR = 1.5


def cage(alpha_t: np.ndarray, alpha: np.ndarray, below: float) -> tuple[float | None, float | None]:
    """(α, lag) at the vibrational cage: the first local minimum of α that dips below ``below``
    (later dips — a sub-diffusive regime of correlated back-hops — are not the cage); (None,
    None) when α never dips (no cage)."""
    dips = np.flatnonzero(alpha < below)
    if not len(dips):
        return None, None
    k = int(dips[0])
    while k + 1 < len(alpha) and alpha[k + 1] <= alpha[k]:
        k += 1
    return float(alpha[k]), float(alpha_t[k])


def diffusive_start(
    alpha_t: np.ndarray, alpha: np.ndarray, t_floor: float, t_end: float, tol: float
) -> float | None:
    """First lag ≥ ``t_floor`` from which |α − 1| ≤ tol up to ``t_end`` (None: never)."""
    sel = (alpha_t >= t_floor) & (alpha_t <= t_end)
    ts, a = alpha_t[sel], alpha[sel]
    if not len(ts):
        return None
    bad = np.flatnonzero(np.abs(a - 1) > tol)
    if not len(bad):
        return t_floor
    return None if bad[-1] == len(ts) - 1 else float(ts[bad[-1] + 1])


def choose_window(
    window: tuple[float, float] | None,
    alpha_t: np.ndarray,
    alpha: np.ndarray,
    duration: float,
    dt_fs: float,
    tol: float,
) -> tuple[float, float, Literal["default", "user"], list[str]]:
    """(t0, t1, source, problems): the user's window, validated, or the default (module doc)."""
    if window is not None:
        t0, t1 = float(window[0]), float(window[1])
        if not (0 <= t0 < t1 <= duration + 1e-6):
            raise InputError(
                f"window {t0 * FS_TO_PS:g}:{t1 * FS_TO_PS:g} ps must satisfy "
                f"0 ≤ start < end ≤ {duration * FS_TO_PS:g} ps (trajectory length)",
                field="window",
            )
        return t0, t1, "user", []
    t1 = DEFAULT_END_FRACTION * duration
    floor = DEFAULT_MIN_START_FS
    if floor > t1 / 4:  # short run: keep a window of at least a factor 4 in lag
        floor = max(5 * dt_fs, t1 / 4)
    start = diffusive_start(alpha_t, alpha, floor, t1, tol)
    if start is not None and start <= t1 / 2:
        return start, t1, "default", []
    return (
        floor,
        t1,
        "default",
        [
            f"the MSD does not reach the diffusive regime before {t1 * FS_TO_PS:.3g} ps "
            f"(d log(MSD − cage)/d log t outside 1 ± {tol:g} into the last half of the window)"
        ],
    )


def segment_cross_check(
    sig: np.ndarray, n_blocks: int, dt_fs: float, t0: float, t1: float
) -> tuple[list[float], float | None, str]:
    """Cross-check: D of M independent segments (each ≥ SEGMENT_FACTOR × t1), same window."""
    n_sp, _, n_frames = sig.shape
    duration = (n_frames - 1) * dt_fs
    m = min(n_blocks, int(duration // (SEGMENT_FACTOR * t1)))
    if m < 2:
        return (
            [],
            None,
            (
                f"no segment cross-check: the run ({duration * FS_TO_PS:.3g} ps) holds fewer "
                f"than two segments of {SEGMENT_FACTOR:g} × the window end ({t1 * FS_TO_PS:.3g} ps)"
            ),
        )
    seg_len = n_frames // m
    lags = fit_lags(seg_len, dt_fs, t0, t1)
    if len(lags) < 3:
        return [], None, "no segment cross-check: fewer than 3 lags in the window"
    n_lags = int(lags[-1]) + 1
    seg = sig.reshape(n_sp * 3, n_frames)[:, : seg_len * m].reshape(n_sp * 3, m, seg_len)
    sq = np.einsum("sbt,sbt->bt", seg, seg)
    msd = msd_sums(seg.transpose(1, 0, 2), sq, n_lags) / n_sp
    slopes = np.polyfit(lags * dt_fs, msd[:, lags].T, 1)[0]
    D = slopes / (2 * DIMENSIONS) * A2_PER_FS_TO_CM2_PER_S
    return [float(d) for d in D], seg_len * dt_fs * FS_TO_PS, f"{m} segments"
