"""Li tracer diffusion from a vacancy-hop network: transition-state theory + kinetic Monte Carlo.

NEB gives one saddle energy per symmetry-distinct hop; on a real network (several hop kinds, site
energy differences, fast local pairs next to slow percolating hops) D(T) is not one Arrhenius term,
so a rejection-free (BKL) vacancy KMC on the candidate's own periodic cell (the cell MD sees) turns
rates nu*exp(-(E_saddle - E_vac(site))/kT) into D*. Detailed balance holds by construction (forward
and backward fluxes both ∝ exp(-E_saddle/kT)). The correlation factor comes out of the simulation.
Pure module: numpy/scipy/pymatgen only (no workflows/, no potentials/).
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from screening.units import KB_EV

if TYPE_CHECKING:
    from pymatgen.analysis.diffusion.neb.full_path_mapper import MigrationGraph

#: 1 Å²/s in cm²/s
A2_PER_S_TO_CM2_PER_S = 1e-16
#: fewest blocks a block-averaged D is trusted with
MIN_BLOCKS = 16


@dataclass(frozen=True)
class HopEnergies:
    """Relaxed total energies of one distinct hop (same cell, same atoms, same reference)."""

    e_start_eV: float  # Li on hop.isite, vacancy on hop.esite
    e_end_eV: float  # Li on hop.esite, vacancy on hop.isite
    e_saddle_eV: float  # highest climbing-image energy


class Edge(NamedTuple):
    """Undirected hop i -> j + image, saddle energy relative to the lowest vacancy state."""

    i: int
    j: int
    image: tuple[int, int, int]
    saddle_energy_eV: float
    label: int


@dataclass(frozen=True, eq=False)
class SiteNetwork:
    """Periodic Li site lattice of one simulation cell (energies relative to the lowest vacancy)."""

    lattice: np.ndarray
    frac_coords: np.ndarray
    vacancy_energy_eV: np.ndarray
    edges: tuple[Edge, ...]
    site_class: np.ndarray | None = None
    dropped_labels: tuple[int, ...] = ()

    @property
    def n_sites(self) -> int:
        return len(self.frac_coords)

    def supercell(self, matrix: int | np.ndarray | list) -> SiteNetwork:
        """The same network in the cell ``matrix @ lattice`` (sites and edges × |det M|).

        Site (s, t) is old site s translated by lattice point t (one representative t per coset
        of the new lattice); an edge's image in the new cell is counted between the wrapped
        positions, so any non-singular integer matrix works, not only diagonal ones.
        """
        m = _as_matrix(matrix)
        minv = np.linalg.inv(m)
        pts = _lattice_points(m)
        index: dict[tuple[int, tuple[int, ...]], int] = {}
        offset: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}
        frac = []
        for s, f in enumerate(self.frac_coords):
            for t in pts:
                p = (f + t) @ minv
                key = (s, tuple(int(x) for x in t))
                index[key] = len(frac)
                offset[key] = np.floor(p + 1e-9).astype(int)
                frac.append(p - offset[key])
        edges = []
        for e in self.edges:
            for t in pts:
                src = (e.i, tuple(int(x) for x in t))
                tj = t + np.asarray(e.image)
                k = np.floor(tj @ minv + 1e-9).astype(int)  # new-cell translation of tj
                dst = (e.j, tuple(int(x) for x in np.rint(tj - k @ m)))
                img = k + offset[dst] - offset[src]
                edges.append(Edge(index[src], index[dst], tuple(int(x) for x in img),
                                  e.saddle_energy_eV, e.label))
        reps = len(pts)
        cls = None if self.site_class is None else np.repeat(self.site_class, reps)
        return SiteNetwork(m @ self.lattice, np.array(frac),
                           np.repeat(self.vacancy_energy_eV, reps), tuple(edges), cls,
                           self.dropped_labels)


def _as_matrix(matrix: int | np.ndarray | list) -> np.ndarray:
    m = np.asarray(matrix, dtype=int)
    if m.ndim == 0:
        m = np.eye(3, dtype=int) * int(m)
    elif m.shape == (3,):
        m = np.diag(m)
    if m.shape != (3, 3) or round(abs(np.linalg.det(m))) < 1:
        raise ValueError(f"supercell matrix must be a non-singular integer 3x3, got {matrix!r}")
    return m


def _lattice_points(m: np.ndarray) -> np.ndarray:
    """Integer translations of the old cell that lie inside the new cell ``m``."""
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]) @ m
    lo, hi = corners.min(0) - 1, corners.max(0) + 1
    grid = np.stack(np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True)],
                                indexing="ij"), -1).reshape(-1, 3)
    p = grid @ np.linalg.inv(m)
    inside = np.all(np.floor(p + 1e-9) == 0, axis=1)
    pts = grid[inside]
    if len(pts) != round(abs(np.linalg.det(m))):
        raise ValueError("supercell lattice-point enumeration failed")
    return pts


def _site_classes(mg: MigrationGraph) -> np.ndarray:
    """Symmetry class of every migrating-ion site of ``mg`` (index into equivalent_indices)."""
    symm = mg.symm_structure
    cls_of = {i: k for k, grp in enumerate(symm.equivalent_indices) for i in grp}
    full = symm.frac_coords
    out = []
    for site in mg.m_graph.structure:
        d = full - site.frac_coords
        d -= np.rint(d)
        out.append(cls_of[int(np.argmin(np.linalg.norm(d @ symm.lattice.matrix, axis=1)))])
    return np.array(out)


def network_from_migration_graph(
    mg: MigrationGraph,
    energies: dict[int, HopEnergies],
    *,
    supercell: int | np.ndarray | list | None = None,
    tol_eV: float = 0.01,
) -> SiteNetwork:
    """Site network of ``mg`` with NEB energies keyed by ``mg.unique_hops`` label.

    Vacancy energy of a site class: e_start of a hop puts the vacancy on esite, e_end on isite;
    classes are found per site by symmetry, so reversed edges of a label need no flipping.
    Values of one class that disagree by more than ``tol_eV`` raise ValueError; labels without
    energies (failed NEB) are dropped and listed in ``dropped_labels``.
    """
    cls = _site_classes(mg)
    values: dict[int, list[float]] = {}
    for label, hop in mg.unique_hops.items():
        if label not in energies:
            continue
        e = energies[label]
        values.setdefault(int(cls[hop["iindex"]]), []).append(e.e_end_eV)
        values.setdefault(int(cls[hop["eindex"]]), []).append(e.e_start_eV)
    if not values:
        raise ValueError("no hop energies given for any label of the migration graph")
    for c, v in values.items():
        if max(v) - min(v) > tol_eV:
            raise ValueError(f"site class {c}: vacancy energies {v} disagree beyond {tol_eV} eV")
    ref = min(min(v) for v in values.values())
    e_cls = {c: float(np.mean(v)) - ref for c, v in values.items()}
    e_vac = np.array([e_cls.get(int(c), math.nan) for c in cls])
    edges = tuple(
        Edge(int(u), int(v), tuple(int(x) for x in d["to_jimage"]),
             energies[d["hop_label"]].e_saddle_eV - ref, int(d["hop_label"]))
        for u, v, d in mg.m_graph.graph.edges(data=True) if d["hop_label"] in energies
    )
    dropped = tuple(sorted(int(k) for k in mg.unique_hops if k not in energies))
    net = SiteNetwork(mg.m_graph.structure.lattice.matrix.copy(),
                      mg.m_graph.structure.frac_coords.copy(), e_vac, edges, cls, dropped)
    return net if supercell is None else net.supercell(supercell)


@dataclass
class KMCResult:
    """Tracer D* from vacancy KMC; sigma from block averaging (KMC noise only)."""

    temperature_K: float
    D_cm2_s: float
    sigma_D_cm2_s: float
    correlation_factor: float
    sigma_f: float
    n_jumps: int
    simulated_time_s: float
    converged: bool
    reason: str | None
    block_jumps: int = 0
    n_blocks: int = 0
    vacancy_site_fraction: np.ndarray = field(default_factory=lambda: np.zeros(0))


class _Tables(NamedTuple):
    nb: list[list[int]]
    cum: list[list[float]]
    dirid: list[list[int]]
    inv_tot: list[float]
    dvec: np.ndarray  # (n_dir, 3) Å, vector from vacancy site to the site it jumps to


def _tables(net: SiteNetwork, temperature_K: float, nu: float) -> _Tables:
    """Directed neighbour/rate tables; self-loops (site to its own image) cannot exchange."""
    kt = KB_EV * temperature_K
    n = net.n_sites
    nb: list[list[int]] = [[] for _ in range(n)]
    rates: list[list[float]] = [[] for _ in range(n)]
    dirid: list[list[int]] = [[] for _ in range(n)]
    dvec = []
    for e in net.edges:
        if e.i == e.j:
            continue
        d = (net.frac_coords[e.j] + np.asarray(e.image) - net.frac_coords[e.i]) @ net.lattice
        for a, b, v in ((e.i, e.j, d), (e.j, e.i, -d)):
            barrier = e.saddle_energy_eV - net.vacancy_energy_eV[a]
            nb[a].append(b)
            rates[a].append(nu * math.exp(-barrier / kt))
            dirid[a].append(len(dvec))
            dvec.append(v)
    cum = [list(np.cumsum(r)) for r in rates]
    inv_tot = [1.0 / c[-1] if c else math.inf for c in cum]
    return _Tables(nb, cum, dirid, inv_tot, np.array(dvec).reshape(-1, 3))


def _walk(tab: _Tables, occ: list[int], vacs: list[int], u: np.ndarray, out: dict) -> None:
    """BKL steps (one per random number); appends moved atom, directed edge, dt, vacancy site."""
    atoms, dirs, dts, sites = out["atom"], out["dir"], out["dt"], out["site"]
    nb, cum, dirid, inv_tot = tab.nb, tab.cum, tab.dirid, tab.inv_tot
    if len(vacs) == 1:
        a = vacs[0]
        for x in u:
            c = cum[a]
            k = min(bisect.bisect_right(c, x * c[-1]), len(c) - 1)
            b = nb[a][k]
            atoms.append(occ[b])
            dirs.append(dirid[a][k])
            dts.append(inv_tot[a])
            sites.append(a)
            occ[a], occ[b] = occ[b], -1
            a = b
        vacs[0] = a
        return
    for x in u:
        options = [(r, v, k) for v, a in enumerate(vacs)
                   for k, (r, b) in enumerate(zip(np.diff([0.0, *cum[a]]), nb[a], strict=True))
                   if occ[b] >= 0]
        tot = np.cumsum([o[0] for o in options])
        _r, v, k = options[min(int(np.searchsorted(tot, x * tot[-1])), len(options) - 1)]
        a = vacs[v]
        b = nb[a][k]
        atoms.append(occ[b])
        dirs.append(dirid[a][k])
        dts.append(1.0 / tot[-1])
        sites.append(a)
        occ[a], occ[b] = occ[b], -1
        vacs[v] = b


def _blocks(atom: np.ndarray, disp: np.ndarray, dt: np.ndarray, n_atoms: int, length: int,
            ) -> tuple[float, float, float, float, int]:
    """Block-averaged D (Å²/s) and f with ratio-estimator standard errors."""
    nb = len(atom) // length
    m = nb * length
    idx = (np.arange(m) // length) * n_atoms + atom[:m]
    x = sum(np.bincount(idx, disp[:m, c], minlength=nb * n_atoms) ** 2 for c in range(3))
    x = x.reshape(nb, n_atoms).sum(1)
    jsq = (disp[:m] ** 2).sum(1).reshape(nb, length).sum(1)
    t = dt[:m].reshape(nb, length).sum(1)
    d = x.sum() / (6 * n_atoms * t.sum())
    f = x.sum() / jsq.sum()
    norm = 6 * n_atoms * t.mean()
    sd = np.sqrt(((x - 6 * n_atoms * d * t) ** 2).sum() / (nb * (nb - 1))) / norm
    sf = np.sqrt(((x - f * jsq) ** 2).sum() / (nb * (nb - 1))) / jsq.mean()
    return float(d), float(sd), float(f), float(sf), nb


def _analyse(atom, disp, dt, n_atoms, target):
    """Smallest block length from which D no longer changes (plateau), then its statistics."""
    levels = []
    length = 32
    while len(atom) // length >= MIN_BLOCKS:
        levels.append((length, *_blocks(atom, disp, dt, n_atoms, length)))
        length *= 2
    if len(levels) < 3:
        return None, "too few jumps for block analysis"
    for j in range(1, len(levels) - 1):
        if all(abs(levels[k][1] - levels[k - 1][1]) <= 2 * levels[k][2] + 1e-300
               for k in range(j, len(levels))):
            lv = levels[j]
            if not lv[1] > 0 or not lv[2] > 0:
                return lv, "no net long-range displacement (only local back-and-forth hops)"
            if lv[2] <= target * lv[1]:
                return lv, None
            return lv, f"relative sigma {lv[2] / lv[1]:.3f} above target {target}"
    return levels[-1], "D still grows with block length (long-range hops too rare)"


def kmc_tracer_diffusion(
    net: SiteNetwork,
    temperature_K: float,
    *,
    n_vacancies: int = 1,
    attempt_frequency_Hz: float = 1e13,
    seed: int = 0,
    target_rel_sigma: float = 0.05,
    max_jumps: int = 4_000_000,
    max_seconds: float = 20.0,
) -> KMCResult:
    """Tracer D* = Σ_i <Δr_i²>/(6 N_Li t) and f = Σ Δr² / Σ jump² from rejection-free vacancy KMC.

    Time advances by the mean residence time 1/R_tot per jump (unbiased, less noisy than
    exponential draws). sigma from blocks of jumps; the block length is raised until D stops
    changing with it, so a fast back-and-forth pair beside a slow percolating hop gives
    ``converged=False`` with the reason instead of a number biased by unfinished correlations.
    """
    if temperature_K <= 0 or not 0 < n_vacancies < net.n_sites:
        raise ValueError("need T > 0 and 0 < n_vacancies < n_sites")
    tab = _tables(net, temperature_K, attempt_frequency_Hz)
    rng = np.random.default_rng(seed)
    ok = [s for s in range(net.n_sites) if tab.nb[s]]
    if len(ok) < n_vacancies:
        raise ValueError("fewer connected sites than vacancies")
    e_ok = net.vacancy_energy_eV[ok]
    vacs = [ok[i] for i in np.argsort(e_ok, kind="stable")[:n_vacancies]]
    occ = list(range(net.n_sites))
    for v in vacs:
        occ[v] = -1
    out: dict[str, list] = {"atom": [], "dir": [], "dt": [], "site": []}
    start, chunk = time.perf_counter(), max(20_000, 100 * net.n_sites)
    res, reason = None, "not run"
    while True:
        _walk(tab, occ, vacs, rng.random(chunk), out)
        atom = np.asarray(out["atom"])
        disp = -tab.dvec[np.asarray(out["dir"])]
        dt = np.asarray(out["dt"])
        res, reason = _analyse(atom, disp, dt, net.n_sites, target_rel_sigma)
        n = len(atom)
        if reason is None or n >= max_jumps or time.perf_counter() - start > max_seconds:
            break
        chunk = min(n, max_jumps - n)
    frac = np.bincount(np.asarray(out["site"]), dt, minlength=net.n_sites) / dt.sum()
    if res is None:
        res = (0, math.nan, math.nan, math.nan, math.nan, 0)
    length, d, sd, f, sf, nb = res
    return KMCResult(
        temperature_K, d * A2_PER_S_TO_CM2_PER_S * net.n_sites / (net.n_sites - n_vacancies),
        sd * A2_PER_S_TO_CM2_PER_S * net.n_sites / (net.n_sites - n_vacancies), f, sf, n,
        float(dt.sum()), reason is None, reason, length, nb, frac * n_vacancies,
    )


@dataclass
class Percolation:
    """Lowest effective barrier (saddle − lowest site) whose hops connect the cell to its images."""

    barrier_eV: float | None
    dimensionality: int
    labels: list[int]
    barrier_by_dimensionality: dict[int, float] = field(default_factory=dict)


def _dimensionality(net: SiteNetwork, edges: list[Edge]) -> int:
    """Larsen dimensionality of the hop graph (pymatgen's maintained implementation)."""
    from pymatgen.analysis.dimensionality import get_dimensionality_larsen
    from pymatgen.analysis.graphs import StructureGraph
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice(net.lattice), ["Li"] * net.n_sites, net.frac_coords)
    sg = StructureGraph.from_empty_graph(s, edge_weight_name=None)
    for e in edges:
        sg.add_edge(e.i, e.j, from_jimage=(0, 0, 0), to_jimage=e.image, warn_duplicates=False)
    return int(get_dimensionality_larsen(sg))


