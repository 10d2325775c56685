"""``ilscreen screen``: the quick/standard/paper screen of a campaign, run locally."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import TrustModelOpt, app, console
from screening.paths import DEFAULT_WORKDIR


class Device(StrEnum):
    """Where the potential runs."""

    cpu = "cpu"
    cuda = "cuda"


@app.command("screen")
def screen(
    campaign_file: Annotated[Path, typer.Argument(help="campaign YAML")] = Path("candidates.yaml"),
    preset: Annotated[str | None, typer.Option(help="quick | standard | paper")] = None,
    potential: Annotated[
        str | None, typer.Option(help="potential spec (default: the campaign's)")
    ] = None,
    thermo_potential: Annotated[
        str | None,
        typer.Option(help="potential of the relaxations/hulls (default: engine.thermo_potential)"),
    ] = None,
    device: Annotated[Device | None, typer.Option(help="cpu or cuda")] = None,
    workdir: Annotated[Path, typer.Option(help="campaign directory")] = Path(DEFAULT_WORKDIR),
    store: Annotated[
        str | None, typer.Option(help="results store (default: WORKDIR/store)")
    ] = None,
    batched: Annotated[
        bool, typer.Option("--batched/--sequential", help="torch-sim batched MD or ASE one by one")
    ] = True,
    force: Annotated[bool, typer.Option(help="recompute even if results are stored")] = False,
    quiet: Annotated[bool, typer.Option(help="no per-job log lines")] = False,
    trust_model: TrustModelOpt = False,
) -> None:
    """Relax every phase, run NVT MD at each temperature, rank by the three IL criteria."""
    import warnings

    from rich.logging import RichHandler

    from screening.query import rich_table, transport_notes
    from workflows.screen import plan_screen, run_screen

    # jobflow's run_locally uses monty's deprecated ``cd``; not the user's concern
    warnings.filterwarnings("ignore", category=FutureWarning, module="jobflow")
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, markup=False)],
    )
    plan = plan_screen(
        campaign_file,
        preset=preset,
        potential=potential,
        thermo_potential=thermo_potential,
        device=device.value if device else None,
        workdir=workdir,
        store=store,
        trust_model=trust_model,
        engines=("mlip", "dft", "vasp"),
    )
    console.print(
        f"[bold]ilscreen screen[/] {plan.campaign.name}: preset {plan.preset}, "
        f"{len(plan.candidates)} structures, {len(plan.md_targets)} MD candidates x "
        f"{len(plan.campaign.temperatures_for(plan.preset))} temperatures, "
        f"MD potential {plan.potential}, thermo potential {plan.thermo_potential} on {plan.device}"
    )
    docs = run_screen(plan, force=force, batched=batched)
    console.print(rich_table(docs, title=f"ilscreen ranking ({plan.store})"))
    if notes := transport_notes(docs):
        console.print("[yellow]transport not converged (left out of the Arrhenius fits):[/]")
        for line in notes:
            console.print(f"  {line}", highlight=False)
