"""Local, licence-free DFT engine: GPAW (PBE, PAW, plane waves) for small cells.

What it computes
* :func:`gpaw_band_gap` — SCF on a Gamma-centred k mesh, Kohn–Sham gap (ASE's ``bandgap`` on the
  mesh eigenvalues) and the DOS per atom at the Fermi level (Gaussian-broadened; at mid-gap for
  gapped systems) → :class:`screening.ab_initio.BandGapResult`, whose ``assessment()`` feeds the
  electronic criterion as ``computed (GPAW, PBE)``.
* :func:`gpaw_energy_forces` — static energy + forces (MLIP validation snapshots).
* :func:`gpaw_relax` — PBE relaxation of positions and cell (FIRE or BFGS on a Fréchet cell
  filter, optionally within the space group).

jobflow Makers wrap each (:class:`GPAWBandGapMaker`, :class:`GPAWStaticMaker`,
:class:`GPAWRelaxMaker`). ``gpaw`` is imported lazily: without it, only calling an engine fails,
with the install hint. Install: ``bash .ci/install_dft.sh`` (see /work/shared/tools/GPAW.md).
Runs are serial in-process; for 2+ ranks launch the calling script under ``mpirun``.

Defaults (checked on Li3Sb: gap 0.72 eV at 300 eV, 6×6×6 mesh): 350 eV cutoff, k density 3.0
points per Å⁻¹ (rounded up to even, Gamma-centred, so the X point of fcc cells is on the mesh),
Fermi–Dirac 0.01 eV occupations.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Maker, job
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from screening.ab_initio import BandGapResult
from screening.atomic import write_text_atomic
from screening.errors import InputError

log = logging.getLogger(__name__)

ENGINE = "GPAW, PBE"
INSTALL_HINT = "install it with `bash .ci/install_dft.sh` (GPAW 26.7.0, see README 'Set up')"


class GPAWSettings(BaseModel):
    """Plane-wave PBE settings; defaults are sensible for small Li-alloy cells."""

    model_config = ConfigDict(extra="forbid")

    xc: str = "PBE"
    ecut_eV: float = Field(default=350.0, gt=50, description="plane-wave cutoff")
    kpt_density: float = Field(
        default=3.0, gt=0, description="k points per Å⁻¹ (ASE convention), Gamma-centred, even"
    )
    kpts: list[int] | None = Field(default=None, description="explicit mesh; overrides density")
    smearing_eV: float = Field(default=0.01, gt=0, description="Fermi–Dirac width")
    dos_width_eV: float = Field(default=0.1, gt=0, description="Gaussian width of the DOS")
    dos_kpt_density: float = Field(
        default=6.0,
        gt=0,
        description="metals only: non-SCF k density for the DOS at E_F (the SCF mesh is too "
        "coarse: bcc Li 8x8x8 gives 1.2, 16x16x16 0.57 states/eV/atom)",
    )
    energy_convergence_eV: float = Field(
        default=1e-5, gt=0, description="SCF energy change per valence electron"
    )
    spinpol: bool = False
    txt: str | None = Field(default=None, description="GPAW log file (None: no log)")


def gpaw_available() -> bool:
    """True when ``gpaw`` and its C extension import."""
    try:
        import _gpaw  # noqa: F401
        import gpaw  # noqa: F401
    except ImportError:
        return False
    return True


def _require_gpaw() -> Any:
    try:
        import gpaw
    except ImportError as exc:
        raise InputError(f"GPAW is not installed ({exc}); {INSTALL_HINT}", field="engine") from exc
    return gpaw


def kpoint_mesh(atoms: Any, settings: GPAWSettings) -> list[int]:
    """The k mesh GPAW will use: explicit, or from the density (even, ≥ 1; 1 along non-PBC)."""
    if settings.kpts is not None:
        if len(settings.kpts) != 3 or any(k < 1 for k in settings.kpts):
            raise InputError(
                f"bad k mesh {settings.kpts}", field="kpts", allowed="3 positive integers"
            )
        return list(settings.kpts)
    from ase.calculators.calculator import kptdensity2monkhorstpack

    return [int(k) for k in kptdensity2monkhorstpack(atoms, settings.kpt_density, even=True)]


def gpaw_calculator(atoms: Any, settings: GPAWSettings | None = None, **overrides: Any) -> Any:
    """A GPAW calculator for ``atoms`` with ``settings`` (plane waves, Gamma-centred mesh)."""
    _require_gpaw()
    from gpaw import GPAW, PW, FermiDirac

    s = settings or GPAWSettings()
    params: dict[str, Any] = dict(
        mode=PW(s.ecut_eV),
        xc=s.xc,
        kpts={"size": kpoint_mesh(atoms, s), "gamma": True},
        occupations=FermiDirac(s.smearing_eV),
        convergence={"energy": s.energy_convergence_eV},
        spinpol=s.spinpol,
        txt=s.txt,
    )
    params.update(overrides)
    return GPAW(**params)


def primitive_cell(structure: Structure) -> Structure:
    """The primitive standard cell GPAW computes a gap on (also sizes the screen's gap jobs)."""
    return SpacegroupAnalyzer(structure, symprec=1e-3).get_primitive_standard_structure()


def too_large_for_gap(
    structure: Structure, max_atoms: int, what: str = "primitive cell"
) -> str | None:
    """Why ``structure`` gets no band-gap job (primitive cell above ``max_atoms``), else None."""
    n = len(primitive_cell(structure))
    return f"{what} {n} atoms > electronic.max_atoms {max_atoms}" if n > max_atoms else None


def _as_atoms(structure: Structure | Any, *, primitive: bool) -> Any:
    if isinstance(structure, Structure):
        if not structure.is_ordered:
            raise InputError(
                "a DFT cell must be ordered (use an ordered approximant)", field="structure"
            )
        if primitive:
            structure = primitive_cell(structure)
        return AseAtomsAdaptor.get_atoms(structure)
    return structure.copy()


def gpaw_band_gap(
    structure: Structure | Any,
    phase: str,
    *,
    settings: GPAWSettings | None = None,
    primitive: bool = True,
) -> BandGapResult:
    """Kohn–Sham band gap and DOS at E_F of ``structure`` (pymatgen Structure or ASE Atoms).

    ``primitive`` reduces a pymatgen structure to its primitive standard cell first (same
    electronic structure, fewer atoms). The gap is read from the SCF mesh eigenvalues, so an
    indirect gap is exact only when both band edges lie on the mesh (Gamma-centred even meshes
    contain Γ, X and L of fcc/bcc cells).
    """
    s = settings or GPAWSettings()
    atoms = _as_atoms(structure, primitive=primitive)
    from ase.dft.bandgap import bandgap
    from ase.dft.dos import DOS

    t0 = time.perf_counter()
    mesh = kpoint_mesh(atoms, s)
    atoms.calc = gpaw_calculator(atoms, s)
    energy = float(atoms.get_potential_energy())
    calc = atoms.calc
    fermi = float(calc.get_fermi_level())
    gap, p1, p2 = bandgap(calc, output=None)
    dgap, _, _ = bandgap(calc, direct=True, output=None)
    ibz = np.asarray(calc.get_ibz_k_points())
    # Metals: DOS at E_F. Gapped: at mid-gap (E_F from Fermi–Dirac occupations may sit anywhere
    # in the gap, even next to an edge; mid-gap keeps the broadened tails out).
    e_eval = fermi
    if gap > 0 and p1[0] is not None:
        vbm = calc.get_eigenvalues(kpt=p1[1], spin=p1[0])[p1[2]]
        cbm = calc.get_eigenvalues(kpt=p2[1], spin=p2[0])[p2[2]]
        e_eval = 0.5 * (float(vbm) + float(cbm))
    dos_calc = calc
    if gap == 0 and s.kpts is None and s.dos_kpt_density > s.kpt_density:
        dense = kpoint_mesh(atoms, s.model_copy(update={"kpt_density": s.dos_kpt_density}))
        dos_calc = calc.fixed_density(
            kpts={"size": dense, "gamma": True}, txt=None, update_fermi_level=True
        )
        fermi = float(dos_calc.get_fermi_level())
        e_eval = fermi
    de = e_eval - fermi  # ASE's DOS energies are relative to E_F
    dos = DOS(dos_calc, width=s.dos_width_eV, window=(de - 1.0, de + 1.0), npts=401)
    dos_ef = float(np.interp(de, dos.get_energies(), dos.get_dos())) / len(atoms)
    wall = time.perf_counter() - t0
    log.info("GPAW %s: gap %.3f eV, DOS(E_F) %.3g /eV/atom, %.1f s", phase, gap, dos_ef, wall)
    return BandGapResult(
        phase=phase,
        formula=atoms.get_chemical_formula(mode="metal"),
        n_atoms=len(atoms),
        engine=ENGINE if s.xc == "PBE" else f"GPAW, {s.xc}",
        band_gap_eV=float(gap),
        direct_gap_eV=float(dgap),
        is_direct=bool(gap > 0 and p1[1] == p2[1]) if gap > 0 else None,
        vbm_kpoint=ibz[p1[1]].tolist() if gap > 0 else None,
        cbm_kpoint=ibz[p2[1]].tolist() if gap > 0 else None,
        fermi_level_eV=fermi,
        dos_at_fermi=max(dos_ef, 0.0),
        dos_width_eV=s.dos_width_eV,
        total_energy_eV=energy,
        kpts=mesh,
        settings=s.model_dump(exclude={"txt"}),
        wall_s=wall,
    )


def gpaw_energy_forces(
    atoms: Any, settings: GPAWSettings | None = None
) -> tuple[float, np.ndarray]:
    """Static PBE energy (eV) and forces (eV/Å) of an ASE ``Atoms`` (no symmetry reduction of
    the structure; snapshots of MD have none anyway)."""
    at = atoms.copy()
    at.calc = gpaw_calculator(at, settings)
    energy = float(at.get_potential_energy())
    return energy, np.asarray(at.get_forces())


def gpaw_version() -> str | None:
    """The installed GPAW version (None without GPAW); part of every DFT document."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gpaw")
    except PackageNotFoundError:
        return None


def gpaw_relax(
    structure: Structure,
    *,
    settings: GPAWSettings | None = None,
    fmax: float = 0.02,
    steps: int = 100,
    relax_cell: bool = True,
    optimizer: str = "FIRE",
    fix_symmetry: bool = False,
    stats: dict[str, Any] | None = None,
) -> tuple[Structure, float, bool]:
    """PBE relaxation (FIRE or BFGS; Fréchet cell filter when ``relax_cell``).

    ``fix_symmetry`` keeps the space group (ASE ``FixSymmetry``): the few free parameters of a
    high-symmetry cell converge in ~5–15 BFGS steps where FIRE on all of them takes ~50, which is
    what makes an 18-atom cell affordable. ``stats`` (if given) receives steps, k mesh, number of
    irreducible k points and wall time. Returns (relaxed structure, energy in eV, converged).
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE

    t0 = time.perf_counter()
    atoms = _as_atoms(structure, primitive=False)
    s = settings or GPAWSettings()
    mesh = kpoint_mesh(atoms, s)  # fixed for the whole relaxation (the calculator's)
    atoms.calc = gpaw_calculator(atoms, s)
    if fix_symmetry:
        from ase.constraints import FixSymmetry

        atoms.set_constraint(FixSymmetry(atoms, symprec=1e-3))
    target = FrechetCellFilter(atoms) if relax_cell else atoms
    opt = {"FIRE": FIRE, "BFGS": BFGS}[optimizer](target, logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    energy = float(atoms.get_potential_energy())
    if not converged:
        log.warning("GPAW relaxation not converged in %d steps (fmax %.3f eV/Å)", steps, fmax)
    if stats is not None:
        forces = atoms.get_forces(apply_constraint=False)  # not symmetrised
        stats.update(
            steps=int(opt.nsteps),
            kpts=mesh,
            n_ibz_kpts=len(atoms.calc.get_ibz_k_points()),
            max_force_eV_A=float(np.sqrt((forces**2).sum(axis=1)).max()),
            wall_s=time.perf_counter() - t0,
        )
    atoms.set_constraint()
    return AseAtomsAdaptor.get_structure(atoms), energy, converged


# ----------------------------------------------------------------------------- jobflow Makers


@dataclass
class GPAWBandGapMaker(Maker):
    """Band gap + DOS at E_F of one phase; output is a :class:`BandGapResult`."""

    name: str = "gpaw band gap"
    settings: GPAWSettings = field(default_factory=GPAWSettings)
    primitive: bool = True

    @job(output_schema=BandGapResult)
    def make(self, structure: Structure, phase: str) -> BandGapResult:
        """Run the SCF and read gap and DOS."""
        return gpaw_band_gap(structure, phase, settings=self.settings, primitive=self.primitive)


@dataclass
class GPAWStaticMaker(Maker):
    """Static energy and forces; output ``{"energy_eV", "forces_eV_A", "n_atoms"}``."""

    name: str = "gpaw static"
    settings: GPAWSettings = field(default_factory=GPAWSettings)

    @job
    def make(self, structure: Structure) -> dict[str, Any]:
        """Energy and forces of ``structure`` as given (no reduction to the primitive cell)."""
        energy, forces = gpaw_energy_forces(AseAtomsAdaptor.get_atoms(structure), self.settings)
        return {"energy_eV": energy, "forces_eV_A": forces.tolist(), "n_atoms": len(structure)}


@dataclass
class GPAWRelaxMaker(Maker):
    """PBE relaxation of a small cell.

    Output: ``{"structure", "energy_eV", "energy_per_atom_eV", "converged", "max_force_eV_A",
    "steps", "kpts", "n_ibz_kpts", "wall_s"}`` plus the settings, optimizer and GPAW version.
    """

    name: str = "gpaw relax"
    settings: GPAWSettings = field(default_factory=GPAWSettings)
    fmax: float = 0.02
    steps: int = 100
    relax_cell: bool = True
    optimizer: str = "FIRE"
    fix_symmetry: bool = False

    @job
    def make(self, structure: Structure) -> dict[str, Any]:
        """Relax positions (and cell); the final structure, energy, and how it was computed."""
        stats: dict[str, Any] = {}
        relaxed, energy, converged = gpaw_relax(
            structure,
            settings=self.settings,
            fmax=self.fmax,
            steps=self.steps,
            relax_cell=self.relax_cell,
            optimizer=self.optimizer,
            fix_symmetry=self.fix_symmetry,
            stats=stats,
        )
        return {
            "structure": relaxed,
            "energy_eV": energy,
            "energy_per_atom_eV": energy / len(relaxed),
            "converged": converged,
            **stats,
            "fmax_eV_A": self.fmax,
            "optimizer": self.optimizer,
            "fix_symmetry": self.fix_symmetry,
            "gpaw_version": gpaw_version(),
            "settings": self.settings.model_dump(exclude={"txt"}),
        }


def write_result(result: BaseModel, path: str | Path) -> Path:
    """Write a result model as JSON atomically (temp file, then rename)."""
    return write_text_atomic(path, result.model_dump_json(indent=1))


__all__ = [
    "ENGINE",
    "GPAWBandGapMaker",
    "GPAWRelaxMaker",
    "GPAWSettings",
    "GPAWStaticMaker",
    "gpaw_available",
    "gpaw_band_gap",
    "gpaw_calculator",
    "gpaw_energy_forces",
    "gpaw_relax",
    "gpaw_version",
    "kpoint_mesh",
    "primitive_cell",
    "too_large_for_gap",
    "write_result",
]
