"""VASP static outputs → band gap and electronic class, through pymatgen's own ``Vasprun`` parser.

MOCK: VASP is licensed and not installed here, so the VASP *binary* is mocked, and only it:
:func:`mock_vasp` plays its part in a run directory. It reads the inputs the project really writes
(``workflows.vasp.write_vasp_inputs``: INCAR, KPOINTS, POSCAR, POTCAR.spec) and writes
``vasprun.xml`` in VASP's XML schema (generator, incar, kpoints, parameters, atominfo,
initialpos, calculation with scstep/structure/forces/stress/energy/eigenvalues/dos, finalpos),
with a model electronic structure whose answer is known: fcc nearest-neighbour bands with the
valence-band maximum at Γ and the conduction-band minimum at X (Li3Sb's indirect Γ→X shape) and
a chosen gap, and harmonic forces about the ideal sites. The k points are the real irreducible
wedge of the KPOINTS mesh (spglib). Parsing is pymatgen's; nothing here reads XML by hand.
"""

from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.vasp import Incar, Kpoints, Poscar, Vasprun
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from screening.electronic import ElectronicClass
from workflows.vasp import band_gap_from_vasprun, write_vasp_inputs

A_LI3SB = 6.5445  # Å, conventional Fm-3m edge of Li3Sb (half the 13.089 Å 2x2x2 cell)
#: what the mock cannot read from the (licensed, absent) POTCARs: valence, mass, TITEL
PAW = {
    "Li_sv": (3.0, 6.941, "PAW_PBE Li_sv 10Sep2004"),
    "Sb": (5.0, 121.76, "PAW_PBE Sb 06Sep2000"),
}
E_IDEAL_EV = -12.6312  # mock total energy at the ideal sites
SPRING_EV_A2 = 4.0  # mock harmonic restoring constant (Einstein model, eV/Å²)
VBM_EV = 4.1234  # mock valence-band maximum (at Γ)


def li3sb_primitive() -> Structure:
    """BiF3-type Li3Sb, fcc primitive cell: Sb 4a, Li 4b and 8c (4 atoms)."""
    a = A_LI3SB / 2
    lattice = Lattice([[0, a, a], [a, 0, a], [a, a, 0]])
    frac = [[0.25] * 3, [0.75] * 3, [0.5] * 3, [0.0] * 3]
    return Structure(lattice, ["Li", "Li", "Li", "Sb"], frac)


# ----------------------------------------------------------------------------- the mock binary


def _fcc_nn(k: np.ndarray) -> np.ndarray:
    """Σ cos(2π k·R) over the 12 nearest neighbours of an fcc primitive cell: 6 at Γ, -2 at X."""
    k1, k2, k3 = (2 * np.pi * k).T
    return (np.cos(k1) + np.cos(k2) + np.cos(k3)
            + np.cos(k1 - k2) + np.cos(k2 - k3) + np.cos(k3 - k1))  # fmt: skip


def _bands(k: np.ndarray, gap_eV: float) -> np.ndarray:
    """(n_k, 12) model eigenvalues: 3 Li 1s, Sb 5s, 3 p valence (top at Γ), 5 conduction (X)."""
    f = _fcc_nn(k)[:, None]
    core = np.full((len(k), 3), -41.3)
    s_band = -7.9 - 0.6 * (f - 6) / 8
    valence = VBM_EV - np.array([1.8, 2.4, 3.1]) * (6 - f) / 8
    cbm = VBM_EV + gap_eV
    conduction = cbm + np.array([1.4, 2.0, 2.9, 3.5, 4.2]) * (f + 2) / 8 + [0, 0.3, 0.6, 1.1, 1.5]
    return np.hstack([core, s_band, valence, conduction])


def _i(name: str, value: object) -> str:
    """One ``<i>`` parameter as VASP writes it (floats untyped, others typed)."""
    if isinstance(value, bool):
        return f'<i type="logical" name="{name}"> {"T" if value else "F"}  </i>'
    if isinstance(value, int):
        return f'<i type="int" name="{name}">{value:6d}</i>'
    if isinstance(value, float):
        return f'<i name="{name}">{value:16.8f}</i>'
    return f'<i type="string" name="{name}">{escape(str(value))}</i>'


def _varray(name: str, rows: np.ndarray) -> str:
    lines = "".join("<v>" + "".join(f"{x:16.8f}" for x in r) + " </v>\n" for r in rows)
    return f'<varray name="{name}" >\n{lines}</varray>'


