"""``ilscreen screen``: run a whole campaign locally through jobflow and return the ranking.

Idempotent: the result documents are keyed by (candidate id, settings hash). When the store already
holds every candidate for the same settings, nothing is recomputed. Resumable job by job: every job
output is stored in ``WORKDIR/jobstore`` when the job finishes, under a uuid derived from the job's
content (workflows.resume), so a rerun after a kill skips each finished job, and a changed ranking
threshold re-ranks without relaxing or running MD again. The MD job itself resumes each run from its
checkpoint (trajectory paths depend on the MD settings only).

One screen per campaign folder: :func:`workdir_lock` makes a second ``screen`` on the same
``--workdir`` refuse at once instead of writing the same trajectory files. Jobs run inside
``WORKDIR/jobs`` (atomate2 writes ``final_atoms_object.xyz`` into the current folder), so nothing
lands outside ``--workdir``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from screening.campaign import Campaign, load_campaign
from screening.candidates import Candidate, generate_candidates
from screening.errors import InputError, located
from screening.hashing import settings_hash
from screening.paths import DEFAULT_WORKDIR
from screening.results import CandidateResult, Provenance
from screening.store import ResultsStore

log = logging.getLogger(__name__)

LOCK_NAME = ".ilscreen-screen.lock"
#: the persistent jobflow JobStore under WORKDIR: each finished job's output (workflows.resume)
JOBSTORE_DIR = "jobstore"


@dataclass(frozen=True)
class ScreenPlan:
    """What a screen will do: the campaign, its candidates, settings and where results go."""

    campaign: Campaign
    preset: str
    candidates: list[Candidate]
    md_targets: list[Candidate]
    potential: str
    thermo_potential: str
    device: str
    dtype: str
    workdir: Path
    store: str
    provenance: Provenance
    md_dir: Path
    electronic_engine: str


def resolve_electronic_engine(
    campaign: Campaign, source: str | Path, resolved: str | None = None
) -> str:
    """``electronic.engine`` as the Flow will run it: ``gpaw`` or ``literature``.

    ``auto`` is decided here, once, so the Flow (and its settings hash) does not depend on where a
    job later runs (HPC jobs pass the submit-time decision as ``resolved``); asking for ``gpaw``
    without GPAW fails now, before any work starts.
    """
    from workflows.dft_gpaw import INSTALL_HINT, gpaw_available

    asked = campaign.electronic.engine if resolved is None else resolved
    if asked == "literature":
        return asked
    if gpaw_available():
        log.info("electronic criterion: GPAW (PBE) band gaps (electronic.engine %s)", asked)
        return "gpaw"
    if asked == "gpaw":
        raise InputError(
            f"engine 'gpaw' needs GPAW, which is not installed: {INSTALL_HINT}",
            file=source,
            field="electronic.engine",
            allowed=["auto", "literature"],
        )
    log.info("electronic criterion: cited literature only (auto: GPAW not installed; %s)",
             INSTALL_HINT)  # fmt: skip
    return "literature"


def plan_screen(
    campaign_file: str | Path,
    *,
    preset: str | None = None,
    potential: str | None = None,
    thermo_potential: str | None = None,
    device: str | None = None,
    workdir: str | Path = DEFAULT_WORKDIR,
    store: str | None = None,
    electronic_engine: str | None = None,
    trust_model: bool = False,
    engines: Sequence[str] = ("mlip",),
) -> ScreenPlan:
    """Validate everything a screen needs (campaign, potential coverage) before any work starts.

    ``engines``: the ``engine.engine`` values the calling command runs (``ilscreen screen``:
    mlip and dft); any other is refused before any work.

    ``electronic_engine`` overrides ``electronic.engine`` with an already resolved value (HPC jobs).
    ``trust_model`` (``--trust-model``): load the potential's model file though it is not shipped.
    ``thermo_potential`` (``--thermo-potential``) overrides ``engine.thermo_potential``, the
    potential of every relaxation; the MD keeps ``potential``.
    """
    from potentials.registry import check_coverage, check_device, trust_campaign, trust_spec
    from workflows.flows import md_targets

    campaign = load_campaign(campaign_file)
    if campaign.engine.engine not in engines:  # never run another engine than the one asked for
        raise InputError(
            f"engine '{campaign.engine.engine}' is accepted by the schema but this command runs "
            f"only {' and '.join(engines)} (`engine: dft` runs under `ilscreen screen`, `engine: "
            "vasp` under `ilscreen screen` and `ilscreen submit`)",
            file=campaign_file,
            field="engine.engine",
            allowed=list(engines),
        )
    if campaign.engine.engine == "vasp":
        from workflows.vasp_campaign import plan_vasp_screen

        return plan_vasp_screen(
            campaign, campaign_file, preset=preset, workdir=Path(workdir), store=store
        )
    if campaign.engine.engine == "dft":
        from workflows.dft_campaign import plan_dft_screen

        return plan_dft_screen(
            campaign, campaign_file, preset=preset, workdir=Path(workdir), store=store
        )
    trust_campaign(campaign)
    preset_name = preset or campaign.default_preset
    md = campaign.preset(preset_name).md
    candidates = generate_candidates(campaign, preset_name)
    spec = potential or campaign.engine.potential
    if trust_model:
        trust_spec(spec)
    elements = sorted({e.symbol for c in candidates for e in c.structure.composition.elements})
    with contextlib.nullcontext() if potential else located(campaign_file, "engine.potential"):
        info = check_coverage(spec, elements, source=str(campaign_file))
    thermo_spec = thermo_potential or campaign.engine.thermo_potential or spec
    if trust_model and thermo_potential:
        trust_spec(thermo_spec)
    with (
        contextlib.nullcontext()
        if thermo_potential or not campaign.engine.thermo_potential
        else located(campaign_file, "engine.thermo_potential")
    ):
        thermo_info = check_coverage(thermo_spec, elements, source=str(campaign_file))
    dev = device or campaign.engine.device
    check_device(dev, field="device" if device else "engine.device")
    dtype = campaign.engine.dtype
    seeds = sorted({c.seed for c in candidates if c.seed is not None}) or [0]
    electronic = resolve_electronic_engine(campaign, campaign_file, electronic_engine)
    # the resolved engine: an `auto` campaign run with and without GPAW gives different docs
    electronic_settings: dict[str, Any] = {"engine": electronic}
    if electronic == "gpaw":
        from workflows.dft_gpaw import GPAWSettings

        electronic_settings["gpaw"] = GPAWSettings().model_dump(exclude={"txt"})
    settings = {
        "campaign": campaign.settings_hash(preset_name),
        "potential": info.spec,
        "model_sha256": info.sha256,
        "thermo_potential": thermo_info.spec,
        "thermo_model_sha256": thermo_info.sha256,
        "dtype": dtype,
        "electronic": electronic_settings,
    }
    md_key = settings_hash(
        {"md": md.model_dump(mode="json"), "potential": info.spec, "model": info.sha256,
         "dtype": dtype, "seed": seeds[0]}
    )  # fmt: skip
    work = Path(workdir)
    pot_dir = info.spec.replace(":", "-").replace("/", "_")
    return ScreenPlan(
        campaign=campaign,
        preset=preset_name,
        candidates=candidates,
        md_targets=md_targets(candidates),
        potential=info.spec,
        thermo_potential=thermo_info.spec,
        device=dev,
        dtype=dtype,
        workdir=work,
        store=store or str(work / "store"),
        provenance=Provenance.collect(
            engine="mlip",
            settings=settings,
            potential=info.spec,
            model_sha256=info.sha256,
            seeds=seeds,
        ),
        md_dir=work / "md" / f"{pot_dir}-{md_key[:12]}",
        electronic_engine=electronic,
    )


def stored_results(plan: ScreenPlan) -> list[CandidateResult] | None:
    """The stored ranking of exactly this plan, or None when any candidate is missing."""
    h = plan.provenance.settings_hash
    with ResultsStore.open(plan.store) as st:
        docs = [st.get(c.id, h) for c in plan.md_targets]
    if not docs or any(d is None for d in docs):
        return None
    return sorted(docs, key=lambda d: (d.rank is None, d.rank or 0))  # type: ignore[union-attr]


def build_flow(plan: ScreenPlan, *, batched: bool = False) -> Any:
    """The screening Flow of ``plan``: what ``run_screen`` runs locally and HPC managers submit."""
    from workflows.flows import ScreeningFlowMaker

    if plan.provenance.engine == "vasp":
        from workflows.vasp_campaign import build_vasp_flow

        return build_vasp_flow(plan)
    if plan.provenance.engine == "dft":
        from workflows.dft_campaign import build_dft_flow

        return build_dft_flow(plan)

    return ScreeningFlowMaker(
        preset=plan.preset,
        potential=plan.potential,
        thermo_potential=plan.thermo_potential,
        device=plan.device,
        dtype=plan.dtype,
        workdir=str(plan.workdir),
        store=plan.store,
        md_dir=str(plan.md_dir),
        batched=batched,
        provenance=plan.provenance,
        electronic=plan.electronic_engine,
    ).make(plan.campaign, plan.candidates)


def resumable_flow(plan: ScreenPlan, *, batched: bool = False) -> Any:
    """:func:`build_flow` with job uuids pinned to their content: the same plan, the same uuids."""
    from workflows.resume import pin_uuids

    flow = build_flow(plan, batched=batched)
    prov = plan.provenance
    # what changes results without being a job input: the model files behind the specs, the code
    salt = {
        "model_sha256": prov.model_sha256,
        "thermo_model_sha256": prov.settings.get("thermo_model_sha256"),
        "code_version": prov.code_version,
    }
    pin_uuids(flow, salt=salt)
    return flow


@contextlib.contextmanager
def workdir_lock(workdir: Path) -> Iterator[None]:
    """Hold ``WORKDIR/.ilscreen-screen.lock`` (flock, released when the process dies) or refuse."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / LOCK_NAME
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise InputError(
                f"another screen (pid {holder}) is running in this folder; wait for it to finish "
                "or give another --workdir",
                file=workdir,
                field="--workdir",
            ) from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _absolute(plan: ScreenPlan) -> ScreenPlan:
    """The plan with absolute paths: its jobs run inside ``WORKDIR/jobs``, not the caller's cwd."""
    store = plan.store
    if not store.startswith(("mongodb://", "mongodb+srv://")):
        store = str(Path(store).expanduser().resolve())
    return dataclasses.replace(
        plan, workdir=plan.workdir.resolve(), md_dir=plan.md_dir.resolve(), store=store
    )


def run_screen(
    plan: ScreenPlan, *, force: bool = False, batched: bool = False, progress: bool = True
) -> list[CandidateResult]:
    """Run the plan through jobflow ``run_locally`` (or reuse stored results); ranked docs."""
    with workdir_lock(plan.workdir):
        return _run_locked(_absolute(plan), force=force, batched=batched)


def _run_locked(plan: ScreenPlan, *, force: bool, batched: bool) -> list[CandidateResult]:
    if not force and (cached := stored_results(plan)) is not None:
        log.info("reusing %d stored results (settings %s)", len(cached),
                 plan.provenance.settings_hash[:12])  # fmt: skip
        return cached
    jobstore = plan.workdir / JOBSTORE_DIR
    for old in (plan.md_dir, jobstore) if force else ():
        if old.exists():
            shutil.rmtree(old)

    from workflows.resume import job_store, run_resumable

    flow = resumable_flow(plan, batched=batched)
    final = flow.jobs[-1]
    with job_store(jobstore) as store:
        # the ranking job always runs: it writes the results store, which may have been replaced
        responses = run_resumable(flow, store, root_dir=plan.workdir / "jobs", rerun={final.uuid})
    return responses[final.uuid][1].output
