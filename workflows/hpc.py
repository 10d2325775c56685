"""HPC campaigns: fan a screen out over a SLURM queue, watch it, resubmit what failed.

Design (no database needed): the campaign becomes

* one SLURM job per MD candidate (``python -m workflows.hpc md PLAN CANDIDATE``), which runs that
  candidate's NVT MD at every temperature with exactly the paths, settings and seed that
  :class:`workflows.flows.ScreeningFlowMaker` uses (sequential ASE engine, so each trajectory is
  independent of how the work was split), checkpointing every ``checkpoint_every_steps`` steps;
* one final job (``python -m workflows.hpc final PLAN``) with ``--dependency=afterok:<MD jobs>``
  that runs the whole screen Flow: it finds every trajectory finished (the MD engine returns
  finished runs at once), relaxes the phases, builds hulls, analyses diffusion, ranks and stores.

Resubmission is safe at any point: a killed or timed-out MD job leaves a valid checkpoint and a
readable trajectory, so its resubmitted job continues from the last checkpoint (bit-for-bit on
CPU); finished trajectories and stored results are never recomputed.

Everything lives in ``<workdir>/hpc/``: ``plan.json`` (the settings every job re-plans from),
``jobs.json`` (submitted job ids per task, written atomically), ``state/*.json`` (each job records
its own start/end, so no ``sacct`` is needed) and ``logs/``, ``scripts/``. Queue access goes
through qtoolkit (script generation, ``sbatch``/``squeue``/``scancel`` parsing).

With ``--manager jobflow-remote`` the same :class:`ScreeningFlowMaker` Flow is handed to
jobflow-remote instead (its runner and MongoDB queue store do the scheduling).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from screening.atomic import write_text_atomic
from screening.errors import InputError
from screening.hashing import file_sha256
from screening.paths import id_slug

log = logging.getLogger(__name__)

HPC_DIRNAME = "hpc"
FINAL_TASK = "final"
#: trajectory ``status`` attributes of a finished run (unstable runs are finished: they are
#: recorded as failed candidates, re-running them would give the same answer)
FINISHED = ("completed", "unstable")
TaskState = Literal["not submitted", "queued", "running", "done", "failed"]
#: the ``engine.engine`` values ``ilscreen submit`` runs (vasp: one SLURM job per MD candidate
#: runs its VASP segments, workflows.vasp_campaign)
HPC_ENGINES = ("mlip", "vasp")


# ------------------------------------------------------------------------------ small helpers
def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON atomically and durably: readers (other SLURM jobs) never see half a file."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True), fsync=True)


def task_slug(candidate_id: str) -> str:
    """A file-name-safe key of an MD task: ``Li-Sb/Li3Sb/1x1x1/vac1/seed0`` → ``Li-Sb_Li3Sb_…``."""
    return id_slug(candidate_id)


def parse_time(text: str | int | None) -> int | None:
    """SLURM time (``MM``, ``HH:MM:SS``, ``D-HH:MM``, …) → seconds; InputError if unreadable."""
    if text is None or isinstance(text, int):
        return text
    from qtoolkit.io.slurm import SlurmIO

    try:
        seconds = SlurmIO._convert_str_to_time(str(text).strip())
    except Exception:  # qtoolkit raises OutputParsingError and friends
        seconds = None
    if not seconds or seconds <= 0:
        raise InputError(
            f"unreadable wall time {text!r}",
            field="--time",
            allowed="MM, HH:MM:SS, D-HH or D-HH:MM:SS (SLURM time format)",
        )
    return int(seconds)


# ------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class PlanArgs:
    """What every job needs to rebuild the same :class:`workflows.screen.ScreenPlan`."""

    campaign_file: str
    campaign_sha256: str
    preset: str | None
    potential: str | None
    device: str | None
    workdir: str
    store: str | None
    checkpoint_every_steps: int = 1000
    #: ``electronic.engine`` as resolved at submit: ``auto`` must not be decided again on compute
    #: nodes (with or without GPAW), or jobs would store results under other settings hashes
    electronic_engine: str | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> PlanArgs:
        """Read ``<workdir>/hpc/plan.json``."""
        path = Path(path)
        if not path.is_file():
            raise InputError("no HPC plan here (run `ilscreen submit` first)", file=path)
        return cls(**json.loads(path.read_text()))

    def plan(self) -> Any:
        """The :class:`ScreenPlan`; refuses to run when the campaign file changed after submit."""
        from workflows.screen import plan_screen

        if file_sha256(self.campaign_file) != self.campaign_sha256:
            raise InputError(
                "campaign file changed since it was submitted; submit again to use the new "
                "settings (finished MD with unchanged settings is reused)",
                file=self.campaign_file,
            )
        return plan_screen(
            self.campaign_file,
            preset=self.preset,
            potential=self.potential,
            device=self.device,
            workdir=self.workdir,
            store=self.store,
            electronic_engine=self.electronic_engine,
            engines=HPC_ENGINES,
        )


@dataclass(frozen=True)
class Resources:
    """Scheduler resources of the MD jobs and of the final (relax + analysis + ranking) job."""

    partition: str | None = None
    account: str | None = None
    time: str | None = "24:00:00"
    final_time: str | None = "04:00:00"
    cpus: int = 1
    gpus: int = 0
    #: extra ``#SBATCH`` lines, e.g. ``["--qos=normal", "--constraint=a100"]``
    extra: tuple[str, ...] = ()
    #: shell lines run before the task (``module load``, ``conda activate`` …)
    setup: tuple[str, ...] = ()

    def qresources(self, *, job_name: str, log_file: Path, final: bool) -> Any:
        """qtoolkit ``QResources`` for one job."""
        from qtoolkit import QResources

        # append: a requeued job (same id, same log file) keeps the earlier parts of its log
        verbatim = ["#SBATCH --open-mode=append"]
        verbatim += [f"#SBATCH {x if x.startswith('-') else '--' + x}" for x in self.extra]
        return QResources(
            queue_name=self.partition,
            account=self.account,
            job_name=job_name,
            time_limit=parse_time(self.final_time if final else self.time),
            processes=1,
            threads_per_process=self.cpus,
            gpus_per_job=self.gpus or None,
            output_filepath=str(log_file),
            error_filepath=str(log_file),
            scheduler_kwargs={"qverbatim": "\n".join(verbatim)},
        )


# ------------------------------------------------------------------------------ queue access
class Queue(Protocol):
    """What the campaign logic needs from a batch system (SLURM via qtoolkit; fakes in tests)."""

    def submit(
        self, script: Path, commands: list[str], resources: Any, after: Sequence[str]
    ) -> str: ...

    def active(self, job_ids: Sequence[str]) -> dict[str, str]: ...

    def cancel(self, job_id: str) -> None: ...


def slurm_script(commands: list[str], resources: Any, after: Sequence[str] = ()) -> str:
    """A SLURM submission script: qtoolkit's header for ``resources`` (a ``QResources``), an
    ``afterok`` dependency on the ``after`` job ids, then ``commands``."""
    from qtoolkit.io.slurm import SlurmIO
    from qtoolkit.manager import QueueManager

    if after:
        dep = f"#SBATCH --dependency=afterok:{':'.join(after)}"
        kw = dict(resources.scheduler_kwargs or {})
        kw["qverbatim"] = "\n".join(x for x in (kw.get("qverbatim"), dep) if x)
        resources = dataclasses.replace(resources, scheduler_kwargs=kw)
    # QueueManager only formats here; no host command runs
    return QueueManager(scheduler_io=SlurmIO()).get_submission_script(
        commands=commands, options=resources
    )


class SlurmQueue:
    """SLURM through qtoolkit (``sbatch``/``squeue``/``scancel``; ``sacct`` is not needed)."""

    def __init__(self) -> None:
        import shutil

        from qtoolkit.host.local import LocalHost
        from qtoolkit.io.slurm import SlurmIO
        from qtoolkit.manager import QueueManager

        if shutil.which("sbatch") is None:
            raise InputError(
                "sbatch not found on PATH: submit from a SLURM login node",
                field="--scheduler",
                allowed=["slurm"],
            )
        self.io = SlurmIO()
        self.manager = QueueManager(scheduler_io=self.io, host=LocalHost())

    def submit(
        self, script: Path, commands: list[str], resources: Any, after: Sequence[str]
    ) -> str:
        """Write ``script`` and ``sbatch`` it; returns the job id."""
        text = slurm_script(commands, resources, after)
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(text)
        stdout, stderr, rc = self.manager.execute_cmd(
            self.io.get_submit_cmd(str(script)), workdir=str(script.parent)
        )
        res = self.io.parse_submit_output(exit_code=rc, stdout=stdout, stderr=stderr)
        if res.job_id is None:
            raise RuntimeError(f"sbatch failed (rc {rc}): {stderr.strip() or stdout.strip()}")
        return str(res.job_id)

    def active(self, job_ids: Sequence[str]) -> dict[str, str]:
        """SLURM state (``PENDING``, ``RUNNING`` …) of the given jobs still known to squeue."""
        if not job_ids:
            return {}
        # Ask for all of this user's jobs: squeue --jobs fails outright when one id is purged.
        import getpass

        cmd = self.io.get_jobs_list_cmd(None, getpass.getuser())
        stdout, stderr, rc = self.manager.execute_cmd(cmd)
        if rc != 0:
            raise RuntimeError(f"squeue failed (rc {rc}): {stderr.strip()}")
        jobs = self.io.parse_jobs_list_output(exit_code=rc, stdout=stdout, stderr=stderr)
        wanted = set(job_ids)
        return {
            str(j.job_id): j.sub_state.value if j.sub_state else str(j.state)
            for j in jobs
            if str(j.job_id) in wanted
        }

    def cancel(self, job_id: str) -> None:
        """``scancel`` one job."""
        self.manager.cancel(job_id)


def get_queue(scheduler: str) -> Queue:
    """The queue of a ``--scheduler`` name."""
    if scheduler == "slurm":
        return SlurmQueue()
    raise InputError(f"unknown scheduler {scheduler!r}", field="--scheduler", allowed=["slurm"])


# ------------------------------------------------------------------------------ campaign files
@dataclass
class HPCCampaign:
    """The ``<workdir>/hpc`` folder of a submitted campaign."""

    workdir: Path

    @property
    def dir(self) -> Path:
        return self.workdir / HPC_DIRNAME

    @property
    def plan_file(self) -> Path:
        return self.dir / "plan.json"

    @property
    def jobs_file(self) -> Path:
        return self.dir / "jobs.json"

    def state_file(self, task: str) -> Path:
        return self.dir / "state" / f"{task_slug(task)}.json"

    def log_file(self, task: str) -> Path:
        return self.dir / "logs" / f"{task_slug(task)}-%j.out"

    def script_file(self, task: str) -> Path:
        return self.dir / "scripts" / f"{task_slug(task)}.sh"

    def load_jobs(self) -> dict[str, Any]:
        """``{"tasks": {task: {"candidate": id, "job_ids": [...]}}, "resources": {...}}``."""
        if not self.jobs_file.is_file():
            raise InputError("no submitted campaign here (run `ilscreen submit`)",
                             file=self.jobs_file)  # fmt: skip
        return json.loads(self.jobs_file.read_text())

    def save_jobs(self, data: dict[str, Any]) -> None:
        atomic_write_json(self.jobs_file, data)

    def read_state(self, task: str) -> dict[str, Any]:
        """What a job recorded about itself (empty when it never started)."""
        p = self.state_file(task)
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            return {}


# ------------------------------------------------------------------------------ the tasks
class Terminated(Exception):
    """SIGTERM from the scheduler (scancel, wall time): stop, keep the last checkpoint."""


class OutOfTime(Terminated):
    """The job's own wall-time budget is used up: stop, keep the checkpoint, requeue."""


