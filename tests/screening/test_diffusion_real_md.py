"""The default D on a real MD trajectory of the project, beside independent implementations.

Fixture: Li3Sb 2×2×2 with one Li vacancy, 30 ps of Nosé–Hoover NVT at 900 K with the shipped
model (`ilscreen md ... --preset li3sb-900`, provenance in the file), every 20 fs, positions to
0.005 Å. Its MSD has a vibrational cage (overshoot at ~0.1 ps, plateau ≈ 0.5 Å²) and vacancy hops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from screening.diffusion import analyze_diffusion

FIXTURE = Path(__file__).parent / "data" / "li3sb_vac1_900K_shipped.npz"


@pytest.fixture(scope="module")
def li3sb():
    data = np.load(FIXTURE)
    steps = np.concatenate([np.zeros((1, *data["first"].shape)), data["increments"]], axis=0)
    pos = data["first"] + data["quantum_A"] * np.cumsum(steps, axis=0)
    return pos, data["time_fs"], data["numbers"].astype(int), data["cell"]


@pytest.fixture(scope="module")
def result(li3sb):
    pos, t, numbers, cell = li3sb
    return analyze_diffusion(pos, t, numbers, cell, 900.0)


def test_default_is_converged_after_the_cage(result):
    assert result.converged and result.D_source == "msd", result.reason
    assert result.t_cage_fs < 500 and result.t_start_fs >= 1000
    assert result.msd_plateau_A2 == pytest.approx(0.5, rel=0.3)
    assert abs(result.alpha_window - 1) < 0.3
    assert 0.05 < result.D_sigma_cm2_s / result.D_cm2_s < 0.4


def test_agrees_with_pymatgen_diffusion_analyzer(li3sb, result):
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import Lattice, Structure

    pos, t, numbers, cell = li3sb
    species = ["Li" if z == 3 else "Sb" for z in numbers]
    structure = Structure(Lattice(cell), species, pos[0], coords_are_cartesian=True)
    pmg = DiffusionAnalyzer(
        structure, (pos - pos[0]).transpose(1, 0, 2), "Li", 900.0, t[1] - t[0], 1, smoothed="max"
    )
    assert abs(result.D_cm2_s / pmg.diffusivity - 1) < 0.25


def test_agrees_with_kinisi_and_does_not_depend_on_blocks(li3sb, result):
    pos, t, numbers, cell = li3sb
    kin = analyze_diffusion(pos, t, numbers, cell, 900.0, method="kinisi")
    assert abs(result.D_cm2_s / kin.D_cm2_s - 1) < 0.25
    for m in (2, 10):
        other = analyze_diffusion(pos, t, numbers, cell, 900.0, n_blocks=m, hops=False)
        assert (other.D_cm2_s, other.D_sigma_cm2_s) == (result.D_cm2_s, result.D_sigma_cm2_s)


def test_hops_on_the_li_sublattice(result):
    """96 Li sites (95 Li + the vacancy) of the antifluorite cell; hops 8c–4b / 8c–8c ≈ 2.8 Å."""
    h = result.hops
    assert h is not None and h.valid, h
    assert (h.n_sites, h.n_vacancies) == (96, 1)
    assert all(2.4 < length < 3.4 for length in h.hop_lengths_A)
    gap = abs(h.D_tracer_cm2_s - result.D_msd_cm2_s)
    assert gap < 2.5 * np.hypot(h.D_tracer_sigma_cm2_s, result.D_msd_sigma_cm2_s)
