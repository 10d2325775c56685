"""``ilscreen potentials distill``: distil a small MACE student from a universal teacher."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from potentials.cli import potentials_app
from screening.cli.app import console
from screening.errors import InputError


@potentials_app.command("distill")
def distill_command(
    candidates: Annotated[
        Path | None,
        typer.Option(
            help="campaign yaml: sample its (ordered) library phases instead of the built-in table"
        ),
    ] = None,
    teacher: Annotated[str, typer.Option(help="teacher potential spec")] = "sevennet:7net-0",
    out: Annotated[
        Path, typer.Option(help="output folder (data, checkpoints, model, card)")
    ] = Path("distill_out"),
    seed: Annotated[int, typer.Option(help="seed for sampling, splits and training")] = 0,
    size: Annotated[str, typer.Option(help="student size: medium | small | tiny")] = "medium",
    rounds: Annotated[int, typer.Option(help="active-learning rounds after round 0")] = 2,
    max_minutes: Annotated[
        float, typer.Option(help="soft time budget: later active-learning rounds are skipped")
    ] = 50.0,
    stability_steps: Annotated[
        int, typer.Option(help="student NVT steps per stability run")
    ] = 1000,
    threads: Annotated[
        int, typer.Option(help="torch threads for training (labelling and MD use one)")
    ] = 1,
    install: Annotated[
        bool, typer.Option(help="copy the model and card into potentials/models/ when done")
    ] = False,
) -> None:
    """Sample Li–M phases with the teacher, train a small MACE, test it, write model + card."""
    from potentials.distill.pipeline import distill, install_model
    from potentials.distill.settings import SIZES, DistillSettings

    if size not in SIZES:
        raise InputError(f"unknown size '{size}'", field="--size", allowed=SIZES)
    if threads < 1:
        raise InputError("must be >= 1", field="--threads")
    if rounds < 0:
        raise InputError("must be >= 0", field="--rounds")
    if candidates is not None and not candidates.is_file():
        raise InputError("file not found", file=candidates, field="--candidates")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = DistillSettings(
        out=out,
        teacher=teacher,
        candidates=candidates,
        seed=seed,
        size=size,  # type: ignore[arg-type]
        rounds=rounds,
        max_minutes=max_minutes,
        stability_steps=stability_steps,
        train_threads=threads,
    )
    card = distill(settings, progress=lambda msg: console.print(f"[cyan]distill[/] {msg}"))
    overall = card["metrics"]["test"]["overall"]
    console.print(
        f"model {card['file']} sha256 {card['sha256'][:12]}…: test force MAE "
        f"{overall['force_mae_meV_per_A']} meV/Å, energy MAE {overall['energy_mae_meV_per_atom']} "
        f"meV/atom, speed-up {card.get('speed', {}).get('speedup_vs_teacher', 'n/a')}x"
    )
    if install:
        target = install_model(out / "train" / card["file"])
        console.print(f"installed as {target}")
