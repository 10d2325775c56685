"""CLI: candidates (table/json), validate, schema; bad input → one line, exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import screening.cli  # noqa: F401  (registers commands)
from screening.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
ILSCREEN = Path(sys.executable).parent / "ilscreen"


def test_json_output_stable() -> None:
    runner = CliRunner()
    args = ["candidates", str(ROOT / "candidates.yaml"), "--format", "json", "--preset", "paper"]
    first = runner.invoke(app, args)
    second = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    rows = json.loads(first.output)
    ids = [r["id"] for r in rows]
    assert "Li-Sb/Li3Sb/2x2x2/vac4/seed0" in ids
    row = next(r for r in rows if r["id"] == "Li-Sb/Li3Sb/2x2x2/vac0")
    assert row["n_atoms"] == 128 and row["supercell"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert row["structure"]["@class"] == "Structure"


def test_table_and_schema() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["candidates", str(ROOT / "candidates.yaml")], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "Li-Sb/Li3Sb/2x2x2/vac1/site0" in res.output
    schema = json.loads(runner.invoke(app, ["schema"]).output)
    assert schema["additionalProperties"] is False
    assert "systems" in schema["properties"]


def test_subprocess_error_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("systems: []\n")
    env = {**os.environ, "COLUMNS": "300"}
    proc = subprocess.run(
        [str(ILSCREEN), "validate", str(bad)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 2
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and "c.yaml" in lines[0] and "field 'systems'" in lines[0]
