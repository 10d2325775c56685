"""Vacancy KMC against known answers: correlation factors, random-walk D*, site network counts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pymatgen.analysis.diffusion.neb.full_path_mapper import MigrationGraph
from pymatgen.core import Lattice, Structure

from screening.kmc import (
    Edge,
    HopEnergies,
    SiteNetwork,
    kmc_tracer_diffusion,
    network_from_migration_graph,
)
from screening.units import KB_EV

A = 3.0  # Å
BASES = {
    "sc": ([[0, 0, 0]], 1.0, 6, 0.6531),
    "bcc": ([[0, 0, 0], [0.5, 0.5, 0.5]], np.sqrt(3) / 2, 8, 0.7272),
    "fcc": ([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], np.sqrt(0.5), 12, 0.7815),
}


def _lattice_network(kind: str, saddle: float = 0.3) -> SiteNetwork:
    """Cubic cell with nearest-neighbour edges (each undirected edge once)."""
    basis, nn, _, _ = BASES[kind]
    frac = np.array(basis, float)
    edges = []
    for i, j in itertools.product(range(len(frac)), repeat=2):
        for img in itertools.product((-1, 0, 1), repeat=3):
            d = np.linalg.norm(frac[j] + img - frac[i])
            key = (i, j, img) < (j, i, tuple(-x for x in img))
            if abs(d - nn) < 1e-6 and key:
                edges.append(Edge(i, j, img, saddle, 0))
    return SiteNetwork(np.eye(3) * A, frac, np.zeros(len(frac)), tuple(edges))


@pytest.mark.parametrize(("kind", "reps"), [("sc", 8), ("bcc", 6), ("fcc", 5)])
def test_correlation_factor_and_random_walk_D(kind: str, reps: int) -> None:
    basis, nn, z, f_exact = BASES[kind]
    net = _lattice_network(kind).supercell(reps)
    assert len(net.edges) == len(basis) * reps**3 * z // 2
    T, nu = 600.0, 1e13
    res = kmc_tracer_diffusion(net, T, attempt_frequency_Hz=nu, target_rel_sigma=0.006)
    assert res.converged, res.reason
    assert res.correlation_factor == pytest.approx(f_exact, rel=0.02)
    # one vacancy, N sites: N-1 Li share z*Gamma jumps per unit time -> per-Li jump rate
    # z*Gamma/(N-1); D* = f z Gamma a^2 / (6 (N-1)) = f z Gamma a^2 c_v/(6 (1-c_v)), c_v = 1/N
    gamma = nu * np.exp(-0.3 / (KB_EV * T))
    a2 = (nn * A) ** 2 * 1e-16  # cm^2
    n = net.n_sites
    assert res.D_cm2_s == pytest.approx(f_exact * z * gamma * a2 / (6 * (n - 1)), rel=0.02)


def _edge_lengths(net: SiteNetwork) -> np.ndarray:
    d = net.frac_coords[[e.j for e in net.edges]] + np.array([e.image for e in net.edges])
    d -= net.frac_coords[[e.i for e in net.edges]]
    return np.linalg.norm(d @ net.lattice, axis=1)


def test_non_diagonal_supercell_of_fcc_primitive() -> None:
    """fcc primitive cell (1 site, 6 edges) × M with M @ prim = 4 × conventional: the same walk."""
    prim = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]) * A
    nn = A * np.sqrt(0.5)
    edges = tuple(Edge(0, 0, img, 0.3, 0) for img in
                  [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, -1, 0), (1, 0, -1), (0, 1, -1)])
    base = SiteNetwork(prim, np.zeros((1, 3)), np.zeros(1), edges)
    m = 4 * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
    net = base.supercell(m)
    assert np.allclose(net.lattice, np.eye(3) * 4 * A)
    assert net.n_sites == 256 and len(net.edges) == 256 * 6
    assert np.allclose(_edge_lengths(net), nn)  # every edge joins true nearest neighbours
    degree = np.bincount([x for e in net.edges for x in (e.i, e.j)], minlength=256)
    assert set(degree) == {12}
    res = kmc_tracer_diffusion(net, 600.0, attempt_frequency_Hz=1e13, target_rel_sigma=0.006)
    assert res.correlation_factor == pytest.approx(0.7815, rel=0.02)


def test_two_sublattice_detailed_balance() -> None:
    net = _lattice_network("bcc").supercell(4)
    de = 0.05
    ev = np.where(np.arange(net.n_sites) % 2 == 1, de, 0.0)  # B sublattice higher
    edges = tuple(e._replace(saddle_energy_eV=0.3) for e in net.edges)
    net = SiteNetwork(net.lattice, net.frac_coords, ev, edges)
    res = kmc_tracer_diffusion(net, 500.0, target_rel_sigma=0.05)
    b = res.vacancy_site_fraction[1::2].sum()
    a = res.vacancy_site_fraction[0::2].sum()
    assert b / a == pytest.approx(np.exp(-de / (KB_EV * 500.0)), rel=0.05)


def test_fast_pair_slow_hop_not_silently_converged() -> None:
    """Pairs that swap fast, joined by a slow hop: a capped run must say it did not converge."""
    lat = np.diag([6.0, 3.0, 3.0])
    frac = np.array([[0.0, 0, 0], [0.25, 0, 0]])
    edges = (Edge(0, 1, (0, 0, 0), 0.05, 0), Edge(1, 0, (1, 0, 0), 0.9, 1),
             Edge(0, 0, (0, 1, 0), 0.9, 1), Edge(0, 0, (0, 0, 1), 0.9, 1))
    net = SiteNetwork(lat, frac, np.zeros(2), edges).supercell(4)
    res = kmc_tracer_diffusion(net, 300.0, max_jumps=60_000, max_seconds=2)
    assert not res.converged and res.reason


def test_li3sb_network_from_migration_graph() -> None:
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(6.57), ["Sb", "Li", "Li"],
                                  [[0, 0, 0], [0.25, 0.25, 0.25], [0.5, 0.5, 0.5]])
    mg = MigrationGraph.with_distance(s, "Li", 3.3)
    e8c, e4b = -100.0, -99.8  # made-up: vacancy on 4b 0.2 eV above 8c
    en = {}
    for label, hop in mg.unique_hops.items():
        def on4b(x: np.ndarray) -> bool:
            return bool(np.allclose((x * 2) % 1, 0))
        ei = e4b if on4b(hop["ipos"]) else e8c  # vacancy on isite = e_end
        ee = e4b if on4b(hop["epos"]) else e8c
        en[label] = HopEnergies(e_start_eV=ee, e_end_eV=ei, e_saddle_eV=-99.5 - 0.1 * label)
    net = network_from_migration_graph(mg, en)
    assert net.n_sites == 12 and len(net.edges) == 32 + 24
    is4b = np.array([np.allclose((f * 2) % 1, 0) for f in net.frac_coords])
    assert np.allclose(net.vacancy_energy_eV[is4b], 0.2)
    assert np.allclose(net.vacancy_energy_eV[~is4b], 0.0)
    big = network_from_migration_graph(mg, en, supercell=2)
    assert big.n_sites == 96 and len(big.edges) == 8 * 56
    deg = np.bincount([x for e in big.edges for x in (e.i, e.j)], minlength=96)
    assert sorted(set(deg)) == [8, 10]
    bad = dict(en)
    lab88 = next(k for k, h in mg.unique_hops.items() if h["hop"].length > 3.0)
    bad[lab88] = HopEnergies(-99.9, -99.9, -99.5)
    with pytest.raises(ValueError, match="disagree"):
        network_from_migration_graph(mg, bad)
    part = network_from_migration_graph(mg, {lab88: en[lab88]})
    assert part.dropped_labels == (1 - lab88,) and len(part.edges) == 24
    import time
    t0 = time.perf_counter()
    res = kmc_tracer_diffusion(big, 548.0)
    assert res.converged, res.reason
    assert time.perf_counter() - t0 < 3.0


def test_arrhenius_single_barrier() -> None:
    from screening.kmc import tst_diffusion

    res = tst_diffusion(_lattice_network("sc", 0.3).supercell(4), [400.0, 600.0, 900.0])
    assert res.converged, res.reason
    assert res.Ea_eV == pytest.approx(0.3, abs=0.01)


def test_percolation_layered() -> None:
    from screening.kmc import percolation

    edges = (Edge(0, 0, (1, 0, 0), 0.2, 0), Edge(0, 0, (0, 1, 0), 0.2, 0),
             Edge(0, 0, (0, 0, 1), 0.6, 1))
    net = SiteNetwork(np.eye(3) * 3.0, np.zeros((1, 3)), np.zeros(1), edges).supercell(2)
    p = percolation(net)
    assert p.barrier_eV == pytest.approx(0.2) and p.dimensionality == 2
    assert p.barrier_by_dimensionality[3] == pytest.approx(0.6)
