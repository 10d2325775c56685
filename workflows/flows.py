"""The screening Flow: relax → thermo per system; MD + NEB → transport; band gaps; rank → store.

One :class:`ScreeningFlowMaker` builds one flat jobflow ``Flow`` for a whole campaign: a relax job
per phase (the Li references once, shared by every system's hull), an energy + thermo chain per
Li–M system, one MD job for every (candidate, T) pair (batched on one device), a transport job per
candidate, band-gap jobs, and the final ranking job. The same object runs under ``run_locally`` or
jobflow-remote unchanged; ``ilscreen submit`` (workflows.hpc) fans the MD out per candidate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Flow, Maker

from screening.campaign import Campaign, NEBSettings
from screening.candidates import Candidate
from screening.dissolution import solute_supercell
from screening.migration import hop_cell
from screening.paths import id_path
from screening.results import Provenance
from workflows.dft_gpaw import too_large_for_gap
from workflows.jobs import (
    candidate_transport,
    dissolution_energy,
    phase_band_gap,
    phase_energy,
    rank_and_store,
    system_thermo,
)
from workflows.md.maker import MDMaker
from workflows.neb_jobs import NEBMaker, tst_transport
from workflows.relax import mlip_relax_maker


def md_targets(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates that get MD: the Li-vacancy variants (pristine cells only if a phase has none)."""
    md = [c for c in candidates if "md" in c.purposes]
    with_vac = {(c.system, c.phase) for c in md if c.n_vacancies > 0}
    return [c for c in md if c.n_vacancies > 0 or (c.system, c.phase) not in with_vac]


