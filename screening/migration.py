"""Symmetry-distinct Li vacancy hops of a phase and their NEB endpoint cells.

Hops come from pymatgen-analysis-diffusion's :class:`MigrationGraph` (Li sites joined within a
cutoff, grouped into symmetry-distinct labels): no path finder of our own. For each distinct hop
the NEB runs in the candidate's own supercell (the cell its MD uses, so D from NEB-TST and from MD
describe the same vacancy concentration): the start cell holds the migrating Li on the hop's
initial site and the vacancy on its end site, the end cell the reverse, with the migrating Li last
in both so the images map atom to atom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.analysis.diffusion.neb.full_path_mapper import MigrationGraph
from pymatgen.core import PeriodicSite, Structure

from screening.errors import InputError

#: default hop cutoff (Å): first and second Li–Li shells of the alloys screened (Li3Sb 8c–8c 3.28 Å,
#: 8c–4b 2.84 Å; B2 LiM 3.1–3.5 Å; LiC6 in-plane 4.3 Å)
DEFAULT_CUTOFF_A = 4.5


@dataclass(frozen=True)
class DistinctHop:
    """One symmetry-distinct hop label of a MigrationGraph, with its multiplicity in the cell."""

    label: int
    length_A: float
    isite: PeriodicSite
    esite: PeriodicSite
    multiplicity: int


def migration_graph(
    structure: Structure, cutoff_A: float = DEFAULT_CUTOFF_A, species: str = "Li"
) -> MigrationGraph:
    """All ``species`` hops up to ``cutoff_A`` in ``structure``, labelled by symmetry."""
    if not any(el.symbol == species for el in structure.composition.elements):
        raise InputError(f"structure has no {species} sites to hop between", field="structure")
    if not 0 < cutoff_A <= 8:
        raise InputError(f"hop cutoff {cutoff_A} Å outside (0, 8]", field="neb.cutoff_A")
    return MigrationGraph.with_distance(structure, species, max_distance=cutoff_A)


def distinct_hops(mg: MigrationGraph) -> list[DistinctHop]:
    """The distinct hops, shortest first, each with how many edges of the graph it stands for."""
    counts: dict[int, int] = {}
    for _, _, d in mg.m_graph.graph.edges(data=True):
        counts[d["hop_label"]] = counts.get(d["hop_label"], 0) + 1
    hops = [
        DistinctHop(
            label=label,
            length_A=float(d["hop"].length),
            isite=d["hop"].isite,
            esite=d["hop"].esite,
            multiplicity=counts[label],
        )
        for label, d in mg.unique_hops.items()
    ]
    return sorted(hops, key=lambda h: (h.length_A, h.label))


def supercell_matrix(cell: Structure, supercell: Structure) -> np.ndarray:
    """Integer matrix M with ``supercell.lattice = M @ cell.lattice`` (refused if not integer)."""
    m = supercell.lattice.matrix @ np.linalg.inv(cell.lattice.matrix)
    rounded = np.rint(m)
    if np.abs(m - rounded).max() > 0.05 or round(np.linalg.det(rounded)) < 1:
        raise InputError(
            "the MD cell is not an integer supercell of the relaxed phase cell", field="supercell"
        )
    return rounded.astype(int)


def hop_cell(phase_cell: Structure, md_cell: Structure) -> tuple[Structure, np.ndarray]:
    """The primitive cell of ``phase_cell`` and the integer matrix that makes ``md_cell`` of it.

    The hop graph is built on the primitive cell: MigrationGraph labels hops by comparing every
    pair of edges (each comparison O(sites²)), which took 3 min on Li15Si4's 76-atom conventional
    cell and 39 s on its 38-atom primitive, for the same distinct hops. The supercell, and so the
    NEB and KMC cells, are the same either way.
    """
    prim = phase_cell.get_primitive_structure()
    return prim, supercell_matrix(prim, md_cell)


def hop_endpoints(
    cell: Structure, hop: DistinctHop, matrix: np.ndarray, tol_A: float = 0.05
) -> tuple[Structure, Structure]:
    """Start and end cells of ``hop`` in ``cell * matrix``; the migrating Li is the last site.

    Start: Li on ``hop.isite``, vacancy on ``hop.esite``; end: the reverse. Both cells hold the
    same atoms in the same order (one Li fewer than the perfect supercell).
    """
    big = cell.copy()
    big.make_supercell(matrix)
    inv = np.linalg.inv(matrix)
    pos_i = hop.isite.frac_coords @ inv
    pos_e = hop.esite.frac_coords @ inv
    species = hop.isite.species_string
    idx = [_site_index(big, pos, species, tol_A) for pos in (pos_i, pos_e)]
    if idx[0] == idx[1]:
        raise InputError(
            f"hop {hop.label} ({hop.length_A:.2f} Å) joins a site to its own image in the "
            "supercell; use a larger MD supercell",
            field="supercell",
        )
    base = big.copy()
    base.remove_sites(idx)
    start, end = base.copy(), base.copy()
    start.append(hop.isite.species_string, pos_i)
    end.append(hop.isite.species_string, pos_e)
    return start, end


def _site_index(structure: Structure, frac: np.ndarray, species: str, tol_A: float) -> int:
    """Index of the ``species`` site at ``frac`` (periodic); an error if none within ``tol_A``."""
    dists = structure.lattice.get_all_distances(structure.frac_coords, frac[None, :])[:, 0]
    same = np.array([s.species_string == species for s in structure])
    dists = np.where(same, dists, np.inf)
    i = int(np.argmin(dists))
    if dists[i] > tol_A:
        raise InputError(f"hop end is not a {species} site of the supercell", field="structure")
    return i