def percolation(net: SiteNetwork) -> Percolation:
    """Percolation barrier and dimensionality, adding hops in order of effective barrier."""
    e_min = float(np.nanmin(net.vacancy_energy_eV))
    by_dim: dict[int, float] = {}
    first: Percolation | None = None
    for b in sorted({e.saddle_energy_eV - e_min for e in net.edges}):
        sel = [e for e in net.edges if e.saddle_energy_eV - e_min <= b + 1e-9]
        dim = _dimensionality(net, sel)
        for d in range(1, dim + 1):
            by_dim.setdefault(d, b)
        if dim and first is None:
            first = Percolation(b, dim, sorted({e.label for e in sel}))
        if dim == 3:
            break
    if first is None:
        return Percolation(None, 0, [], by_dim)
    first.barrier_by_dimensionality = by_dim
    return first


class TSTPoint(NamedTuple):
    temperature_K: float
    D_cm2_s: float
    sigma_D_cm2_s: float  # KMC noise + attempt-frequency + barrier uncertainty
    kmc: KMCResult


@dataclass
class TSTResult:
    points: list[TSTPoint]
    Ea_eV: float
    sigma_Ea_eV: float
    D0_cm2_s: float
    attempt_frequency_Hz: float
    sigma_ln_nu: float
    barrier_sigma_eV: float
    percolation: Percolation
    converged: bool
    reason: str | None = None


