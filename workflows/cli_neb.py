"""``ilscreen neb``: CI-NEB barriers of a candidate's distinct Li vacancy hops, and D_TST(T).

As in the screen: every distinct hop runs in the candidate's own supercell at its MD cell's
lattice (positions relaxed at both ends).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import TrustModelOpt, app, console
from screening.errors import InputError
from workflows.cli import parse_temperatures, resolve_engine


@app.command("neb")
def neb_command(
    candidate_id: Annotated[
        str, typer.Argument(help="MD candidate id, e.g. Li-Sb/Li3Sb/2x2x2/vac1/seed0")
    ],
    candidates: Annotated[Path, typer.Option("--candidates", help="campaign YAML")] = Path(
        "candidates.yaml"
    ),
    preset: Annotated[str | None, typer.Option("--preset", help="quick | standard | paper")] = None,
    potential: Annotated[
        str | None, typer.Option("--potential", help="potential spec (default: the campaign's)")
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="cpu or cuda")] = None,
    temperatures: Annotated[
        str | None,
        typer.Option("--temperatures", help="K for D_TST, comma list (default: preset + T_op)"),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write barriers and D_TST to this JSON file")
    ] = None,
    trust_model: TrustModelOpt = False,
) -> None:
    """Barrier of every distinct Li vacancy hop (forward/backward, length, fmax) and D_TST(T)."""
    from jobflow import run_locally
    from rich.table import Table

    from screening.barriers import neb_transport
    from screening.campaign import load_campaign
    from screening.candidates import generate_candidates
    from screening.migration import hop_cell
    from workflows.neb_jobs import NEBMaker

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("workflows.neb").setLevel(logging.INFO)
    campaign = load_campaign(candidates)
    preset_name = preset or campaign.default_preset
    found = {c.id: c for c in generate_candidates(campaign, preset_name)}
    with_vac = sorted(i for i, c in found.items() if c.n_vacancies > 0)
    cand = found.get(candidate_id)
    if cand is None or cand.n_vacancies == 0:
        raise InputError(
            f"no vacancy candidate {candidate_id!r} under preset {preset_name!r}",
            file=candidates,
            field="CANDIDATE_ID",
            allowed=with_vac,
        )
    phase = next(
        c
        for c in found.values()
        if "thermo" in c.purposes and (c.system, c.phase) == (cand.system, cand.phase)
    )
    spec, dev = resolve_engine(campaign, potential, device, trust_model, source=candidates)
    settings = campaign.preset(preset_name).neb
    temps = (
        parse_temperatures(temperatures)
        if temperatures
        else sorted({*campaign.temperatures_for(preset_name), *campaign.operating_temperatures})
    )
    cell, matrix = hop_cell(phase.structure, cand.structure)
    neb = NEBMaker(potential=spec, device=dev, dtype=campaign.engine.dtype, settings=settings).make(
        cell, matrix.tolist(), cand.id, cand.n_vacancies
    )
    console.print(f"[bold]ilscreen neb[/] {cand.id}: CI-NEB of every distinct hop with {spec}")
    result = run_locally(neb, log=False, ensure_success=True)[neb.uuid][1].output
    tst = neb_transport(cell, matrix, result, temps, settings)

    table = Table(title=f"CI-NEB {cand.id} ({spec}, {result.n_atoms} atoms)")
    columns = ("hop", "length (Å)", "×", "forward (eV)", "backward (eV)", "fmax (eV/Å)", "ok", "s")
    for col in columns:
        table.add_column(col)
    for h in result.hops:
        table.add_row(
            str(h.label),
            f"{h.length_A:.3f}",
            str(h.multiplicity),
            f"{h.forward_barrier_eV:.3f}",
            f"{h.backward_barrier_eV:.3f}",
            f"{h.fmax_eV_A:.3f}",
            "yes" if h.converged else "[red]no[/]",
            f"{h.wall_s:.0f}",
        )
    console.print(table)
    if tst.percolation_barrier_eV is not None:
        console.print(
            f"percolation barrier {tst.percolation_barrier_eV:.3f} eV "
            f"({tst.percolation_dimensionality}D network)"
        )
    for p in tst.points:
        d = "–" if p.D_cm2_s is None else f"{p.D_cm2_s:.3g} ± {p.D_sigma_cm2_s or 0:.2g} cm²/s"
        console.print(f"D_TST({p.temperature_K:g} K) = {d}")
    if tst.Ea_eV is not None:
        console.print(f"Ea(NEB-TST) = {tst.Ea_eV:.3f} ± {tst.Ea_sigma_eV or 0:.3f} eV")
    if tst.note:
        console.print(f"note: {tst.note}", highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps(tst.model_dump(mode="json"), indent=1))
        console.print(f"wrote {json_out}")