#: exit status of an MD task that stopped at its budget; the job script then requeues the job
REQUEUE_EXIT = 99


def md_budget_s(time_limit_s: int | None) -> int | None:
    """MD time of a job with this wall time: a margin (10 %, 30 s to 15 min) stays for start-up
    and the last checkpoint, so the job stops itself before SLURM kills it."""
    if not time_limit_s:
        return None
    return max(1, int(time_limit_s - min(900, max(30, 0.1 * time_limit_s))))


def _record(camp: HPCCampaign, task: str, **fields: Any) -> None:
    data = camp.read_state(task)
    data.update(fields, job_id=os.environ.get("SLURM_JOB_ID"), time=time.time())
    atomic_write_json(camp.state_file(task), data)


def _run_recorded(camp: HPCCampaign, task: str, fn: Any, budget_s: int | None = None) -> Any:
    """Run ``fn()`` recording running/done/failed in the task's state file.

    SIGTERM (scancel, wall time) and the ``budget_s`` alarm interrupt the MD between two Python
    steps; the checkpoint and trajectory on disk stay consistent (files are closed between
    flushes, checkpoints are written atomically).
    """

    # A signal can land inside library code that wraps exceptions (a model loader turning it
    # into InputError, say); the flags keep the cause, whatever exception comes out.
    why: dict[str, Terminated] = {}

    def on_term(signum: int, _frame: Any) -> None:
        why["exc"] = Terminated(f"signal {signum}")
        raise why["exc"]

    def on_alarm(_signum: int, _frame: Any) -> None:
        why["exc"] = OutOfTime(f"wall-time budget of {budget_s} s used")
        raise why["exc"]

    previous = signal.signal(signal.SIGTERM, on_term)
    if budget_s:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(budget_s)
    _record(camp, task, state="running", error=None)
    try:
        out = fn()
    except Exception as exc:
        cause = why.get("exc")
        if isinstance(cause, OutOfTime):
            _record(camp, task, state="requeued", error=f"{cause}; continues from its checkpoint")
        elif cause is not None:
            _record(camp, task, state="failed", error=f"terminated by the scheduler ({cause})")
        else:
            _record(camp, task, state="failed", error=f"{type(exc).__name__}: {exc}")
        if cause is not None and cause is not exc:
            raise cause from exc
        raise
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, previous)
    _record(camp, task, state="done", error=None)
    return out


