"""``engine: vasp``: a whole screening campaign through atomate2's own VASP Makers.

The Flow mirrors the MLIP one (:mod:`workflows.flows`) and shares its downstream jobs:

* an atomate2 ``RelaxMaker`` (ISIF 3, the protocol's PBE settings, :mod:`workflows.vasp`) per
  thermo phase → :func:`workflows.jobs.phase_energy` → :func:`workflows.jobs.system_thermo`
  (hull, voltages, formation energies);
* an atomate2 ``StaticMaker`` on the relaxed cell of every MD phase → band gap and DOS(E_F) from
  its vasprun.xml (:func:`workflows.vasp.band_gap_from_vasprun`) for criterion 3;
* per MD candidate × temperature the reference NVT protocol (MDALGO 2, POTIM, ML_LMLFF) as an
  atomate2 ``MultiMDMaker`` chain of restartable segments, each continuing from the previous
  CONTCAR (velocities) and ML_ABN; the production XDATCARs are concatenated and analysed by the
  same diffusion/Arrhenius code (:func:`workflows.jobs.candidate_transport`);
* the same ranking and store (:func:`workflows.jobs.rank_and_store`).

Every VASP run has its own folder (:mod:`workflows.vasp_runs`): ``WORKDIR/vasp/<settings key>/``
for relaxations and statics, the plan's ``md_dir`` for MD segments. Finished runs are re-parsed,
never re-run, so the final HPC job rebuilds this Flow and finds the MD that its SLURM jobs ran.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import Flow, Maker, job

from screening.campaign import Campaign
from screening.candidates import Candidate, generate_candidates
from screening.errors import InputError
from screening.hashing import file_sha256, settings_hash
from screening.paths import id_path
from screening.results import Provenance
from workflows.jobs import candidate_transport, phase_energy, rank_and_store, system_thermo
from workflows.vasp import (
    MLFF_INCAR,
    POTCAR_FUNCTIONAL,
    PROTOCOL_INCAR,
    band_gap_from_vasprun,
    concatenate_xdatcars,
    relax_set_generator,
    static_set_generator,
)
from workflows.vasp_runs import (
    DONE_MARKER,
    FolderRelaxMaker,
    FolderStaticMaker,
    VaspSite,
    configure,
    md_chain,
    md_segment_dirs,
    segment_names,
    vasp_site,
)

log = logging.getLogger(__name__)

ENGINE_LABEL = f"VASP PBE (PAW {POTCAR_FUNCTIONAL}, ENCUT {PROTOCOL_INCAR['ENCUT']} eV)"


# ----------------------------------------------------------------------------- small jobs
@job
def vasp_band_gap(dir_name: str, phase: str) -> Any:
    """Band gap and DOS(E_F) of a static run (its vasprun.xml, through pymatgen)."""
    folder = Path(str(dir_name).split(":", 1)[-1])
    path = next(p for p in (folder / "vasprun.xml.gz", folder / "vasprun.xml") if p.is_file())
    return band_gap_from_vasprun(path, phase)


@job
def vasp_provenance(base: Provenance, versions: list[str | None]) -> Provenance:
    """The plan's provenance plus the VASP version the runs' vasprun.xml files report."""
    found = sorted({v.strip() for v in versions if v})
    return base.model_copy(
        update={"package_versions": {**base.package_versions, "vasp": ", ".join(found) or "?"}}
    )


@job
def vasp_md_result(
    dir_names: list[str], *, candidate_id: str, temperature_K: float, timestep_fs: float,
    stride: int, out: str, settings_key: str,
) -> Any:  # fmt: skip
    """Concatenated production XDATCARs as an MD result the MLIP transport analysis reads."""
    import numpy as np
    from ase.io import read
    from pymatgen.io.vasp import Oszicar

    from workflows.md import MDResult

    path = concatenate_xdatcars(dir_names, out)
    frames = read(path, index=":", format="vasp-xdatcar")
    temps = []
    for d in dir_names:
        folder = Path(str(d).split(":", 1)[-1])
        osz = next(p for p in (folder / "OSZICAR.gz", folder / "OSZICAR") if p.is_file())
        temps += [s["T"] for s in Oszicar(str(osz)).ionic_steps if "T" in s]
    last = frames[-1]
    dmin = float(np.min(last.get_all_distances(mic=True)[np.triu_indices(len(last), 1)]))
    ok = bool(np.all(np.isfinite(last.positions))) and dmin > 0.5
    return MDResult(
        trajectory_path=str(path), sha256=file_sha256(path), candidate_id=candidate_id,
        potential=ENGINE_LABEL, engine="vasp", thermostat="nose-hoover", seed=0,
        target_temperature_K=temperature_K, timestep_fs=timestep_fs, stride=stride,
        n_atoms=len(last), n_frames=len(frames), steps_done=len(temps),
        mean_temperature_K=float(np.mean(temps)) if temps else None,
        std_temperature_K=float(np.std(temps)) if temps else None, stable=ok,
        unstable_reason=None if ok else f"closest pair {dmin:.2f} Å", min_distance_A=dmin,
        wall_time_s=0.0, atom_steps_per_s=0.0, settings_hash=settings_key,
    )  # fmt: skip


# ----------------------------------------------------------------------------- the Flow
@dataclass
class VaspScreeningFlowMaker(Maker):
    """The screening Flow of a campaign with ``engine: vasp``."""

    name: str = "ilscreen screen (vasp)"
    plan: Any = None
    site: VaspSite | None = None
    provenance: Provenance | None = field(default=None)

    def make(self, campaign: Campaign, candidates: list[Candidate]) -> Flow:
        """Relaxations → thermo; statics → gaps; MD chains → transport; ranking."""
        plan, site, prov = self.plan, self.site, self.provenance
        if plan is None or site is None or prov is None:
            raise ValueError("VaspScreeningFlowMaker needs plan, site and provenance")
        root = Path(plan.workdir) / "vasp" / prov.settings_hash[:12]
        relax = configure(FolderRelaxMaker(input_set_generator=relax_set_generator()), site,
                           root)  # fmt: skip
        static = configure(FolderStaticMaker(input_set_generator=static_set_generator()), site,
                            root)  # fmt: skip
        jobs: list[Any] = []
        relaxed: dict[tuple[str, str], Any] = {}
        refs: list[tuple[Candidate, Any]] = []
        energies: dict[str, list[Any]] = {s.name: [] for s in campaign.systems}
        for cand in candidates:
            if "thermo" not in cand.purposes:
                continue
            maker = configure(relax, site, id_path(root / "relax", cand.id))
            rj = maker.make(cand.structure)
            rj.name = f"vasp relax {cand.id}"
            jobs.append(rj)
            if cand.role == "reference":
                refs.append((cand, rj))
            else:
                energies[cand.system].append(self._energy(rj, cand, cand.system))
                relaxed.setdefault((cand.system, cand.phase), rj)
        run_prov = vasp_provenance(prov, [j.output.vasp_version for j in jobs])
        run_prov.name = "vasp provenance"
        jobs.append(run_prov)
        systems = []
        for system in campaign.systems:
            mine = [
                self._energy(rj, c, system.name)
                for c, rj in refs
                if {e.symbol for e in c.structure.composition.elements} <= set(system.elements)
            ]
            thermo = system_thermo([e.output for e in (*mine, *energies[system.name])],
                                   plot_dir=str(Path(plan.workdir) / "plots" / system.name),
                                   provenance=run_prov.output)  # fmt: skip
            thermo.name = f"thermo {system.name}"
            jobs += [*mine, *energies[system.name], thermo]
            systems.append(thermo)
        gaps: dict[str, Any] = {}
        for system, phase in dict.fromkeys((c.system, c.phase) for c in plan.md_targets):
            key = f"{system}/{phase}"
            sm = configure(static, site, root / "static" / system / phase)
            sj = sm.make(relaxed[(system, phase)].output.structure)
            sj.name = f"vasp static {key}"
            gj = vasp_band_gap(sj.output.dir_name, phase)
            gj.name = f"band gap {key}"
            jobs += [sj, gj]
            gaps[key] = gj
        transports = [self._transport(c, run_prov, jobs) for c in plan.md_targets]
        final = rank_and_store(
            [s.output for s in systems], transports,
            thresholds=campaign.ranking.model_dump(),
            operating_K=campaign.operating_temperatures[0],
            store=plan.store, engine="vasp", band_gaps={k: j.output for k, j in gaps.items()},
            dissolution=dict.fromkeys((s.name for s in campaign.systems),
                                      "M-in-Li solution energy not computed by the VASP engine"),
        )  # fmt: skip
        final.name = "rank and store"
        jobs.append(final)
        return Flow(jobs, output=final.output, name=f"{self.name}: {campaign.name}")

    def _energy(self, relax: Any, cand: Candidate, system: str) -> Any:
        e = phase_energy(relax.output, system=system, phase=cand.phase, candidate_id=cand.id,
                         engine="vasp", potential=ENGINE_LABEL)  # fmt: skip
        e.name = f"energy {cand.id} ({system})"
        return e

    def md_results(self, cand: Candidate, jobs: list[Any]) -> list[Any]:
        """Per temperature a MultiMDMaker chain and its XDATCAR result (appended to ``jobs``)."""
        plan = self.plan
        md = plan.campaign.preset(plan.preset).md
        stride = max(1, round(md.sample_interval_fs / md.timestep_fs))
        results = []
        for t in plan.campaign.temperatures_for(plan.preset):
            chain, n_eq = md_chain(plan, self.site, cand, t)  # type: ignore[arg-type]
            res = vasp_md_result(
                [j.output.dir_name for j in chain.jobs[n_eq:-1]], candidate_id=cand.id,
                temperature_K=t, timestep_fs=md.timestep_fs, stride=stride,
                out=str(id_path(plan.md_dir, cand.id, f"T{t:04.0f}K.XDATCAR")),
                settings_key=plan.provenance.settings_hash,
            )  # fmt: skip
            res.name = f"vasp md result {cand.id} {t:g}K"
            jobs += [chain, res]
            results.append(res)
        return results

    def _transport(self, cand: Candidate, prov: Any, jobs: list[Any]) -> Any:
        """MD chains at every temperature → one transport job (the MLIP analysis)."""
        plan, campaign = self.plan, self.plan.campaign
        results = [r.output for r in self.md_results(cand, jobs)]
        tr = candidate_transport(
            results, candidate={"id": cand.id, "system": cand.system, "phase": cand.phase,
                                "formula": cand.formula},
            operating_K=list(campaign.operating_temperatures),
            plot_dir=str(id_path(Path(plan.workdir) / "plots", cand.id)), provenance=prov.output,
        )  # fmt: skip
        tr.name = f"transport {cand.id}"
        jobs.append(tr)
        return tr.output


# ----------------------------------------------------------------------------- plan + entry points
def vasp_settings(campaign: Campaign) -> dict[str, Any]:
    """The science of every VASP run: what the settings hash and every provenance carry."""
    vs = campaign.engine.vasp
    return {
        "functional": "PBE (GGA = PE)", "potcar_functional": POTCAR_FUNCTIONAL,
        "incar": dict(PROTOCOL_INCAR), "md_incar": {**(MLFF_INCAR if vs.ml_force_field else {}),
                                                    "MDALGO": 2, "ISIF": 2},
        "segment_ps": vs.segment_ps, "ml_force_field": vs.ml_force_field,
    }  # fmt: skip


def plan_vasp_screen(campaign: Campaign, campaign_file: str | Path, *, preset: str | None,
                     workdir: Path, store: str | None) -> Any:  # fmt: skip
    """The :class:`workflows.screen.ScreenPlan` of an ``engine: vasp`` campaign (site checked)."""
    from workflows.flows import md_targets
    from workflows.screen import ScreenPlan

    site = vasp_site(campaign_file)
    preset_name = preset or campaign.default_preset
    md = campaign.preset(preset_name).md
    if md.thermostat != "nose-hoover":
        raise InputError(
            f"the VASP engine runs Nosé–Hoover NVT (MDALGO 2), not {md.thermostat!r}",
            file=campaign_file, field=f"presets.{preset_name}.md.thermostat",
            allowed=["nose-hoover"],
        )  # fmt: skip
    candidates = generate_candidates(campaign, preset_name)
    seeds = sorted({c.seed for c in candidates if c.seed is not None}) or [0]
    vasp = vasp_settings(campaign)
    settings = {"campaign": campaign.settings_hash(preset_name), "engine": "vasp", "vasp": vasp,
                "site": site.hashed(), "electronic": {"engine": "vasp"}}  # fmt: skip
    md_key = settings_hash({"md": md.model_dump(mode="json"), "vasp": vasp, "site": site.hashed()})
    return ScreenPlan(
        campaign=campaign, preset=preset_name, candidates=candidates,
        md_targets=md_targets(candidates), potential=ENGINE_LABEL, thermo_potential=ENGINE_LABEL,
        device="cpu", dtype="float64", workdir=workdir, store=store or str(workdir / "store"),
        provenance=Provenance.collect(engine="vasp", settings=settings, potential=ENGINE_LABEL,
                                      seeds=seeds),
        md_dir=workdir / "md" / f"vasp-{md_key[:12]}", electronic_engine="vasp",
    )  # fmt: skip


def build_vasp_flow(plan: Any) -> Flow:
    """The Flow ``ilscreen screen`` / the final HPC job runs for an ``engine: vasp`` plan."""
    site = vasp_site("engine.engine")
    maker = VaspScreeningFlowMaker(plan=plan, site=site, provenance=plan.provenance)
    return maker.make(plan.campaign, plan.candidates)


def run_md_task(plan: Any, candidate_id: str) -> list[Any]:
    """One SLURM MD task: every temperature's segment chain of one candidate, in this process.

    Jobs run one by one (not ``run_locally``, which would swallow the scheduler's SIGTERM and go
    on with the next segment); finished segments are re-parsed, not re-run.
    """
    from jobflow import JobStore
    from maggma.stores import MemoryStore

    site = vasp_site("engine.engine")
    by_id = {c.id: c for c in plan.md_targets}
    if candidate_id not in by_id:
        raise InputError(f"{candidate_id!r} is not an MD candidate of this plan",
                         field="candidate", allowed=sorted(by_id))  # fmt: skip
    cand = by_id[candidate_id]
    maker = VaspScreeningFlowMaker(plan=plan, site=site, provenance=plan.provenance)
    jobs: list[Any] = []
    results = maker.md_results(cand, jobs)
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    store.connect()
    outputs = {j.uuid: j.run(store).output for j, _ in Flow(jobs).iterflow()}
    return [outputs[r.uuid] for r in results]


def md_progress(plan: Any, candidate_id: str) -> tuple[int, int, list[str | None]]:
    """(finished temperatures, XDATCAR frames on disk, per-T status) of one candidate's MD."""
    import gzip

    done_t, frames, statuses = 0, 0, []
    for t in plan.campaign.temperatures_for(plan.preset):
        dirs = md_segment_dirs(plan.md_dir, candidate_id, t, segment_names(plan, t))
        n_done = sum((d / DONE_MARKER).is_file() for d in dirs)
        for d in dirs:
            for p in (d / "XDATCAR", d / "XDATCAR.gz"):
                if p.is_file():
                    opener = gzip.open if p.suffix == ".gz" else open
                    with opener(p, "rt") as fh:
                        frames += sum(line.startswith("Direct configuration") for line in fh)
        status = "completed" if n_done == len(dirs) else ("running" if n_done or
                                                           dirs[0].exists() else None)  # fmt: skip
        statuses.append(status)
        done_t += status == "completed"
    return done_t, frames, statuses
