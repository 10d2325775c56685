"""``ilscreen query`` and ``ilscreen report``: read the results store."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import app, console
from screening.paths import DEFAULT_STORE

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
) -> None:
    """Ranked candidates: criteria, D(T_op), Ea, V, electronic class, MLIP-vs-DFT, provenance."""
    from screening.query import query, rich_table, to_csv, to_json

    docs = query(store, system=system, passing=passing, sort=sort.value)
    if fmt is Format.json:
        typer.echo(to_json(docs, full=full))
    elif fmt is Format.csv:
        typer.echo(to_csv(docs), nl=False)
    else:
        table = rich_table(docs)
        table.caption = (
            f"store: {store}; C1 potential, C2 reversible, C3 MIEC; ? = missing data; "
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

    with ResultsStore.open(store, create=False) as opened:  # a report never creates a store
        path = report_from_store(opened, out, system=system)
    console.print(f"report: {path}")