def md_maker(plan: Any, *, checkpoint_every_steps: int = 1000, progress: bool = False) -> Any:
    """The :class:`MDMaker` that :class:`ScreeningFlowMaker` builds (sequential engine)."""
    from workflows.md.maker import MDMaker

    return MDMaker(
        potential=plan.potential,
        device=plan.device,
        dtype=plan.dtype,
        md=plan.campaign.preset(plan.preset).md,
        seed=plan.provenance.seeds[0] if plan.provenance.seeds else 0,
        out_dir=str(plan.md_dir),
        batched=False,
        progress=progress,
        checkpoint_every_steps=checkpoint_every_steps,
    )


def run_md_task(plan_args: PlanArgs, candidate_id: str, *, progress: bool = False) -> list[Any]:
    """Run (or resume) every temperature of one MD candidate, as the screen Flow would."""
    plan = plan_args.plan()
    by_id = {c.id: c for c in plan.md_targets}
    if candidate_id not in by_id:
        raise InputError(f"{candidate_id!r} is not an MD candidate of this plan",
                         field="candidate", allowed=sorted(by_id))  # fmt: skip
    if plan.provenance.engine == "vasp":
        from workflows import vasp_campaign

        return vasp_campaign.run_md_task(plan, candidate_id)
    cand = by_id[candidate_id]
    temps = plan.campaign.temperatures_for(plan.preset)
    maker = md_maker(
        plan, checkpoint_every_steps=plan_args.checkpoint_every_steps, progress=progress
    )
    md_fn = type(maker).make.original  # the plain function under jobflow's @job
    return md_fn(maker, [cand.structure] * len(temps), [cand.id] * len(temps), list(temps))


