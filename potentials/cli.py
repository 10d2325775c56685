"""``ilscreen potentials``: list the available potentials and check one before a campaign uses it.

Heavy libraries (torch, mace, sevenn, chgnet) are imported inside the commands so that importing
this module (and ``ilscreen --help``) stays fast; ``potentials_app`` is importable on its own so
other modules (``potentials.cli_distill``) can add commands to the group.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from screening.cli.app import TrustModelOpt, app, console
from screening.errors import InputError

if TYPE_CHECKING:
    from potentials.registry import PotentialInfo

potentials_app = typer.Typer(
    help="Machine-learned potentials: list them, check one (coverage, sanity, speed), distill.",
    no_args_is_help=True,
)
app.add_typer(potentials_app, name="potentials")


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _element_summary(elements: list[str]) -> str:
    if not elements:
        return "unknown"
    if len(elements) <= 8:
        return ", ".join(elements)
    return f"{len(elements)} ({elements[0]}…{elements[-1]})"


def _by_z(elements: list[str]) -> list[str]:
    from ase.data import atomic_numbers

    return sorted(elements, key=lambda s: atomic_numbers[s])


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


@potentials_app.command("list")
def list_potentials(
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json")
    ] = OutputFormat.table,
) -> None:
    """List the potentials ilscreen knows: shipped MACE, SevenNet-0, CHGNet and MACE-MP."""
    from potentials.registry import describe, known_specs

    rows: list[dict[str, Any]] = []
    for spec in known_specs():
        try:
            info = describe(spec)
        except (InputError, ImportError) as exc:  # one broken entry must not hide the others
            rows.append({"spec": spec, "offline_available": False, "error": str(exc)})
            continue
        rows.append(info.model_dump())
    if fmt is OutputFormat.json:
        console.print_json(json.dumps(rows))
        return
    from rich.table import Table

    table = Table(title="Potentials (use the spec in engine.potential or --potential)")
    table.add_column("spec", no_wrap=True)
    table.add_column("offline")
    table.add_column("batched MD")
    table.add_column("elements")
    table.add_column("force MAE eV/Å")
    table.add_column("atom-steps/s")
    notes: list[str] = []
    for row in rows:
        if "error" in row:
            table.add_row(row["spec"], "no", "", "", "", "")
            notes.append(f"{row['spec']}: {row['error']}")
            continue
        card = row["card"]
        table.add_row(
            row["spec"],
            "yes" if row["offline_available"] else "no",
            "yes" if row["batched_md"] else "no (ASE)",
            _element_summary(_by_z(row["elements"])),
            _fmt(card.get("force_mae_eV_per_A")),
            _fmt(card.get("speed_atom_steps_per_s")),
        )
        extra = "; ".join(
            x for x in (row["license"] and f"licence {row['license']}", row["note"]) if x
        )
        if extra:
            notes.append(f"{row['spec']}: {extra}")
    console.print(table)
    for note in notes:
        console.print(f"  {note}", highlight=False)


def _campaign_requirements(path: Path) -> tuple[dict[str, list[str]], str | None]:
    """Elements needed per system/reference of a campaign file, and its configured potential."""
    from potentials.registry import trust_campaign
    from screening.campaign import load_campaign

    campaign = load_campaign(path)
    trust_campaign(campaign)
    needs = {f"{path}: system '{s.name}'": list(s.elements) for s in campaign.systems}
    for element in sorted({ref.element for ref in campaign.references}):
        needs[f"{path}: reference {element}"] = [element]
    return needs, campaign.engine.potential


def _parse_elements(text: str) -> list[str]:
    from ase.data import chemical_symbols

    symbols = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in symbols if s not in chemical_symbols[1:]]
    if bad or not symbols:
        raise InputError(
            f"not chemical symbols: {', '.join(bad) or '(none given)'}",
            field="--elements",
            allowed="comma-separated symbols, e.g. Li,Sb",
        )
    return symbols


@potentials_app.command("check")
def check(
    spec: Annotated[
        str | None,
        typer.Argument(help="potential spec; default: the campaign's engine.potential"),
    ] = None,
    candidates: Annotated[
        Path | None,
        typer.Option("--candidates", "-c", help="campaign yaml whose elements to check"),
    ] = None,
    elements: Annotated[
        str | None, typer.Option("--elements", "-e", help="extra elements, e.g. Li,Sb")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    dtype: Annotated[str, typer.Option(help="float64 or float32 (MACE only)")] = "float64",
    steps: Annotated[int, typer.Option(min=0, help="timed NVE steps for the speed test")] = 10,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json")
    ] = OutputFormat.table,
    trust_model: TrustModelOpt = False,
) -> None:
    """Check a potential: element coverage, finite energies/forces on small cells, MD speed."""
    from potentials.checks import check_cells, evaluate, li3sb_vacancy_supercell, md_speed
    from potentials.registry import (
        DEFAULT_SPEC,
        check_coverage,
        check_device,
        describe,
        load_calculator,
        trust_spec,
    )

    needs: dict[str, list[str]] = {}
    campaign_spec = None
    if candidates is not None:
        needs, campaign_spec = _campaign_requirements(candidates)
    if elements:
        needs["--elements"] = _parse_elements(elements)
    spec = spec or campaign_spec or DEFAULT_SPEC
    check_device(device, field="--device")
    if trust_model:
        trust_spec(spec)
    if not needs:
        needs["default check"] = ["Li", "Sb"]

    info: PotentialInfo = describe(spec)
    for source, symbols in needs.items():  # raises InputError naming the first uncovered source
        check_coverage(spec, symbols, source=source)
    wanted = sorted({s for symbols in needs.values() for s in symbols})

    with console.status(f"loading {info.spec} on {device}"):
        calc = load_calculator(spec, device=device, dtype=dtype)
    results = []
    with console.status("single points"):
        for name, atoms in check_cells(wanted).items():
            results.append(evaluate(calc, name, atoms))
    speed = None
    if steps > 0:
        if "Sb" in info.elements and "Li" in info.elements:
            cell, cell_name = li3sb_vacancy_supercell(), "Li3Sb 2x2x2 - 1 Li"
        else:
            from ase.build import bulk

            cell, cell_name = bulk("Li", "bcc", a=3.44, cubic=True).repeat(4), "bcc Li 4x4x4"
        with console.status(f"NVE speed test: {steps} steps on {cell_name} ({len(cell)} atoms)"):
            speed = md_speed(calc, cell, steps=steps, warmup=2)

    ok = all(r.finite for r in results)
    if fmt is OutputFormat.json:
        payload = {
            "potential": info.model_dump(),
            "coverage": {"checked": needs, "ok": True},
            "single_points": [r.model_dump() for r in results],
            "speed": speed.model_dump() if speed else None,
            "ok": ok,
        }
        console.print_json(json.dumps(payload))
    else:
        _print_check(info, needs, results, speed, ok)
    if not ok:
        raise typer.Exit(1)


def _print_check(
    info: Any, needs: dict[str, list[str]], results: list, speed: Any, ok: bool
) -> None:
    from rich.table import Table

    console.print(f"[bold]{info.spec}[/] ({info.kind}, {info.native_dtype})  sha256 {info.sha256}")
    console.print(f"file: {info.path}")
    console.print(f"licence: {info.license or 'unknown'}; card: {info.card or 'none'}")
    for source, symbols in needs.items():
        console.print(f"[green]covered[/] {', '.join(symbols)}  ({source})")
    table = Table(title="single points (rattled 0.03 Å)")
    for col in ("cell", "atoms", "E/atom eV", "max |F| eV/Å", "finite"):
        table.add_column(col)
    for r in results:
        finite = "yes" if r.finite else "[red]NO[/]"
        table.add_row(
            r.cell,
            str(r.n_atoms),
            f"{r.energy_per_atom_eV:.4f}",
            f"{r.max_force_eV_per_A:.3f}",
            finite,
        )
    console.print(table)
    if speed is not None:
        console.print(
            f"speed: {speed.atom_steps_per_s:.0f} atom-steps/s "
            f"({speed.n_atoms} atoms, {speed.steps} NVE steps in {speed.seconds:.2f} s)"
        )
    console.print("[bold green]OK[/]" if ok else "[bold red]FAILED: non-finite results[/]")
