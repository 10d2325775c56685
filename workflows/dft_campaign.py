"""``engine: dft``: a whole screen with GPAW (PBE) instead of a machine-learned potential.

The Flow mirrors :class:`workflows.flows.ScreeningFlowMaker` with the GPAW engine: a
:class:`workflows.dft_gpaw.GPAWRelaxMaker` relaxation (cell + positions) of every thermo phase's
primitive cell, the same hull/voltage/Ef job (:func:`workflows.jobs.system_thermo`), GPAW band gaps
on the GPAW-relaxed cells for criterion 3, and the same ranking job
(:func:`workflows.jobs.rank_and_store`). MD and NEB run with GPAW only where the estimated cost
(:func:`workflows.dft_dynamics.gpaw_cost_hours`, a stated model with a measured coefficient) fits in
``engine.dft.max_hours``; otherwise the candidate's row says what it would have cost. An MLIP
number never stands in for one the DFT engine did not compute.

Settings (functional, cutoff, k density, smearing, optimizer, GPAW version) enter the settings hash
and every stored document's provenance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Maker, job
from pymatgen.core import Structure

from screening.campaign import Campaign, DFTSettings, Preset
from screening.candidates import Candidate, generate_candidates
from screening.errors import InputError
from screening.hashing import settings_hash
from screening.paths import id_path
from screening.results import CandidateResult, Provenance, TransportPoint
from screening.thermo import PhaseEnergy
from workflows.dft_dynamics import GPAWMDMaker, GPAWNEBMaker, md_cost, neb_cost, refusal
from workflows.dft_gpaw import (
    GPAWRelaxMaker,
    GPAWSettings,
    gpaw_version,
    primitive_cell,
)
from workflows.flows import band_gap_jobs, md_targets
from workflows.jobs import candidate_transport, rank_and_store, system_thermo
from workflows.neb_jobs import tst_transport

if TYPE_CHECKING:
    from workflows.screen import ScreenPlan

log = logging.getLogger(__name__)


def gpaw_settings(dft: DFTSettings) -> GPAWSettings:
    """The GPAW calculator settings of ``engine.dft``."""
    return GPAWSettings(
        xc=dft.xc, ecut_eV=dft.ecut_eV, kpt_density=dft.kpt_density, smearing_eV=dft.smearing_eV
    )


def dft_spec(dft: DFTSettings) -> str:
    """What computed the energies, as the documents name it: ``gpaw-26.7.0:PBE/pw500/k5``."""
    return f"gpaw-{gpaw_version()}:{dft.xc}/pw{dft.ecut_eV:g}/k{dft.kpt_density:g}"


def dft_provenance(dft: DFTSettings) -> dict[str, Any]:
    """Engine, code version, functional, cutoff and k density: hashed and stored with every doc."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        setups = version("gpaw-data")
    except PackageNotFoundError:
        setups = None
    return {
        "code": "GPAW",
        "gpaw_version": gpaw_version(),
        "paw_setups": f"gpaw-data {setups}" if setups else "GPAW_SETUP_PATH",
        "mode": "plane waves",
        **dft.model_dump(mode="json"),
    }


# ----------------------------------------------------------------------------- jobs and Makers


@job
def gpaw_phase_energy(
    relax: dict[str, Any], *, system: str, phase: str, candidate_id: str, potential: str, xc: str
) -> PhaseEnergy:
    """Adapt a :class:`GPAWRelaxMaker` output to a :class:`PhaseEnergy` of ``system``'s hull."""
    structure: Structure = relax["structure"]
    if not relax["converged"]:
        log.warning(
            "%s: GPAW relaxation not converged (max force %.3f eV/Å)",
            candidate_id,
            relax.get("max_force_eV_A", float("nan")),
        )
    return PhaseEnergy(
        system=system,
        phase=phase,
        formula=structure.composition.formula.replace(" ", ""),
        energy_eV=float(relax["energy_eV"]),
        n_atoms=len(structure),
        volume_A3=float(structure.volume),
        engine="dft",
        potential=potential,
        functional=xc,
        relaxed=bool(relax["converged"]),
        max_force_eV_A=relax.get("max_force_eV_A"),
        source_id=candidate_id,
    )


@job
def dft_transport(
    md_results: Sequence[Any],
    *,
    candidate: dict[str, Any],
    temperatures_K: Sequence[float],
    operating_K: Sequence[float],
    plot_dir: str,
    provenance: Provenance,
    neb: Any = None,
    notes: Sequence[str] = (),
) -> CandidateResult:
    """The transport half of a candidate's row: :func:`workflows.jobs.candidate_transport` on what
    GPAW computed. What the cost guard refused is said where the ranking and ``ilscreen query``
    show transport: as a not-converged point per MD temperature carrying the estimate."""
    if md_results or neb is not None:
        res = candidate_transport.original(
            md_results,
            candidate=candidate,
            operating_K=operating_K,
            plot_dir=plot_dir,
            provenance=provenance,
            neb=neb,
        )
    else:
        res = CandidateResult(
            candidate_id=candidate["id"],
            system=candidate["system"],
            phase=candidate["phase"],
            formula=candidate["formula"],
            provenance=provenance,
        )
    if not notes:
        return res
    note = "; ".join(notes)
    points = res.transport or [
        TransportPoint(temperature_K=t, converged=False) for t in temperatures_K
    ]
    points = [
        p.model_copy(update={"note": f"{p.note}; {note}" if p.note else note}) for p in points
    ]
    return res.model_copy(update={"transport": points, "flags": [*notes, *res.flags]})


