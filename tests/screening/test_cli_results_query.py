"""`ilscreen query` (table/json/csv) and `ilscreen report` against a real embedded store."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

import screening.cli  # noqa: F401  (registers every command on the app)
from screening.cli.app import app
from screening.query import query
from screening.results import (
    ArrheniusSummary,
    CandidateResult,
    OperatingPoint,
    Provenance,
    ThermoSummary,
    apply_ranking,
)
from screening.store import ResultsStore

runner = CliRunner()


def _doc(cid, V, D, Ea, Ef, status="ok", reason=None):
    prov = Provenance.collect(engine="mlip", potential="mace:test", settings={"p": "quick"})
    return CandidateResult(
        candidate_id=cid, system=cid.split("/")[0], phase=cid.split("/")[1],
        formula=cid.split("/")[1], status=status, reason=reason,
        thermo=ThermoSummary(formation_energy_eV_atom=Ef, e_above_hull_eV_atom=0.0,
                             neighbour_e_above_hull_eV_atom=0.0, voltage_V=V,
                             volume_change_step=0.1),
        arrhenius=ArrheniusSummary(Ea_eV=Ea, Ea_sigma_eV=0.01, operating=[
            OperatingPoint(temperature_K=298.15, D_cm2_s=D, D_sigma_cm2_s=D / 4)]),
        provenance=prov,
    )  # fmt: skip


@pytest.fixture
def store_dir(tmp_path):
    docs = apply_ranking([
        _doc("Li-Sb/Li3Sb/2x2x2/vac1/seed0", 0.85, 1e-10, 0.30, -0.66),
        _doc("Li-C/LiC6/1x1x1/vac1/seed0", 0.10, 1e-8, 0.20, -0.05),
        _doc("Li-Si/Li15Si4/1x1x1/vac1/seed0", 0.05, 1e-9, 0.25, -0.20, status="failed",
             reason="relaxation did not converge"),
    ])  # fmt: skip
    loc = tmp_path / "store"
    with ResultsStore.open(loc) as s:
        s.put_many(docs)
    return loc


def test_query_json_sorted_by_ea(store_dir):
    res = runner.invoke(app, ["query", "--store", str(store_dir), "--sort", "Ea", "--format",
                              "json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["candidate_id"].split("/")[1] for r in rows] == ["LiC6", "Li3Sb", "Li15Si4"]
    assert rows[0]["Ea_eV"] == 0.2 and len(rows[0]["settings_hash"]) == 64
    assert rows[-1]["status"] == "failed" and rows[-1]["reason"] == "relaxation did not converge"
    full = runner.invoke(app, ["query", "--store", str(store_dir), "--format", "json", "--full"])
    docs = json.loads(full.output)
    assert {d["arrhenius"]["Ea_eV"] for d in docs} == {0.2, 0.25, 0.3}
    assert all(d["provenance"]["package_versions"]["pymatgen"] for d in docs)


def test_query_csv_filter(store_dir):
    res = runner.invoke(app, ["query", "--store", str(store_dir), "--system", "Li-Sb",
                              "--format", "csv"])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert len(rows) == 1 and rows[0]["formula"] == "Li3Sb"
    assert float(rows[0]["D_op_cm2_s"]) == pytest.approx(1e-10)
    # electronic class unknown → C3 not passed, flagged
    assert rows[0]["C3"] == "n/a" and rows[0]["passing"] == "False"
    assert rows[0]["C1"] == "pass"


def test_query_table_and_python_api(store_dir):
    res = runner.invoke(app, ["query", "--store", str(store_dir)], env={"COLUMNS": "220"})
    assert res.exit_code == 0, res.output
    assert "Li3Sb" in res.output and "failed" in res.output
    docs = query(store_dir, sort="voltage")
    assert [d.formula for d in docs] == ["LiC6", "Li3Sb", "Li15Si4"]
    assert query(store_dir, passing=True) == []  # nobody has an electronic class here


def test_report_command(store_dir, tmp_path):
    out = tmp_path / "rep"
    res = runner.invoke(app, ["report", "--store", str(store_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "relaxation did not converge" in (out / "report.html").read_text()


def test_bad_sort_is_a_usage_error(store_dir):
    res = runner.invoke(app, ["query", "--store", str(store_dir), "--sort", "bogus"])
    assert res.exit_code == 2


def test_transport_notes_say_why_a_temperature_was_left_out():
    from screening.query import transport_notes
    from screening.results import TransportPoint

    doc = _doc("Li-Sb/Li3Sb/2x2x2/vac1/seed0", 0.85, 1e-10, 0.30, -0.66).model_copy(
        update={"transport": [
            TransportPoint(temperature_K=548, converged=False, n_hops=0, duration_ps=8.0,
                           note="only 0 Li atoms moved > 2.0 Å (need ≥ 5)"),
            TransportPoint(temperature_K=900, converged=True, n_hops=48, duration_ps=40.0),
        ]}
    )  # fmt: skip
    assert transport_notes([doc]) == [
        "Li-Sb/Li3Sb/2x2x2/vac1/seed0 at 548 K, 8 ps: only 0 Li atoms moved > 2.0 Å (need ≥ 5)"
    ]


def _full_doc():
    """Li3Sb with a PBE gap, σ_ion from D(T_op) and an M-in-Li solution energy."""
    from screening.dissolution import SolutionEnergy
    from screening.electronic import assess_electronic

    doc = _doc("Li-Sb/Li3Sb/2x2x2/vac1/seed0", 0.85, 1e-10, 0.30, -0.66)
    op = doc.arrhenius.operating[0].model_copy(update={"sigma_S_cm": 2.6e-5,
                                                       "sigma_sigma_S_cm": 6.5e-6})  # fmt: skip
    return doc.model_copy(update={
        "arrhenius": doc.arrhenius.model_copy(update={"operating": [op]}),
        "electronic": assess_electronic("Li3Sb", band_gap_eV=0.3, engine="GPAW, PBE"),
        "dissolution": SolutionEnergy(
            system="Li-Sb", solute="Sb", solution_energy_eV=0.9, li_richest_phase="Li3Sb",
            x_li_per_m=3.0, n_li=53, mu_li_eV=-1.9, mu_m_eV=-4.1, solute_cell_energy_eV=-104.0,
            engine="mlip", potential="mace:test", source="computed (mlip mace:test)"),
    })  # fmt: skip


def test_json_carries_both_conductivities_class_and_solution_energy(tmp_path):
    loc = tmp_path / "store"
    with ResultsStore.open(loc) as s:
        s.put_many(apply_ranking([_full_doc()]))
    res = runner.invoke(app, ["query", "--store", str(loc), "--format", "json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.output)
    assert row["sigma_ion_S_cm"] == 2.6e-5 and row["sigma_ion_source"] == "computed (MD)"
    assert 1e-6 < row["sigma_e_S_cm"] < 1e-4  # intrinsic, 0.3 + 0.5 eV at 298 K: 1.4e-5
    assert row["sigma_e_source"] == "estimate (intrinsic; gap from computed (GPAW, PBE))"
    assert row["conduction_class"] == "mixed conductor" and row["C3"] == "pass"
    assert row["solution_energy_eV"] == 0.9
    assert row["solution_energy_source"] == "computed (mlip mace:test)"
    assert row["passing"] is True


def test_explain_gives_one_line_per_criterion_with_its_rule(tmp_path):
    loc = tmp_path / "store"
    with ResultsStore.open(loc) as s:
        s.put_many(apply_ranking([_full_doc(), _doc("Li-C/LiC6/1x1x1/vac1/seed0", 0.10, 1e-8,
                                                    0.20, -0.05)]))  # fmt: skip
    res = runner.invoke(app, ["query", "--store", str(loc), "--explain",
                              "Li-Sb/Li3Sb/2x2x2/vac1/seed0"])  # fmt: skip
    assert res.exit_code == 0, res.output
    head, c1, c2, c3, c4, transport = res.output.strip().splitlines()
    assert transport.startswith("transport: MD: Ea 0.300 ± 0.010 eV (MD converged at >= 2")
    assert "rank 1" in head and "passing" in head
    assert c1.startswith("C1 potential: pass: V = 0.850 V; rule 0 < V")
    assert "D(T_op) 1.0e-10 cm²/s (≥ 1e-12)" in c2
    assert "σ_ion 2.6e-05 ± 6.5e-06 S/cm (computed (MD))" in c3
    assert "mixed conductor: σ_e/σ_ion = " in c3 and "mixed if 0.01 ≤ σ_e/σ_ion ≤ 10" in c3
    assert c4.startswith("Ef_ok formation_energy: pass: E_f -0.660 eV/atom")
    assert "E_sol(M in Li) 0.90 eV (computed (mlip mace:test), vs Li + Li3Sb)" in c4
    assert "M solubility in Li exp(−E_sol/k_BT) = 6e-16 at 298.15 K (≤ 0.01)" in c4
    # no electronic class, no solution energy: '?' with the reason
    other = runner.invoke(app, ["query", "--store", str(loc), "--explain",
                                "Li-C/LiC6/1x1x1/vac1/seed0"])  # fmt: skip
    lines = other.output.strip().splitlines()
    assert "C3 mixed_conduction: n/a" in lines[3] and "σ_e unknown: no electronic" in lines[3]
    assert "no M-in-Li solution energy" in lines[4]
    bad = runner.invoke(app, ["query", "--store", str(loc), "--explain", "nope"])
    assert bad.exit_code == 2 and "Li-C/LiC6/1x1x1/vac1/seed0" in bad.output
