"""``ilscreen query`` and ``ilscreen report``: read the results store."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import app, console
from screening.paths import DEFAULT_STORE, output_folder

StoreOpt = Annotated[
    str,
    typer.Option(
        "--store",
        help="results store: a directory (embedded montydb), a mongodb:// URI, or a .yaml/.json "
        "store config; default: the one `ilscreen screen` writes",
    ),
]


class SortKey(StrEnum):
    """Sort keys of ``ilscreen query``."""

    score = "score"
    Ea = "Ea"
    D = "D"
    voltage = "voltage"
    Ef = "Ef"
    rank = "rank"


class Format(StrEnum):
    """Output formats of ``ilscreen query``."""

    table = "table"
    json = "json"
    csv = "csv"


@app.command("query")
def query_cmd(
    store: StoreOpt = DEFAULT_STORE,
    system: Annotated[str | None, typer.Option(help="only this system, e.g. Li-Sb")] = None,
    passing: Annotated[bool, typer.Option("--passing", help="only candidates passing all")] = False,
    sort: Annotated[SortKey, typer.Option(help="sort key")] = SortKey.score,
    fmt: Annotated[Format, typer.Option("--format", help="output format")] = Format.table,
    full: Annotated[bool, typer.Option(help="json: whole documents instead of rows")] = False,
    explain_id: Annotated[
        str | None,
        typer.Option("--explain", help="one line per criterion: numbers and the deciding rule"),
    ] = None,
) -> None:
    """Ranked candidates: criteria, D(T_op), Ea, V, σ_ion, σ_e, conduction class, E_sol."""
    from screening.query import explain, query, rich_table, to_csv, to_json

    docs = query(store, system=system, passing=passing, sort=sort.value)
    if explain_id is not None:
        match = [d for d in docs if d.candidate_id == explain_id]
        if not match:
            known = ", ".join(d.candidate_id for d in docs) or "none"
            raise typer.BadParameter(f"no candidate {explain_id!r}; stored: {known}",
                                     param_hint="--explain")  # fmt: skip
        for line in explain(match[0]):
            typer.echo(line)
        return
    if fmt is Format.json:
        typer.echo(to_json(docs, full=full))
    elif fmt is Format.csv:
        typer.echo(to_csv(docs), nl=False)
    else:
        table = rich_table(docs)
        table.caption = (
            f"store: {store}; C1 potential, C2 reversible, C3 mixed conductor (σ_e/σ_ion), "
            "Ef_ok E_f and M-in-Li solution energy; ? = missing data; "
            "ΔF DFT: MLIP-vs-DFT force MAE (ilscreen dft validate), ⚠ = above its threshold"
        )
        console.print(table)
        if not docs:
            console.print("no candidates match")


@app.command("report")
def report_cmd(
    store: StoreOpt = DEFAULT_STORE,
    out: Annotated[Path, typer.Option("--out", help="output directory")] = Path("report"),
    system: Annotated[str | None, typer.Option(help="only this system")] = None,
) -> None:
    """Write a self-contained HTML report (ranking, hulls, voltage profiles, plots, provenance)."""
    from screening.report import report_from_store
    from screening.store import ResultsStore

    output_folder(out, field="--out")
    with ResultsStore.open(store, create=False) as opened:  # a report never creates a store
        path = report_from_store(opened, out, system=system)
    console.print(f"report: {path}")
