"""`ilscreen potentials list|check`: offline listing, campaign coverage, sanity and speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import screening.cli  # noqa: F401  (registers the command groups)
from potentials.registry import DEFAULT_SPEC, MODELS_DIR
from potentials.testing import write_tiny_mace
from screening.cli.app import app
from screening.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
ILSCREEN = Path(sys.executable).parent / "ilscreen"


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"mace:{write_tiny_mace(tmp_path_factory.mktemp('cli') / 'tiny.model', (3, 51))}"


def test_list_json_offline() -> None:
    result = CliRunner().invoke(app, ["potentials", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["spec"]: r for r in json.loads(result.output)}
    assert rows["sevennet:7net-0"]["offline_available"] is True
    assert {"Li", "Sb", "Mg", "Ag", "Si", "C"} <= set(rows["sevennet:7net-0"]["elements"])
    assert rows["chgnet:0.3.0"]["offline_available"] is True
    assert rows["chgnet:0.3.0"]["batched_md"] is False
    mace_mp = [r for spec, r in rows.items() if spec.startswith("mace-mp:")]
    assert mace_mp  # listed, and marked as needing the network unless mace's cache has them
    assert DEFAULT_SPEC in rows
    shipped = (MODELS_DIR / "ilscreen-li-alloys.model").is_file()
    assert rows[DEFAULT_SPEC]["offline_available"] is shipped


def test_list_table_shows_the_three_families() -> None:
    result = CliRunner().invoke(app, ["potentials", "list"])
    assert result.exit_code == 0, result.output
    for name in ("ilscreen-li-alloys", "sevennet:7net-0", "chgnet:0.3.0", "mace-mp:small"):
        assert name in result.output


def test_check_tiny_mace_json(tiny_spec: str) -> None:
    args = ["potentials", "check", tiny_spec, "--elements", "Li,Sb", "--steps", "2"]
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    cells = {r["cell"]: r for r in report["single_points"]}
    assert {"Li bulk", "Sb bulk", "Li3Sb primitive"} <= cells.keys()
    assert all(r["finite"] for r in cells.values())
    speed = report["speed"]
    assert speed["n_atoms"] == 127  # Li3Sb 2x2x2 minus one Li, the reference MD cell
    assert speed["steps"] == 2 and speed["atom_steps_per_s"] > 0


def test_check_against_campaign_names_uncovered_system(tiny_spec: str) -> None:
    """The tiny model knows Li and Sb only: the Li–Mg system must be refused before any MD."""
    args = ["potentials", "check", tiny_spec, "--candidates", str(ROOT / "candidates.yaml")]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, InputError)
    text = str(result.exception)
    assert "does not cover element(s) Mg" in text and "system 'Li-Mg'" in text


def test_check_rejects_bad_elements(tiny_spec: str) -> None:
    result = CliRunner().invoke(app, ["potentials", "check", tiny_spec, "--elements", "Li,Xx"])
    assert isinstance(result.exception, InputError)
    assert "Xx" in str(result.exception)


def test_bad_spec_is_one_line_and_exit_2() -> None:
    proc = subprocess.run(
        [str(ILSCREEN), "potentials", "check", "nequip:foo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown potential scheme 'nequip'" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
