"""VASP engine through atomate2: relax, static (gap, DOS) and the reference study's NVT MD.

Everything here configures atomate2 Makers and their pymatgen-based input generators
(:class:`RelaxMaker`/:class:`RelaxSetGenerator`, :class:`StaticMaker`/:class:`StaticSetGenerator`,
:class:`MDMaker`/:class:`MDSetGenerator`, :class:`MultiMDMaker`) with the protocol's settings;
nothing of VASP's input writing or output parsing is re-implemented.

The protocol (``paper`` preset, see SCIENCE.md): PBE (``GGA = PE``), PAW (PBE_54 POTCARs, Li_sv),
ENCUT 400 eV, EDIFF 1e-5 eV, Gamma point only for MD, NVT (Nosé–Hoover, ``MDALGO = 2``) at
300/548/900 K, POTIM 2 fs, 10 ps equilibration + 1990 ps production, VASP's on-the-fly machine-
learned force field (``ML_LMLFF = True``, ``ML_MODE = train``). ISPIN = 1: the Li alloys are
non-magnetic (halves the cost).

The MD is split into chained, restartable segments (:class:`MultiMDMaker`): each segment starts from
the previous CONTCAR (positions *and* velocities) and its ML_ABN (renamed ML_AB, so the force field
keeps learning from where it stopped); a failed segment is re-run alone, and
``MultiMDMaker.restart_from_uuid`` continues a finished chain. Production XDATCARs are concatenated
and analysed by :func:`screening.diffusion_files.analyze_file`, the same analysis as the MLIP MD.

POTCARs are licensed and not needed to build inputs: :func:`write_vasp_inputs` writes
``POTCAR.spec`` (the symbols) unless ``PMG_VASP_PSP_DIR`` is configured and ``potcar_spec=False``.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from atomate2.vasp.files import write_vasp_input_set
from atomate2.vasp.flows.md import MultiMDMaker
from atomate2.vasp.jobs.base import BaseVaspMaker, vasp_job
from atomate2.vasp.jobs.core import RelaxMaker, StaticMaker
from atomate2.vasp.jobs.md import MDMaker
from atomate2.vasp.sets.base import VaspInputGenerator
from atomate2.vasp.sets.core import MDSetGenerator, RelaxSetGenerator, StaticSetGenerator
from jobflow import Flow, Maker, job
from pymatgen.core import Structure
from pymatgen.io.vasp import Kpoints, Poscar

from screening.atomic import atomic_path
from screening.campaign import MDSettings
from screening.errors import InputError
from screening.paths import id_path

log = logging.getLogger(__name__)

JobType = Literal["relax", "static", "md"]
JOB_TYPES: tuple[JobType, ...] = ("relax", "static", "md")

#: the reference study's electronic settings, applied to every VASP job of the project
PROTOCOL_INCAR: dict[str, Any] = {
    "GGA": "PE",  # PBE (atomate2's base set is PBEsol, GGA = PS)
    "ENCUT": 400,
    "EDIFF": 1e-5,
    "ISPIN": 1,
}
#: VASP on-the-fly machine-learned force field during MD, as in the study
MLFF_INCAR: dict[str, Any] = {"ML_LMLFF": True, "ML_MODE": "train"}
#: MD extras: no charge-density/potential dumps from 1e6-step runs
MD_EXTRA_INCAR: dict[str, Any] = {"LAECHG": False, "LVTOT": False, "LCHARG": False}
POTCAR_FUNCTIONAL = "PBE_54"
PAPER_TEMPERATURES = (300.0, 548.0, 900.0)
DEFAULT_SEGMENT_PS = 50.0


def _incar(extra: dict[str, Any] | None) -> dict[str, Any]:
    return {**PROTOCOL_INCAR, **(extra or {})}


# ----------------------------------------------------------------------------- input generators


@dataclass
class ElectronicStaticSetGenerator(StaticSetGenerator):
    """atomate2's static set (tetrahedron ISMEAR −5, LORBIT 11) with a finer DOS grid.

    On large cells whose automatic mesh has too few points for tetrahedra, pymatgen itself
    switches to ISMEAR 0 (with a BadInputSetWarning).
    """

    nedos: int = 3001

    @property
    def incar_updates(self) -> dict:
        """Static updates plus NEDOS."""
        return {**super().incar_updates, "NEDOS": self.nedos}


def relax_set_generator(incar: dict[str, Any] | None = None) -> RelaxSetGenerator:
    """Full relaxation (ISIF 3) with the protocol's PBE settings."""
    return RelaxSetGenerator(
        user_incar_settings=_incar(incar), user_potcar_functional=POTCAR_FUNCTIONAL
    )


