"""The electronic criterion on a machine without GPAW (the README's fresh set-up).

There the screen's electronic engine resolves to ``literature`` and every MD candidate of the quick
preset must still get an electronic class and a σ_e from ``screening/data/electronic.yaml``:
cited literature with a DOI, or a value this project's GPAW engine precomputed and ships.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from screening.campaign import load_campaign
from screening.candidates import generate_candidates
from screening.conduction import electronic_conductivity
from screening.electronic import (
    ElectronicClass,
    EntryKind,
    LiteratureElectronic,
    assess_electronic,
    load_literature,
)
from screening.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
DOI = re.compile(r"^10\.\d{4,9}/\S+$")
#: the screen's GPAW (PBE) job on the MLIP-relaxed Li3Sb cell (BENCHMARKS.md / issue 16)
GPAW_LI3SB_RELAXED_EV = 0.76


def test_li3sb_precomputed_gap_matches_the_gpaw_engine():
    row = load_literature()["Li3Sb"]
    assert row.kind is EntryKind.PRECOMPUTED
    assert row.engine == "GPAW, PBE"
    assert "ilscreen dft gap" in row.citation  # says how to reproduce it
    # 0.720 eV on the shipped cell vs 0.76 eV on the MLIP-relaxed one: same engine, ±0.05 eV
    assert row.band_gap_eV == pytest.approx(GPAW_LI3SB_RELAXED_EV, abs=0.05)
    a = assess_electronic("Li3Sb")
    assert a.source.startswith("precomputed (GPAW, PBE)")
    assert a.electronic_class is ElectronicClass.INSULATOR  # 0.72 eV > 0.5 eV default
    assert assess_electronic("Li3Sb", max_small_gap_eV=1.0).electronic_class is (
        ElectronicClass.SMALL_GAP
    )


def test_new_literature_rows_carry_a_doi():
    table = load_literature()
    for phase in ("Li15Si4", "LiC6"):
        row = table[phase]
        assert row.kind is EntryKind.LITERATURE
        assert row.doi and DOI.match(row.doi), phase
        assert f"(doi:{row.doi})" in assess_electronic(phase).source
    assert table["Li15Si4"].electronic_class is ElectronicClass.METAL
    # rows whose DOI was not checked say so instead of carrying one
    for phase, row in table.items():
        if row.kind is EntryKind.LITERATURE and row.doi is None:
            assert row.note and "check" in row.note, phase


def test_precomputed_row_must_name_its_engine(tmp_path):
    with pytest.raises(ValueError, match="engine"):
        LiteratureElectronic.model_validate(
            {"kind": "precomputed", "class": "metal", "citation": "somewhere"}
        )
    bad = tmp_path / "e.yaml"
    bad.write_text("phases:\n  X:\n    class: metal\n    citation: c\n    doi: not-a-doi\n")
    with pytest.raises(InputError):
        load_literature(bad)


def test_without_gpaw_every_quick_md_candidate_gets_a_class(monkeypatch):
    import workflows.dft_gpaw as dft_gpaw
    from workflows.screen import resolve_electronic_engine

    source = ROOT / "candidates.yaml"
    campaign = load_campaign(source)
    # the import check resolve_electronic_engine uses: GPAW absent, as on a fresh machine
    monkeypatch.setattr(dft_gpaw, "gpaw_available", lambda: False)
    assert resolve_electronic_engine(campaign, source) == "literature"

    # every MD candidate (a superset of workflows.flows.md_targets, which drops pristine cells
    # of phases that have a vacancy variant)
    targets = [c for c in generate_candidates(campaign, "quick") if "md" in c.purposes]
    phases = {(c.phase, c.structure.composition.reduced_formula) for c in targets}
    assert {p for p, _ in phases} >= {"Li3Sb", "Li15Si4", "LiC6"}
    T_op = max(campaign.operating_temperatures)
    for cand in targets:
        # the same lookup as workflows.jobs: hull label (no "-ordN"), then its compound prefix
        label = cand.phase.split("-ord")[0]
        a = assess_electronic(label, formula=label.split("-")[0])
        assert a.electronic_class is not ElectronicClass.UNKNOWN, (cand.id, a.note)
        assert a.source.startswith(("literature:", "precomputed (")), cand.id
        s = cand.structure
        sigma = electronic_conductivity(
            a,
            formula=s.composition.reduced_formula,
            volume_per_atom_A3=s.volume / len(s),
            temperature_K=T_op,
        )
        assert sigma.S_cm is not None and sigma.S_cm > 0, (cand.id, sigma)
