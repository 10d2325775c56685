"""Synthetic trajectories with a vibrational cage and site hops, whose D is known exactly.

Unlike a Gaussian random walk, their MSD is not linear at short lags: atoms rattle in a harmonic
cage (Ornstein–Uhlenbeck, correlation time ``tau_fs``) and hop between simple-cubic sites with
correlated directions, so the short-lag slope is steeper than the diffusive one — the regime where
an estimator that fits short lags is biased.
"""

from __future__ import annotations

import numpy as np

from screening.units import A2_PER_FS_TO_CM2_PER_S

#: tracer correlation factor of the vacancy mechanism on the simple-cubic lattice (Compaan & Haven)
F_SIMPLE_CUBIC = 0.6531
_DIRECTIONS = np.array(
    [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float
)


def _cage(rng: np.random.Generator, shape: tuple, dt_fs: float, tau_fs: float, sigma_A: float):
    """Ornstein–Uhlenbeck rattling with stationary std ``sigma_A`` per axis."""
    decay = np.exp(-dt_fs / tau_fs)
    kick = sigma_A * np.sqrt(1 - decay**2)
    u = np.empty(shape)
    u[0] = rng.normal(scale=sigma_A, size=shape[1:])
    noise = rng.normal(scale=kick, size=shape)
    for k in range(1, shape[0]):
        u[k] = decay * u[k - 1] + noise[k]
    return u


def _host(rng, n_frames: int, n_host: int, box: float, dt_fs: float):
    sites = rng.uniform(0, box, (1, n_host, 3))
    return sites + _cage(rng, (n_frames, n_host, 3), dt_fs, 50.0, 0.1)


def caged_hopper(
    *,
    rate_per_fs: float = 1 / 400,
    back_prob: float = 0.5,
    a_A: float = 2.8,
    n_li: int = 32,
    n_host: int = 8,
    n_frames: int = 6000,
    dt_fs: float = 10.0,
    tau_fs: float = 60.0,
    cage_A: float = 0.25,
    seed: int = 0,
):
    """Independent Li hopping on a simple-cubic lattice of 4×4×4 sites, caged between hops.

    A hop reverses the atom's previous hop with probability ``back_prob``, else goes to any of the
    6 neighbours: ⟨cos θ⟩ = −back_prob, so D = Γ a²/6 · (1 − q)/(1 + q) exactly.
    Returns positions, time_fs, numbers, cell (3×3) and the analytic D (cm²/s).
    """
    rng = np.random.default_rng(seed)
    box = 4 * a_A
    hop = rng.random((n_frames, n_li)) < rate_per_fs * dt_fs
    hop[0] = False
    site = np.zeros((n_frames, n_li, 3))
    site[0] = rng.integers(0, 4, (n_li, 3)) * a_A
    last = _DIRECTIONS[rng.integers(0, 6, n_li)]
    for k in range(1, n_frames):
        step = np.zeros((n_li, 3))
        idx = np.flatnonzero(hop[k])
        if len(idx):
            back = rng.random(len(idx)) < back_prob
            new = _DIRECTIONS[rng.integers(0, 6, len(idx))]
            new[back] = -last[idx[back]]
            last[idx] = new
            step[idx] = new * a_A
        site[k] = site[k - 1] + step
    li = site + _cage(rng, (n_frames, n_li, 3), dt_fs, tau_fs, cage_A)
    pos = np.concatenate([li, _host(rng, n_frames, n_host, box, dt_fs)], axis=1)
    numbers = np.array([3] * n_li + [51] * n_host)
    q = back_prob
    d_true = rate_per_fs * a_A**2 / 6 * (1 - q) / (1 + q) * A2_PER_FS_TO_CM2_PER_S
    return pos, np.arange(n_frames) * dt_fs, numbers, np.eye(3) * box, d_true


def vacancy_walker(
    *,
    rate_per_fs: float = 1 / 1000,
    a_A: float = 2.8,
    n_cells: int = 4,
    n_host: int = 8,
    n_frames: int = 20000,
    dt_fs: float = 20.0,
    cage_A: float = 0.2,
    seed: int = 0,
):
    """One vacancy on a simple-cubic lattice of n_cells³ sites, all others Li, caged.

    The vacancy exchanges with a random neighbour at ``rate_per_fs``. Returns positions, time_fs,
    numbers, cell, the uncorrelated D_u = Γ a² / (6 N) (cm²/s) and N.
    """
    rng = np.random.default_rng(seed)
    n = n_cells
    grid = np.array([(i, j, k) for i in range(n) for j in range(n) for k in range(n)])
    n_li = len(grid) - 1
    vac = 0
    occupant = np.arange(1, len(grid))  # occupant[atom] = wrapped site index
    upos = grid[occupant].astype(float)  # unwrapped lattice position of each atom
    site_of = np.empty((n_frames, n_li, 3))
    for f in range(n_frames):
        if f and rng.random() < rate_per_fs * dt_fs:
            d = _DIRECTIONS[rng.integers(0, 6)].astype(int)
            target = (grid[vac] + d) % n
            t_idx = int(np.flatnonzero((grid == target).all(axis=1))[0])
            atom = int(np.flatnonzero(occupant == t_idx)[0])
            occupant[atom] = vac
            upos[atom] -= d  # the atom moves opposite to the vacancy
            vac = t_idx
        site_of[f] = upos
    li = site_of * a_A + _cage(rng, (n_frames, n_li, 3), dt_fs, 50.0, cage_A)
    box = n * a_A
    pos = np.concatenate([li, _host(rng, n_frames, n_host, box, dt_fs)], axis=1)
    numbers = np.array([3] * n_li + [51] * n_host)
    d_u = rate_per_fs * a_A**2 / (6 * n_li) * A2_PER_FS_TO_CM2_PER_S
    return pos, np.arange(n_frames) * dt_fs, numbers, np.eye(3) * box, d_u, n_li
