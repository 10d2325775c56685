"""`ilscreen potentials record-md`: card sections made from real `ilscreen md` trajectories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from potentials.card_md_checks import transport_comparison
from screening.cli import app
from screening.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "tests" / "workflows" / "data" / "mini_campaign.yaml"
CANDIDATE = "Li-Sb/Li3Sb/1x1x1/vac1/seed0"
MODELS = ROOT / "potentials" / "models"


@pytest.fixture(scope="module")
def carded_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped model and its card, so the test can rewrite the card."""
    folder = tmp_path_factory.mktemp("model")
    for suffix in (".model", ".card.json"):
        shutil.copy(MODELS / f"ilscreen-li-alloys{suffix}", folder / f"copy{suffix}")
    return folder / "copy.model"


def test_record_md_summarises_the_trajectories_into_the_card(tmp_path, carded_model) -> None:
    spec = f"mace:{carded_model}"
    md = CliRunner().invoke(
        app,
        ["md", CANDIDATE, "--candidates", str(CAMPAIGN), "--temperatures", "300",
         "--potential", spec, "--trust-model", "--out", str(tmp_path), "--no-progress"],
    )  # fmt: skip
    assert md.exit_code in (0, 3), md.output  # a random tiny model may be flagged unstable
    res = CliRunner().invoke(
        app,
        ["potentials", "record-md", spec, str(tmp_path), "--section", "check",
         "--command", "ilscreen md ..."],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    card = json.loads(carded_model.with_name("copy.card.json").read_text())
    section = card["md_checks"]["check"]
    (row,) = section["runs"]
    assert row["candidate"] == CANDIDATE and row["potential"] == spec
    assert row["temperature_K"] == 300.0 and row["n_atoms"] == 15
    # the shipped model at 300 K: a physical crystal, Li-Sb/Li-Li contacts near 2.8 Å
    assert 2.0 < row["closest_contact_A"] < 2.9
    # 15 atoms for 0.6 ps fluctuate by tens of K: "stable" follows the 5 % rule either way
    off = abs(row["mean_T_deviation_pct"])
    assert row["stable"] == (off <= 5.0) and off < 30
    assert row["stable"] or "off target" in row["unstable_reason"]
    assert section["protocol"].startswith("NVT langevin (100 fs), 2 fs")
    assert section["verdict"] in (
        "all 1 runs stable",
        f"0/1 runs stable; unstable: {CANDIDATE} at 300 K",
    )
    text = carded_model.with_name("copy.card.md").read_text()
    assert "## MD check: check" in text and CANDIDATE in text

    wrong = CliRunner().invoke(
        app,
        ["potentials", "record-md", "mace:ilscreen-li-alloys", str(tmp_path), "--section", "x",
         "--command", "c"],
    )  # fmt: skip
    assert isinstance(wrong.exception, InputError) and spec in str(wrong.exception)
    empty = CliRunner().invoke(
        app, ["potentials", "record-md", spec, str(tmp_path / "none"), "--section", "x",
              "--command", "c"],
    )  # fmt: skip
    assert isinstance(empty.exception, InputError) and "T*K.h5" in str(empty.exception)


def _row(potential: str, d: float | None) -> dict:
    return {"candidate": "Li3Sb", "temperature_K": 900.0, "potential": potential, "D_Li_cm2_s": d}


def test_transport_comparison_is_student_over_teacher_with_factor_two_test() -> None:
    rows = [_row("sevennet:7net-0", 2.0e-6), _row("mace:student", 1.5e-6)]
    (c,) = transport_comparison(rows)
    assert c["potential"] == "mace:student" and c["reference"] == "sevennet:7net-0"
    assert c["D_ratio"] == pytest.approx(0.75) and c["within_factor_2"]
    (far,) = transport_comparison([_row("sevennet:7net-0", 2.0e-6), _row("mace:s", 4.5e-6)])
    assert not far["within_factor_2"]
    # one potential only, or no D: nothing to compare
    assert transport_comparison([_row("mace:s", 1e-6), _row("sevennet:7net-0", None)]) == []