def run_final_task(plan_args: PlanArgs) -> list[Any]:
    """The whole screen Flow (sequential MD: reuses every finished trajectory), ranked docs."""
    from workflows.screen import run_screen

    plan = plan_args.plan()
    missing = [c.id for c in plan.md_targets if md_progress(plan, c.id)[0] != len(temps_of(plan))]
    if missing:
        raise RuntimeError(
            f"MD not finished for {missing}; run `ilscreen resubmit --workdir {plan.workdir}`"
        )
    return run_screen(plan, batched=False, progress=False)


def temps_of(plan: Any) -> list[float]:
    """The MD temperatures of the plan's preset (K)."""
    return list(plan.campaign.temperatures_for(plan.preset))


def trajectory_status(path: Path) -> tuple[str | None, int]:
    """(``status`` attribute, frames on disk) of a trajectory file; (None, 0) if absent."""
    import h5py

    if not path.is_file():
        return None, 0
    try:
        # the writer keeps the file closed between flushes, so reading attributes is safe
        with h5py.File(path, "r", locking=False) as h5:
            status = h5.attrs.get("status")
            frames = int(h5["step"].shape[0]) if "step" in h5 else 0
    except OSError:
        return "running", 0  # caught mid-flush
    return (status.decode() if isinstance(status, bytes) else status), frames


