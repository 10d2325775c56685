"""``ilscreen submit | status | resubmit``: run a campaign on a SLURM cluster (or jobflow-remote).

Heavy imports (qtoolkit, jobflow, torch) happen inside the commands so ``ilscreen --help`` stays
fast.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import app, console


class Manager(StrEnum):
    """Who schedules the jobs."""

    slurm = "slurm"
    jobflow_remote = "jobflow-remote"


def _resources(
    partition: str | None,
    account: str | None,
    time: str,
    final_time: str,
    cpus: int,
    gpus: int,
    sbatch: list[str] | None,
    setup: list[str] | None,
):  # -> workflows.hpc.Resources (import kept lazy)
    from workflows.hpc import Resources, parse_time

    parse_time(time), parse_time(final_time)  # fail before anything is submitted
    return Resources(partition=partition, account=account, time=time, final_time=final_time,
                     cpus=cpus, gpus=gpus, extra=tuple(sbatch or ()),
                     setup=tuple(setup or ()))  # fmt: skip


def _logging(quiet: bool) -> None:
    import warnings

    from rich.logging import RichHandler

    warnings.filterwarnings("ignore", category=FutureWarning, module="jobflow")
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, markup=False)],
    )


@app.command("submit")
def submit(
    campaign_file: Annotated[Path, typer.Argument(help="campaign YAML")] = Path("candidates.yaml"),
    scheduler: Annotated[str, typer.Option(help="batch system (slurm)")] = "slurm",
    manager: Annotated[
        Manager,
        typer.Option(help="slurm: ilscreen submits jobs itself; jobflow-remote: a jf project"),
    ] = Manager.slurm,
    preset: Annotated[str | None, typer.Option(help="quick | standard | paper")] = None,
    potential: Annotated[str | None, typer.Option(help="potential spec")] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (on the compute nodes)")] = None,
    workdir: Annotated[Path, typer.Option(help="campaign directory (shared file system)")] = Path(
        "ilscreen-runs"
    ),
    store: Annotated[
        str | None,
        typer.Option(help="results store: dir, mongodb URI or yaml (default WORKDIR/store)"),
    ] = None,
    partition: Annotated[str | None, typer.Option(help="SLURM partition")] = None,
    account: Annotated[str | None, typer.Option(help="SLURM account")] = None,
    time: Annotated[str, typer.Option(help="wall time of each MD job")] = "24:00:00",
    final_time: Annotated[str, typer.Option(help="wall time of the final job")] = "04:00:00",
    cpus: Annotated[int, typer.Option(help="CPUs per job")] = 1,
    gpus: Annotated[int, typer.Option(help="GPUs per job")] = 0,
    sbatch: Annotated[
        list[str] | None, typer.Option(help="extra #SBATCH option, repeatable: --sbatch qos=normal")
    ] = None,
    setup: Annotated[
        list[str] | None, typer.Option(help="shell line run first in each job, repeatable")
    ] = None,
    checkpoint_every: Annotated[int, typer.Option(help="MD checkpoint interval (steps)")] = 1000,
    worker: Annotated[str | None, typer.Option(help="jobflow-remote worker")] = None,
    project: Annotated[str | None, typer.Option(help="jobflow-remote project")] = None,
    quiet: Annotated[bool, typer.Option(help="no log lines")] = False,
) -> None:
    """Send the campaign to the queue: one MD job per candidate, then one ranking job.

    Re-submitting skips finished MD; `ilscreen resubmit` continues failed jobs from checkpoints.
    """
    _logging(quiet)
    if manager is Manager.jobflow_remote:
        from workflows.hpc import submit_jobflow_remote

        ids = submit_jobflow_remote(campaign_file, preset=preset, potential=potential,
                                    device=device, workdir=workdir, store=store, worker=worker,
                                    project=project)  # fmt: skip
        console.print(f"submitted {len(ids)} jobflow-remote jobs; watch them with `jf job list`")
        return
    from workflows.hpc import submit_campaign

    res = _resources(partition, account, time, final_time, cpus, gpus, sbatch, setup)
    sub = submit_campaign(campaign_file, preset=preset, potential=potential, device=device,
                          workdir=workdir, store=store, resources=res, scheduler=scheduler,
                          checkpoint_every_steps=checkpoint_every)  # fmt: skip
    if sub.final_job is None:
        console.print("every candidate is already stored for these settings: nothing to submit")
        return
    for cid, jid in sub.md_jobs.items():
        console.print(f"  MD   {jid:>10}  {cid}")
    for cid in sub.skipped:
        console.print(f"  MD   {'finished':>10}  {cid}")
    console.print(f"  rank {sub.final_job:>10}  after the MD jobs")
    console.print(f"follow with: ilscreen status --workdir {sub.workdir}")


@app.command("status")
def status(
    workdir: Annotated[Path, typer.Option(help="campaign directory")] = Path("ilscreen-runs"),
    scheduler: Annotated[str, typer.Option(help="batch system (slurm)")] = "slurm",
) -> None:
    """Per candidate: queued / running / done / failed (queue + trajectories + store)."""
    from rich.table import Table

    from workflows.hpc import campaign_status

    rows = campaign_status(workdir, scheduler=scheduler)
    colour = {"done": "green", "failed": "red", "running": "cyan", "queued": "yellow"}
    table = Table(title=f"ilscreen campaign {workdir}")
    for col in ("task", "state", "job", "detail"):
        table.add_column(col)
    for r in rows:
        c = colour.get(r.state, "white")
        table.add_row(r.task, f"[{c}]{r.state}[/]", r.job_id or "–", r.detail)
    console.print(table)


@app.command("resubmit")
def resubmit_command(
    workdir: Annotated[Path, typer.Option(help="campaign directory")] = Path("ilscreen-runs"),
    failed: Annotated[
        bool, typer.Option("--failed", help="failed / killed MD + the ranking job (the default)")
    ] = True,
    scheduler: Annotated[str, typer.Option(help="batch system (slurm)")] = "slurm",
    quiet: Annotated[bool, typer.Option(help="no log lines")] = False,
) -> None:
    """Resubmit failed or killed MD jobs (they resume from checkpoints) and the final job."""
    _logging(quiet)
    from workflows.hpc import resubmit

    sub = resubmit(workdir, scheduler=scheduler)
    if sub.final_job is None:
        console.print("nothing to resubmit (see `ilscreen status`)")
        return
    for cid, jid in sub.md_jobs.items():
        console.print(f"  MD   {jid:>10}  {cid} (resumes from its checkpoint)")
    console.print(f"  rank {sub.final_job:>10}")
