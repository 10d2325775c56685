"""``ilscreen candidates | validate | schema``: list, check and describe a campaign."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import app, console
from screening.errors import InputError, located


@app.command("candidates")
def candidates_cmd(
    file: Annotated[Path, typer.Argument(help="campaign yaml")] = Path("candidates.yaml"),
    preset: Annotated[str | None, typer.Option(help="preset name (default: campaign's)")] = None,
    write: Annotated[
        Path | None, typer.Option("--write", help="write POSCAR/CIF/extxyz per candidate here")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """List the candidates of a campaign (systems x phases x supercells x vacancies)."""
    from screening.campaign import load_campaign
    from screening.candidates import candidates_to_json, generate_candidates, write_candidates

    if fmt not in ("table", "json"):
        raise InputError(f"unknown format {fmt!r}", field="--format", allowed=["table", "json"])
    campaign = load_campaign(file)
    cands = generate_candidates(campaign, preset)
    if write is not None:
        write_candidates(cands, write)
    if fmt == "json":
        # plain stdout: machine-readable, no rich markup or wrapping
        typer.echo(candidates_to_json(cands))
        return
    from rich.table import Table

    table = Table(
        title=f"{campaign.name}: {len(cands)} candidates "
        f"(preset {preset or campaign.default_preset})"
    )
    for col in ("id", "formula", "atoms", "space group", "supercell", "vac", "role", "use"):
        table.add_column(col, no_wrap=col == "id")
    for c in cands:
        table.add_row(
            c.id,
            c.formula,
            str(c.n_atoms),
            c.spacegroup,
            c.supercell_label,
            str(c.n_vacancies),
            c.role + ("*" if c.il_candidate else ""),
            "+".join(c.purposes),
        )
    console.print(table)
    if write is not None:
        console.print(f"wrote {len(cands)} candidates to {write}")


@app.command("validate")
def validate_cmd(file: Annotated[Path, typer.Argument(help="campaign yaml")]) -> None:
    """Check a campaign file (schema, phases, supercells, vacancies, potential, device): one line
    OK or the error, so nothing the file asks for is refused only later inside a screen."""
    from potentials.registry import check_coverage, check_device, trust_campaign
    from screening.campaign import load_campaign
    from screening.candidates import generate_candidates

    campaign = load_campaign(file)
    n = {name: len(generate_candidates(campaign, name)) for name in campaign.presets}
    with located(file, "engine.device"):
        check_device(campaign.engine.device)
    trust_campaign(campaign)
    elements = {e for s in campaign.systems for e in s.elements}
    elements |= {r.element for r in campaign.references}
    with located(file, "engine.potential"):
        check_coverage(campaign.engine.potential, elements)
    counts = ", ".join(f"{k}: {v}" for k, v in n.items())
    console.print(
        f"OK {file}: {len(campaign.systems)} systems, {len(campaign.references)} references, "
        f"candidates per preset ({counts}), settings hash {campaign.settings_hash()[:12]}",
        highlight=False,
    )


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON schema of the campaign file."""
    from screening.campaign import campaign_json_schema

    typer.echo(json.dumps(campaign_json_schema(), indent=1))