def md_progress(plan: Any, candidate_id: str) -> tuple[int, int, list[str | None]]:
    """(finished temperatures, frames written, per-T status) of one candidate's MD."""
    from workflows.md.maker import trajectory_path

    if plan.provenance.engine == "vasp":  # VASP segments: finished ones carry a marker
        from workflows import vasp_campaign

        return vasp_campaign.md_progress(plan, candidate_id)

    statuses, frames = [], 0
    for t in temps_of(plan):
        st, n = trajectory_status(trajectory_path(plan.md_dir, candidate_id, t))
        statuses.append(st)
        frames += n
    return sum(s in FINISHED for s in statuses), frames, statuses


# ------------------------------------------------------------------------------ submit
@dataclass
class Submission:
    """What :func:`submit_campaign` did: job id per MD candidate and the final job's id."""

    workdir: Path
    md_jobs: dict[str, str] = field(default_factory=dict)
    final_job: str | None = None
    skipped: list[str] = field(default_factory=list)


def _commands(resources: Resources, *args: str) -> list[str]:
    """Job body: set-up lines, then the task; an MD task that used its wall-time budget exits
    with ``REQUEUE_EXIT`` and the job requeues itself (same id: the final job's ``afterok``
    still holds) to continue from the checkpoint."""
    py = sys.executable
    task = [py, "-m", "workflows.hpc", *(_quote(a) for a in args)]
    lines = [
        *resources.setup,
        f'export OMP_NUM_THREADS="${{SLURM_CPUS_PER_TASK:-{resources.cpus}}}"',
    ]
    budget = md_budget_s(parse_time(resources.time)) if args[0] == "md" else None
    if budget is None:
        return [*lines, " ".join(task)]
    return [
        *lines,
        " ".join([*task, "--budget", str(budget)]),
        "rc=$?",
        f'if [ "$rc" -eq {REQUEUE_EXIT} ]; then scontrol requeue "$SLURM_JOB_ID" && exit 0; fi',
        'exit "$rc"',
    ]


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def submit_campaign(
    campaign_file: str | Path,
    *,
    preset: str | None = None,
    potential: str | None = None,
    device: str | None = None,
    workdir: str | Path = "ilscreen-runs",
    store: str | None = None,
    resources: Resources | None = None,
    checkpoint_every_steps: int = 1000,
    queue: Queue | None = None,
    scheduler: str = "slurm",
) -> Submission:
    """Plan the screen (validates everything first), then submit MD jobs + the final job.

    Candidates whose MD already finished get no job; a campaign already fully stored submits
    nothing. Refuses while jobs of an earlier submission of the same workdir are still queued.
    """
    from workflows.screen import plan_screen, stored_results

    resources = resources or Resources()
    work = Path(workdir).resolve()
    plan = plan_screen(campaign_file, preset=preset, potential=potential, device=device,
                       workdir=work, store=store, engines=HPC_ENGINES)  # fmt: skip
    camp = HPCCampaign(work)
    queue = queue or get_queue(scheduler)
    if camp.jobs_file.is_file():
        old = camp.load_jobs()
        ids = [i for t in old["tasks"].values() for i in t["job_ids"]]
        if live := queue.active(ids):
            raise InputError(
                f"jobs {sorted(live)} of an earlier submission are still queued or running; "
                "wait, `ilscreen status`, or scancel them first",
                file=camp.jobs_file,
            )
    sub = Submission(workdir=work)
    if stored_results(plan) is not None:
        log.info("every candidate already stored for these settings; nothing to submit")
        return sub
    args = PlanArgs(
        campaign_file=str(Path(campaign_file).resolve()),
        campaign_sha256=file_sha256(campaign_file),
        preset=plan.preset,
        potential=plan.potential,  # resolved spec: a relative model path works from any job
        device=plan.device,
        workdir=str(work),
        store=_absolute_store(store),
        checkpoint_every_steps=checkpoint_every_steps,
        electronic_engine=plan.electronic_engine,
    )
    atomic_write_json(camp.plan_file, asdict(args))
    data: dict[str, Any] = {"tasks": {}, "resources": asdict(resources)}
    _submit_tasks(camp, plan, queue, resources, data, sub, only_unfinished=True)
    return sub


