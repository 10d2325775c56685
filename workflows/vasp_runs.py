"""Where and how each VASP run of a campaign happens: site settings and one folder per run.

Site configuration is read once per plan: the command from atomate2's settings
(``ATOMATE2_VASP_CMD`` / ``VASP_CMD`` in ``~/.atomate2.yaml``), POTCARs from pymatgen's
``PMG_VASP_PSP_DIR``; a missing one is one error naming the setting. The Makers are atomate2's own
(``RelaxMaker``, ``StaticMaker``, the MLFF-continuing ``MDMaker`` of :mod:`workflows.vasp`), each
run in a fixed folder that gets a marker once VASP finished and atomate2 parsed it: rebuilding the
Flow (the final HPC job, a resubmission, a rerun) re-parses finished runs instead of running VASP
again, and starts an unfinished one again from its inputs (VASP cannot continue a killed run; the
MD is cut into segments so that a kill costs one segment).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atomate2.vasp.jobs.base import get_vasp_task_document, vasp_job
from atomate2.vasp.jobs.core import RelaxMaker, StaticMaker
from emmet.core.types.enums import StoreTrajectoryOption
from jobflow import Flow, Response

from screening.candidates import Candidate
from screening.errors import InputError
from screening.paths import id_path
from workflows.vasp import POTCAR_FUNCTIONAL, MLFFMDMaker, vasp_md_chain

log = logging.getLogger(__name__)

#: written into a run folder once VASP finished there and atomate2 parsed it
DONE_MARKER = ".ilscreen-vasp-done.json"
#: env switch for binaries that need no POTCAR (the test stand-in): inputs carry POTCAR.spec only
POTCAR_SPEC_ENV = "ILSCREEN_VASP_POTCAR_SPEC"
#: env: custodian's polling interval (s); its default, 10 s, suits hour-long VASP runs
POLL_ENV = "ILSCREEN_CUSTODIAN_POLL_S"


# ----------------------------------------------------------------------------- site settings
@dataclass(frozen=True)
class VaspSite:
    """Where VASP runs, from atomate2's and pymatgen's settings (resolved once per plan)."""

    vasp_cmd: str
    vasp_gamma_cmd: str
    psp_dir: str | None
    potcar_spec: bool
    poll_s: float | None

    def run_vasp_kwargs(self, handlers: Any = None) -> dict[str, Any]:
        """``run_vasp_kwargs``: the checked command, not atomate2's default bound at import."""
        kw: dict[str, Any] = {"vasp_cmd": self.vasp_cmd, "vasp_gamma_cmd": self.vasp_gamma_cmd}
        if handlers is not None:
            kw["handlers"] = handlers
        if self.poll_s:
            kw["custodian_kwargs"] = {"polling_time_step": self.poll_s, "monitor_freq": 1}
        return kw

    def hashed(self) -> dict[str, Any]:
        """What enters the settings hash: another binary (or POTCAR.spec only) is another run."""
        return {"vasp_cmd": self.vasp_cmd, "potcar_spec": self.potcar_spec}


def _found(token: str) -> bool:
    return shutil.which(token) is not None or (Path(token).is_file() and os.access(token, os.X_OK))