# ----------------------------------------------------------------------------- the Flow


@dataclass
class DFTScreeningFlowMaker(Maker):
    """The screening Flow of a campaign with the GPAW engine (see the module docstring)."""

    name: str = "ilscreen screen (dft)"
    preset: str | None = None
    dft: DFTSettings = field(default_factory=DFTSettings)
    electronic: str = "gpaw"
    workdir: str = "ilscreen-runs"
    store: str = "ilscreen-runs/store"
    md_dir: str = "ilscreen-runs/md"
    provenance: Provenance | None = None

    def make(self, campaign: Campaign, candidates: list[Candidate]) -> Flow:
        """Relax → hull per system → guarded MD/NEB → band gaps → rank and store."""
        prov = self.provenance
        if prov is None:
            raise ValueError("DFTScreeningFlowMaker needs provenance (see workflows.screen)")
        preset = campaign.preset(self.preset)
        gs, spec = gpaw_settings(self.dft), dft_spec(self.dft)
        relax_maker = GPAWRelaxMaker(
            settings=gs,
            fmax=preset.relax.fmax_eV_A,
            steps=preset.relax.max_steps,
            optimizer=self.dft.optimizer,
            fix_symmetry=self.dft.fix_symmetry,
        )
        jobs: list[Any] = []
        relaxes: dict[str, Any] = {}
        relaxed: dict[tuple[str, str], tuple[Candidate, Any]] = {}
        for cand in candidates:
            if "thermo" not in cand.purposes:
                continue
            relax = relax_maker.make(primitive_cell(cand.structure))
            relax.name = f"gpaw relax {cand.id}"
            jobs.append(relax)
            relaxes[cand.id] = relax
            if cand.role != "reference":
                relaxed.setdefault((cand.system, cand.phase), (cand, relax))
        system_jobs = []
        for system in campaign.systems:
            phases: dict[str, Any] = {}  # first approximant stands for its phase, as in flows.py
            for cand in candidates:
                elements = {e.symbol for e in cand.structure.composition.elements}
                own = cand.role != "reference" and cand.system == system.name
                shared = cand.role == "reference" and elements <= set(system.elements)
                if cand.id in relaxes and (own or shared) and cand.phase not in phases:
                    energy = gpaw_phase_energy(
                        relaxes[cand.id].output,
                        system=system.name,
                        phase=cand.phase,
                        candidate_id=cand.id,
                        potential=spec,
                        xc=self.dft.xc,
                    )
                    energy.name = f"energy {cand.id} ({system.name})"
                    phases[cand.phase] = energy
            thermo = system_thermo(
                [e.output for e in phases.values()],
                plot_dir=str(Path(self.workdir) / "plots" / system.name),
                provenance=prov,
            )
            thermo.name = f"thermo {system.name}"
            jobs += [*phases.values(), thermo]
            system_jobs.append(thermo)

        targets = md_targets(candidates)
        transports = [
            self._transport(cand, preset, campaign, relaxed, gs, spec, jobs) for cand in targets
        ]
        gap_jobs, gap_notes = (
            band_gap_jobs(
                campaign,
                targets,
                relaxed,
                lambda relax: relax.output["structure"],  # GPAW-relaxed cell
                settings=gs.model_dump(exclude={"txt"}),
            )
            if self.electronic == "gpaw"
            else ({}, {})
        )
        jobs += gap_jobs.values()
        final = rank_and_store(
            [j.output for j in system_jobs],
            transports,
            thresholds=campaign.ranking.model_dump(),
            operating_K=campaign.operating_temperatures[0],
            store=self.store,
            engine="dft",
            band_gaps={key: j.output for key, j in gap_jobs.items()},
            electronic_notes=gap_notes,
            dissolution=dict.fromkeys(
                (s.name for s in campaign.systems),
                "not computed with engine dft (the M-in-Li solute supercell is too large for "
                "GPAW here)",
            ),
        )
        final.name = "rank and store"
        jobs.append(final)
        return Flow(jobs, output=final.output, name=f"{self.name}: {campaign.name}")

    def _transport(
        self,
        cand: Candidate,
        preset: Preset,
        campaign: Campaign,
        relaxed: dict[tuple[str, str], tuple[Candidate, Any]],
        gs: GPAWSettings,
        spec: str,
        jobs: list[Any],
    ) -> Any:
        """GPAW MD and NEB of one candidate where the cost guard allows, else the notes why not."""
        from screening.migration import hop_cell

        temps = campaign.temperatures_for(self.preset)
        notes: list[str] = []
        md_outputs: list[Any] = []
        hours, what = md_cost(cand.structure, preset.md, temps, gs, self.dft)
        if hours <= self.dft.max_hours:
            md = GPAWMDMaker(
                settings=gs,
                spec=spec,
                md=preset.md,
                out_dir=self.md_dir,
                seed=self.provenance.seeds[0] if self.provenance and self.provenance.seeds else 0,
            ).make([cand.structure] * len(temps), [cand.id] * len(temps), temps)
            md.name = f"gpaw nvt md {cand.id}"
            jobs.append(md)
            md_outputs = [md.output[i] for i in range(len(temps))]
        else:
            notes.append(refusal(what, hours, self.dft, "transport (MD)"))
        neb_out = None
        if preset.neb.enabled and cand.n_vacancies and (cand.system, cand.phase) in relaxed:
            # the MD cell's lattice, hop graph on its primitive cell (as the MLIP screen)
            cell, matrix = hop_cell(relaxed[(cand.system, cand.phase)][0].structure, cand.structure)
            hours, what = neb_cost(cell, matrix, cand.n_vacancies, preset.neb, gs, self.dft)
            if hours <= self.dft.max_hours:
                neb = GPAWNEBMaker(settings=gs, spec=spec, neb=preset.neb).make(
                    cell, matrix.tolist(), cand.id, cand.n_vacancies
                )
                neb.name = f"gpaw neb {cand.id}"
                tst = tst_transport(
                    neb.output,
                    cell,
                    supercell_matrix=matrix.tolist(),
                    temperatures_K=sorted({*temps, *campaign.operating_temperatures}),
                    settings=preset.neb,
                )
                tst.name = f"tst {cand.id}"
                jobs += [neb, tst]
                neb_out = tst.output
            else:
                notes.append(refusal(what, hours, self.dft, "transport (NEB)"))
        tr = dft_transport(
            md_outputs,
            candidate={
                "id": cand.id,
                "system": cand.system,
                "phase": cand.phase,
                "formula": cand.formula,
            },
            temperatures_K=temps,
            operating_K=list(campaign.operating_temperatures),
            plot_dir=str(id_path(Path(self.workdir) / "plots", cand.id)),
            provenance=self.provenance,
            neb=neb_out,
            notes=notes,
        )
        tr.name = f"transport {cand.id}"
        jobs.append(tr)
        return tr.output