def static_set_generator(incar: dict[str, Any] | None = None) -> ElectronicStaticSetGenerator:
    """Static run for total energy, band gap and DOS (vasprun.xml eigenvalues + DOS)."""
    return ElectronicStaticSetGenerator(
        user_incar_settings=_incar(incar), user_potcar_functional=POTCAR_FUNCTIONAL
    )


def md_set_generator(
    temperature_K: float,
    nsteps: int,
    *,
    md: MDSettings | None = None,
    ml_force_field: bool = True,
    incar: dict[str, Any] | None = None,
) -> MDSetGenerator:
    """One NVT segment: Gamma only, POTIM from ``md``, XDATCAR every sample interval (NBLOCK)."""
    md = md or MDSettings()
    if md.thermostat != "nose-hoover":
        raise InputError(
            f"the VASP engine runs Nosé–Hoover NVT (MDALGO 2), not {md.thermostat!r}",
            field="md.thermostat",
            allowed=["nose-hoover"],
        )
    nblock = max(1, round(md.sample_interval_fs / md.timestep_fs))
    settings = {**MD_EXTRA_INCAR, "NBLOCK": nblock, **(MLFF_INCAR if ml_force_field else {})}
    return MDSetGenerator(
        ensemble="nvt",
        start_temp=temperature_K,
        end_temp=temperature_K,
        nsteps=nsteps,
        time_step=md.timestep_fs,
        user_incar_settings=_incar({**settings, **(incar or {})}),
        user_kpoints_settings=Kpoints.gamma_automatic((1, 1, 1)),
        user_potcar_functional=POTCAR_FUNCTIONAL,
    )


# ----------------------------------------------------------------------------- job makers


def vasp_relax_maker(incar: dict[str, Any] | None = None, **kwargs: Any) -> RelaxMaker:
    """atomate2 RelaxMaker with the protocol's settings."""
    return RelaxMaker(
        name="vasp relax (PBE)", input_set_generator=relax_set_generator(incar), **kwargs
    )


def vasp_static_maker(incar: dict[str, Any] | None = None, **kwargs: Any) -> StaticMaker:
    """atomate2 StaticMaker (energy, band gap, DOS) with the protocol's settings."""
    return StaticMaker(
        name="vasp static (PBE)", input_set_generator=static_set_generator(incar), **kwargs
    )


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _copy_plain(src: Path, dst: Path) -> None:
    """Copy ``src`` (gzipped or not, as atomate2 leaves outputs gzipped) to plain ``dst``."""
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)


@dataclass
class MLFFMDMaker(MDMaker):
    """atomate2's MDMaker, continuing a chain: velocities from CONTCAR, ML_AB from ML_ABN.

    atomate2's own chaining passes the final structure only (velocities are lost and the MLFF would
    restart from scratch); both matter for a 2 ns run cut into segments.
    """

    name: str = "vasp nvt md (MLFF)"

    @vasp_job
    def make(self, structure: Structure, prev_dir: str | Path | None = None) -> Any:
        """Prepare ML_AB and the velocity-carrying structure, then run atomate2's MD job."""
        if prev_dir is not None:
            structure = prepare_md_continuation(structure, prev_dir)
        return MDMaker.make.original(self, structure, prev_dir=prev_dir)


