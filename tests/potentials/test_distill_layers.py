"""potentials.distill imports point one way: no stage imports a stage above it, settings none."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "potentials" / "distill"


def _intra_imports(path: Path) -> set[str]:
    """Stages of the package that ``path`` imports anywhere (function-level imports included)."""
    deps: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "potentials.distill":
            deps |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "potentials.distill."
        ):
            deps.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            deps |= {
                a.name.split(".")[2] for a in node.names if a.name.startswith("potentials.distill.")
            }
    return deps - {path.stem}


def test_distill_stages_form_no_import_cycle() -> None:
    graph = {p.stem: _intra_imports(p) for p in PACKAGE.glob("*.py")}
    assert {"settings", "data", "train", "explore", "evaluate", "card", "pipeline"} <= set(graph)
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError on a cycle
    assert graph["settings"] == set() and graph["__init__"] == set()
    assert not any("pipeline" in deps for deps in graph.values())  # the top: callers only
