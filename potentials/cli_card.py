"""``ilscreen potentials record-md``: put the results of ``ilscreen md`` runs into a model card."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Annotated

import typer

from potentials.cli import potentials_app
from screening.cli.app import console
from screening.errors import InputError


@potentials_app.command("record-md")
def record_md(
    spec: Annotated[str, typer.Argument(help="carded MACE model, e.g. mace:ilscreen-li-alloys")],
    run_dirs: Annotated[
        list[Path], typer.Argument(help="`ilscreen md --out` folders (every T*K.h5 inside)")
    ],
    section: Annotated[str, typer.Option(help="card section name, e.g. stability_20ps")],
    command: Annotated[str, typer.Option(help="the command that made the runs (for readers)")],
    machine: Annotated[str, typer.Option(help="where the runs ran")] = (
        f"{platform.machine()} CPU" if platform.machine() else "unknown"
    ),
) -> None:
    """Summarise finished MD runs (stability, closest contacts, D(Li), student/teacher D ratio)
    into the card's ``md_checks`` section and regenerate the card's Markdown."""
    from potentials.card_md_checks import find_runs, md_check_section
    from potentials.cards import load_card
    from potentials.distill.card import write_card
    from potentials.registry import parse_spec

    ps = parse_spec(spec)
    if ps.kind != "mace" or ps.path is None:
        raise InputError("only MACE models carry cards", field="SPEC", allowed=["mace:<name|path>"])
    card = load_card(ps.path)
    if card is None:
        raise InputError("model has no card (<stem>.card.json)", file=ps.path)
    runs = find_runs(run_dirs)
    result = md_check_section(runs, command, machine)
    if not any(r["potential"] == spec for r in result["runs"]):
        raise InputError(
            f"none of the {len(runs)} runs used {spec}",
            field="SPEC",
            allowed=sorted({r["potential"] for r in result["runs"]}),
        )
    card.setdefault("md_checks", {})[section] = result
    json_path, md_path = write_card(card, ps.path)
    console.print(f"{section}: {result['verdict']}")
    console.print(f"updated {json_path} and {md_path}")
