"""Crystal phases to sample: a built-in table of Li–M phases and the campaign's phase library.

Phases come in small cells (≤ 64 atoms): the library's ordered entries of
:mod:`screening.structures` (primitive cell when the conventional one is larger), or the built-in
table below (standard lattice parameters, sources cited per phase). :func:`select_phases` picks the
set a run samples from its settings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import bulk

from potentials.distill.settings import DistillSettings
from screening.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Phase:
    """One crystal phase used to generate training data."""

    label: str
    system: str  # chemical system, e.g. "Li-Sb"
    atoms: Atoms
    lithiated: bool  # True for Li-containing phases (used for MD stability checks)
    source: str


def _from_spacegroup(
    sg: str, lattice: Sequence[float], species: Sequence[str], coords: Sequence[Sequence[float]]
) -> Atoms:
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    a, b, c, al, be, ga = lattice
    struct = Structure.from_spacegroup(
        sg, Lattice.from_parameters(a, b, c, al, be, ga), list(species), [list(x) for x in coords]
    )
    return AseAtomsAdaptor.get_atoms(struct)


def _random_bcc_alloy(a: float, rep: int, li_fraction: float, other: str, seed: int) -> Atoms:
    """A bcc solid solution with Li on a fixed fraction of sites (chemically disordered)."""
    atoms = bulk("Li", "bcc", a=a, cubic=True).repeat((rep, rep, rep))
    rng = np.random.default_rng(seed)
    n = len(atoms)
    n_other = round(n * (1.0 - li_fraction))
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[rng.choice(n, size=n_other, replace=False)] = other
    atoms.set_chemical_symbols(list(symbols))
    return atoms


def builtin_phases() -> list[Phase]:
    """Built-in phase table (small cells). Lattice parameters are room-temperature experimental
    values; positions are ideal Wyckoff positions (the teacher relaxes them before sampling)."""
    phases: list[Phase] = []

    def add(label: str, system: str, atoms: Atoms, lithiated: bool, source: str) -> None:
        atoms.info["system"] = label
        phases.append(Phase(label, system, atoms, lithiated, source))

    # Li-Sb
    add(
        "Li3Sb",
        "Li-Sb",
        _from_spacegroup(
            "Fm-3m",
            (6.572,) * 3 + (90,) * 3,
            ["Sb", "Li", "Li"],
            [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]],
        ),
        True,
        "Fm-3m BiF3-type, a = 6.572 Å (Brauer & Zintl, Z. phys. Chem. B 37, 323 (1937))",
    )
    # Li2Sb (P-62m, 18-atom cell) is taken from screening.structures when available; the built-in
    # surrogate is Li3Sb with the octahedral (4b) Li removed: Li2Sb composition, Sb fcc sublattice.
    add(
        "Li2Sb",
        "Li-Sb",
        _from_spacegroup(
            "Fm-3m", (6.50,) * 3 + (90,) * 3, ["Sb", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]]
        ),
        True,
        "surrogate: antifluorite Li2Sb (Li3Sb without 4b Li), a = 6.50 Å; not the P-62m phase",
    )
    add(
        "Sb",
        "Li-Sb",
        _from_spacegroup("R-3m", (4.3084, 4.3084, 11.274, 90, 90, 120), ["Sb"], [[0, 0, 0.2335]]),
        False,
        "A7 (R-3m), a = 4.308, c = 11.274 Å, z = 0.2335 (Barrett, Cucka & Haefner, Acta Cryst. "
        "16, 451 (1963))",
    )
    # Li-Mg
    add(
        "LiMg",
        "Li-Mg",
        _from_spacegroup(
            "Pm-3m", (3.48,) * 3 + (90,) * 3, ["Li", "Mg"], [[0, 0, 0], [0.5] * 3]
        ).repeat((2, 2, 2)),
        True,
        "B2-ordered LiMg on the bcc Li-Mg lattice, a = 3.48 Å (Vegard estimate for bcc Li-Mg)",
    )
    add(
        "Li3Mg",
        "Li-Mg",
        _random_bcc_alloy(3.46, 2, 0.75, "Mg", seed=3),
        True,
        "bcc Li-Mg solid solution, 75 at.% Li, random on a 2x2x2 cubic cell, a = 3.46 Å",
    )
    add(
        "Mg",
        "Li-Mg",
        bulk("Mg", "hcp", a=3.209, c=5.211).repeat((2, 2, 1)),
        False,
        "hcp, a = 3.209, c = 5.211 Å (Kittel, Intro. Solid State Physics, 8th ed.)",
    )
    # Li-Ag
    add(
        "LiAg",
        "Li-Ag",
        _from_spacegroup(
            "Pm-3m", (3.168,) * 3 + (90,) * 3, ["Li", "Ag"], [[0, 0, 0], [0.5] * 3]
        ).repeat((2, 2, 2)),
        True,
        "B2 (CsCl-type), a = 3.168 Å (Pearson's Handbook)",
    )
    add(
        "Ag",
        "Li-Ag",
        bulk("Ag", "fcc", a=4.086, cubic=True).repeat((2, 1, 1)),
        False,
        "fcc, a = 4.086 Å (Kittel)",
    )
    # Li-Si
    add(
        "Li15Si4",
        "Li-Si",
        _li15si4_primitive(),
        True,
        "I-43d, a = 10.685 Å, Si 16c x = 0.4585, Li 12a, Li 48e (0.1184, 0.1612, 0.9573) "
        "(Obrovac & Christensen, Electrochem. Solid-State Lett. 7, A93 (2004)); primitive cell",
    )
    add(
        "Si",
        "Li-Si",
        bulk("Si", "diamond", a=5.431, cubic=True),
        False,
        "diamond, a = 5.431 Å (Kittel)",
    )
    # Li-C
    add(
        "LiC6",
        "Li-C",
        _from_spacegroup(
            "P6/mmm", (4.305, 4.305, 3.706, 90, 90, 120), ["Li", "C"], [[0, 0, 0], [1 / 3, 0, 0.5]]
        ),
        True,
        "P6/mmm, a = 4.305, c = 3.706 Å (Guérard & Hérold, Carbon 13, 337 (1975))",
    )
    add(
        "LiC12",
        "Li-C",
        _from_spacegroup(
            "P6/mmm", (4.29, 4.29, 7.03, 90, 90, 120), ["Li", "C"], [[0, 0, 0], [1 / 3, 0, 0.25]]
        ),
        True,
        "stage-2 LiC12 in an AA-stacked P6/mmm cell, a = 4.29, c = 7.03 Å (Billaud et al., Mater. "
        "Res. Bull. 14, 857 (1979))",
    )
    add(
        "graphite",
        "Li-C",
        _from_spacegroup(
            "P6_3/mmc",
            (2.464, 2.464, 6.711, 90, 90, 120),
            ["C", "C"],
            [[0, 0, 0.25], [1 / 3, 2 / 3, 0.25]],
        ).repeat((2, 2, 1)),
        False,
        "AB graphite, a = 2.464, c = 6.711 Å (Trucano & Chen, Nature 258, 136 (1975))",
    )
    # elemental Li
    add(
        "Li",
        "Li",
        bulk("Li", "bcc", a=3.491, cubic=True).repeat((2, 2, 2)),
        True,
        "bcc, a = 3.491 Å (Kittel)",
    )
    return phases


def _li15si4_primitive() -> Atoms:
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    struct = Structure.from_spacegroup(
        "I-43d",
        Lattice.cubic(10.685),
        ["Si", "Li", "Li"],
        [[0.4585, 0.4585, 0.4585], [0.375, 0.0, 0.25], [0.1184, 0.1612, 0.9573]],
    )
    return AseAtomsAdaptor.get_atoms(struct.get_primitive_structure())


def library_phases(names: Sequence[str] | None = None, max_atoms: int = 64) -> list[Phase]:
    """Ordered phases of the campaign's phase library (:mod:`screening.structures`), in cells of at
    most ``max_atoms`` atoms (primitive cell when the conventional one is larger; phases whose
    primitive cell is still larger are skipped). Disordered (partial-occupancy) entries are skipped.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from screening import structures

    library = structures.load_phase_library()
    out: list[Phase] = []
    for name, entry in library.items():
        if (names is not None and name not in names) or entry.disordered or entry.sites is None:
            continue
        struct = structures.build_structure(entry)
        if len(struct) > max_atoms:
            struct = struct.get_primitive_structure()
        if len(struct) > max_atoms:
            log.info("skipping %s: %d atoms > %d", name, len(struct), max_atoms)
            continue
        atoms = AseAtomsAdaptor.get_atoms(struct)
        rep = [1, 1, 1]
        while len(atoms) * rep[0] * rep[1] * rep[2] < 8:  # tiny cells: too few distinct neighbours
            lengths = atoms.cell.lengths() * rep
            rep[int(np.argmin(lengths))] += 1
        atoms = atoms.repeat(rep)
        atoms.info["system"] = name
        elements = sorted(set(atoms.get_chemical_symbols()))
        system = (
            "-".join(["Li", *[e for e in elements if e != "Li"]])
            if "Li" in elements
            else (elements[0])
        )
        out.append(Phase(name, system, atoms, "Li" in elements, entry.citation))
    return out


