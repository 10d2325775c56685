"""``ilscreen potentials fidelity``: a potential vs a reference on the numbers the ranking reads."""

from __future__ import annotations

import json
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from potentials.cli import OutputFormat, potentials_app
from screening.cli.app import TrustModelOpt, console
from screening.errors import InputError


def _versions(specs: list[str]) -> dict[str, str]:
    """Versions of the code that produced the numbers (a card reader reruns with these)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("ilscreen", "atomate2", "ase", "torch", "mace-torch", "sevenn", "chgnet", "gpaw"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    out["specs"] = ", ".join(specs)
    return out


def _record(spec: str, report: dict[str, Any]) -> tuple[Path, Path]:
    """Store ``report`` as ``fidelity[<reference>]`` in the card of ``spec`` (a carded MACE)."""
    from potentials.cards import load_card
    from potentials.distill.card import write_card
    from potentials.registry import parse_spec

    ps = parse_spec(spec)
    card = load_card(ps.path) if ps.kind == "mace" and ps.path is not None else None
    if card is None:
        raise InputError(
            "--record needs a carded MACE model",
            field="SPEC",
            allowed=["mace:<name|path> with <stem>.card.json"],
        )
    command = "ilscreen " + shlex.join(sys.argv[1:])
    old = card.setdefault("fidelity", {}).get(report["reference"])
    if old and old["relax"] == report["relax"]:  # systems measured in pieces: merge by name
        measured = {s["system"] for s in report["systems"]}
        systems = [s for s in old["systems"] if s["system"] not in measured] + report["systems"]
        commands = [*old["commands"], command]
    else:
        systems, commands = report["systems"], [command]
    card["fidelity"][report["reference"]] = {
        **report,
        "systems": systems,
        "pass": report["li_bcc_fcc"]["pass"] is not False and all(s["pass"] for s in systems),
        "commands": commands,
        "versions": _versions([spec, report["reference"]]),
        "machine": f"{platform.machine()} CPU",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    return write_card(card, ps.path)


@potentials_app.command("fidelity")
def fidelity(
    spec: Annotated[str, typer.Argument(help="potential to check, e.g. mace:ilscreen-li-alloys")],
    reference: Annotated[
        str, typer.Option(help="reference: a potential spec (sevennet:7net-0) or gpaw (PBE)")
    ],
    candidates: Annotated[Path, typer.Option("--candidates", "-c", help="campaign yaml")] = Path(
        "candidates.yaml"
    ),
    systems: Annotated[
        str | None, typer.Option(help="comma-separated systems, e.g. Li-Sb,Li-Mg (default all)")
    ] = None,
    preset: Annotated[str, typer.Option(help="preset whose relax settings to use")] = "quick",
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json")
    ] = OutputFormat.table,
    record: Annotated[
        bool, typer.Option(help="write the result into SPEC's model card (fidelity section)")
    ] = False,
    trust_model: TrustModelOpt = False,
) -> None:
    """Relax every thermo phase and the Li references with SPEC and the reference (the screen's
    relax code) and compare Ef, E above hull, stable set, plateaus, ΔV and Li bcc − fcc."""
    from potentials.fidelity import fidelity_markdown, fidelity_report
    from potentials.registry import check_coverage, check_device, trust_campaign, trust_spec
    from screening.campaign import load_campaign
    from screening.candidates import generate_candidates

    campaign = load_campaign(candidates)
    trust_campaign(campaign)
    if systems is not None:
        wanted = [s.strip() for s in systems.split(",") if s.strip()]
        known = [s.name for s in campaign.systems]
        if not wanted or any(w not in known for w in wanted):
            raise InputError(f"unknown systems in {systems!r}", field="--systems", allowed=known)
        campaign = campaign.model_copy(
            update={"systems": [s for s in campaign.systems if s.name in wanted]}
        )
    check_device(device, field="--device")
    potentials = [spec] if reference == "gpaw" else [spec, reference]
    for s in potentials:
        if trust_model:
            trust_spec(s)
    cands = generate_candidates(campaign, preset)
    elements = sorted({e.symbol for c in cands for e in c.structure.composition.elements})
    for s in potentials:
        check_coverage(s, elements, source=str(candidates))
    relax = campaign.preset(preset).relax
    with console.status(f"relaxing {len(cands)} cells with {spec} and {reference}"):
        report = fidelity_report(
            campaign,
            cands,
            spec,
            reference,
            fmax=relax.fmax_eV_A,
            steps=relax.max_steps,
            device=device,
            dtype=campaign.engine.dtype,
        )
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(report, indent=1))
    else:
        console.print("\n".join(fidelity_markdown(report)), highlight=False, markup=False)
    if record:
        json_path, md_path = _record(spec, report)
        typer.echo(f"updated {json_path} and {md_path}", err=True)  # stdout may be the JSON
