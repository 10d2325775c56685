"""Climbing-image NEB of every distinct Li vacancy hop of a phase, with any potential spec.

Per hop: both endpoints relaxed in positions (cell fixed at the relaxed phase's), IDPP
interpolation, climbing-image NEB (ASE) minimised with FIRE. The result per hop keeps what a
reader needs to trust a barrier: forward/backward barriers, the site-energy difference, the image
energies, the largest force left on the band, whether it converged, and the wall time.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.mep import NEB
from ase.optimize import FIRE
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from screening.barriers import HopBarrier, NEBResult
from screening.campaign import NEBSettings
from screening.migration import (
    DistinctHop,
    distinct_hops,
    hop_endpoints,
    migration_graph,
)
from workflows.neb_band import attach

logger = logging.getLogger(__name__)


def _relax(atoms: Atoms, fmax: float, steps: int) -> tuple[float, bool]:
    opt = FIRE(atoms, logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    return float(atoms.get_potential_energy()), converged


def _path_coordinate(images: list[Atoms]) -> list[float]:
    """Cumulative Cartesian distance along the band (minimum-image), Å."""
    out = [0.0]
    for a, b in itertools.pairwise(images):
        d = b.get_positions() - a.get_positions()
        frac = np.linalg.solve(a.cell.T, d.T).T
        frac -= np.rint(frac)
        out.append(out[-1] + float(np.linalg.norm(frac @ a.cell)))
    return out


@dataclass
class Band:
    """A minimised climbing-image band: its images (ASE, energies attached) and how it ended."""

    images: list[Atoms]
    energies_eV: list[float]
    converged: bool
    steps: int
    fmax_eV_A: float


def relaxed_band(
    start: Structure,
    end: Structure,
    calculator: Any,
    settings: NEBSettings,
    model: Any | None = None,
) -> Band:
    """Relax both endpoints, interpolate by IDPP, run CI-NEB; energies are total cell energies.

    With a torch-sim ``model`` every energy comes from it, the band's images in one batched call
    per step (:mod:`workflows.neb_band`); otherwise from the ASE ``calculator``.
    """
    adaptor = AseAtomsAdaptor()
    first, last = adaptor.get_atoms(start), adaptor.get_atoms(end)
    for atoms in (first, last):
        attach([atoms], model, calculator)
    e_start, ok_start = _relax(first, settings.endpoint_fmax_eV_A, settings.max_steps)
    e_end, ok_end = _relax(last, settings.endpoint_fmax_eV_A, settings.max_steps)
    images = [first] + [first.copy() for _ in range(settings.n_images)] + [last]
    attach(images[1:-1], model, calculator)
    band = NEB(
        images,
        k=settings.spring_eV_A2,
        climb=True,
        method="improvedtangent",
        allow_shared_calculator=True,
    )
    band.interpolate(method="idpp", mic=True)
    opt = FIRE(band, logfile=None)
    converged = bool(opt.run(fmax=settings.fmax_eV_A, steps=settings.max_steps))
    energies = [e_start] + [float(a.get_potential_energy()) for a in images[1:-1]] + [e_end]
    return Band(
        images=images,
        energies_eV=energies,
        converged=converged and ok_start and ok_end,
        steps=int(opt.nsteps),
        fmax_eV_A=float(np.sqrt((band.get_forces() ** 2).sum(axis=1).max())),
    )


def hop_barrier(
    start: Structure,
    end: Structure,
    hop: DistinctHop,
    calculator: Any,
    settings: NEBSettings,
    model: Any | None = None,
) -> HopBarrier:
    """Barriers of ``hop`` from its :func:`relaxed_band`, with what a reader needs to trust them."""
    t0 = time.perf_counter()
    band = relaxed_band(start, end, calculator, settings, model)
    energies = band.energies_eV
    e_start, e_end, e_saddle = energies[0], energies[-1], max(energies)
    return HopBarrier(
        label=hop.label,
        length_A=hop.length_A,
        multiplicity=hop.multiplicity,
        e_start_eV=e_start,
        e_end_eV=e_end,
        e_saddle_eV=e_saddle,
        forward_barrier_eV=e_saddle - e_start,
        backward_barrier_eV=e_saddle - e_end,
        image_energies_eV=energies,
        image_path_A=_path_coordinate(band.images),
        fmax_eV_A=band.fmax_eV_A,
        converged=band.converged,
        steps=band.steps,
        wall_s=time.perf_counter() - t0,
    )


def phase_barriers(
    cell: Structure,
    matrix: np.ndarray,
    calculator: Any,
    settings: NEBSettings,
    progress: Callable[[str], None] | None = None,
    species: str = "Li",
    model: Any | None = None,
) -> list[HopBarrier]:
    """CI-NEB of every distinct hop of ``cell`` (relaxed phase) in its supercell ``matrix``."""
    hops = distinct_hops(migration_graph(cell, settings.cutoff_A, species))
    if len(hops) > settings.max_hops:
        logger.warning(
            "%d distinct hops within %.2f Å; computing the %d shortest (neb.max_hops)",
            len(hops),
            settings.cutoff_A,
            settings.max_hops,
        )
        hops = hops[: settings.max_hops]
    out = []
    for k, hop in enumerate(hops, 1):
        start, end = hop_endpoints(cell, hop, matrix)
        result = hop_barrier(start, end, hop, calculator, settings, model)
        msg = (
            f"hop {k}/{len(hops)} ({hop.length_A:.2f} Å): barrier "
            f"{result.forward_barrier_eV:.3f}/{result.backward_barrier_eV:.3f} eV, "
            f"fmax {result.fmax_eV_A:.3f} eV/Å in {result.wall_s:.0f} s"
        )
        logger.info(msg)
        if progress:
            progress(msg)
        out.append(result)
    return out


def candidate_barriers(
    cell: Structure,
    matrix: np.ndarray,
    calculator: Any,
    settings: NEBSettings,
    *,
    candidate_id: str,
    potential: str,
    n_vacancies: int,
    model: Any | None = None,
) -> NEBResult:
    """:func:`phase_barriers` of a candidate as the :class:`NEBResult` its jobs return.

    ``n_atoms`` is the NEB cell's: the perfect supercell less the one vacancy every hop moves.
    """
    t0 = time.perf_counter()
    hops = phase_barriers(cell, matrix, calculator, settings, model=model)
    return NEBResult(
        candidate_id=candidate_id,
        potential=potential,
        n_atoms=len(cell) * round(abs(np.linalg.det(matrix))) - 1,
        n_vacancies=n_vacancies,
        cutoff_A=settings.cutoff_A,
        hops=hops,
        wall_s=time.perf_counter() - t0,
    )