def _absolute_store(store: str | None) -> str | None:
    """Jobs start in other folders: make a store directory / config path absolute."""
    if store is None or store.startswith(("mongodb://", "mongodb+srv://")):
        return store
    return str(Path(store).expanduser().resolve())


def _submit_tasks(
    camp: HPCCampaign,
    plan: Any,
    queue: Queue,
    resources: Resources,
    data: dict[str, Any],
    sub: Submission,
    *,
    only_unfinished: bool,
    md_tasks: Sequence[str] | None = None,
    keep_after: Sequence[str] = (),
) -> None:
    """Submit MD jobs (``md_tasks`` or every unfinished one) and a final job after them."""
    n_t = len(temps_of(plan))
    # SLURM cannot start a job whose --output folder is missing (JobLaunchFailure)
    for sub_dir in ("logs", "state", "scripts"):
        (camp.dir / sub_dir).mkdir(parents=True, exist_ok=True)
    todo = md_tasks if md_tasks is not None else [c.id for c in plan.md_targets]
    for cid in todo:
        if only_unfinished and md_progress(plan, cid)[0] == n_t:
            sub.skipped.append(cid)
            continue
        jid = queue.submit(
            camp.script_file(cid),
            _commands(resources, "md", str(camp.plan_file), cid),
            resources.qresources(job_name=f"ilscreen-md-{task_slug(cid)}"[:64],
                                 log_file=camp.log_file(cid), final=False),
            after=(),
        )  # fmt: skip
        data["tasks"].setdefault(cid, {"kind": "md", "candidate": cid, "job_ids": []})
        data["tasks"][cid]["job_ids"].append(jid)
        sub.md_jobs[cid] = jid
        # record each id as soon as it exists: a crash half-way still leaves a usable jobs.json
        camp.save_jobs(data)
        log.info("submitted MD of %s as job %s", cid, jid)
    after = [*keep_after, *sub.md_jobs.values()]
    jid = queue.submit(
        camp.script_file(FINAL_TASK),
        _commands(resources, "final", str(camp.plan_file)),
        resources.qresources(job_name="ilscreen-final", log_file=camp.log_file(FINAL_TASK),
                             final=True),
        after=after,
    )  # fmt: skip
    data["tasks"].setdefault(FINAL_TASK, {"kind": "final", "candidate": None, "job_ids": []})
    data["tasks"][FINAL_TASK]["job_ids"].append(jid)
    sub.final_job = jid
    camp.save_jobs(data)
    log.info("submitted the final screen job %s after %s", jid, after or "nothing")


# ------------------------------------------------------------------------------ status
@dataclass
class TaskStatus:
    """One row of ``ilscreen status``."""

    task: str
    kind: str
    state: TaskState
    job_id: str | None
    detail: str


