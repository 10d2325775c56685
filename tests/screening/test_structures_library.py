"""Every shipped phase: composition, space group (spglib), density vs the cited value, distances."""

from __future__ import annotations

import itertools

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


def _si_si_coordination(s: Structure, cutoff: float = 2.6) -> list[int]:
    """Number of Si neighbours within ``cutoff`` of every Si (Zintl anion topology)."""
    si = [i for i, site in enumerate(s) if site.specie.symbol == "Si"]
    d = s.distance_matrix[np.ix_(si, si)] + np.eye(len(si)) * 99
    return sorted(int(n) for n in (d < cutoff).sum(axis=1))


def test_li2sb_sites_and_sb2_dumbbells() -> None:
    s = build_structure(LIBRARY["Li2Sb"])
    assert len(s) == 18 and s.composition.reduced_formula == "Li2Sb"
    sym = SpacegroupAnalyzer(s, symprec=1e-3).get_symmetrized_structure()
    wyck = sorted(
        (s[idx[0]].specie.symbol, w)
        for idx, w in zip(sym.equivalent_indices, sym.wyckoff_symbols, strict=True)
    )
    assert wyck == [("Li", "6g"), ("Li", "6h"), ("Sb", "2b"), ("Sb", "4f")]
    # 4f Sb pairs into Sb2 dumbbells (~2.85 A, close to the 2.91 A Sb-Sb bond of A7 Sb); the 2b Sb
    # has no Sb within bonding range (nearest: its 2b image at c/2 = 3.14 A). Wrong z(4f) or a
    # swapped setting would break this.
    sb = [i for i, site in enumerate(s) if site.specie.symbol == "Sb"]
    d = s.distance_matrix[np.ix_(sb, sb)] + np.eye(len(sb)) * 99
    bonded = sorted(int(n) for n in (d < 3.0).sum(axis=1))
    assert bonded == [0, 0, 1, 1, 1, 1]
    assert d.min() == pytest.approx(2.85, abs=0.02)


def test_li_si_zintl_anion_topology() -> None:
    # Zintl-Klemm picture, which the cited structures obey: LiSi has a three-bonded Si network
    # (Si-), Li12Si7 planar Si5 rings (2-bonded) plus Y-shaped Si4 stars (one 3-bonded centre,
    # three 1-bonded ends), Li7Si3 only Si2 dumbbells, Li13Si4 half dumbbells and half isolated
    # Si, Li15Si4 isolated Si4-.
    assert set(_si_si_coordination(build_structure(LIBRARY["LiSi"]))) == {3}
    coord = _si_si_coordination(build_structure(LIBRARY["Li12Si7"]))
    assert (coord.count(1), coord.count(2), coord.count(3)) == (12, 40, 4)
    assert set(_si_si_coordination(build_structure(LIBRARY["Li7Si3"]))) == {1}
    assert _si_si_coordination(build_structure(LIBRARY["Li13Si4"])) == [0] * 4 + [1] * 4
    assert set(_si_si_coordination(build_structure(LIBRARY["Li15Si4"]))) == {0}


@pytest.mark.parametrize(
    "host,phases",
    [
        ("Sb-A7", ["Li2Sb", "Li3Sb"]),
        ("Si-diamond", ["LiSi", "Li12Si7", "Li7Si3", "Li13Si4", "Li15Si4"]),
    ],
)
def test_volume_per_host_atom_grows_with_lithiation(host: str, phases: list[str]) -> None:
    def volume_per_m(name: str) -> tuple[float, float]:
        s = build_structure(LIBRARY[name])
        m = s.composition[LIBRARY[host].formula]
        return s.composition["Li"] / m, s.volume / m

    points = sorted([volume_per_m(host), *(volume_per_m(p) for p in phases)])
    x = [p[0] for p in points]
    v = [p[1] for p in points]
    assert len(set(x)) == len(x)
    assert all(b > a for a, b in itertools.pairwise(v))
    # Alloying contracts: on average each Li adds 10-18 A^3, less than in bcc Li (21.6 A^3/atom);
    # no single step exceeds Li metal by more than 10% (steps mix PBE-relaxed and measured cells).
    v_li = build_structure(LIBRARY["Li-bcc"]).volume / 2
    mean_slope = (v[-1] - v[0]) / (x[-1] - x[0])
    assert 10.0 < mean_slope < 18.0 < v_li
    slopes = [(v[i + 1] - v[i]) / (x[i + 1] - x[i]) for i in range(len(x) - 1)]
    assert all(8.0 < k < 1.1 * v_li for k in slopes), slopes
