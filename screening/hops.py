"""Li site hops in an MD trajectory: the hop (vacancy random-walk) estimator of the tracer D.

Where Li moves by hops between lattice sites (the one- and four-vacancy Li3Sb cells of the
reference protocol), the hops themselves measure transport long before the tracer MSD leaves its
vibrational cage: D_tracer = f · Σ_k |r_k|² / (6 N_Li T) (uncorrelated hop D times the tracer
correlation factor f), σ from Poisson statistics of the hop count. f is computed, not assumed, from
the angles between consecutive hops of the same atom, f = (1 + ⟨cos θ⟩)/(1 − ⟨cos θ⟩) (Compaan and
Haven's two-hop form; exact for the vacancy mechanism to ~1 % on cubic lattices).

Sites are the maxima of the time-averaged Li density (every site visited at least once, the vacant
one of frame 0 included), so nothing about the lattice has to be told; an atom belongs to a site
while it is within ``ASSIGN_FRACTION`` of the nearest-neighbour site distance of it, and keeps its
last site while in transit. The estimator refuses itself (``valid`` False, with the reason) where
sites are not well defined: a liquid, or atoms outside every site most of the time.
"""

from __future__ import annotations

import itertools

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage
from scipy.spatial import cKDTree

from screening.units import A2_PER_FS_TO_CM2_PER_S

#: an atom sits on a site while closer than this fraction of the nearest-neighbour site distance
ASSIGN_FRACTION = 0.35
#: positions are averaged over this time before site assignment (a Li vibration period)
SMOOTHING_FS = 100.0
#: a new site must hold its atom at least this long to count (filters recrossings)
MIN_RESIDENCE_FS = 100.0
#: density grid spacing for site finding, Å
GRID_A = 0.25
#: the estimator needs at least this many hops, and this many consecutive-hop pairs for f
MIN_HOPS = 20
MIN_PAIRS = 10
#: an atom must be on some site at least this fraction of the time for the lattice to be real
MIN_ASSIGNED = 0.8


class HopAnalysis(BaseModel):
    """Hop counting on the Li site lattice and the tracer D it implies."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    reason: str
    n_sites: int
    n_vacancies: int = Field(
        description="sites − Li atoms (vacancy concentration = this / n_sites)"
    )
    vacancy_fraction: float
    assigned_fraction: float = Field(description="(atom, frame) pairs on a site, not in transit")
    n_hops: int
    hop_lengths_A: list[float] = Field(default_factory=list, description="distinct, 0.05 Å bins")
    hop_counts: list[int] = Field(default_factory=list, description="hops per distinct length")
    n_pairs: int = Field(description="consecutive hop pairs of the same atom (for f)")
    mean_cos: float | None
    correlation_factor: float | None
    correlation_factor_sigma: float | None
    D_uncorrelated_cm2_s: float | None = Field(description="Σ r² / (6 N T), no correlation")
    D_tracer_cm2_s: float | None = Field(description="f × D_uncorrelated")
    D_tracer_sigma_cm2_s: float | None
    D_vacancy_cm2_s: float | None = Field(description="Σ r² / (6 n_vac T), per vacancy")


def _smooth(frac: np.ndarray, n: int) -> np.ndarray:
    """Running mean over ``n`` frames along axis 0 (edges: shorter windows)."""
    if n <= 1:
        return frac
    return ndimage.convolve1d(frac, np.ones(n) / n, axis=0, mode="nearest")


def find_sites(frac: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Fractional coordinates of the maxima of the time-averaged density of ``frac`` (t, a, 3)."""
    lengths = np.linalg.norm(lattice, axis=1)
    shape = tuple(max(8, int(np.ceil(length / GRID_A))) for length in lengths)
    pts = np.mod(frac.reshape(-1, 3), 1.0)
    hist, _ = np.histogramdd(pts, bins=shape, range=[(0, 1)] * 3)
    dens = ndimage.gaussian_filter(hist, sigma=1.0, mode="wrap")
    # a site is the maximum within ~1.2 Å (Li–Li site distances are ≥ 2.4 Å in every Li alloy)
    size = tuple(
        max(3, round(2.4 / (length / s)) | 1) for length, s in zip(lengths, shape, strict=False)
    )
    peaks = (dens == ndimage.maximum_filter(dens, size=size, mode="wrap")) & (dens > 0)
    idx = np.argwhere(peaks)
    weight = dens[peaks]
    # peaks below 1e-3 of the densest site are a transit's trace, not a residence
    keep = weight >= weight.max() * 1e-3
    return (idx[keep] + 0.5) / np.array(shape)