def tst_diffusion(
    net: SiteNetwork,
    temperatures_K: list[float],
    *,
    n_vacancies: int = 1,
    attempt_frequency_Hz: float = 1e13,
    sigma_ln_nu: float = math.log(3),
    barrier_sigma_eV: float = 0.03,
    seed: int = 0,
    network_percolation: Percolation | None = None,
) -> TSTResult:
    """D(T) by harmonic TST + KMC, with Ea from a weighted Arrhenius fit.

    nu = 1e13 Hz is the typical optical-phonon attempt frequency of Vineyard's harmonic TST
    (Vineyard, J. Phys. Chem. Solids 3, 121 (1957); Van der Ven et al., Phys. Rev. B 64, 184307
    (2001) use ~1e13 Hz for Li hops), uncertain to a factor ~3. Per T:
    sigma_lnD² = sigma_ln_nu² + (barrier_sigma/kT)² + (sigma_KMC/D)². Both systematic terms are
    common to all T, so the fit weights use KMC noise only and barrier_sigma adds to sigma(Ea).
    """
    pts = []
    for n, t in enumerate(temperatures_K):
        r = kmc_tracer_diffusion(net, t, n_vacancies=n_vacancies,
                                 attempt_frequency_Hz=attempt_frequency_Hz, seed=seed + n)
        rel = math.sqrt(sigma_ln_nu**2 + (barrier_sigma_eV / (KB_EV * t)) ** 2
                        + (r.sigma_D_cm2_s / r.D_cm2_s) ** 2) if r.D_cm2_s > 0 else math.nan
        pts.append(TSTPoint(t, r.D_cm2_s, r.D_cm2_s * rel, r))
    good = [p for p in pts if p.kmc.converged]
    perc = network_percolation or percolation(net)  # callers that checked it first pass it in
    if len(good) < 2:
        return TSTResult(pts, math.nan, math.nan, math.nan, attempt_frequency_Hz, sigma_ln_nu,
                         barrier_sigma_eV, perc, False, "fewer than two converged temperatures")
    x = np.array([-1 / (KB_EV * p.temperature_K) for p in good])
    y = np.log([p.D_cm2_s for p in good])
    w = np.array([(p.kmc.D_cm2_s / p.kmc.sigma_D_cm2_s) ** 2 for p in good])
    (ea, ln_d0), cov = np.polyfit(x, y, 1, w=np.sqrt(w), cov="unscaled")
    sigma_ea = math.sqrt(cov[0, 0] + barrier_sigma_eV**2)
    ok = len(good) == len(pts)
    return TSTResult(pts, float(ea), sigma_ea, float(np.exp(ln_d0)), attempt_frequency_Hz,
                     sigma_ln_nu, barrier_sigma_eV, perc, ok,
                     None if ok else "some temperatures did not converge (left out of the fit)")
