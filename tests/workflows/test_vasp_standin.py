"""The STAND-IN ``vasp_std`` (tests/standins/vasp_std) writes what VASP writes, well enough for
pymatgen, custodian and atomate2/emmet to treat its runs as VASP runs.

It is a stand-in, not VASP: energies, forces and stress come from its toy Morse pair potential,
the electronic structure is the empty-lattice model (every phase a metal). What is checked here
is the file contract: the inputs are atomate2's own (the protocol's generators of
workflows.vasp), the run goes through atomate2's ``run_vasp`` (custodian with VASP's error
handlers and validators), and pymatgen's ``Vasprun``/``Outcar``/``Oszicar``/``Xdatcar``/``Poscar``
and emmet's ``TaskDoc.from_directory`` parse the outputs; the numbers must be the stand-in
engine's own (the known answer it promises) and obey the INCAR (NSW, NBLOCK, POTIM, TEBEG, ISIF,
EDIFFG).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from atomate2.vasp.files import write_vasp_input_set
from pymatgen.io.vasp import Oszicar, Outcar, Poscar, Vasprun, Xdatcar

from screening.campaign import load_campaign
from screening.candidates import generate_candidates
from workflows.vasp import md_set_generator, relax_set_generator, static_set_generator

STANDIN = Path(__file__).resolve().parents[1] / "standins" / "vasp_std"
MINI = Path(__file__).parent / "data" / "mini_vasp_campaign.yaml"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def cells():
    campaign = load_campaign(MINI)
    return {c.id: c.structure for c in generate_candidates(campaign, "ci")}


def run_standin(run_dir: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(STANDIN)], cwd=run_dir, capture_output=True,
                         text=True, timeout=300, env=env)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


def prepare(tmp: Path, structure, generator) -> Path:
    write_vasp_input_set(structure, generator, directory=tmp, potcar_spec=True)
    return tmp


def engine_energy(structure) -> float:
    """The stand-in engine's energy of ``structure``, computed here (its promised answer)."""
    from importlib.machinery import SourceFileLoader

    from pymatgen.io.ase import AseAtomsAdaptor

    standin = SourceFileLoader("vasp_standin", str(STANDIN)).load_module()
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = standin.ToyMorse().ase
    return float(atoms.get_potential_energy())


def test_relax_outputs_parse_and_obey_isif_and_ediffg(cells, tmp_path: Path) -> None:
    li3sb = cells["Li-Sb/Li3Sb/1x1x1/vac0"]
    strained = li3sb.copy()
    strained.scale_lattice(li3sb.volume * 1.06)  # start 6 % too large: ISIF 3 must shrink it
    run = prepare(tmp_path, strained, relax_set_generator())
    stdout = run_standin(run)
    assert "STAND-IN" in stdout
    vr = Vasprun(str(run / "vasprun.xml"), parse_potcar_file=False)
    assert vr.converged_ionic and vr.converged_electronic and vr.converged
    assert vr.incar["ISIF"] == 3 and vr.parameters["NSW"] == 99
    assert 1 < len(vr.ionic_steps) < 99
    assert vr.final_structure.volume < 0.99 * strained.volume  # the cell relaxed
    ediffg = abs(vr.incar["EDIFFG"])
    assert np.abs(vr.ionic_steps[-1]["forces"]).max() < ediffg
    # the energy is the stand-in engine's on the final structure
    assert vr.final_energy == pytest.approx(engine_energy(vr.final_structure), abs=1e-5)
    assert vr.parameters["NELECT"] == pytest.approx(12 * 3 + 4 * 5)  # Li_sv 3, Sb 5 electrons
    osz, outcar = Oszicar(str(run / "OSZICAR")), Outcar(str(run / "OUTCAR"))
    assert len(osz.ionic_steps) == len(vr.ionic_steps)
    assert osz.final_energy == pytest.approx(vr.final_energy, abs=1e-6)
    assert outcar.final_energy == pytest.approx(vr.final_energy, abs=1e-6)
    assert outcar.run_stats["cores"] == 1 and outcar.run_stats["Elapsed time (sec)"] >= 0
    contcar = Poscar.from_file(run / "CONTCAR").structure
    assert contcar.lattice.volume == pytest.approx(vr.final_structure.volume, rel=1e-6)