def vasp_site(source: str | Path) -> VaspSite:
    """The site's VASP command and POTCAR location, or one error naming the missing setting."""
    from atomate2.settings import Atomate2Settings
    from pymatgen.core import SETTINGS as PMG_SETTINGS
    from pymatgen.io.vasp.inputs import PotcarSingle

    settings = Atomate2Settings()  # fresh: reads the environment and ~/.atomate2.yaml now
    cmd = os.path.expandvars(settings.VASP_CMD)
    tokens = shlex.split(cmd)
    # the launcher (mpirun, srun, ...) and the VASP executable itself must both be found
    wanted = [t for i, t in enumerate(tokens) if i == 0 or Path(t).name.startswith("vasp")]
    if missing := [t for t in wanted if not _found(t)]:
        raise InputError(
            f"engine 'vasp' needs the VASP executable, but {missing[0]!r} of the VASP command "
            f"{cmd!r} is not found (atomate2 setting VASP_CMD)",
            file=source,
            field="ATOMATE2_VASP_CMD",
            allowed="a command whose VASP binary is on PATH or an absolute path, set in the "
            "environment (ATOMATE2_VASP_CMD) or as VASP_CMD in ~/.atomate2.yaml",
        )
    potcar_spec = os.environ.get(POTCAR_SPEC_ENV) == "1"
    psp = os.environ.get("PMG_VASP_PSP_DIR") or PMG_SETTINGS.get("PMG_VASP_PSP_DIR")
    sub = PotcarSingle.functional_dir[POTCAR_FUNCTIONAL]
    if not potcar_spec and (psp is None or not (Path(psp) / sub).is_dir()):
        raise InputError(
            f"engine 'vasp' needs the {POTCAR_FUNCTIONAL} POTCARs: "
            + ("PMG_VASP_PSP_DIR is not set" if psp is None else f"no {sub} folder in {psp}"),
            file=source,
            field="PMG_VASP_PSP_DIR",
            allowed=f"a folder holding {sub}/ (environment or ~/.config/.pmgrc.yaml)",
        )
    poll = os.environ.get(POLL_ENV)
    return VaspSite(
        vasp_cmd=cmd,
        vasp_gamma_cmd=os.path.expandvars(settings.VASP_GAMMA_CMD),
        psp_dir=psp,
        potcar_spec=potcar_spec,
        poll_s=float(poll) if poll else None,
    )


# ----------------------------------------------------------------------------- run folders
def slim(doc: Any, keep: int | None) -> None:
    """Keep the last ``keep`` ionic steps in ``doc``'s calculations (None: all of them).

    An MD segment has 10^4–10^5 steps; in the task document each is a structure with forces and
    stress, which jobflow serialises with every job that reads the segment's output. They stay
    in the run folder (vasprun.xml, XDATCAR), which is what the analysis reads.
    """
    if keep is None:
        return
    for calc in doc.calcs_reversed or []:
        steps = calc.output.ionic_steps
        if steps and len(steps) > keep:
            calc.output.ionic_steps = steps[-keep:]


