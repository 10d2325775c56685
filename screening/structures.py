"""Structure library: crystallographic data with citations → pymatgen ``Structure``.

Phases come from ``screening/data/phases.yaml`` (space group, lattice, Wyckoff sites, citation,
cited density), from a CIF/POSCAR file (``structure_file``) or, optionally, from the Materials
Project (``mp_id``; needs ``mp_api`` and ``MP_API_KEY``, never used by the default campaign).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import spglib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pymatgen.core import Composition, Element, Lattice, Structure

from screening.errors import InputError

logger = logging.getLogger(__name__)

#: the shipped library
LIBRARY_PATH = Path(__file__).parent / "data" / "phases.yaml"


class LatticeSpec(BaseModel):
    """Lattice parameters in Å and degrees; missing b/c/angles follow from the crystal system."""

    model_config = ConfigDict(extra="forbid")

    a: float = Field(gt=0)
    b: float | None = Field(default=None, gt=0)
    c: float | None = Field(default=None, gt=0)
    alpha: float | None = Field(default=None, gt=0, lt=180)
    beta: float | None = Field(default=None, gt=0, lt=180)
    gamma: float | None = Field(default=None, gt=0, lt=180)

    def to_lattice(self, spacegroup_number: int) -> Lattice:
        """Build the conventional lattice; hexagonal/trigonal groups default to gamma = 120°."""
        hexagonal = 143 <= spacegroup_number <= 194
        b = self.b if self.b is not None else self.a
        c = self.c if self.c is not None else self.a
        alpha = self.alpha if self.alpha is not None else 90.0
        beta = self.beta if self.beta is not None else 90.0
        gamma = self.gamma if self.gamma is not None else (120.0 if hexagonal else 90.0)
        return Lattice.from_parameters(self.a, b, c, alpha, beta, gamma)


class SiteSpec(BaseModel):
    """One Wyckoff site: species (symbol or {symbol: occupancy}) and fractional coordinates."""

    model_config = ConfigDict(extra="forbid")

    species: str | dict[str, float]
    wyckoff: str | None = None
    coords: tuple[float, float, float]

    @field_validator("species")
    @classmethod
    def _known_elements(cls, value: str | dict[str, float]) -> str | dict[str, float]:
        symbols = [value] if isinstance(value, str) else list(value)
        for sym in symbols:
            if not Element.is_valid_symbol(sym):
                raise ValueError(f"unknown element {sym!r}")
        if isinstance(value, dict) and not 0 < sum(value.values()) <= 1 + 1e-6:
            raise ValueError("occupancies must sum to (0, 1]")
        return value


class PhaseEntry(BaseModel):
    """A library phase with its citation; exactly one of sites / structure_file / mp_id."""

    model_config = ConfigDict(extra="forbid")

    formula: str
    spacegroup: str | None = None
    spacegroup_number: int | None = Field(default=None, ge=1, le=230)
    lattice: LatticeSpec | None = None
    sites: list[SiteSpec] | None = None
    structure_file: str | None = None
    mp_id: str | None = None
    density_g_cm3: float | None = Field(default=None, gt=0)
    citation: str
    notes: str | None = None

    @property
    def disordered(self) -> bool:
        """True when any site has partial or mixed occupancy."""
        return any(isinstance(s.species, dict) for s in self.sites or [])


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_phase_library(path: str | Path | None = None) -> dict[str, PhaseEntry]:
    """Read a phase library yaml (default: the shipped one) into validated entries."""
    path = Path(path) if path is not None else LIBRARY_PATH
    return dict(_load_library_cached(str(path.resolve())))


@functools.lru_cache(maxsize=8)
def _load_library_cached(path: str) -> tuple[tuple[str, PhaseEntry], ...]:
    from screening.safe_yaml import load_yaml

    file = Path(path)
    if not file.is_file():
        raise InputError("phase library not found", file=file, field="phase_library")
    raw = load_yaml(file, field="phase_library")
    if not isinstance(raw, dict):
        raise InputError("a phase library must be a mapping name -> phase", file=file)
    entries = []
    for name, data in raw.items():
        try:
            entries.append((str(name), PhaseEntry.model_validate(data)))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InputError(
                err["msg"], file=file, field=_format_loc((str(name), *err["loc"]))
            ) from exc
    return tuple(entries)


def build_structure(
    entry: PhaseEntry,
    *,
    base_dir: str | Path | None = None,
    file: str | Path | None = None,
    field: str | None = None,
) -> Structure:
    """Conventional-cell ``Structure`` for ``entry`` (disordered entries keep partial occupancy).

    ``base_dir`` resolves a relative ``structure_file``; ``file``/``field`` name the source in
    errors.
    """
    if entry.structure_file is not None:
        return read_structure_file(entry.structure_file, base_dir=base_dir, file=file, field=field)
    if entry.sites is None and entry.mp_id is not None:
        # mp_id next to cited sites is a cross-check label only; fetch only when it is the source
        return structure_from_mp(entry.mp_id, file=file, field=field)
    if not (entry.sites and entry.lattice and entry.spacegroup and entry.spacegroup_number):
        raise InputError(
            "a phase needs spacegroup, spacegroup_number, lattice and sites, or structure_file, "
            "or mp_id",
            file=file,
            field=field,
        )
    lattice = entry.lattice.to_lattice(entry.spacegroup_number)
    species = [s.species for s in entry.sites]
    coords = [list(s.coords) for s in entry.sites]
    if _normalise_symbol(entry.spacegroup) != _normalise_symbol(
        spacegroup_symbol(entry.spacegroup_number)
    ):
        raise InputError(
            f"space group symbol {entry.spacegroup!r} does not match number "
            f"{entry.spacegroup_number} ({spacegroup_symbol(entry.spacegroup_number)})",
            file=file,
            field=field,
        )
    structure = expand_wyckoff(entry.spacegroup_number, lattice, species, coords)
    # Put sites in a canonical order (by species, then position) so ids and indices are stable.
    return structure.get_sorted_structure()


def _normalise_symbol(symbol: str) -> str:
    return symbol.replace("_", "").replace(" ", "").lower()


@functools.lru_cache(maxsize=1)
def _default_hall_numbers() -> dict[int, int]:
    """ITA number → spglib Hall number of the default setting (the first one listed).

    The defaults are those of the International Tables as used by pymatgen's
    ``Structure.from_spacegroup``: hexagonal axes for R groups, origin choice 1 for the two-origin
    groups (e.g. Fd-3m with Si 8a at 0,0,0).
    """
    out: dict[int, int] = {}
    for hall in range(1, 531):
        number = spglib.get_spacegroup_type(hall).number
        out.setdefault(number, hall)
    return out


def spacegroup_symbol(number: int) -> str:
    """International short symbol of the default setting of an ITA space group."""
    hall = _default_hall_numbers()[number]
    return spglib.get_spacegroup_type(hall).international_short


@functools.lru_cache(maxsize=64)
def _symmetry_ops(number: int) -> tuple[np.ndarray, np.ndarray]:
    sym = spglib.get_symmetry_from_database(_default_hall_numbers()[number])
    return sym["rotations"], sym["translations"]


def expand_wyckoff(
    spacegroup_number: int,
    lattice: Lattice,
    species: list[Any],
    coords: list[list[float]],
    tol: float = 1e-3,
) -> Structure:
    """Apply the space-group operations to the asymmetric unit (as ``Structure.from_spacegroup``).

    Same result as pymatgen's ``Structure.from_spacegroup`` (tests compare them) but with spglib's
    operation table, which is ~100x faster than building pymatgen's ``SpaceGroup`` for cubic groups.
    """
    rotations, translations = _symmetry_ops(spacegroup_number)
    all_species: list[Any] = []
    all_coords: list[np.ndarray] = []
    for sp, xyz in zip(species, coords, strict=True):
        images = (rotations @ np.asarray(xyz, dtype=float)) + translations
        images -= np.floor(images + tol / 2)  # wrap into [0, 1)
        unique: list[np.ndarray] = []
        for img in images:
            if not any(_periodic_close(img, u, tol) for u in unique):
                unique.append(img)
        all_species.extend([sp] * len(unique))
        all_coords.extend(unique)
    return Structure(lattice, all_species, np.array(all_coords))


def _periodic_close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    d = a - b
    d -= np.round(d)
    return bool(np.all(np.abs(d) < tol))


def read_structure_file(
    path: str | Path,
    *,
    base_dir: str | Path | None = None,
    file: str | Path | None = None,
    field: str | None = None,
) -> Structure:
    """Read a CIF/POSCAR/any pymatgen-readable file; relative paths resolve against ``base_dir``."""
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    if not p.is_file():
        raise InputError(f"structure file {str(p)!r} does not exist", file=file, field=field)
    try:
        return Structure.from_file(p).get_sorted_structure()
    except Exception as exc:  # pymatgen raises many types for unreadable files
        raise InputError(
            f"cannot read structure file {str(p)!r}: {exc}", file=file, field=field
        ) from None


def structure_from_mp(
    mp_id: str, *, file: str | Path | None = None, field: str | None = None
) -> Structure:
    """Fetch a conventional structure from the Materials Project (optional; needs network + key)."""
    key = os.environ.get("MP_API_KEY")
    if not key:
        raise InputError(
            f"mp_id {mp_id!r} needs the MP_API_KEY environment variable (and network access)",
            file=file,
            field=field,
        )
    try:
        from mp_api.client import MPRester  # optional dependency
    except ImportError as exc:
        raise InputError(
            f"mp_id {mp_id!r} needs the optional package mp-api (pip install mp-api)",
            file=file,
            field=field,
        ) from exc
    with MPRester(key) as mpr:
        structure = mpr.get_structure_by_material_id(mp_id, conventional_unit_cell=True)
    return structure.get_sorted_structure()


def composition_matches(structure: Structure, formula: str, tol: float = 1e-3) -> bool:
    """Whether the structure's (possibly fractional) composition has the formula's ratios."""
    a = structure.composition.fractional_composition
    b = Composition(formula).fractional_composition
    return a.almost_equals(b, rtol=0, atol=tol)


__all__ = [
    "LIBRARY_PATH",
    "LatticeSpec",
    "PhaseEntry",
    "SiteSpec",
    "build_structure",
    "composition_matches",
    "expand_wyckoff",
    "load_phase_library",
    "read_structure_file",
    "spacegroup_symbol",
    "structure_from_mp",
]