def test_md_obeys_nsw_nblock_potim_tebeg_and_carries_velocities(cells, tmp_path: Path) -> None:
    from screening.campaign import MDSettings

    cell = cells["Li-Mg/LiMg-B2/2x2x2/vac1/seed0"]
    md = MDSettings(timestep_fs=2.0, sample_interval_fs=10.0)
    run = prepare(tmp_path, cell, md_set_generator(900.0, 60, md=md))
    stdout = run_standin(run)
    assert "ML_AB not found" in stdout  # ML_LMLFF on, first segment
    vr = Vasprun(str(run / "vasprun.xml"), parse_potcar_file=False, parse_dos=False)
    assert vr.incar["MDALGO"] == 2 and vr.incar["ML_LMLFF"] is True
    assert vr.md_n_steps == 60 and vr.converged_ionic  # NSW steps, as VASP counts them
    xd = Xdatcar(str(run / "XDATCAR"))
    assert len(xd.structures) == 60 // 5  # NBLOCK 5 = 10 fs / POTIM 2
    assert xd.structures[0].composition == cell.composition
    temps = [s["T"] for s in Oszicar(str(run / "OSZICAR")).ionic_steps]
    assert len(temps) == 60 and 400 < np.mean(temps) < 1500  # NVT near TEBEG 900 K (15 atoms)
    contcar = Poscar.from_file(run / "CONTCAR")
    v = np.asarray(contcar.velocities)  # Å/fs, VASP's CONTCAR velocity block
    assert v.shape == (len(cell), 3) and 0.001 < np.abs(v).mean() < 0.1
    assert "configurations: 12" in (run / "ML_ABN").read_text()

    # a continuation: POSCAR with CONTCAR's velocities and the previous ML_ABN as ML_AB
    nxt = tmp_path / "next"
    gen = md_set_generator(900.0, 20, md=md)
    contcar_structure = Poscar.from_file(run / "CONTCAR").structure
    write_vasp_input_set(contcar_structure, gen, directory=nxt, potcar_spec=True)
    (nxt / "ML_AB").write_text((run / "ML_ABN").read_text())
    out2 = run_standin(nxt)
    assert "velocities read from POSCAR" in out2 and "ML_AB read: 12 training" in out2


def test_runs_through_custodian_and_atomate2_task_document(cells, tmp_path: Path) -> None:
    """atomate2's run_vasp (custodian, default handlers and validators) + emmet's TaskDoc."""
    from atomate2.vasp.jobs.base import get_vasp_task_document
    from atomate2.vasp.run import run_vasp

    run = prepare(tmp_path, cells["Li-Sb/Li3Sb/1x1x1/vac0"], static_set_generator())
    with contextlib.chdir(run):
        run_vasp(vasp_cmd=f"{sys.executable} {STANDIN}", vasp_gamma_cmd="vasp_gam",
                 custodian_kwargs={"polling_time_step": 0.2, "monitor_freq": 1})  # fmt: skip
    doc = get_vasp_task_document(run)
    assert doc.state == "successful"
    assert doc.vasp_version.startswith("6.4")
    assert str(doc.run_type).upper().startswith("PBE") or "GGA" in str(doc.run_type).upper()
    assert doc.input.incar["ENCUT"] == pytest.approx(400) and doc.input.incar["GGA"] in ("PE", "Pe")
    assert doc.output.bandgap == 0.0  # the stand-in's empty lattice: a metal
    assert doc.output.energy == pytest.approx(
        engine_energy(Poscar.from_file(run / "POSCAR").structure), abs=1e-5
    )
