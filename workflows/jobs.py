"""Small jobflow jobs of a screen: each turns upstream outputs into one ``screening`` model.

The science lives in ``screening``; these jobs only adapt atomate2/MD outputs to its inputs and
write what they produce (trajectories, plots, store documents) to the campaign directory.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jobflow import job
from pymatgen.core import Structure

from screening.ab_initio import BandGapResult
from screening.arrhenius import ArrheniusResult, arrhenius_from_results
from screening.barrier_plots import plot_neb
from screening.barriers import NEBTransport, compare_md_tst
from screening.conduction import ionic_conductivity
from screening.diffusion_files import analyze_file
from screening.diffusion_plots import plot_arrhenius, plot_msd
from screening.diffusion_result import DiffusionResult
from screening.dissolution import SolutionEnergy, solution_energy
from screening.electronic import assess_electronic
from screening.errors import InputError
from screening.paths import id_slug
from screening.ranking import RankingThresholds
from screening.results import (
    ArrheniusSummary,
    CandidateResult,
    OperatingPoint,
    Provenance,
    SystemResult,
    TransportPoint,
    apply_ranking,
)
from screening.store import ResultsStore
from screening.thermo import (
    PhaseEnergy,
    SystemThermo,
    ThermoSummary,
    build_system_thermo,
    plot_convex_hull,
    plot_voltage_profile,
)
from screening.units import FS_TO_PS

log = logging.getLogger(__name__)


def _max_force(output: Any) -> float | None:
    """Largest atomic force (eV/Å) of an atomate2 task output, None when it has no forces."""
    forces = getattr(output, "forces", None)
    if forces is None or not len(forces):
        return None
    return float(max(sum(f * f for f in row) ** 0.5 for row in forces))


@job
def phase_energy(
    task_doc: Any, *, system: str, phase: str, candidate_id: str, engine: str, potential: str
) -> PhaseEnergy:
    """Adapt an atomate2 ``ForceFieldTaskDocument`` (a relaxation) to a :class:`PhaseEnergy`."""
    out = task_doc.output
    structure: Structure = out.structure
    max_force = _max_force(out)
    return PhaseEnergy(
        system=system,
        phase=phase,
        formula=structure.composition.formula.replace(" ", ""),
        energy_eV=float(out.energy),
        n_atoms=len(structure),
        volume_A3=float(structure.volume),
        engine=engine,
        potential=potential,
        relaxed=True,
        max_force_eV_A=max_force,
        source_id=candidate_id,
    )


@job
def dissolution_energy(
    task_doc: Any, system: SystemResult, *, li_phase: str, fmax_eV_A: float
) -> SolutionEnergy | str:
    """M-in-Li solution energy from a relaxed solute supercell and the system's hull (same engine).

    Never fails the screen: an unusable hull becomes the note the ranking shows instead.
    """
    out = task_doc.output
    max_force = _max_force(out)
    n_li = sum(1 for site in out.structure if site.specie.symbol == "Li")
    try:
        res = solution_energy(
            system.thermo, solute_cell_energy_eV=float(out.energy), n_li=n_li, li_phase=li_phase,
            max_force_eV_A=max_force,
        )  # fmt: skip
    except (InputError, KeyError) as exc:
        return f"no solution energy for {system.system}: {exc}"
    if max_force is not None and max_force > fmax_eV_A:
        log.warning("%s solute cell not relaxed: max force %.3f eV/Å", system.system, max_force)
    return res


@job
def system_thermo(
    phases: Sequence[PhaseEnergy], *, plot_dir: str, provenance: Provenance
) -> SystemResult:
    """Convex hull, formation energies, voltages and volume changes of one Li–M system."""
    thermo: SystemThermo = build_system_thermo(list(phases))
    out = Path(plot_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = id_slug(thermo.system)
    return SystemResult(
        system=thermo.system,
        thermo=thermo,
        hull_plot_path=str(plot_convex_hull(thermo, out / f"{stem}_hull.png")),
        voltage_plot_path=str(plot_voltage_profile(thermo, out / f"{stem}_voltage.png")),
        provenance=provenance,
    )


def analyse_md(md_result: Any, *, plot_dir: Path) -> tuple[TransportPoint, DiffusionResult | None]:
    """Diffusion analysis of one finished MD run; unstable runs are recorded, never analysed."""
    if not md_result.stable:
        reason = f"MD unstable: {md_result.unstable_reason}"
        return TransportPoint(
            temperature_K=md_result.target_temperature_K,
            converged=False,
            trajectory_path=md_result.trajectory_path,
            trajectory_sha256=md_result.sha256,
            note=reason,
        ), None
    # an XDATCAR (engine vasp) records neither T nor the time step: the MD result does
    meta = {"temperature_K": md_result.target_temperature_K, "timestep_fs": md_result.timestep_fs,
            "stride": md_result.stride} if md_result.engine == "vasp" else {}  # fmt: skip
    try:
        res = analyze_file(md_result.trajectory_path, **meta)
    except InputError as exc:  # e.g. a run too short for any fit window: a note, not a crash
        return TransportPoint(
            temperature_K=md_result.target_temperature_K,
            converged=False,
            trajectory_path=md_result.trajectory_path,
            trajectory_sha256=md_result.sha256,
            note=f"no diffusion analysis: {exc.reason}",
        ), None
    plot_dir.mkdir(parents=True, exist_ok=True)
    msd_png = plot_msd([res], plot_dir / f"msd_{md_result.target_temperature_K:.0f}K.png")
    return TransportPoint(
        temperature_K=res.temperature_K,
        D_cm2_s=res.D_cm2_s,
        D_sigma_cm2_s=res.D_sigma_cm2_s,
        D_source=res.D_source,
        fit_window_ps=(res.t_start_fs * FS_TO_PS, res.t_end_fs * FS_TO_PS),
        sigma_S_cm=res.sigma_S_cm,
        sigma_sigma_S_cm=res.sigma_sigma_S_cm,
        converged=res.converged,
        n_hops=res.n_hops,
        duration_ps=res.duration_ps,
        trajectory_path=md_result.trajectory_path,
        trajectory_sha256=md_result.sha256,
        msd_plot_path=str(msd_png),
        note=res.reason if not res.converged or res.D_source == "hops" else None,
    ), res


def arrhenius_summary(
    results: Sequence[DiffusionResult], operating_K: Sequence[float], plot_path: Path
) -> tuple[ArrheniusSummary | None, str | None]:
    """Arrhenius fit over the converged temperatures; (None, why) when it cannot be fitted."""
    usable = [r for r in results if r.converged and r.D_cm2_s and r.D_cm2_s > 0]
    if len(usable) < 2:
        return None, f"Arrhenius fit needs >= 2 converged temperatures, got {len(usable)}"
    fit: ArrheniusResult = arrhenius_from_results(usable, operating_K=operating_K)
    cell = usable[0]  # NVT: one cell, one Li count at every temperature
    operating = []
    for ex in fit.extrapolations:
        sigma, sigma_err = ionic_conductivity(
            ex.value, ex.sigma, n_li=cell.n_species_atoms, volume_A3=cell.volume_A3,
            temperature_K=ex.temperature_K,
        )  # fmt: skip
        operating.append(
            OperatingPoint(
                temperature_K=ex.temperature_K,
                D_cm2_s=ex.value,
                D_sigma_cm2_s=ex.sigma,
                sigma_S_cm=sigma,
                sigma_sigma_S_cm=sigma_err,
            )
        )
    plot_arrhenius(fit, plot_path)
    return ArrheniusSummary(
        Ea_eV=fit.Ea_eV,
        Ea_sigma_eV=fit.Ea_sigma_eV,
        D0_cm2_s=fit.prefactor,
        D0_sigma_cm2_s=fit.prefactor_sigma,
        temperatures_K=list(fit.temperatures_used_K),
        operating=operating,
        plot_path=str(plot_path),
    ), None


def tst_arrhenius(neb: NEBTransport, operating_K: Sequence[float]) -> ArrheniusSummary:
    """The row's Arrhenius numbers from NEB-TST (used where MD gives no fit)."""
    operating = []
    for T in operating_K:
        p = neb.at(T)
        if p is None or p.D_cm2_s is None:
            continue
        sigma, sigma_err = (None, None)
        if neb.n_li and neb.volume_A3:
            sigma, sigma_err = ionic_conductivity(
                p.D_cm2_s, p.D_sigma_cm2_s, n_li=neb.n_li, volume_A3=neb.volume_A3,
                temperature_K=T,
            )
        operating.append(
            OperatingPoint(temperature_K=T, D_cm2_s=p.D_cm2_s, D_sigma_cm2_s=p.D_sigma_cm2_s,
                           sigma_S_cm=sigma, sigma_sigma_S_cm=sigma_err)
        )
    return ArrheniusSummary(
        source="NEB-TST",
        Ea_eV=float(neb.Ea_eV or 0.0),
        Ea_sigma_eV=neb.Ea_sigma_eV,
        D0_cm2_s=neb.D0_cm2_s,
        temperatures_K=[p.temperature_K for p in neb.points],
        operating=operating,
    )