def mixed_phases() -> list[Phase]:
    """The library's ordered phases (real structures, e.g. P-62c Li2Sb and every Li–Si phase) plus
    the built-in phases whose composition the library lacks (Li3Mg: the Li-rich bcc alloy)."""
    library = library_phases()
    known = {p.atoms.get_chemical_formula(empirical=True) for p in library}
    builtin = builtin_phases()
    extra = [p for p in builtin if p.atoms.get_chemical_formula(empirical=True) not in known]
    return library + extra


def select_phases(settings: DistillSettings) -> list[Phase]:
    """Phases to sample: the campaign's (``candidates``), else by ``phase_source``, then
    restricted to ``phases`` when given."""
    if settings.candidates is not None:
        # the campaign's own phases (library entries of its systems and references)
        from screening.campaign import load_campaign

        campaign = load_campaign(settings.candidates)
        names: list[str] = []
        specs = [r.phase for r in campaign.references]
        for item in [*specs, *(p for s in campaign.systems for p in s.phases)]:
            key = getattr(item, "library", None) or getattr(item, "name", None)
            if key:
                names.append(str(key))
        phases = library_phases(names)
        if not phases:
            raise InputError(
                "no ordered library phases found in the campaign", file=settings.candidates
            )
    elif settings.phase_source == "campaign":
        phases = library_phases()
    elif settings.phase_source == "builtin":
        phases = builtin_phases()
    elif settings.phase_source == "mixed":
        phases = mixed_phases()
    else:
        raise InputError(
            f"unknown phase source '{settings.phase_source}'",
            field="phase_source",
            allowed=["mixed", "builtin", "campaign"],
        )
    if settings.phases:
        known = {p.label for p in phases}
        bad = [p for p in settings.phases if p not in known]
        if bad:
            raise InputError(f"unknown phase(s) {bad}", field="phases", allowed=sorted(known))
        phases = [p for p in phases if p.label in settings.phases]
    return phases


def unseen_library_phases(relaxed: dict[str, Atoms]) -> list[Phase]:
    """Ordered library phases whose formula (reduced) is not among the trained phases, plus the
    library's Li2Sb when the trained Li2Sb is the built-in antifluorite surrogate."""
    library = library_phases()
    trained = {Atoms(a).get_chemical_formula(empirical=True) for a in relaxed.values()}
    elements = {s for a in relaxed.values() for s in a.get_chemical_symbols()}
    return [
        p
        for p in library
        if set(p.atoms.get_chemical_symbols()) <= elements
        and (
            p.atoms.get_chemical_formula(empirical=True) not in trained
            or (p.label == "Li2Sb" and len(relaxed.get("Li2Sb", p.atoms)) != len(p.atoms))
        )
    ]
