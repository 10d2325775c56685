"""The ``ilscreen`` command line.

The CLI is the composition root: it is the only place in ``screening`` that reaches into
``workflows`` and ``potentials``, through their own ``cli`` modules, which import heavy libraries
(torch, jobflow) inside the command functions so ``ilscreen --help`` stays fast.
"""

from __future__ import annotations

import sys

from rich.text import Text

from screening.cli.app import app, console, err_console, state
from screening.errors import InputError


def _register_optional() -> None:
    """Register command groups owned by the other packages."""
    import importlib

    # Each module registers its commands on ``app`` when imported.
    for module in (
        "screening.cli.candidates",
        "screening.cli.diffusion",
        "screening.cli.results",
        "potentials.cli",
        "potentials.cli_distill",
        "potentials.cli_card",
        "potentials.cli_fidelity",
        "workflows.cli",
        "workflows.cli_neb",
        "workflows.cli_screen",
        "workflows.cli_dft",
        "workflows.cli_hpc",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a package still being written must not break the rest
            if exc.name != module:
                raise


_register_optional()


def main() -> None:
    """Entry point: Typer handles usage errors itself; bad input becomes one line and exit 2."""
    try:
        app()
    except InputError as exc:
        if state.debug:
            err_console.print_exception()
        # user text (names, paths) may contain '[...]': never let rich read it as markup
        error = Text.assemble(("error:", "bold red"), " ", str(exc))
        console.print(error, highlight=False, soft_wrap=True)
        sys.exit(2)


__all__ = ["app", "main"]
