"""NEB hop barriers → transition-state D(T), Ea and the percolation barrier of a candidate.

The barriers come from climbing-image NEB (workflows.neb); this module turns them into transport
through the vacancy KMC of :mod:`screening.kmc` on the candidate's own supercell site lattice, so
D_TST is the same quantity at the same vacancy concentration as the MD tracer D, and compares the
two where both exist.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from screening.campaign import NEBSettings
from screening.kmc import HopEnergies, network_from_migration_graph, percolation, tst_diffusion
from screening.migration import migration_graph


class HopBarrier(BaseModel):
    """One distinct hop's climbing-image NEB (energies are total energies of the NEB cell)."""

    label: int
    length_A: float
    multiplicity: int
    e_start_eV: float
    e_end_eV: float
    e_saddle_eV: float
    forward_barrier_eV: float
    backward_barrier_eV: float
    image_energies_eV: list[float]
    image_path_A: list[float]
    fmax_eV_A: float
    converged: bool
    steps: int
    wall_s: float


class NEBResult(BaseModel):
    """Every distinct hop of one candidate's cell, with the potential that computed them."""

    candidate_id: str
    potential: str
    n_atoms: int
    n_vacancies: int
    cutoff_A: float
    hops: list[HopBarrier] = Field(default_factory=list)
    wall_s: float = 0.0


class TSTPoint(BaseModel):
    """D_TST at one temperature (KMC on the hop network)."""

    temperature_K: float
    D_cm2_s: float | None
    D_sigma_cm2_s: float | None
    correlation_factor: float | None = None
    converged: bool = True
    note: str | None = None


class Comparison(BaseModel):
    """MD vs NEB-TST where both exist; ``agree`` is False beyond 2 combined σ."""

    quantity: str
    md: float
    md_sigma: float | None
    tst: float
    tst_sigma: float | None
    agree: bool


class NEBTransport(BaseModel):
    """Transport from the NEB barriers: D(T), Ea, percolation; the row's source when MD is short."""

    neb: NEBResult
    points: list[TSTPoint] = Field(default_factory=list)
    Ea_eV: float | None = None
    Ea_sigma_eV: float | None = None
    D0_cm2_s: float | None = None
    attempt_frequency_THz: float = 10.0
    n_li: int | None = None
    volume_A3: float | None = None
    percolation_barrier_eV: float | None = None
    percolation_dimensionality: int = 0
    comparisons: list[Comparison] = Field(default_factory=list)
    plot_paths: list[str] = Field(default_factory=list)
    note: str | None = None

    def at(self, T_K: float, tol_K: float = 0.5) -> TSTPoint | None:
        """The TST point at ``T_K``, or None."""
        return next((p for p in self.points if abs(p.temperature_K - T_K) <= tol_K), None)


def neb_transport(
    cell: Structure,
    matrix: np.ndarray,
    neb: NEBResult,
    temperatures_K: Sequence[float],
    settings: NEBSettings,
    seed: int = 0,
) -> NEBTransport:
    """D_TST(T) on the supercell ``matrix`` of ``cell`` from the barriers in ``neb``."""
    usable = [h for h in neb.hops if h.converged]
    dropped = [h.label for h in neb.hops if not h.converged]
    notes = [f"hops {dropped} not converged, left out of the network"] if dropped else []
    mg = migration_graph(cell, neb.cutoff_A)
    missing = sorted(set(mg.unique_hops) - {h.label for h in neb.hops})
    if missing:
        notes.append(
            f"{len(missing)} longer distinct hops not computed (neb.max_hops): D_TST is a lower "
            "bound"
        )
    note = "; ".join(notes) or None
    if not usable:
        return NEBTransport(neb=neb, note="no converged NEB hop: no transition-state transport")
    energies = {h.label: HopEnergies(h.e_start_eV, h.e_end_eV, h.e_saddle_eV) for h in usable}
    net = network_from_migration_graph(mg, energies, supercell=matrix)
    perc = percolation(net)
    if perc.barrier_eV is None or perc.dimensionality == 0:
        return NEBTransport(
            neb=neb,
            percolation_dimensionality=0,
            note="the converged hops do not connect the cell to its periodic images: no long-range "
            "Li transport by these hops",
        )
    det = round(abs(np.linalg.det(matrix)))
    n_li = int(cell.composition["Li"]) * det - neb.n_vacancies
    volume = float(cell.volume) * det
    tst = tst_diffusion(
        net,
        list(temperatures_K),
        n_vacancies=neb.n_vacancies,
        attempt_frequency_Hz=settings.attempt_frequency_THz * 1e12,
        sigma_ln_nu=settings.sigma_ln_attempt_frequency,
        barrier_sigma_eV=settings.barrier_sigma_eV,
        seed=seed,
        network_percolation=perc,
    )
    points = [
        TSTPoint(
            temperature_K=p.temperature_K,
            D_cm2_s=p.D_cm2_s,
            D_sigma_cm2_s=p.sigma_D_cm2_s,
            correlation_factor=p.kmc.correlation_factor,
            converged=p.kmc.converged,
            note=p.kmc.reason,
        )
        for p in tst.points
    ]
    return NEBTransport(
        neb=neb,
        points=points,
        Ea_eV=_finite(tst.Ea_eV),
        Ea_sigma_eV=_finite(tst.sigma_Ea_eV),
        D0_cm2_s=_finite(tst.D0_cm2_s),
        attempt_frequency_THz=settings.attempt_frequency_THz,
        n_li=n_li,
        volume_A3=volume,
        percolation_barrier_eV=perc.barrier_eV,
        percolation_dimensionality=perc.dimensionality,
        note="; ".join(n for n in (note, tst.reason) if n) or None,
    )


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _agree(a: float, sa: float | None, b: float, sb: float | None, *, log: bool) -> bool:
    """Within 2 combined σ (in ln for D, which spans decades)."""
    if log:
        diff = math.log(a / b)
        s = math.hypot((sa or 0) / a, (sb or 0) / b)
    else:
        diff, s = a - b, math.hypot(sa or 0, sb or 0)
    return abs(diff) <= 2 * s


def compare_md_tst(
    tst: NEBTransport,
    md_points: Sequence[tuple[float, float, float | None]],
    md_Ea: tuple[float, float | None] | None,
) -> list[Comparison]:
    """Ea(MD) vs Ea(NEB) and D_MD/D_TST at every converged MD temperature."""
    out = []
    if md_Ea is not None and tst.Ea_eV is not None:
        agree = _agree(md_Ea[0], md_Ea[1], tst.Ea_eV, tst.Ea_sigma_eV, log=False)
        out.append(
            Comparison(quantity="Ea_eV", md=md_Ea[0], md_sigma=md_Ea[1], tst=tst.Ea_eV,
                       tst_sigma=tst.Ea_sigma_eV, agree=agree)
        )
    for T, D, sD in md_points:
        p = tst.at(T)
        if p is None or not p.D_cm2_s or D <= 0:
            continue
        agree = _agree(D, sD, p.D_cm2_s, p.D_sigma_cm2_s, log=True)
        out.append(
            Comparison(quantity=f"D_{T:.0f}K_cm2_s", md=D, md_sigma=sD, tst=p.D_cm2_s,
                       tst_sigma=p.D_sigma_cm2_s, agree=agree)
        )
    return out