def prepare_md_continuation(
    structure: Structure, prev_dir: str | Path, workdir: str | Path = "."
) -> Structure:
    """Continue an MD segment from ``prev_dir``: its CONTCAR (with the velocity block, which the
    input set writes back into POSCAR) replaces ``structure``, and its ML_ABN(.gz) becomes
    ``workdir/ML_AB`` for VASP's on-the-fly force field (ML_MODE = train reads ML_AB if present).
    """
    prev = Path(str(prev_dir).split(":", 1)[-1])  # atomate2 dir_name may be host:path
    contcar = _find(prev, "CONTCAR")
    if contcar is not None:
        structure = Poscar.from_file(contcar).structure  # site property 'velocities'
    else:
        log.warning("no CONTCAR in %s: velocities are re-drawn", prev)
    ml_abn = _find(prev, "ML_ABN")
    if ml_abn is not None:
        _copy_plain(ml_abn, Path(workdir) / "ML_AB")
    else:
        log.warning("no ML_ABN in %s: the force field starts from scratch", prev)
    return structure


def segment_steps(md: MDSettings, segment_ps: float = DEFAULT_SEGMENT_PS) -> dict[str, list[int]]:
    """Step counts of the equilibration and production segments (each ≤ ``segment_ps``).

    Every production segment is a multiple of NBLOCK so XDATCAR frames stay equally spaced
    across segment boundaries.
    """
    if segment_ps <= 0:
        raise InputError("segment length must be positive", field="segment_ps", allowed="> 0 ps")
    nblock = max(1, round(md.sample_interval_fs / md.timestep_fs))
    per = max(nblock, int(segment_ps * 1000.0 / md.timestep_fs) // nblock * nblock)

    def split(total: int) -> list[int]:
        out = [per] * (total // per)
        if total % per:
            out.append(total % per)
        return out

    eq = round(md.equilibration_ps * 1000.0 / md.timestep_fs)
    prod = round(md.production_ps * 1000.0 / md.timestep_fs)
    prod -= prod % nblock
    return {"equilibration": split(eq), "production": split(prod)}


def vasp_md_chain(
    temperature_K: float,
    *,
    md: MDSettings | None = None,
    segment_ps: float = DEFAULT_SEGMENT_PS,
    ml_force_field: bool = True,
    incar: dict[str, Any] | None = None,
) -> tuple[MultiMDMaker, int]:
    """atomate2 MultiMDMaker of all segments at one temperature; also the number of
    equilibration segments (the first ones, excluded from the diffusion analysis)."""
    md = md or MDSettings()
    steps = segment_steps(md, segment_ps)
    makers: list[BaseVaspMaker] = []
    for kind, counts in steps.items():
        for i, n in enumerate(counts, start=1):
            gen = md_set_generator(
                temperature_K, n, md=md, ml_force_field=ml_force_field, incar=incar
            )
            makers.append(
                MLFFMDMaker(
                    name=f"vasp nvt {temperature_K:g}K {kind} {i}/{len(counts)}",
                    input_set_generator=gen,
                )
            )
    return MultiMDMaker(name=f"vasp nvt md {temperature_K:g}K", md_makers=makers), len(
        steps["equilibration"]
    )


# ----------------------------------------------------------------------------- MD outputs


def concatenate_xdatcars(directories: list[str | Path], out: str | Path) -> Path:
    """One XDATCAR from the segments' XDATCAR(.gz) files, in order (real VASP format in/out).

    Each VASP segment's XDATCAR starts with the first NBLOCK-th configuration of that segment, so
    plain concatenation keeps frames equally spaced.
    """
    from ase.io import read, write

    frames: list[Any] = []
    for d in directories:
        path = _find(Path(str(d).split(":", 1)[-1]), "XDATCAR")
        if path is None:
            raise InputError("no XDATCAR in the MD segment directory", file=d, field="XDATCAR")
        if path.suffix == ".gz":
            with gzip.open(path, "rt") as handle:
                frames.extend(read(handle, index=":", format="vasp-xdatcar"))
        else:
            frames.extend(read(path, index=":", format="vasp-xdatcar"))
    out = Path(out)
    with atomic_path(out) as tmp:
        write(tmp, frames, format="vasp-xdatcar")
    return out


@job
def analyze_vasp_md(
    dir_names: list[str],
    *,
    temperature_K: float,
    timestep_fs: float,
    stride: int,
    out: str,
    species: str = "Li",
) -> dict[str, Any]:
    """Concatenate the production XDATCARs and run the project's diffusion analysis."""
    from screening.diffusion_files import analyze_file

    path = concatenate_xdatcars(dir_names, out)
    result = analyze_file(
        path, temperature_K=temperature_K, species=species, timestep_fs=timestep_fs, stride=stride
    )
    return {"xdatcar": str(path), "diffusion": result.model_dump(mode="json")}


@dataclass
class VaspNVTFlowMaker(Maker):
    """The reference MD protocol for one candidate: a restartable MD chain + analysis per T."""

    name: str = "vasp nvt md"
    md: MDSettings = field(default_factory=MDSettings)
    temperatures: list[float] = field(default_factory=lambda: list(PAPER_TEMPERATURES))
    segment_ps: float = DEFAULT_SEGMENT_PS
    ml_force_field: bool = True
    incar: dict[str, Any] = field(default_factory=dict)
    out_dir: str = "vasp-md"

    def make(self, structure: Structure, candidate_id: str) -> Flow:
        """One MultiMDMaker flow and one analysis job per temperature."""
        jobs: list[Any] = []
        analyses: dict[str, Any] = {}
        stride = max(1, round(self.md.sample_interval_fs / self.md.timestep_fs))
        for t in self.temperatures:
            maker, n_eq = vasp_md_chain(
                t,
                md=self.md,
                segment_ps=self.segment_ps,
                ml_force_field=self.ml_force_field,
                incar=self.incar,
            )
            chain = maker.make(structure)
            production = [j.output.dir_name for j in chain.jobs[n_eq:-1]]
            analysis = analyze_vasp_md(
                production,
                temperature_K=t,
                timestep_fs=self.md.timestep_fs,
                stride=stride,
                out=str(id_path(self.out_dir, candidate_id, f"T{t:04.0f}K.XDATCAR")),
            )
            analysis.name = f"analyse vasp md {t:g}K"
            jobs += [chain, analysis]
            analyses[f"{t:g}"] = analysis.output
        return Flow(jobs, output=analyses, name=f"{self.name} {candidate_id}")


# ----------------------------------------------------------------------------- inputs only


def input_generator(
    job_type: JobType,
    *,
    temperature_K: float = PAPER_TEMPERATURES[0],
    md: MDSettings | None = None,
    segment_ps: float = DEFAULT_SEGMENT_PS,
) -> VaspInputGenerator:
    """The generator of a job type (MD: its first, equilibration, segment at ``temperature_K``)."""
    if job_type == "relax":
        return relax_set_generator()
    if job_type == "static":
        return static_set_generator()
    if job_type == "md":
        md = md or MDSettings()
        steps = segment_steps(md, segment_ps)
        first = (steps["equilibration"] or steps["production"])[0]
        return md_set_generator(temperature_K, first, md=md)
    raise InputError(f"unknown VASP job type {job_type!r}", field="job_type", allowed=JOB_TYPES)


def write_vasp_inputs(
    structure: Structure,
    out_dir: str | Path,
    *,
    job_types: tuple[JobType, ...] = JOB_TYPES,
    temperatures: tuple[float, ...] = PAPER_TEMPERATURES,
    md: MDSettings | None = None,
    segment_ps: float = DEFAULT_SEGMENT_PS,
    potcar_spec: bool = True,
) -> dict[str, Path]:
    """Write INCAR/KPOINTS/POSCAR/POTCAR(.spec) per job type with atomate2's writer.

    Layout: ``out_dir/relax``, ``out_dir/static``, ``out_dir/md_T0300K`` (first MD segment).
    Written into a temporary sibling and renamed, so a failure leaves nothing behind.
    """
    import tempfile

    target = Path(out_dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError("output directory exists and is not empty", file=target, field="--out")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    written: dict[str, Path] = {}
    try:
        for jt in job_types:
            temps = temperatures if jt == "md" else (None,)
            for t in temps:
                sub = jt if t is None else f"md_T{t:04.0f}K"
                gen = input_generator(jt, temperature_K=t or 300.0, md=md, segment_ps=segment_ps)
                write_vasp_input_set(
                    structure,
                    gen,
                    directory=tmp / sub,
                    potcar_spec=potcar_spec,
                    clean_prev=False,
                )
                written[sub] = target / sub
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


# ----------------------------------------------------------------------------- static outputs


def band_gap_from_vasprun(path: str | Path, phase: str) -> Any:
    """:class:`screening.ab_initio.BandGapResult` from a static run's vasprun.xml (pymatgen)."""
    import numpy as np
    from pymatgen.io.vasp import Vasprun

    from screening.ab_initio import BandGapResult

    run = Vasprun(str(path), parse_potcar_file=False)
    # the band structure's metal test, not eigenvalue_band_properties: for a metal on a discrete
    # k mesh the latter returns the level spacing at E_F as a "gap"
    bands = run.get_band_structure(efermi="smart")
    dos = run.complete_dos
    efermi = float(run.efermi)
    if bands.is_metal():
        gap, is_direct, e_eval = 0.0, False, efermi
    else:
        info = bands.get_band_gap()
        gap, is_direct = float(info["energy"]), bool(info["direct"])
        e_eval = 0.5 * (float(bands.get_cbm()["energy"]) + float(bands.get_vbm()["energy"]))
    densities = sum(np.asarray(d) for d in dos.densities.values())
    n_atoms = len(run.final_structure)
    dos_ef = float(np.interp(e_eval, np.asarray(dos.energies), densities)) / n_atoms
    kpts = run.kpoints.kpts[0] if run.kpoints.kpts else [1, 1, 1]
    return BandGapResult(
        phase=phase,
        formula=run.final_structure.composition.reduced_formula,
        n_atoms=n_atoms,
        engine="VASP, PBE",
        band_gap_eV=max(float(gap), 0.0),
        is_direct=bool(is_direct) if gap > 0 else None,
        fermi_level_eV=efermi,
        dos_at_fermi=max(dos_ef, 0.0),
        dos_width_eV=float(run.parameters.get("SIGMA", 0.05)) or 0.05,
        total_energy_eV=float(run.final_energy),
        kpts=[int(k) for k in kpts],
        settings={k: run.incar.get(k) for k in ("ENCUT", "ISMEAR", "SIGMA", "GGA")},
    )


__all__ = [
    "JOB_TYPES",
    "MLFF_INCAR",
    "PAPER_TEMPERATURES",
    "POTCAR_FUNCTIONAL",
    "PROTOCOL_INCAR",
    "ElectronicStaticSetGenerator",
    "MLFFMDMaker",
    "VaspNVTFlowMaker",
    "analyze_vasp_md",
    "band_gap_from_vasprun",
    "concatenate_xdatcars",
    "input_generator",
    "md_set_generator",
    "prepare_md_continuation",
    "relax_set_generator",
    "segment_steps",
    "static_set_generator",
    "vasp_md_chain",
    "vasp_relax_maker",
    "vasp_static_maker",
    "write_vasp_inputs",
]