def _structure(name: str | None, s: Structure) -> str:
    head = f'<structure name="{name}" >' if name else "<structure>"
    return (
        f"{head}\n<crystal>\n{_varray('basis', s.lattice.matrix)}\n"
        f'<i name="volume">{s.volume:16.8f} </i>\n'
        f"{_varray('rec_basis', s.lattice.reciprocal_lattice_crystallographic.matrix)}\n"
        f"</crystal>\n{_varray('positions', s.frac_coords)}\n</structure>"
    )


def _array(fields: list[str], dims: list[str], body: str) -> str:
    d = "".join(f'<dimension dim="{i + 1}">{x}</dimension>' for i, x in enumerate(dims))
    return f"<array>\n{d}\n{''.join(f'<field>{x}</field>' for x in fields)}\n{body}</array>"


def mock_vasp(run_dir: Path, *, gap_eV: float, ideal: Structure) -> None:
    """MOCK of the VASP binary (static run, ISPIN 1): inputs in ``run_dir`` → ``vasprun.xml``.

    Model physics: bands from :func:`_bands` (indirect Γ→X gap ``gap_eV``; negative = band
    overlap, a metal), T=0 occupations at the E_F that holds NELECT electrons, a 0.05 eV Gaussian
    total DOS (stand-in for the tetrahedron method of ISMEAR -5), forces -k(u - <u>) and energy
    E_ideal + k/2 Σu² for displacements u from ``ideal``.
    """
    incar = Incar.from_file(run_dir / "INCAR")
    kpoints = Kpoints.from_file(run_dir / "KPOINTS")
    structure = Poscar.from_file(run_dir / "POSCAR").structure
    potcars = (run_dir / "POTCAR.spec").read_text().split()
    mesh = tuple(int(n) for n in kpoints.kpts[0])
    ir = SpacegroupAnalyzer(structure).get_ir_reciprocal_mesh(mesh, is_shift=(0, 0, 0))
    kpts = np.array([k for k, _ in ir], dtype=float)
    weights = np.array([w for _, w in ir], dtype=float) / np.prod(mesh)

    species = [str(sp) for sp in structure.species]
    types = list(dict.fromkeys(species))
    nelect = sum(PAW[p][0] * species.count(t) for t, p in zip(types, potcars, strict=True))
    eig = _bands(kpts, gap_eV)
    levels = np.sort(eig.ravel())
    # E_F: lowest level at which 2 Σ w·θ(E_F - ε) holds NELECT (mid-way to the next level above)
    count = np.array([2 * np.sum(weights[:, None] * (eig <= e)) for e in levels])
    i_f = int(np.argmax(count >= nelect - 1e-9))
    above = levels[levels > levels[i_f]]
    efermi = levels[i_f] if count[i_f] > nelect + 1e-9 else 0.5 * (levels[i_f] + above[0])
    occ = (eig <= efermi).astype(float)

    u = structure.cart_coords - ideal.cart_coords
    forces = -SPRING_EV_A2 * (u - u.mean(axis=0))
    energy = E_IDEAL_EV + 0.5 * SPRING_EV_A2 * float(np.sum(u * u))
    stress = -1.5 * np.eye(3)  # kB

    grid = np.linspace(levels[0] - 2, levels[-1] + 2, int(incar.get("NEDOS", 301)))
    width = 0.05
    gauss = np.exp(-0.5 * ((grid[:, None] - eig.ravel()[None, :]) / width) ** 2)
    dos = 2 * gauss @ np.repeat(weights, eig.shape[1]) / (width * math.sqrt(2 * math.pi))
    idos = np.concatenate([[0.0], np.cumsum(0.5 * (dos[1:] + dos[:-1]) * np.diff(grid))])

    incar_xml = "\n".join(_i(k, v) for k, v in incar.items())
    nelm = int(incar.get("NELM", 60))
    params = {
        "general": {"SYSTEM": structure.formula, "LCOMPAT": False},
        "electronic": {
            "PREC": str(incar.get("PREC", "normal")).lower(), "ENMAX": float(incar["ENCUT"]),
            "NELECT": float(nelect), "NBANDS": eig.shape[1], "ISPIN": int(incar.get("ISPIN", 1)),
            "NELM": nelm, "EDIFF": float(incar.get("EDIFF", 1e-4)),
            "ISMEAR": int(incar.get("ISMEAR", 1)), "SIGMA": float(incar.get("SIGMA", 0.2)),
            "GGA": str(incar.get("GGA", "--")).upper(),
        },
        "ionic": {"NSW": int(incar.get("NSW", 0)), "IBRION": -1, "EDIFFG": 1e-3},
        "dos": {"LORBIT": int(incar.get("LORBIT", 0)), "NEDOS": len(grid),
                "EMIN": float(grid[0]), "EMAX": float(grid[-1])},
    }  # fmt: skip
    params_xml = "\n".join(
        f'<separator name="{sep}" >\n' + "\n".join(_i(k, v) for k, v in vals.items())
        + "\n</separator>" for sep, vals in params.items()
    )  # fmt: skip
    atoms_rc = "".join(f"<rc><c>{s}</c><c>{types.index(s) + 1:4d}</c></rc>\n" for s in species)
    types_rc = "".join(
        f"<rc><c>{species.count(t):4d}</c><c>{t:2s}</c><c>{PAW[p][1]:16.8f}</c>"
        f"<c>{PAW[p][0]:16.8f}</c><c>  {PAW[p][2]}</c></rc>\n"
        for t, p in zip(types, potcars, strict=True)
    )
    energy_xml = (
        f'<energy>\n<i name="e_fr_energy">{energy:16.8f} </i>\n'
        f'<i name="e_wo_entrp">{energy:16.8f} </i>\n<i name="e_0_energy">{energy:16.8f} </i>\n'
        "</energy>"
    )
    # a converging SCF: energy differences shrinking ten-fold per step
    scsteps = "".join(
        f'<scstep>\n<energy>\n<i name="e_fr_energy">{energy + 10.0**-n:16.8f} </i>\n'
        f'<i name="e_wo_entrp">{energy + 10.0**-n:16.8f} </i>\n'
        f'<i name="e_0_energy">{energy + 10.0**-n:16.8f} </i>\n</energy>\n</scstep>\n'
        for n in (0, 1, 2, 3, 4, 5, 6, 10)
    )
    eig_sets = "".join(
        f'<set comment="kpoint {ik + 1}">\n'
        + "".join(f"<r>{e:10.4f}{o:10.4f} </r>\n" for e, o in zip(eig[ik], occ[ik], strict=True))
        + "</set>\n"
        for ik in range(len(kpts))
    )
    dos_rows = "".join(
        f"<r>{e:11.4f}{d:12.4f}{n:12.4f} </r>\n" for e, d, n in zip(grid, dos, idos, strict=True)
    )
    genvec = "".join(
        f'<v name="genvec{i + 1}">' + "".join(f"{x:16.8f}" for x in row) + " </v>\n"
        for i, row in enumerate(np.diag(1.0 / np.array(mesh)))
    )
    zeros = "".join(f"{0.0:16.8f}" for _ in range(3))
    spin1 = '<set>\n<set comment="spin 1">\n{}</set>\n</set>\n'
    eig_xml = _array(["eigene", "occ"], ["band", "kpoint", "spin"], spin1.format(eig_sets))
    dos_xml = _array(
        ["energy", "total", "integrated"], ["gridpoints", "spin"], spin1.format(dos_rows)
    )
    xml = f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<modeling>
