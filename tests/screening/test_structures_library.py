"""Every shipped phase: composition, space group (spglib), density vs the cited value, distances."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from screening.errors import InputError
from screening.structures import (
    PhaseEntry,
    build_structure,
    composition_matches,
    expand_wyckoff,
    load_phase_library,
)

LIBRARY = load_phase_library()


def test_library_has_required_phases() -> None:
    for name in (
        "Li-bcc",
        "Li-fcc",
        "Sb-A7",
        "Mg-hcp",
        "Ag-fcc",
        "Si-diamond",
        "C-graphite",
        "Li3Sb",
        "Li15Si4",
        "LiC6",
        "LiC12",
        "LiAg-B2",
        "LiMg-B2",
    ):
        assert name in LIBRARY
    assert all(e.citation.strip() for e in LIBRARY.values())


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_shipped_phase(name: str) -> None:
    entry = LIBRARY[name]
    s = build_structure(entry)
    assert composition_matches(s, entry.formula)
    assert s.density == pytest.approx(entry.density_g_cm3, rel=0.01)
    if entry.disordered:
        return
    for symprec in (1e-3, 1e-2, 0.1):
        sga = SpacegroupAnalyzer(s, symprec=symprec)
        assert sga.get_space_group_number() == entry.spacegroup_number, symprec
    # no two atoms closer than a physical minimum (catches wrong Wyckoff data)
    d = s.distance_matrix + np.eye(len(s)) * 99
    assert d.min() > 1.3  # C-C in graphite 1.42 A is the shortest bond in the library


def test_expand_wyckoff_matches_pymatgen_from_spacegroup() -> None:
    lat = Lattice.cubic(6.5445)
    sp, xyz = ["Sb", "Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]]
    ours = expand_wyckoff(225, lat, sp, xyz)
    ref = Structure.from_spacegroup("Fm-3m", lat, sp, xyz)
    assert ours.matches(ref, scale=False)
    assert len(ours) == len(ref) == 16
    lat = Lattice.hexagonal(4.3084, 11.274)
    ours = expand_wyckoff(166, lat, ["Sb"], [[0, 0, 0.23349]])
    assert ours.matches(Structure.from_spacegroup("R-3m", lat, ["Sb"], [[0, 0, 0.23349]]))


def test_li3sb_wyckoff_sites() -> None:
    s = build_structure(LIBRARY["Li3Sb"])
    sym = SpacegroupAnalyzer(s, symprec=1e-3).get_symmetrized_structure()
    li = sorted(
        w
        for idx, w in zip(sym.equivalent_indices, sym.wyckoff_symbols, strict=True)
        if s[idx[0]].specie.symbol == "Li"
    )
    assert li == ["4b", "8c"]


def test_symbol_number_mismatch_is_input_error() -> None:
    bad = LIBRARY["Li-bcc"].model_copy(update={"spacegroup": "Fm-3m"})
    with pytest.raises(InputError, match="does not match number 229"):
        build_structure(bad, file="x.yaml", field="phases.Li-bcc")


def test_mp_id_without_key_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MP_API_KEY", raising=False)
    entry = PhaseEntry(formula="Li", mp_id="mp-135", citation="MP")
    with pytest.raises(InputError, match="MP_API_KEY"):
        build_structure(entry, file="c.yaml", field="systems[0].phases[0].mp_id")
