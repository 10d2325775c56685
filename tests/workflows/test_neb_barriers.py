"""CI-NEB of vacancy hops against independent answers (ASE EMT; no MLIP needed).

Reference for the barrier: the fcc nearest-neighbour hop's saddle lies on the mirror plane at the
midpoint of the two sites, so E_saddle = E(hopping atom fixed at the midpoint, every other atom
relaxed) — a constrained relaxation that shares no code with the NEB.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.optimize import FIRE
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from screening.campaign import NEBSettings
from screening.migration import distinct_hops, hop_endpoints, migration_graph, supercell_matrix
from workflows.neb import hop_barrier, phase_barriers

A_CU_EMT = 3.59  # EMT equilibrium lattice constant of Cu (Å)


def _cu() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(A_CU_EMT), ["Cu"], [[0, 0, 0]])


def _midpoint_reference(start: Structure, end: Structure) -> float:
    """Barrier from the constrained midpoint relaxation (see module docstring)."""
    ase = AseAtomsAdaptor()
    lo = ase.get_atoms(start)
    lo.calc = EMT()
    FIRE(lo, logfile=None).run(fmax=0.005, steps=2000)
    mid = ase.get_atoms(start)
    pos = mid.get_positions()
    pos[-1] = 0.5 * (start.cart_coords[-1] + end.cart_coords[-1])
    mid.set_positions(pos)
    mid.set_constraint(FixAtoms(indices=[len(mid) - 1]))
    mid.calc = EMT()
    FIRE(mid, logfile=None).run(fmax=0.005, steps=2000)
    return mid.get_potential_energy() - lo.get_potential_energy()


def test_fcc_vacancy_hop_barrier_matches_constrained_midpoint():
    cell = _cu()
    hops = distinct_hops(migration_graph(cell, 2.6, species="Cu"))
    assert len(hops) == 1 and hops[0].length_A == pytest.approx(A_CU_EMT / np.sqrt(2), abs=1e-3)
    start, end = hop_endpoints(cell, hops[0], np.eye(3, dtype=int) * 2)
    assert len(start) == len(end) == 31
    settings = NEBSettings(fmax_eV_A=0.01, endpoint_fmax_eV_A=0.005, n_images=5, max_steps=1000)
    barrier = hop_barrier(start, end, hops[0], EMT(), settings)
    reference = _midpoint_reference(start, end)
    assert barrier.converged
    assert barrier.forward_barrier_eV == pytest.approx(reference, abs=0.010)
    # symmetric hop: both ends are the same state
    assert barrier.forward_barrier_eV == pytest.approx(barrier.backward_barrier_eV, abs=0.002)
    assert 0.2 < barrier.forward_barrier_eV < 1.5  # a physical metal vacancy barrier
    assert barrier.image_path_A[-1] == pytest.approx(hops[0].length_A, rel=0.2)


def test_phase_barriers_counts_distinct_hops_of_a_two_sublattice_cell():
    """Li3Sb-like Fm-3m cell: 8c–4b and 8c–8c hops are the two distinct ones within 3.4 Å."""
    cell = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(6.57), ["Sb", "Li", "Li"], [[0, 0, 0], [0.25] * 3, [0.5] * 3]
    )
    hops = distinct_hops(migration_graph(cell, 3.4))
    assert [round(h.length_A, 2) for h in hops] == [2.84, 3.29]
    # every Li of the 16-atom cell has 4 (8c) / 8 (4b) oct-tet and 6 tet-tet neighbours
    assert sum(h.multiplicity for h in hops) == (8 * 4 + 8 * 6 // 2)
    start, end = hop_endpoints(cell, hops[0], np.eye(3, dtype=int) * 2)
    assert start.composition == end.composition and start.composition["Li"] == 95
    assert np.allclose(start.cart_coords[:-1], end.cart_coords[:-1])


def test_supercell_matrix_is_recovered_and_non_integer_cells_are_refused():
    cell = _cu()
    big = cell.copy()
    big.make_supercell([[2, 0, 0], [0, 2, 0], [0, 0, 3]])
    assert supercell_matrix(cell, big).tolist() == [[2, 0, 0], [0, 2, 0], [0, 0, 3]]
    odd = Structure(Lattice.cubic(A_CU_EMT * 1.5), ["Cu"], [[0, 0, 0]])
    with pytest.raises(Exception, match="integer supercell"):
        supercell_matrix(cell, odd)


def test_hop_onto_its_own_image_is_refused():
    cell = _cu()
    hop = distinct_hops(migration_graph(cell, 2.6, species="Cu"))[0]
    prim = Structure(Lattice.cubic(A_CU_EMT), ["Cu"], [[0, 0, 0]])  # simple cubic, 1 site
    sc_hop = distinct_hops(migration_graph(prim, 3.7, species="Cu"))[0]
    with pytest.raises(Exception, match="own image"):
        hop_endpoints(prim, sc_hop, np.eye(3, dtype=int))
    assert hop.multiplicity > 0


def test_phase_barriers_runs_every_hop():
    cell = _cu()
    settings = NEBSettings(cutoff_A=2.6, n_images=3, fmax_eV_A=0.05, max_steps=300)
    out = phase_barriers(cell, np.eye(3, dtype=int) * 2, EMT(), settings, species="Cu")
    assert len(out) == 1 and out[0].converged and out[0].wall_s > 0
    assert len(out[0].image_energies_eV) == 5


def test_neb_command_refuses_a_candidate_without_vacancy(tmp_path):
    from typer.testing import CliRunner

    import screening.cli  # noqa: F401  (registers every command)
    from screening.cli.app import app

    res = CliRunner().invoke(app, ["neb", "Li-Sb/Li3Sb/2x2x2/vac0", "--preset", "quick"])
    assert res.exit_code != 0
    assert "no vacancy candidate" in str(res.exception) or "no vacancy candidate" in res.output


def test_batched_band_matches_one_calculator_per_image():
    """The band's one-call evaluation (neb_band) gives each image what its own ASE call gives."""
    from potentials.registry import load_calculator, load_torchsim_model
    from workflows.neb_band import attach

    li = Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    li.make_supercell(2)
    rng = np.random.default_rng(0)
    images = []
    for _ in range(3):
        atoms = AseAtomsAdaptor().get_atoms(li)
        atoms.rattle(0.1, rng=rng)
        images.append(atoms)
    spec = "mace:ilscreen-li-alloys"
    calc = load_calculator(spec, dtype="float64")
    ref = []
    for atoms in images:
        c = atoms.copy()
        c.calc = calc
        ref.append((c.get_potential_energy(), c.get_forces()))
    ev = attach(images, load_torchsim_model(spec, dtype="float64"), calc)
    for atoms, (e, f) in zip(images, ref, strict=True):
        assert atoms.get_potential_energy() == pytest.approx(e, abs=1e-6)
        np.testing.assert_allclose(atoms.get_forces(), f, atol=1e-6)
    assert ev is not None and ev.calls == 1  # one batched call answered all three images
    images[1].positions[0, 0] += 0.05
    images[1].get_forces()
    assert ev.calls == 2