def _min_image(dfrac: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    return (dfrac - np.round(dfrac)) @ lattice


def analyze_hops(
    positions: np.ndarray,
    lattice: np.ndarray,
    dt_fs: float,
) -> HopAnalysis:
    """Hops of the atoms in ``positions`` (n_frames, n_atoms, 3; Cartesian Å, drift removed).

    ``lattice``: the (fixed, NVT) cell, rows = lattice vectors.
    """
    n_frames, n_atoms, _ = positions.shape
    duration = (n_frames - 1) * dt_fs
    inv = np.linalg.inv(lattice)
    # positions averaged over SMOOTHING_FS, looked at every half of it (no residence is lost)
    stride = max(1, round(SMOOTHING_FS / (2 * dt_fs)))
    frac = _smooth(positions @ inv, max(1, round(SMOOTHING_FS / dt_fs)))[::stride]
    look_fs = dt_fs * stride
    sites = find_sites(frac, lattice)
    n_sites = len(sites)
    empty = dict(
        n_sites=n_sites,
        n_vacancies=max(n_sites - n_atoms, 0),
        vacancy_fraction=max(n_sites - n_atoms, 0) / max(n_sites, 1),
        assigned_fraction=0.0,
        n_hops=0,
        n_pairs=0,
        mean_cos=None,
        correlation_factor=None,
        correlation_factor_sigma=None,
        D_uncorrelated_cm2_s=None,
        D_tracer_cm2_s=None,
        D_tracer_sigma_cm2_s=None,
        D_vacancy_cm2_s=None,
    )
    if n_sites < n_atoms:
        return HopAnalysis(
            valid=False, reason=f"{n_sites} sites found for {n_atoms} atoms (no lattice)", **empty
        )
    d_site = np.linalg.norm(_min_image(sites[:, None] - sites[None], lattice), axis=-1)
    np.fill_diagonal(d_site, np.inf)
    d_nn = float(np.median(d_site.min(axis=1)))
    r_assign = ASSIGN_FRACTION * d_nn

    # nearest site of every atom at every look: a k-d tree over the sites and their 26 periodic
    # images, queried with wrapped Cartesian positions
    looks = np.mod(frac, 1.0)
    shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    cart = looks.reshape(-1, 3) @ lattice
    for refine in (True, False):
        images = ((sites[None] + shifts[:, None]) @ lattice).reshape(-1, 3)
        dist, hit = cKDTree(images).query(cart)
        if refine:  # a site is the centre of its residents, not a density-grid voxel
            flat = hit % n_sites
            near = dist < r_assign
            offset = np.zeros((n_sites, 3))
            np.add.at(offset, flat[near], cart[near] - images[hit[near]])
            count = np.bincount(flat[near], minlength=n_sites)[:, None]
            shift = np.where(count > 0, offset / np.maximum(count, 1), 0.0) @ inv
            sites = np.mod(sites + shift, 1.0)
    nearest = (hit % n_sites).reshape(looks.shape[:2])
    dist = dist.reshape(looks.shape[:2])
    on_site = dist < r_assign
    assigned = float(on_site.mean())
    empty["assigned_fraction"] = assigned
    if assigned < MIN_ASSIGNED:
        return HopAnalysis(
            valid=False,
            reason=f"atoms on a site {assigned:.0%} of the time (need ≥ {MIN_ASSIGNED:.0%}): "
            "no well-defined site lattice",
            **empty,
        )

    hold = max(1, round(MIN_RESIDENCE_FS / look_fs))
    hop_vecs: list[np.ndarray] = []
    per_atom: list[list[np.ndarray]] = []
    for a in range(n_atoms):
        frames = np.flatnonzero(on_site[:, a])
        seq = nearest[frames, a]
        # residences: runs of the same site; a run shorter than `hold` frames is a recrossing
        change = np.flatnonzero(np.diff(seq)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(seq)]])
        runs = [(seq[s], frames[e - 1] - frames[s] + 1) for s, e in zip(starts, ends, strict=False)]
        visited = [site for i, (site, length) in enumerate(runs) if length >= hold or i == 0]
        path = [visited[0]] if visited else []
        for site in visited[1:]:
            if site != path[-1]:
                path.append(site)
        vecs = [_min_image(sites[b] - sites[s_], lattice) for s_, b in itertools.pairwise(path)]
        hop_vecs.extend(vecs)
        per_atom.append(vecs)

    n_hops = len(hop_vecs)
    r2 = np.array([v @ v for v in hop_vecs]) if hop_vecs else np.zeros(0)
    lengths = np.round(np.sqrt(r2) / 0.05) * 0.05
    uniq, counts = np.unique(lengths, return_counts=True)
    cos = [
        float(u @ v / np.sqrt((u @ u) * (v @ v)))
        for vecs in per_atom
        for u, v in itertools.pairwise(vecs)
    ]
    n_vac = n_sites - n_atoms
    D_u = float(r2.sum()) / (6 * n_atoms * duration) * A2_PER_FS_TO_CM2_PER_S if n_hops else None
    D_v = float(r2.sum()) / (6 * n_vac * duration) * A2_PER_FS_TO_CM2_PER_S if n_vac else None
    out = dict(
        empty,
        n_hops=n_hops,
        hop_lengths_A=[float(x) for x in uniq],
        hop_counts=[int(c) for c in counts],
        n_pairs=len(cos),
        D_uncorrelated_cm2_s=D_u,
        D_vacancy_cm2_s=D_v,
    )
    if n_hops < MIN_HOPS or len(cos) < MIN_PAIRS:
        return HopAnalysis(
            valid=False,
            reason=f"{n_hops} hops, {len(cos)} consecutive-hop pairs "
            f"(need ≥ {MIN_HOPS} and ≥ {MIN_PAIRS})",
            **out,
        )
    c = float(np.mean(cos))
    c_sigma = float(np.std(cos, ddof=1) / np.sqrt(len(cos)))
    f = (1 + c) / (1 - c)
    f_sigma = 2 / (1 - c) ** 2 * c_sigma
    D_t = f * D_u  # type: ignore[operator]
    rel = np.hypot(1 / np.sqrt(n_hops), f_sigma / f)
    return HopAnalysis(
        valid=True,
        reason=f"{n_hops} hops on {n_sites} sites ({n_vac} vacant), f = {f:.2f} ± {f_sigma:.2f} "
        f"from {len(cos)} hop pairs",
        **dict(
            out,
            mean_cos=c,
            correlation_factor=f,
            correlation_factor_sigma=f_sigma,
            D_tracer_cm2_s=D_t,
            D_tracer_sigma_cm2_s=D_t * rel,
        ),
    )


__all__ = ["HopAnalysis", "analyze_hops", "find_sites"]