def _reuse_or_run(maker: Any, structure: Any, prev_dir: Any, run: Any) -> Response:
    """Run ``run`` (an atomate2 make function) inside ``maker.run_dir``, or re-parse it if done."""
    folder = Path(maker.run_dir)
    if (folder / DONE_MARKER).is_file():
        log.info("%s: finished VASP run in %s reused (not re-running)", maker.name, folder)
        doc = get_vasp_task_document(folder, **maker.task_document_kwargs)
        doc.task_label = maker.name
        slim(doc, getattr(maker, "keep_ionic_steps", None))
        return Response(output=doc)
    if folder.exists():  # killed mid-run: VASP cannot continue a segment, so it starts again
        log.warning("%s: removing the unfinished VASP run in %s", maker.name, folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    with contextlib.chdir(folder):
        response = run(maker, structure, prev_dir)
    doc = response.output
    slim(doc, getattr(maker, "keep_ionic_steps", None))
    mark = {"task_label": maker.name, "vasp_version": doc.vasp_version, "time": time.time()}
    (folder / DONE_MARKER).write_text(json.dumps(mark))
    return response


@dataclass
class FolderRelaxMaker(RelaxMaker):
    """atomate2's RelaxMaker in a fixed folder, reused once finished."""

    run_dir: str = "relax"

    @vasp_job
    def make(self, structure: Any, prev_dir: str | Path | None = None) -> Response:
        """Relax ``structure`` (or re-parse the finished relaxation)."""
        return _reuse_or_run(self, structure, prev_dir, RelaxMaker.make.original)


@dataclass
class FolderStaticMaker(StaticMaker):
    """atomate2's StaticMaker in a fixed folder, reused once finished."""

    run_dir: str = "static"

    @vasp_job
    def make(self, structure: Any, prev_dir: str | Path | None = None) -> Response:
        """Static run of ``structure`` (or re-parse the finished one)."""
        return _reuse_or_run(self, structure, prev_dir, StaticMaker.make.original)


@dataclass
class FolderMDMaker(MLFFMDMaker):
    """One MD segment (:class:`workflows.vasp.MLFFMDMaker`) in a fixed folder.

    No pymatgen Trajectory in the task document: with ML_LMLFF, emmet (0.87) builds it from
    pymatgen's ``md_data``, whose steps keep their energies in a nested dict, and the Trajectory
    model then refuses the missing energies (materialsproject/emmet#1252 is still open). The
    XDATCARs are the trajectory the analysis reads.
    """

    run_dir: str = "md"
    keep_ionic_steps: int | None = 1
    task_document_kwargs: dict = field(
        default_factory=lambda: {"store_trajectory": StoreTrajectoryOption.NO}
    )

    @vasp_job
    def make(self, structure: Any, prev_dir: str | Path | None = None) -> Response:
        """Run the segment from ``prev_dir``'s CONTCAR and ML_ABN (or re-parse it)."""
        return _reuse_or_run(self, structure, prev_dir, MLFFMDMaker.make.original)


def configure(maker: Any, site: VaspSite, run_dir: Path) -> Any:
    """A copy of ``maker`` running in ``run_dir`` with the site's command and POTCAR mode."""
    handlers = maker.run_vasp_kwargs.get("handlers")
    return dataclasses.replace(
        maker,
        run_dir=str(run_dir),
        run_vasp_kwargs={**maker.run_vasp_kwargs, **site.run_vasp_kwargs(handlers)},
        write_input_set_kwargs={**maker.write_input_set_kwargs, "potcar_spec": site.potcar_spec},
    )


def md_segment_dirs(md_dir: str | Path, candidate_id: str, temperature_K: float,
                    names: list[str]) -> list[Path]:  # fmt: skip
    """``<md_dir>/<candidate>/T0900K/NN-<segment>``: one folder per segment, in chain order."""
    base = id_path(md_dir, candidate_id, f"T{temperature_K:04.0f}K", field="CANDIDATE_ID")
    return [base / f"{i:02d}-{n}" for i, n in enumerate(names, start=1)]


def md_chain(plan: Any, site: VaspSite, cand: Candidate, temperature_K: float) -> tuple[Flow, int]:
    """The candidate's MultiMDMaker Flow at one temperature; also its equilibration count."""
    vs = plan.campaign.engine.vasp
    md = plan.campaign.preset(plan.preset).md
    multi, n_eq = vasp_md_chain(temperature_K, md=md, segment_ps=vs.segment_ps,
                                ml_force_field=vs.ml_force_field)  # fmt: skip
    dirs = md_segment_dirs(plan.md_dir, cand.id, temperature_K, segment_names(plan, temperature_K))
    multi.md_makers = [
        configure(FolderMDMaker(name=m.name, input_set_generator=m.input_set_generator), site, d)
        for m, d in zip(multi.md_makers, dirs, strict=True)
    ]
    chain = multi.make(cand.structure)
    chain.name = f"vasp nvt {cand.id} {temperature_K:g}K"
    return chain, n_eq


def segment_names(plan: Any, temperature_K: float) -> list[str]:
    """Folder names of one temperature's segments: ``eq1``…, then ``prod1``…"""
    vs = plan.campaign.engine.vasp
    multi, n_eq = vasp_md_chain(temperature_K, md=plan.campaign.preset(plan.preset).md,
                                segment_ps=vs.segment_ps)  # fmt: skip
    n = len(multi.md_makers)
    return [f"eq{i + 1}" if i < n_eq else f"prod{i + 1 - n_eq}" for i in range(n)]
