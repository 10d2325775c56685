"""The shared Typer application and console that every command module registers on."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="ilscreen",
    help="Screen lithium alloys as interlayers between Li metal and a solid electrolyte.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Tables are wide (ids, criteria, provenance): when piped or captured, do not wrap them at 80.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)

#: ``--trust-model``: the one way to say on the command line that a non-shipped model file (a
#: pickle, i.e. code) may be loaded
TrustModelOpt = Annotated[
    bool,
    typer.Option(
        "--trust-model",
        help="load the potential's model file although it is not shipped (model files are "
        "pickles: they run code when loaded)",
    ),
]


class _State:
    """Process-wide CLI options set by the top-level callback."""

    debug = False


state = _State()


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help="show the traceback of an input error"),
) -> None:
    """Screen lithium alloys as interlayers between Li metal and a solid electrolyte."""
    state.debug = debug
