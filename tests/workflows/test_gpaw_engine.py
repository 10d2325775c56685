"""GPAW engine (PBE): Li3Sb band gap and a metal, through the project's own job and CLI.

Reference: Li3Sb PBE Kohn–Sham gap 0.72 eV, indirect Γ→X (/work/shared/tools/GPAW.md). Runs in
~10–20 s on 2 cores; skipped where GPAW is not installed (`bash .ci/install_dft.sh` installs it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workflows.dft_gpaw import gpaw_available

pytestmark = pytest.mark.skipif(
    not gpaw_available(), reason="GPAW not installed (install with `bash .ci/install_dft.sh`)"
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def thermo_cells():
    from screening.campaign import load_campaign
    from screening.candidates import generate_candidates

    cands = generate_candidates(load_campaign(ROOT / "candidates.yaml"))
    return {c.id: c for c in cands}


def test_li3sb_gap_through_the_job(thermo_cells):
    from jobflow import run_locally

    from screening.electronic import ElectronicClass
    from workflows.dft_gpaw import GPAWBandGapMaker

    cand = thermo_cells["Li-Sb/Li3Sb/1x1x1/vac0"]  # 16-atom conventional cell → 4-atom primitive
    job = GPAWBandGapMaker().make(cand.structure, cand.phase)
    responses = run_locally(job, ensure_success=True, log=False)
    result = responses[job.uuid][1].output
    assert result.n_atoms == 4
    assert result.band_gap_eV == pytest.approx(0.72, abs=0.15)
    assert result.is_direct is False
    # indirect Γ → X: VBM at Γ, CBM at X = (½, ½, 0) of the fcc reciprocal primitive cell
    assert np.allclose(result.vbm_kpoint, 0.0, atol=1e-6)
    assert sorted(np.round(result.cbm_kpoint, 6)) == [0.0, 0.5, 0.5]
    assert result.direct_gap_eV > result.band_gap_eV
    assert result.dos_at_fermi < 1e-3  # no states in the gap
    ea = result.assessment()
    assert ea.source == "computed (GPAW, PBE)"
    assert ea.band_gap_eV == result.band_gap_eV
    assert ea.electronic_class is ElectronicClass.INSULATOR  # 0.72 eV > 0.5 eV small-gap limit
    assert result.assessment(max_small_gap_eV=1.0).electronic_class is ElectronicClass.SMALL_GAP


def test_bcc_li_is_a_metal_through_the_cli(tmp_path):
    from typer.testing import CliRunner

    import workflows.cli_dft  # noqa: F401  (registers the commands)
    from screening.ab_initio import BandGapResult
    from screening.cli.app import app
    from screening.electronic import ElectronicClass

    out = tmp_path / "li.json"
    res = CliRunner().invoke(
        app,
        ["dft", "gap", "Li/Li-bcc/1x1x1/vac0", "--candidates", str(ROOT / "candidates.yaml"),
         "--json", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "metal" in res.output and "computed (GPAW, PBE)" in res.output
    result = BandGapResult.model_validate(json.loads(out.read_text()))
    assert result.n_atoms == 1 and result.band_gap_eV == 0.0
    # free-electron-like Li: N(E_F) ≈ 0.5 states/eV/atom (both spins); broadened, dense mesh
    assert 0.3 < result.dos_at_fermi < 0.9
    assert result.assessment().electronic_class is ElectronicClass.METAL


def test_relax_strained_bcc_li_to_the_pbe_volume():
    from jobflow import run_locally
    from pymatgen.core import Lattice, Structure

    from workflows.dft_gpaw import GPAWRelaxMaker, GPAWSettings

    # bcc Li primitive cell, 4 % too large; PBE equilibrium ≈ 20.2–20.3 Å³/atom
    a = 3.44 * 1.04
    h = a / 2
    cell = Structure(Lattice([[-h, h, h], [h, -h, h], [h, h, -h]]), ["Li"], [[0, 0, 0]])
    job = GPAWRelaxMaker(settings=GPAWSettings(ecut_eV=300.0), fmax=0.02, steps=40).make(cell)
    out = run_locally(job, ensure_success=True, log=False)[job.uuid][1].output
    assert out["converged"]
    assert cell.volume == pytest.approx(22.9, abs=0.1)
    assert out["structure"].volume == pytest.approx(20.25, abs=0.35)
    assert out["structure"].lattice.angles == pytest.approx((109.47,) * 3, abs=0.1)  # still bcc


def test_cli_refuses_a_large_cell():
    from typer.testing import CliRunner

    import workflows.cli_dft  # noqa: F401
    from screening.cli.app import app

    res = CliRunner().invoke(
        app,
        ["dft", "gap", "Li-Sb/Li3Sb/2x2x2/vac1/site0", "--candidates",
         str(ROOT / "candidates.yaml"), "--preset", "paper"],
    )  # fmt: skip
    assert res.exit_code != 0
    assert "127 atoms" in str(res.exception)