def campaign_status(workdir: str | Path, *, queue: Queue | None = None,
                    scheduler: str = "slurm") -> list[TaskStatus]:  # fmt: skip
    """Per task (MD candidate, final) queued/running/done/failed.

    Sources, most reliable first: the trajectory files (finished MD is done whatever the queue
    says), the store (the final job is done when every candidate is stored), squeue (queued or
    running), the job's own state file (failed with its error; a job that vanished from the
    queue without recording an end was killed: wall time, node failure or ``scancel -9``).
    """
    from workflows.screen import stored_results

    camp = HPCCampaign(Path(workdir).resolve())
    data = camp.load_jobs()
    plan = PlanArgs.from_file(camp.plan_file).plan()
    queue = queue or get_queue(scheduler)
    last = {t: (v["job_ids"][-1] if v["job_ids"] else None) for t, v in data["tasks"].items()}
    live = queue.active([j for j in last.values() if j])
    n_t = len(temps_of(plan))
    rows: list[TaskStatus] = []

    def from_queue(task: str, kind: str, done: bool, done_detail: str, detail: str) -> None:
        jid = last.get(task)
        if done:
            rows.append(TaskStatus(task, kind, "done", jid, done_detail))
        elif jid is None:
            rows.append(TaskStatus(task, kind, "not submitted", None, detail))
        elif jid in live:
            q = live[jid]
            state: TaskState = "queued" if q in ("PENDING", "CONFIGURING") else "running"
            rec = camp.read_state(task)
            if rec.get("job_id") == jid and rec.get("state") == "requeued":
                detail = f"requeued after its wall-time budget; {detail}"
            rows.append(TaskStatus(task, kind, state, jid, f"{q}; {detail}"))
        else:
            rec = camp.read_state(task)
            why = rec.get("error") if rec.get("job_id") == jid else None
            if why is None:
                why = ("job ended without finishing (killed: wall time, node failure or "
                       "cancelled before start)")  # fmt: skip
            rows.append(TaskStatus(task, kind, "failed", jid, f"{why}; {detail}"))

    for cand in plan.md_targets:
        n_done, frames, statuses = md_progress(plan, cand.id)
        unstable = sum(s == "unstable" for s in statuses)
        from_queue(
            cand.id,
            "md",
            n_done == n_t,
            f"{n_t} temperatures finished" + (f" ({unstable} unstable)" if unstable else ""),
            f"{n_done}/{n_t} temperatures finished, {frames} frames on disk",
        )
    stored = stored_results(plan)
    from_queue(
        FINAL_TASK,
        "final",
        stored is not None,
        f"{len(stored or [])} candidates ranked in {plan.store}",
        "waits for the MD jobs",
    )
    return rows


# ------------------------------------------------------------------------------ resubmit
def resubmit(workdir: str | Path, *, queue: Queue | None = None, scheduler: str = "slurm",
             resources: Resources | None = None) -> Submission:  # fmt: skip
    """Resubmit failed / never-submitted MD tasks (they resume) and a final job after them.

    Queued or running MD jobs are left alone and the new final job also waits for them; a final
    job still pending on an old dependency is cancelled and replaced.
    """
    camp = HPCCampaign(Path(workdir).resolve())
    data = camp.load_jobs()
    queue = queue or get_queue(scheduler)
    rows = campaign_status(workdir, queue=queue)
    plan = PlanArgs.from_file(camp.plan_file).plan()
    res = resources or Resources(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in data["resources"].items()})  # fmt: skip
    sub = Submission(workdir=camp.workdir)
    by_task = {r.task: r for r in rows}
    final = by_task[FINAL_TASK]
    if final.state == "done":
        log.info("campaign already finished; nothing to resubmit")
        return sub
    redo = [r.task for r in rows if r.kind == "md" and r.state in ("failed", "not submitted")]
    waiting = [r.job_id for r in rows if r.kind == "md" and r.state in ("queued", "running")]
    if final.state in ("queued", "running"):
        if not redo:
            log.info("final job %s is %s; nothing to resubmit", final.job_id, final.state)
            return sub
        # its dependency list lacks the new MD jobs: replace it
        queue.cancel(str(final.job_id))
    _submit_tasks(camp, plan, queue, res, data, sub, only_unfinished=False, md_tasks=redo,
                  keep_after=[j for j in waiting if j])  # fmt: skip
    return sub