def band_gap_jobs(
    campaign: Campaign,
    targets: list[Candidate],
    relaxed: dict[tuple[str, str], tuple[Candidate, Any]],
    structure_of: Callable[[Any], Any],
    settings: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """GPAW band-gap jobs on the relaxed cell (``structure_of(relax job)``) of every MD phase.

    Keyed ``"<system>/<phase>"``; phases whose primitive cell exceeds ``electronic.max_atoms``
    get a note instead (they fall back to cited literature). The size is judged on the unrelaxed
    cell so the Flow is fixed when it is built. ``settings``: GPAWSettings fields for the gaps.
    """
    max_atoms = campaign.electronic.max_atoms
    gaps: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for system, phase in dict.fromkeys((c.system, c.phase) for c in targets):
        key = f"{system}/{phase}"
        cand, relax = relaxed[(system, phase)]
        if why := too_large_for_gap(cand.structure, max_atoms):
            notes[key] = why
            continue
        gap = phase_band_gap(structure_of(relax), phase, max_atoms=max_atoms, settings=settings)
        gap.name = f"band gap {key}"
        gaps[key] = gap
    return gaps, notes


@dataclass
class ScreeningFlowMaker(Maker):
    """Build the screening Flow of a campaign under one preset with an MLIP engine.

    ``electronic`` is the resolved ``electronic.engine`` (``gpaw`` or ``literature``; see
    :func:`workflows.screen.resolve_electronic_engine`).
    """

    name: str = "ilscreen screen"
    preset: str | None = None
    potential: str = "mace:ilscreen-li-alloys"
    #: relaxations, energies, hulls and dissolution (``engine.thermo_potential``); None: potential
    thermo_potential: str | None = None
    device: str = "cpu"
    dtype: str = "float64"
    workdir: str = "ilscreen-runs"
    store: str = "ilscreen-runs/store"
    md_dir: str = "ilscreen-runs/md"
    batched: bool = False
    provenance: Provenance | None = field(default=None)
    electronic: str = "literature"

    @property
    def thermo_spec(self) -> str:
        """The potential of every relaxation (the thermo side of the screen)."""
        return self.thermo_potential or self.potential

    def make(self, campaign: Campaign, candidates: list[Candidate]) -> Flow:
        """One sub-flow per system (relaxations, thermo), one MD job, transport, ranking."""
        prov = self.provenance
        if prov is None:
            raise ValueError("ScreeningFlowMaker needs provenance (see workflows.screen)")
        preset = campaign.preset(self.preset)
        temps = campaign.temperatures_for(self.preset)
        work = Path(self.workdir)
        relax_maker = mlip_relax_maker(
            self.thermo_spec,
            device=self.device,
            dtype=self.dtype,
            fmax=preset.relax.fmax_eV_A,
            steps=preset.relax.max_steps,
        )

        jobs: list[Any] = []
        # --- relaxations; Li references are relaxed once and enter every system's hull
        energies: dict[str, list[Any]] = defaultdict(list)
        references: list[tuple[Candidate, Any]] = []
        relaxed: dict[tuple[str, str], tuple[Candidate, Any]] = {}
        for cand in candidates:
            if "thermo" not in cand.purposes:
                continue
            relax = relax_maker.make(cand.structure)
            relax.name = f"relax {cand.id}"
            jobs.append(relax)
            if cand.role == "reference":
                references.append((cand, relax))
            else:
                energies[cand.system].append(self._energy(relax, cand, cand.system))
                # several ordered approximants of one phase: the first one stands for the phase
                relaxed.setdefault((cand.system, cand.phase), (cand, relax))
        system_jobs = []
        for system in campaign.systems:
            refs = [
                self._energy(relax, cand, system.name)
                for cand, relax in references
                if {e.symbol for e in cand.structure.composition.elements} <= set(system.elements)
            ]
            thermo = system_thermo(
                [e.output for e in (*refs, *energies[system.name])],
                plot_dir=str(work / "plots" / system.name),
                provenance=prov,
            )
            thermo.name = f"thermo {system.name}"
            jobs += [*refs, *energies[system.name], thermo]
            system_jobs.append(thermo)
        dissolution = self._dissolution(campaign, references, system_jobs, relax_maker, jobs)

        # --- MD: every (candidate, T) pair in one job, then the transport analysis per candidate
        targets = md_targets(candidates)
        pairs = [(c, t) for c in targets for t in temps]
        md_maker = MDMaker(
            potential=self.potential,
            device=self.device,
            dtype=self.dtype,
            md=preset.md,
            seed=prov.seeds[0] if prov.seeds else 0,
            out_dir=self.md_dir,
            batched=self.batched,
        )
        md_job = md_maker.make(
            [c.structure for c, _ in pairs], [c.id for c, _ in pairs], [t for _, t in pairs]
        )
        md_job.name = f"nvt md ({len(pairs)} runs)"
        jobs.append(md_job)
        nebs = self._nebs(targets, relaxed, preset.neb, temps, campaign, jobs)
        transports = []
        for i, cand in enumerate(targets):
            sl = slice(i * len(temps), (i + 1) * len(temps))
            tr = candidate_transport(
                [md_job.output[j] for j in range(sl.start, sl.stop)],
                candidate={"id": cand.id, "system": cand.system, "phase": cand.phase,
                           "formula": cand.formula},
                operating_K=list(campaign.operating_temperatures),
                plot_dir=str(id_path(work / "plots", cand.id)),
                provenance=prov,
                neb=nebs.get(cand.id),
            )  # fmt: skip
            tr.name = f"transport {cand.id}"
            jobs.append(tr)
            transports.append(tr.output)

        gap_jobs, notes = (
            band_gap_jobs(campaign, targets, relaxed, lambda relax: relax.output.structure)
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
            engine="mlip",
            band_gaps={key: j.output for key, j in gap_jobs.items()},
            electronic_notes=notes,
            dissolution=dissolution,
        )
        final.name = "rank and store"
        jobs.append(final)
        return Flow(jobs, output=final.output, name=f"{self.name}: {campaign.name}")

    def _dissolution(
        self,
        campaign: Campaign,
        references: list[tuple[Candidate, Any]],
        system_jobs: list[Any],
        relax_maker: Any,
        jobs: list[Any],
    ) -> dict[str, Any]:
        """Per system: relax one M atom in a bcc Li supercell, then its solution energy.

        Appends the jobs to ``jobs``; returns ``{system: output reference | why none}``.
        """
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        bcc = next(
            (c for c, _ in references if c.structure.composition.reduced_formula == "Li"
             and SpacegroupAnalyzer(c.structure).get_space_group_number() == 229),
            None,
        )  # fmt: skip
        if bcc is None:
            return dict.fromkeys((s.name for s in campaign.systems), "no bcc Li reference")
        out: dict[str, Any] = {}
        for system, thermo in zip(campaign.systems, system_jobs, strict=True):
            host = next(e for e in system.elements if e != "Li")
            relax = relax_maker.make(solute_supercell(bcc.structure, host))
            relax.name = f"relax {host} in Li"
            energy = dissolution_energy(
                relax.output,
                thermo.output,
                li_phase=bcc.phase,
                fmax_eV_A=relax_maker.relax_kwargs["fmax"],
            )
            energy.name = f"dissolution {system.name}"
            jobs += [relax, energy]
            out[system.name] = energy.output
        return out

    def _nebs(
        self,
        targets: list[Candidate],
        relaxed: dict[tuple[str, str], tuple[Candidate, Any]],
        settings: NEBSettings,
        temps: list[float],
        campaign: Campaign,
        jobs: list[Any],
    ) -> dict[str, Any]:
        """CI-NEB + TST per MD candidate with a vacancy.

        The NEB runs in the candidate's own supercell at the MD cell's lattice (positions relaxed
        at both ends), with the MD potential, so the two transport estimates describe the same
        cell; appends the jobs, returns
        ``{candidate id: TST output reference}``.
        """
        if not settings.enabled:
            return {}
        maker = NEBMaker(
            potential=self.potential, device=self.device, dtype=self.dtype, settings=settings
        )
        tst_temps = sorted({*temps, *campaign.operating_temperatures})
        out: dict[str, Any] = {}
        for cand in targets:
            if cand.n_vacancies == 0 or (cand.system, cand.phase) not in relaxed:
                continue
            phase_cand, _ = relaxed[(cand.system, cand.phase)]
            # the MD cell's lattice: NEB and MD see the same cell
            cell, m = hop_cell(phase_cand.structure, cand.structure)
            matrix = m.tolist()
            neb = maker.make(cell, matrix, cand.id, cand.n_vacancies)
            neb.name = f"neb {cand.id}"
            tst = tst_transport(
                neb.output,
                cell,
                supercell_matrix=matrix,
                temperatures_K=tst_temps,
                settings=settings,
            )
            tst.name = f"tst {cand.id}"
            jobs += [neb, tst]
            out[cand.id] = tst.output
        return out

    def _energy(self, relax: Any, cand: Candidate, system: str) -> Any:
        """The relaxed energy of ``cand`` as a phase of ``system``'s hull."""
        energy = phase_energy(
            relax.output,
            system=system,
            phase=cand.phase,
            candidate_id=cand.id,
            engine="mlip",
            potential=self.thermo_spec,
        )
        energy.name = f"energy {cand.id} ({system})"
        return energy