@job
def candidate_transport(
    md_results: Sequence[Any],
    *,
    candidate: dict[str, Any],
    operating_K: Sequence[float],
    plot_dir: str,
    provenance: Provenance,
    neb: NEBTransport | None = None,
) -> CandidateResult:
    """Transport half of a candidate's result: D(T), σ(T), Arrhenius Ea and D(T_op).

    Ea and D(T_op) come from MD where it converged at >= 2 temperatures, otherwise from the
    NEB-TST hop network (``neb``); where both exist they are compared.
    """
    out = Path(plot_dir)
    points, results, notes = [], [], []
    for md in sorted(md_results, key=lambda m: m.target_temperature_K):
        point, res = analyse_md(md, plot_dir=out)
        points.append(point)
        if res is not None:
            results.append(res)
        if point.note:
            notes.append(f"{point.temperature_K:.0f} K: {point.note}")
    arrhenius, why = arrhenius_summary(results, operating_K, out / "arrhenius.png")
    if neb is not None:
        md_Ea = (arrhenius.Ea_eV, arrhenius.Ea_sigma_eV) if arrhenius else None
        md_points = [(r.temperature_K, r.D_cm2_s, r.D_sigma_cm2_s) for r in results if r.converged]
        neb = neb.model_copy(update={"comparisons": compare_md_tst(neb, md_points, md_Ea)})
        if arrhenius is None and neb.Ea_eV is not None:
            arrhenius = tst_arrhenius(neb, operating_K)
        notes += [
            f"MD and NEB-TST disagree on {c.quantity}: {c.md:.3g} vs {c.tst:.3g}"
            for c in neb.comparisons
            if not c.agree
        ]
        if neb.note:
            notes.append(f"NEB: {neb.note}")
        plots = plot_neb(neb, results, out)
        neb = neb.model_copy(update={"plot_paths": [str(p) for p in plots]})
    unstable = [p for p in points if p.note and p.note.startswith("MD unstable")]
    status, reason = "ok", None
    if unstable:
        status, reason = "failed", "; ".join(p.note or "" for p in unstable)
    flags = notes + ([why] if why else [])
    return CandidateResult(
        candidate_id=candidate["id"],
        system=candidate["system"],
        phase=candidate["phase"],
        formula=candidate["formula"],
        status=status,
        reason=reason,
        transport=points,
        arrhenius=arrhenius,
        neb=neb,
        flags=flags,
        provenance=provenance,
    )