<generator>
<i name="program" type="string">vasp </i>
<i name="version" type="string">6.4.2  </i>
<i name="subversion" type="string">mock (ilscreen tests) </i>
<i name="platform" type="string">LinuxGNU </i>
<i name="date" type="string">2025 01 01 </i>
<i name="time" type="string">00:00:00 </i>
</generator>
<incar>
{incar_xml}
</incar>
<kpoints>
<generation param="{kpoints.style.name}">
<v type="int" name="divisions">{"".join(f"{n:8d}" for n in mesh)} </v>
<v name="usershift">{zeros} </v>
{genvec}<v name="shift">{zeros} </v>
</generation>
{_varray("kpointlist", kpts)}
{_varray("weights", weights[:, None])}
</kpoints>
<parameters>
{params_xml}
</parameters>
<atominfo>
<atoms>{len(species):8d} </atoms>
<types>{len(types):8d} </types>
<array name="atoms" >
<dimension dim="1">ion</dimension>
<field type="string">element</field>
<field type="int">atomtype</field>
<set>
{atoms_rc}</set>
</array>
<array name="atomtypes" >
<dimension dim="1">type</dimension>
<field type="int">atomspertype</field>
<field type="string">element</field>
<field>mass</field>
<field>valence</field>
<field type="string">pseudopotential</field>
<set>
{types_rc}</set>
</array>
</atominfo>
{_structure("initialpos", structure)}
<calculation>
{scsteps}{_structure(None, structure)}
{_varray("forces", forces)}
{_varray("stress", stress)}
{energy_xml}
<time name="totalsc">    1.00    1.00</time>
<eigenvalues>
{eig_xml}
</eigenvalues>
<dos>
<i name="efermi">{efermi:16.8f} </i>
<total>
{dos_xml}
</total>
</dos>
</calculation>
{_structure("finalpos", structure)}
</modeling>
"""
    (run_dir / "vasprun.xml").write_text(xml, encoding="ISO-8859-1")


# ----------------------------------------------------------------------------- tests


@pytest.fixture
def static_run(tmp_path: Path):
    """The project's real static inputs for a slightly displaced Li3Sb cell, run by the mock."""

    def run(gap_eV: float, displacement: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Path:
        ideal = li3sb_primitive()
        cell = ideal.copy()
        cell.translate_sites([0], displacement, frac_coords=False, to_unit_cell=False)
        written = write_vasp_inputs(cell, tmp_path / "vasp", job_types=("static",))
        run_dir = written["static"]
        mock_vasp(run_dir, gap_eV=gap_eV, ideal=ideal)
        return run_dir

    return run


def test_energies_forces_and_eigenvalues_parse_with_pymatgen(static_run) -> None:
    run_dir = static_run(0.72, displacement=(0.04, 0.0, 0.0))
    run = Vasprun(str(run_dir / "vasprun.xml"), parse_potcar_file=False)
    assert run.converged and run.vasp_version.startswith("6.4")
    assert run.potcar_symbols == ["PAW_PBE Li_sv 10Sep2004", "PAW_PBE Sb 06Sep2000"]
    assert run.final_structure.composition.reduced_formula == "Li3Sb"
    assert run.incar["ISMEAR"] == -5 and run.incar["ENCUT"] == pytest.approx(400)  # the protocol
    assert run.parameters["NELECT"] == pytest.approx(14)  # 3 Li_sv (1s2 2s1) + Sb 5s2 5p3
    # energy: E_ideal + k/2 u² for the one displaced Li
    assert run.final_energy == pytest.approx(E_IDEAL_EV + 0.5 * SPRING_EV_A2 * 0.04**2, abs=1e-7)
    forces = np.asarray(run.ionic_steps[-1]["forces"])
    assert forces.shape == (4, 3)
    assert np.allclose(forces.sum(axis=0), 0.0, atol=1e-7)  # no net force
    assert forces[0, 0] == pytest.approx(-SPRING_EV_A2 * 0.04 * 3 / 4, abs=1e-7)  # restoring
    assert np.allclose(run.ionic_steps[-1]["stress"], -1.5 * np.eye(3))
    # the 6x6x6 Γ-centred mesh of KPOINTS, reduced by the (displaced) cell's symmetry
    assert tuple(run.kpoints.kpts[0]) == (6, 6, 6)
    assert sum(run.actual_kpoints_weights) == pytest.approx(1.0, abs=1e-6)
    eig = run.eigenvalues[next(iter(run.eigenvalues))]
    assert eig.shape == (len(run.actual_kpoints), 12, 2)
    assert np.all(eig[:, :7, 1] == 1.0) and np.all(eig[:, 7:, 1] == 0.0)  # 7 bands hold 14 e


@pytest.mark.parametrize(
    ("gap", "cls"),
    [
        (0.72, ElectronicClass.INSULATOR),  # Li3Sb's PBE gap: above the 0.5 eV small-gap limit
        (0.40, ElectronicClass.SMALL_GAP),
    ],
)
def test_band_gap_from_vasprun(static_run, gap: float, cls: ElectronicClass) -> None:
    result = band_gap_from_vasprun(static_run(gap) / "vasprun.xml", "Li3Sb")
    assert result.engine == "VASP, PBE" and result.formula == "Li3Sb" and result.n_atoms == 4
    assert result.kpts == [6, 6, 6]
    assert result.total_energy_eV == pytest.approx(E_IDEAL_EV, abs=1e-7)
    assert result.band_gap_eV == pytest.approx(gap, abs=1e-4)
    assert result.is_direct is False  # VBM at Γ, CBM at X
    assert result.dos_at_fermi < 1e-3  # evaluated mid-gap: no states there
    ea = result.assessment()
    assert ea.source == "computed (VASP, PBE)" and ea.electronic_class is cls


def test_overlapping_bands_are_a_metal(static_run) -> None:
    """Conduction band 0.6 eV below the valence-band top: states at E_F, class metal."""
    result = band_gap_from_vasprun(static_run(-0.60) / "vasprun.xml", "Li3Sb")
    assert result.dos_at_fermi > 0.05
    assert result.assessment().electronic_class is ElectronicClass.METAL


def test_metal_reports_zero_gap(static_run) -> None:
    result = band_gap_from_vasprun(static_run(-0.60) / "vasprun.xml", "Li3Sb")
    assert result.band_gap_eV == 0.0