# ----------------------------------------------------------------------------- the plan


def plan_dft_screen(
    campaign: Campaign,
    campaign_file: str | Path,
    *,
    preset: str | None,
    workdir: Path,
    store: str | None,
) -> ScreenPlan:
    """The :class:`workflows.screen.ScreenPlan` of an ``engine: dft`` campaign (GPAW checked)."""
    from workflows.dft_gpaw import INSTALL_HINT, gpaw_available
    from workflows.screen import ScreenPlan

    if not gpaw_available():
        raise InputError(
            f"engine 'dft' needs GPAW, which is not installed: {INSTALL_HINT}",
            file=campaign_file,
            field="engine.engine",
            allowed=["mlip"],
        )
    preset_name = preset or campaign.default_preset
    p = campaign.preset(preset_name)
    candidates = generate_candidates(campaign, preset_name)
    dft = campaign.engine.dft
    spec = dft_spec(dft)
    electronic = "literature" if campaign.electronic.engine == "literature" else "gpaw"
    seeds = sorted({c.seed for c in candidates if c.seed is not None}) or [0]
    settings = {
        "campaign": campaign.settings_hash(preset_name),
        "engine": "dft",
        "dft": dft_provenance(dft),
        "electronic": {"engine": electronic},
    }
    md_key = settings_hash(
        {"md": p.md.model_dump(mode="json"), "dft": settings["dft"], "seed": seeds[0]}
    )
    return ScreenPlan(
        campaign=campaign,
        preset=preset_name,
        candidates=candidates,
        md_targets=md_targets(candidates),
        potential=spec,
        thermo_potential=spec,
        device="cpu",
        dtype="float64",
        workdir=workdir,
        store=store or str(workdir / "store"),
        provenance=Provenance.collect(engine="dft", settings=settings, potential=spec, seeds=seeds),
        md_dir=workdir / "md" / f"gpaw-{md_key[:12]}",
        electronic_engine=electronic,
    )


def build_dft_flow(plan: ScreenPlan) -> Flow:
    """The Flow ``ilscreen screen`` runs for an ``engine: dft`` plan."""
    return DFTScreeningFlowMaker(
        preset=plan.preset,
        dft=plan.campaign.engine.dft,
        electronic=plan.electronic_engine,
        workdir=str(plan.workdir),
        store=plan.store,
        md_dir=str(plan.md_dir),
        provenance=plan.provenance,
    ).make(plan.campaign, plan.candidates)