def _phase_label(system: SystemResult, phase: str) -> str | None:
    """The hull label of ``phase`` (ordered approximants carry an ``-ordN`` suffix)."""
    names = [p.phase for p in system.thermo.phases]
    if phase in names:
        return phase
    base = phase.split("-ord")[0]
    return base if base in names else None


@job
def phase_band_gap(
    structure: Structure, phase: str, *, max_atoms: int, settings: dict[str, Any] | None = None
) -> BandGapResult | str:
    """GPAW band gap of a relaxed phase, or why there is none (the ranking then uses literature).

    Never fails the screen: an SCF failure, or a relaxed cell whose primitive cell grew beyond
    ``max_atoms`` (symmetry lost in relaxation), becomes a note on the electronic criterion.
    ``settings``: fields of :class:`workflows.dft_gpaw.GPAWSettings` (default: its defaults).
    """
    from workflows.dft_gpaw import GPAWSettings, gpaw_band_gap, too_large_for_gap

    if why := too_large_for_gap(structure, max_atoms, "relaxed primitive cell"):
        return why
    try:
        return gpaw_band_gap(
            structure, phase, settings=GPAWSettings(**settings) if settings else None
        )
    except Exception as exc:  # SCF not converged, GPAW/MPI errors: report, do not stop the screen
        log.warning("GPAW band gap of %s failed: %s", phase, exc)
        return f"GPAW band gap failed: {exc}"


