"""Candidate generator on the default campaign: reference cell, vacancies, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from screening.campaign import load_campaign
from screening.candidates import (
    Candidate,
    candidates_to_json,
    generate_candidates,
    write_candidates,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default_candidates() -> list[Candidate]:
    return generate_candidates(load_campaign(ROOT / "candidates.yaml"))


def test_li3sb_reference_cell(default_candidates: list[Candidate]) -> None:
    by_id = {c.id: c for c in default_candidates}
    pristine = by_id["Li-Sb/Li3Sb/2x2x2/vac0"]
    comp = pristine.structure.composition
    assert (len(pristine.structure), comp["Li"], comp["Sb"]) == (128, 96, 32)
    assert np.allclose(pristine.structure.lattice.abc, [13.089] * 3, atol=1e-3)
    assert pristine.spacegroup == "Fm-3m"
    one = [c for c in default_candidates if c.id.startswith("Li-Sb/Li3Sb/2x2x2/vac1/")]
    assert len(one) == 2  # the 4b and 8c Li sites of Fm-3m Li3Sb
    assert all(c.n_atoms == 127 and c.structure.composition["Li"] == 95 for c in one)
    assert {"Wyckoff 32b" in c.method or "Wyckoff 64c" in c.method for c in one} == {True}
    four = by_id["Li-Sb/Li3Sb/2x2x2/vac4/seed0"]
    assert four.n_atoms == 124 and len(set(four.vacancy_sites)) == 4
    # vacancy indices point at Li atoms of the pristine supercell
    assert all(pristine.structure[i].specie.symbol == "Li" for i in four.vacancy_sites)


def test_roles_and_il_candidates(default_candidates: list[Candidate]) -> None:
    refs = [c for c in default_candidates if c.role == "reference"]
    assert {c.phase for c in refs} == {"Li-bcc", "Li-fcc"}
    assert all(c.n_vacancies == 0 and c.purposes == ["thermo"] for c in refs)
    il = {c.phase for c in default_candidates if c.il_candidate}
    assert {"Li3Sb", "LiMg-B2", "LiAg-B2", "Li15Si4", "LiC6"} <= il
    hosts = {c.system: c.phase for c in default_candidates if c.role == "host"}
    assert hosts == {"Li-Sb": "Sb", "Li-Mg": "Mg", "Li-Ag": "Ag", "Li-Si": "Si", "Li-C": "graphite"}


def test_ordered_approximant_is_ordered_and_recorded(default_candidates: list[Candidate]) -> None:
    approx = [c for c in default_candidates if c.phase == "LiMg-bcc-x25"]
    assert approx and all(c.structure.is_ordered for c in approx)
    thermo = next(c for c in approx if "thermo" in c.purposes)
    assert thermo.structure.composition.reduced_formula == "Li3Mg"
    assert "random ordering seed=0" in thermo.method


def test_deterministic_json(default_candidates: list[Candidate]) -> None:
    again = generate_candidates(load_campaign(ROOT / "candidates.yaml"))
    assert candidates_to_json(again) == candidates_to_json(default_candidates)
    ids = [c.id for c in again]
    assert len(ids) == len(set(ids))
    back = Candidate.model_validate_json(default_candidates[4].model_dump_json())
    assert back.structure == default_candidates[4].structure


def test_quick_preset_is_small() -> None:
    cands = generate_candidates(load_campaign(ROOT / "candidates.yaml"), "quick")
    assert max(c.n_atoms for c in cands) <= 200
    assert any(c.id.startswith("Li-Sb/Li3Sb/2x2x2/vac1/") for c in cands)


def test_write_tree(tmp_path: Path, default_candidates: list[Candidate]) -> None:
    subset = [c for c in default_candidates if c.system == "Li-Sb"]
    out = write_candidates(subset, tmp_path / "out")
    d = out / "Li-Sb" / "Li3Sb" / "2x2x2" / "vac4" / "seed0"
    assert {p.name for p in d.iterdir()} == {
        "POSCAR",
        "structure.cif",
        "structure.extxyz",
        "candidate.json",
    }
    from ase.io import read

    assert len(read(d / "structure.extxyz")) == 124
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
