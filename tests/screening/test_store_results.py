"""Results documents and the embedded (montydb/SQLite) results store: round trip, idempotency,
reading from a new process, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys

import pytest

from screening.dissolution import SolutionEnergy
from screening.electronic import assess_electronic
from screening.errors import InputError
from screening.hashing import file_sha256, settings_hash
from screening.results import (
    ArrheniusSummary,
    CandidateResult,
    OperatingPoint,
    Provenance,
    SystemResult,
    ThermoSummary,
    TransportPoint,
    apply_ranking,
)
from screening.store import ResultsStore
from screening.thermo import PhaseEnergy, build_system_thermo

SETTINGS = {"engine": "mlip", "potential": "mace:test", "temperatures_K": [300, 548, 900]}


def make_doc(
    cid: str, *, settings=SETTINGS, D_op=1e-10, V=0.85, Ef=-0.66, status="ok", reason=None
):
    prov = Provenance.collect(engine="mlip", potential="mace:test", settings=settings, seeds=[0])
    return CandidateResult(
        candidate_id=cid, system=cid.split("/")[0], phase=cid.split("/")[1],
        formula=cid.split("/")[1], status=status, reason=reason,
        thermo=ThermoSummary(formation_energy_eV_atom=Ef, e_above_hull_eV_atom=0.0,
                             neighbour_e_above_hull_eV_atom=0.0, voltage_V=V,
                             volume_change_step=0.17),
        transport=[TransportPoint(temperature_K=t, D_cm2_s=d, D_sigma_cm2_s=d / 5, converged=True,
                                  n_hops=40, trajectory_path=f"traj_{t}.h5",
                                  trajectory_sha256="0" * 64)
                   for t, d in ((548, 1e-7), (900, 1e-6))],
        arrhenius=ArrheniusSummary(Ea_eV=0.3, Ea_sigma_eV=0.02, D0_cm2_s=1e-3,
                                   operating=[OperatingPoint(temperature_K=298.15, D_cm2_s=D_op,
                                                             D_sigma_cm2_s=D_op / 3,
                                                             sigma_S_cm=D_op * 2.6e5)]),
        # a 0.3 eV PBE gap → σ_e ≈ 1.4e-5 S/cm at 298 K, σ_e/σ_ion ≈ 0.5: a mixed conductor
        electronic=assess_electronic("Li3Sb", band_gap_eV=0.3, engine="VASP, PBE"),
        dissolution=SolutionEnergy(system="Li-Sb", solute="Sb", solution_energy_eV=0.8,
                                   li_richest_phase="Li3Sb", x_li_per_m=3.0, n_li=53,
                                   mu_li_eV=-1.9, mu_m_eV=-4.1, solute_cell_energy_eV=-104.0,
                                   engine="mlip", source="computed (mlip mace:test)"),
        provenance=prov,
    )  # fmt: skip


def test_settings_hash_and_file_sha(tmp_path):
    assert settings_hash({"a": 1, "b": [1, 2]}) == settings_hash({"b": [1, 2], "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 2})
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert file_sha256(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_provenance_records_versions():
    p = make_doc("Li-Sb/Li3Sb/2x2x2/vac1/seed0").provenance
    assert {"pymatgen", "ase", "maggma"} <= set(p.package_versions)
    assert p.seeds == [0] and len(p.settings_hash) == 64 and p.created_at.tzinfo is not None


def test_operating_temperature_is_never_substituted():
    doc = make_doc("Li-Sb/Li3Sb/a", D_op=2e-10)
    (ok,) = apply_ranking([doc], T_op_K=298.15)
    assert ok.to_ranking_input().D_op_cm2_s == 2e-10
    (missing,) = apply_ranking([doc], T_op_K=348.15)  # not extrapolated to 75 °C
    assert missing.to_ranking_input().D_op_cm2_s is None
    assert missing.criterion("mixed_conduction").passed is None


def test_round_trip_idempotent_and_new_process(tmp_path):
    loc = tmp_path / "store"
    doc = make_doc("Li-Sb/Li3Sb/2x2x2/vac1/seed0")
    (ranked,) = apply_ranking([doc], T_op_K=298.15)
    with ResultsStore.open(loc) as s:
        s.put(ranked)
        s.put(ranked)  # same key + settings → still one document
        assert s.count() == 1
        got = s.get(ranked.candidate_id, ranked.settings_hash)
        assert got == ranked
        assert s.get(ranked.candidate_id, "other-hash") is None
        # new settings → a second document, the first one stays
        s.put(make_doc(ranked.candidate_id, settings={**SETTINGS, "dt_fs": 1.0}))
        assert s.count() == 2
    code = (
        "import sys; from screening.store import ResultsStore\n"
        "s = ResultsStore.open(sys.argv[1]); d = s.get(sys.argv[2], sys.argv[3])\n"
        "print(d.candidate_id, d.rank, d.arrhenius.Ea_eV, d.passing)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(loc), ranked.candidate_id, ranked.settings_hash],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert out.stdout.split() == [ranked.candidate_id, "1", "0.3", "True"]


def test_ranking_filter_and_sort(tmp_path):
    docs = apply_ranking(
        [
            make_doc("Li-Sb/Li3Sb/a", V=0.85, D_op=1e-10),
            make_doc("Li-Mg/LiMg/b", V=0.05, D_op=1e-9, Ef=-0.05),
            make_doc("Li-Sb/Li2Sb/c", V=1.5),  # outside the voltage window: not passing
            make_doc("Li-Si/LiSi/d", status="failed", reason="relaxation did not converge"),
        ]
    )
    with ResultsStore.open(tmp_path / "s") as s:
        for d in docs:
            s.put(d)
        assert [d.candidate_id for d in s.ranking(sort="voltage")][:3] == [
            "Li-Mg/LiMg/b", "Li-Sb/Li3Sb/a", "Li-Sb/Li2Sb/c"]  # fmt: skip
        assert s.ranking(sort="voltage")[-1].status == "failed"  # failed last, never dropped
        assert s.ranking(sort="D")[0].candidate_id == "Li-Mg/LiMg/b"
        assert {d.candidate_id for d in s.ranking(passing=True)} == {
            "Li-Sb/Li3Sb/a", "Li-Mg/LiMg/b"}  # fmt: skip
        assert [d.candidate_id for d in s.ranking(system="Li-Si")] == ["Li-Si/LiSi/d"]
        by_score = s.ranking(sort="score")
        assert [d.score for d in by_score[:3]] == sorted([d.score for d in by_score[:3]],
                                                         reverse=True)  # fmt: skip
        with pytest.raises(InputError, match="sort"):
            s.ranking(sort="bogus")


def test_system_document_round_trip(tmp_path):
    ph = [PhaseEnergy(system="Li-Sb", phase=n, formula=n, energy_eV=e, n_atoms=k,
                      volume_A3=20.0 * k, engine="mlip", potential="mace:test")
          for n, e, k in (("Li", -1.9, 1), ("Sb", -4.1, 1), ("Li3Sb", -12.45, 4))]  # fmt: skip
    t = build_system_thermo(ph)
    doc = SystemResult(system="Li-Sb", thermo=t,
                       provenance=Provenance.collect(engine="mlip", settings=SETTINGS))  # fmt: skip
    with ResultsStore.open(tmp_path / "s") as s:
        s.put(doc)
        s.put(make_doc("Li-Sb/Li3Sb/a"))
        (back,) = s.all(kind="system")
        assert back == doc and back.key == "Li-Sb/mlip"
        assert len(s.all(kind="candidate")) == 1


def _writer(loc: str, i: int) -> None:
    s = ResultsStore.open(loc)
    for j in range(3):
        s.put(make_doc(f"Li-Sb/Li3Sb/w{i}/doc{j}"))
    s.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    loc = str(tmp_path / "shared")
    ctx = mp.get_context("fork")  # forked children share the imported test module
    procs = [ctx.Process(target=_writer, args=(loc, i)) for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 8
    with ResultsStore.open(loc) as s:
        ids = [d.candidate_id for d in s.all()]
    assert len(ids) == 24 and len(set(ids)) == 24


def test_config_file_locations(tmp_path):
    cfg = tmp_path / "store.yaml"
    cfg.write_text("type: monty\npath: embedded\n")
    with ResultsStore.open(cfg) as s:
        s.put(make_doc("Li-Sb/Li3Sb/a"))
    assert (tmp_path / "embedded").is_dir()
    (tmp_path / "bad.json").write_text(json.dumps({"type": "postgres"}))
    with pytest.raises(InputError, match="postgres"):
        ResultsStore.open(tmp_path / "bad.json")
    f = tmp_path / "plain.txt"
    f.write_text("x")
    with pytest.raises(InputError, match=r"not a \.yaml"):
        ResultsStore.open(f)