@job
def rank_and_store(
    systems: Sequence[SystemResult],
    candidates: Sequence[CandidateResult],
    *,
    thresholds: dict[str, Any],
    operating_K: float,
    store: str,
    engine: str,
    band_gaps: Mapping[str, BandGapResult | str] | None = None,
    electronic_notes: Mapping[str, str] | None = None,
    dissolution: Mapping[str, SolutionEnergy | str] | None = None,
) -> list[CandidateResult]:
    """Join thermo + transport + electronic class, apply the three IL criteria, store, return.

    ``band_gaps`` (computed, they win over literature; a string says why a gap job gave none) and
    ``electronic_notes`` (why a phase has no gap job) are keyed ``"<system>/<phase>"``;
    ``dissolution`` (M-in-Li solution energy, or why there is none) is keyed by system.
    """
    by_system = {s.system: s for s in systems}
    gaps, notes = band_gaps or {}, electronic_notes or {}
    solutes = dissolution or {}
    joined = []
    for cand in candidates:
        sysres = by_system.get(cand.system)
        label = _phase_label(sysres, cand.phase) if sysres else None
        update: dict[str, Any] = {}
        if label is None:
            update = {"status": "failed", "reason": f"no relaxed energy for phase {cand.phase}"}
        else:
            update["thermo"] = ThermoSummary.from_phase(sysres.thermo, label)
        key = f"{cand.system}/{cand.phase}"
        gap = gaps.get(key)
        note = notes.get(key)
        if isinstance(gap, str):
            gap, note = None, gap
        if gap is not None:
            mesh = "x".join(str(k) for k in gap.kpts)
            cell = {"dft": "GPAW-relaxed primitive cell", "vasp": "VASP-relaxed cell"}.get(
                engine, "MLIP-relaxed primitive cell"
            )
            note = f"{cell}, {gap.n_atoms} atoms, k mesh {mesh}"
        # literature entries are keyed by compound ("LiMg"), phases may carry a structure suffix
        update["electronic"] = assess_electronic(
            label or cand.phase,
            band_gap_eV=gap.band_gap_eV if gap else None,
            dos_at_fermi=gap.dos_at_fermi if gap else None,
            engine=gap.engine if gap else None,
            formula=(label or cand.phase).split("-")[0],
            max_small_gap_eV=thresholds.get("max_band_gap_eV", 0.5),
            note=note,
        )
        sol = solutes.get(cand.system, "no solute supercell relaxed for this system")
        if isinstance(sol, str):
            update["dissolution_note"] = sol
        else:
            update["dissolution"] = sol
        joined.append(cand.model_copy(update=update))
    ranked = apply_ranking(joined, RankingThresholds(**thresholds), T_op_K=operating_K)
    with ResultsStore.open(store) as st:
        st.put_many([*systems, *ranked])
    log.info("stored %d systems and %d candidates (%s engine) in %s",
             len(systems), len(ranked), engine, store)  # fmt: skip
    return ranked
