"""MLIP-vs-DFT validation documents in the results store, `ilscreen query` and `ilscreen report`.

The validation documents are built by hand from snapshot errors (no DFT here); the end-to-end
`ilscreen dft validate --store` run with GPAW is in tests/workflows/test_mlip_validation.py.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import screening.cli  # noqa: F401  (registers every command on the app)
from screening.ab_initio import ValidationResult, snapshot_error, summarize_validation
from screening.cli.app import app
from screening.query import flat_row, query
from screening.report import report_from_store
from screening.results import CandidateResult, Provenance, ThermoSummary, apply_ranking
from screening.store import ResultsStore

SHA = "a" * 64
SB = "Li-Sb/Li3Sb/2x2x2/vac1/seed0"
C6 = "Li-C/LiC6/1x1x1/vac1/seed0"
SI = "Li-Si/Li15Si4/1x1x1/vac1/seed0"
runner = CliRunner()


def _candidate(cid: str) -> CandidateResult:
    prov = Provenance.collect(engine="mlip", potential="mace:test", model_sha256=SHA,
                              settings={"p": "quick"})  # fmt: skip
    return CandidateResult(
        candidate_id=cid, system=cid.split("/")[0], phase=cid.split("/")[1],
        formula=cid.split("/")[1], thermo=ThermoSummary(voltage_V=0.5), provenance=prov,
    )  # fmt: skip


def _validation(
    cid: str, error_eV_A: float, *, sha: str = SHA, T: float = 900.0, threshold: float = 0.10
) -> ValidationResult:
    """Two 8-atom snapshots whose MLIP forces are off by ``error_eV_A`` on every component."""
    rng = np.random.default_rng(0)
    snaps = [
        snapshot_error(k, -24.0, f, -23.5, f + error_eV_A)
        for k, f in enumerate(rng.normal(size=(2, 8, 3)))
    ]
    return summarize_validation(
        snaps, candidate_id=cid, potential="mace:test", model_sha256=sha, dft_engine="GPAW, PBE",
        threshold_force_mae_eV_A=threshold, card_force_mae_eV_A=0.031,
        card_source="card mace:test: held-out Li3Sb", temperature_K=T,
    )  # fmt: skip


@pytest.fixture
def store_dir(tmp_path):
    loc = tmp_path / "store"
    with ResultsStore.open(loc) as s:
        s.put_many(apply_ranking([_candidate(SB), _candidate(C6), _candidate(SI)]))
        s.put_many(
            [
                _validation(SB, 0.04),  # passes
                _validation(SB, 0.06, T=548.0),  # passes, larger: the one shown
                _validation(C6, 0.15),  # fails the 0.10 eV/Å threshold
                _validation(SI, 0.01, sha="b" * 64),  # another model file: not Li15Si4's
            ]
        )
    return loc


def test_flag_logic_and_store_round_trip(tmp_path):
    ok, bad = _validation(SB, 0.04), _validation(SB, 0.15)
    assert ok.force_mae_eV_A == pytest.approx(0.04) and not ok.flagged
    assert bad.force_mae_eV_A == pytest.approx(0.15) and bad.flagged
    assert not _validation(SB, 0.15, threshold=0.2).flagged
    with ResultsStore.open(tmp_path / "s") as s:
        s.put(ok)
        s.put(ok)  # idempotent
        s.put(_validation(SB, 0.04, threshold=0.03))  # same check re-flagged: replaces
        s.put(_validation(SB, 0.04, T=548.0))  # another MD temperature: coexists
        assert s.count(kind="validation") == 2 and s.count(kind="candidate") == 0
        back = {v.temperature_K: v for v in s.all(kind="validation")}
    assert back[900.0].flagged and back[900.0].threshold_force_mae_eV_A == 0.03
    assert back[548.0] == _validation(SB, 0.04, T=548.0)


def test_query_shows_the_matching_validation_only(store_dir):
    docs = {d.candidate_id: d for d in query(store_dir)}
    assert docs[SB].validation.force_mae_eV_A == pytest.approx(0.06)  # worst of 900 K and 548 K
    assert not docs[SB].validation.flagged
    assert docs[C6].validation.flagged
    assert docs[SI].validation is None  # a validation of another model file is not shown
    rows = {r["candidate_id"]: r for r in map(flat_row, docs.values())}
    assert rows[C6]["mlip_dft_force_mae_eV_A"] == pytest.approx(0.15)
    assert rows[C6]["mlip_dft_engine"] == "GPAW, PBE" and rows[C6]["mlip_dft_flagged"] is True
    assert rows[SI]["mlip_dft_force_mae_eV_A"] is None and rows[SI]["mlip_dft_flagged"] is None
    # the attached view is never written back into the candidate document
    with ResultsStore.open(store_dir) as s:
        s.put(docs[C6])
        assert s.get(C6, docs[C6].settings_hash).validation is None
        assert s.count(kind="validation") == 4


def test_query_cli_table_json_csv(store_dir):
    rows = json.loads(
        runner.invoke(app, ["query", "--store", str(store_dir), "--format", "json"]).output
    )
    by_id = {r["candidate_id"]: r for r in rows}
    assert by_id[SB]["mlip_dft_flagged"] is False and by_id[SI]["mlip_dft_force_mae_eV_A"] is None
    out = runner.invoke(app, ["query", "--store", str(store_dir), "--format", "csv"]).output
    by_id = {r["candidate_id"]: r for r in csv.DictReader(io.StringIO(out))}
    assert float(by_id[C6]["mlip_dft_force_mae_eV_A"]) == pytest.approx(0.15)
    assert by_id[C6]["mlip_dft_flagged"] == "True" and by_id[SI]["mlip_dft_flagged"] == ""
    res = runner.invoke(app, ["query", "--store", str(store_dir)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "0.150 GPAW ⚠" in res.output and "0.060 GPAW" in res.output


def test_report_shows_validation_next_to_the_card(store_dir, tmp_path):
    text = report_from_store(store_dir, tmp_path / "rep").read_text()
    assert "MLIP vs DFT F MAE (eV/Å)" in text
    assert "0.150" in text and "FLAGGED: above 0.1 eV/Å" in text
    assert "force MAE 0.060 eV/Å" in text and "card 0.031" in text
    assert "not validated" in text  # Li15Si4: only another model was validated