# ------------------------------------------------------------------------------ jobflow-remote
def submit_jobflow_remote(
    campaign_file: str | Path,
    *,
    preset: str | None = None,
    potential: str | None = None,
    device: str | None = None,
    workdir: str | Path = "ilscreen-runs",
    store: str | None = None,
    worker: str | None = None,
    project: str | None = None,
    batched: bool = False,
) -> list[str]:
    """Build the screen Flow and submit it with ``jobflow_remote.submit_flow``; returns job ids.

    Needs a configured jobflow-remote project (``jf project``) whose queue store (MongoDB) is
    reachable; the ``jf runner`` then submits each job to the worker's scheduler. MD checkpoints
    and stored results make a re-run after ``jf job retry`` resume rather than restart.
    """
    try:
        from jobflow_remote import submit_flow
        from jobflow_remote.config import ConfigManager
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise InputError(
            "jobflow-remote is not installed: pip install 'ilscreen[hpc]'",
            field="--manager",
            allowed=["slurm", "jobflow-remote"],
        ) from exc
    from workflows.screen import build_flow, plan_screen

    try:
        proj = ConfigManager().get_project(project)
    except Exception as exc:  # jobflow-remote raises its own ConfigError subclasses
        raise InputError(
            f"no usable jobflow-remote project ({exc}); create one with `jf project generate`",
            field="--project",
        ) from exc
    if worker is not None and worker not in proj.workers:
        raise InputError(f"unknown jobflow-remote worker {worker!r}", field="--worker",
                         allowed=sorted(proj.workers))  # fmt: skip
    plan = plan_screen(campaign_file, preset=preset, potential=potential, device=device,
                       workdir=Path(workdir).resolve(), store=store,
                       engines=HPC_ENGINES)  # fmt: skip
    flow = build_flow(plan, batched=batched)
    from pymongo.errors import PyMongoError

    try:
        ids = submit_flow(flow, worker=worker, project=proj.name)
    except PyMongoError as exc:
        raise InputError(
            f"jobflow-remote queue database of project {proj.name!r} not reachable "
            f"({type(exc).__name__}); check `jf project check --errors`",
            field="--project",
        ) from exc
    log.info("added %d jobs to jobflow-remote project %s", len(ids), proj.name)
    return [str(i) for i in ids]


# ------------------------------------------------------------------------------ job entry point
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m workflows.hpc md PLAN CANDIDATE`` | ``python -m workflows.hpc final PLAN``."""
    import argparse
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module="jobflow")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    ap = argparse.ArgumentParser(prog="python -m workflows.hpc")
    sp = ap.add_subparsers(dest="cmd", required=True)
    p_md = sp.add_parser("md", help="run one MD candidate (all temperatures)")
    p_md.add_argument("plan")
    p_md.add_argument("candidate")
    p_md.add_argument("--budget", type=int, default=None, help="seconds of MD, then stop")
    p_fin = sp.add_parser("final", help="run the screen flow (relax, thermo, transport, rank)")
    p_fin.add_argument("plan")
    ns = ap.parse_args(argv)
    args = PlanArgs.from_file(ns.plan)
    camp = HPCCampaign(Path(args.workdir))
    if ns.cmd == "md":
        try:
            results = _run_recorded(
                camp, ns.candidate, lambda: run_md_task(args, ns.candidate), ns.budget
            )
        except OutOfTime as exc:
            log.info("%s: %s; requeue to continue", ns.candidate, exc)
            return REQUEUE_EXIT
        for r in results:
            log.info("%s: %.0f K %s", ns.candidate, r.target_temperature_K,
                     "stable" if r.stable else f"unstable ({r.unstable_reason})")  # fmt: skip
    else:
        docs = _run_recorded(camp, FINAL_TASK, lambda: run_final_task(args))
        for d in docs:
            log.info("rank %s: %s (%s)", d.rank, d.candidate_id, d.status)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Terminated:
        sys.exit(143)
