"""Candidate generator: systems × phases × supercells × Li-vacancy configurations.

Every candidate has a stable, readable id ``system/phase/supercell/vacN[/siteK|/seedS]``:

* ``Li/Li-bcc/1x1x1/vac0``                thermo cell of a reference/host/lithiated phase
* ``Li-Sb/Li3Sb/2x2x2/vac0``              pristine MD supercell of an IL candidate
* ``Li-Sb/Li3Sb/2x2x2/vac1/site0``        one vacancy on symmetry-distinct Li site 0
* ``Li-Sb/Li3Sb/2x2x2/vac4/seed0``        four vacancies drawn with ``default_rng(0)``
* ``Li-Mg/LiMg-bcc-x25-ord0/3x3x3/vac0``  ordered approximant (random ordering, seed 0)

Same campaign + seeds → identical ids and structures.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, field_serializer, field_validator
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from screening.campaign import (
    Campaign,
    OrderingSpec,
    PhaseSpec,
    SupercellPolicy,
    VacancyConfig,
)
from screening.errors import InputError
from screening.paths import id_path
from screening.structures import (
    PhaseEntry,
    build_structure,
    composition_matches,
    load_phase_library,
)

logger = logging.getLogger(__name__)

SYMPREC = 1e-3


class Candidate(BaseModel):
    """One structure to compute, with its provenance."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    id: str
    system: str
    phase: str
    role: Literal["reference", "host", "lithiated"]
    purposes: list[Literal["thermo", "md"]]
    il_candidate: bool
    formula: str
    n_atoms: int
    n_li: int
    spacegroup: str
    spacegroup_number: int | None
    supercell: list[list[int]]
    n_vacancies: int
    vacancy_sites: list[int]
    seed: int | None
    method: str
    citation: str
    structure: Structure

    @field_validator("structure", mode="before")
    @classmethod
    def _structure_from_dict(cls, v: Any) -> Any:
        return Structure.from_dict(v) if isinstance(v, dict) else v

    @field_serializer("structure")
    def _structure_to_dict(self, v: Structure) -> dict[str, Any]:
        return v.as_dict()

    @property
    def supercell_label(self) -> str:
        """'2x2x2' for diagonal matrices, else the flattened matrix."""
        return _label(self.supercell)


# ----------------------------------------------------------------------------- helpers


def _label(matrix: list[list[int]]) -> str:
    m = np.asarray(matrix)
    if np.count_nonzero(m - np.diag(np.diagonal(m))) == 0:
        return "x".join(str(int(v)) for v in np.diagonal(m))
    return "m" + "_".join(str(int(v)) for v in m.ravel())


def perpendicular_widths(structure: Structure) -> np.ndarray:
    """Distance between opposite faces of the cell along each lattice vector (Å)."""
    m = structure.lattice.matrix
    vol = abs(np.linalg.det(m))
    return np.array(
        [vol / np.linalg.norm(np.cross(m[(i + 1) % 3], m[(i + 2) % 3])) for i in range(3)]
    )


def supercell_matrix(structure: Structure, policy: SupercellPolicy) -> list[list[int]]:
    """Explicit matrix, or the smallest diagonal multiples whose widths reach ``min_width``."""
    if policy.matrix is not None:
        if all(isinstance(v, int) for v in policy.matrix):
            return [[int(policy.matrix[i]) if i == j else 0 for j in range(3)] for i in range(3)]
        return [[int(v) for v in row] for row in policy.matrix]  # type: ignore[union-attr]
    widths = perpendicular_widths(structure)
    mult = [max(1, math.ceil(policy.min_width / w - 1e-9)) for w in widths]  # type: ignore[operator]
    return [[mult[i] if i == j else 0 for j in range(3)] for i in range(3)]


def _spacegroup(structure: Structure) -> tuple[str, int | None]:
    if not structure.is_ordered:
        return "disordered", None
    sga = SpacegroupAnalyzer(structure, symprec=SYMPREC)
    return sga.get_space_group_symbol(), sga.get_space_group_number()


def order_randomly(structure: Structure, seed: int) -> Structure:
    """Seeded random ordering of partially occupied sites (counts rounded to whole atoms).

    Sites sharing the same species mapping are pooled, the rounded number of atoms of each species
    is drawn with ``default_rng(seed)``; vacancies in the occupancy become empty sites.
    """
    rng = np.random.default_rng(seed)
    pools: dict[str, list[int]] = {}
    for i, site in enumerate(structure):
        if not site.is_ordered:
            pools.setdefault(repr(sorted(site.species.as_dict().items())), []).append(i)
    species: list[Any] = [site.species for site in structure]
    drop: list[int] = []
    for key, idx in sorted(pools.items()):
        occ = structure[idx[0]].species.as_dict()
        n = len(idx)
        counts = {el: math.floor(frac * n + 0.5) for el, frac in sorted(occ.items())}
        # fix rounding so counts never exceed the pool; the largest fraction absorbs the rest
        excess = sum(counts.values()) - n
        if excess > 0:
            biggest = max(counts, key=lambda e: occ[e])
            counts[biggest] -= excess
        order = rng.permutation(idx)
        pos = 0
        for el, c in counts.items():
            for i in order[pos : pos + c]:
                species[i] = el
            pos += c
        drop.extend(int(i) for i in order[pos:])
        logger.debug("ordered pool %s: %s", key, counts)
    ordered = Structure(structure.lattice, species, structure.frac_coords)
    if drop:
        ordered.remove_sites(sorted(drop))
    return ordered.get_sorted_structure()


def _li_indices(structure: Structure) -> list[int]:
    return [i for i, s in enumerate(structure) if s.specie.symbol == "Li"]


def _distinct_li_groups(structure: Structure) -> list[tuple[list[int], str]]:
    """Symmetry-equivalent Li sites: (indices, Wyckoff symbol) per class, in index order."""
    sym = SpacegroupAnalyzer(structure, symprec=SYMPREC).get_symmetrized_structure()
    groups = []
    for idx, wyk in zip(sym.equivalent_indices, sym.wyckoff_symbols, strict=True):
        if structure[idx[0]].specie.symbol == "Li":
            groups.append((sorted(idx), wyk))
    return sorted(groups, key=lambda g: g[0][0])


# ----------------------------------------------------------------------------- generation


class _Where:
    """Names the yaml field a phase came from, for error messages."""

    def __init__(self, campaign: Campaign, field: str) -> None:
        self.file = campaign.source or "<campaign>"
        self.field = field

    def error(self, message: str, sub: str | None = None, allowed: Any = None) -> InputError:
        field = f"{self.field}.{sub}" if sub else self.field
        return InputError(message, file=self.file, field=field, allowed=allowed)


def _resolve_entry(spec: PhaseSpec, library: dict[str, PhaseEntry], where: _Where) -> PhaseEntry:
    if spec.structure_file is not None:
        return PhaseEntry(
            formula="",
            structure_file=spec.structure_file,
            citation=f"user file {spec.structure_file}",
        )
    if spec.mp_id is not None:
        return PhaseEntry(formula="", mp_id=spec.mp_id, citation=f"Materials Project {spec.mp_id}")
    key = spec.library or spec.name
    if key not in library:
        raise where.error(
            f"unknown library phase {key!r}",
            "library" if spec.library else "name",
            allowed=sorted(library),
        )
    return library[key]


def _parent_structure(
    spec: PhaseSpec, entry: PhaseEntry, campaign: Campaign, where: _Where
) -> Structure:
    sub = "structure_file" if spec.structure_file else ("mp_id" if spec.mp_id else None)
    field = f"{where.field}.{sub}" if sub else where.field
    structure = build_structure(entry, base_dir=campaign.base_dir, file=where.file, field=field)
    if entry.formula and not composition_matches(structure, entry.formula):
        raise where.error(
            f"built composition {structure.composition.formula} does not match {entry.formula}"
        )
    return structure


def _check_elements(structure: Structure, elements: Iterable[str], where: _Where) -> None:
    present = {el.symbol for el in structure.composition.elements}
    extra = present - set(elements)
    if extra:
        raise where.error(
            f"phase contains {', '.join(sorted(extra))}, not among the system's elements",
            allowed=sorted(elements),
        )


def _make(
    *,
    cid: str,
    system: str,
    spec: PhaseSpec,
    purpose: str,
    structure: Structure,
    parent_sg: tuple[str, int | None],
    matrix: list[list[int]],
    seed: int | None,
    method: str,
    citation: str,
    vac_sites: Sequence[int] = (),
) -> Candidate:
    comp = structure.composition
    return Candidate(
        id=cid,
        system=system,
        phase=spec.name,
        role=spec.role,
        purposes=[purpose],  # type: ignore[list-item]
        il_candidate=spec.md,
        formula=comp.formula.replace(" ", ""),
        n_atoms=len(structure),
        n_li=int(comp["Li"]),
        spacegroup=parent_sg[0],
        spacegroup_number=parent_sg[1],
        supercell=matrix,
        n_vacancies=len(vac_sites),
        vacancy_sites=list(vac_sites),
        seed=seed,
        method=method,
        citation=citation,
        structure=structure,
    )


def _phase_candidates(
    campaign: Campaign,
    system: str,
    elements: list[str],
    spec: PhaseSpec,
    library: dict[str, PhaseEntry],
    where: _Where,
    policy: tuple[SupercellPolicy, str],
    vacancies: tuple[list[VacancyConfig], str],
) -> list[Candidate]:
    entry = _resolve_entry(spec, library, where)
    parent = _parent_structure(spec, entry, campaign, where)
    _check_elements(parent, elements, where)
    out: list[Candidate] = []

    disordered = not parent.is_ordered
    ordering = spec.ordering or OrderingSpec()
    if disordered:
        parent_sg = (entry.spacegroup or "disordered", entry.spacegroup_number)
        variants = [(f"{spec.name}-ord{s}", s) for s in ordering.seeds]
    else:
        parent_sg = _spacegroup(parent)
        variants = [(spec.name, None)]

    make = partial(_make, system=system, spec=spec, parent_sg=parent_sg, citation=entry.citation)
    for label, oseed in variants:
        # thermo cell: the conventional cell (or the ordering cell of an approximant)
        if disordered:
            m = [[ordering.supercell[i] if i == j else 0 for j in range(3)] for i in range(3)]
            cell = order_randomly(parent.make_supercell(m, in_place=False), oseed)  # type: ignore[arg-type]
            method = f"seeded random ordering seed={oseed} of the disordered cell"
        else:
            m = [[1 if i == j else 0 for j in range(3)] for i in range(3)]
            cell, method = parent.copy(), "conventional cell from cited crystallographic data"
        thermo_id = f"{system}/{label}/{_label(m)}/vac0"
        out.append(
            make(
                cid=thermo_id, purpose="thermo", structure=cell, matrix=m, seed=oseed, method=method
            )
        )
        if not spec.md:
            continue

        pol, pol_field = policy
        m = supercell_matrix(parent, pol)
        n_expected = round(len(parent) * abs(np.linalg.det(np.asarray(m))))
        if n_expected > pol.max_atoms:
            raise InputError(
                f"supercell {_label(m)} of {spec.name} has {n_expected} atoms, more than "
                f"max_atoms={pol.max_atoms}",
                file=where.file,
                field=pol_field,
            )
        sc = parent.make_supercell(m, in_place=False)
        if disordered:
            sc = order_randomly(sc, oseed)  # type: ignore[arg-type]
            base_method = f"seeded random ordering seed={oseed}; "
        else:
            base_method = ""
        sc_label = _label(m)
        prefix = f"{system}/{label}/{sc_label}"
        # MD cells of this supercell as (id suffix, removed Li sites, seed, method); the pristine
        # one is a cell with no vacancies, unless it equals the thermo cell, which then serves both
        md_cells: list[tuple[str, list[int], int | None, str]] = []
        if f"{prefix}/vac0" == thermo_id:
            out[-1].purposes.append("md")
        else:
            md_cells.append(("vac0", [], oseed, base_method + "pristine supercell"))
        li = _li_indices(sc)
        vac_list, vac_field = vacancies
        for k, vc in enumerate(vac_list):
            if vc.count > len(li):
                raise InputError(
                    f"{vc.count} vacancies requested but the {sc_label} supercell of {spec.name} "
                    f"has only {len(li)} Li atoms",
                    file=where.file,
                    field=f"{vac_field}[{k}].count",
                )
            mode = vc.effective_mode
            fallback = ""  # per vacancy setting: a fallback note must not leak into the next one
            if mode == "distinct":
                groups = _distinct_li_groups(sc)
                if len(groups) <= vc.max_distinct:
                    for g, (idx, wyk) in enumerate(groups):
                        how = (
                            f"symmetry-distinct vacancy site {g} of {len(groups)} "
                            f"(Wyckoff {wyk} of the supercell, {len(idx)} equivalent)"
                        )
                        md_cells.append(
                            (f"vac{vc.count}/site{g}", [idx[0]], oseed, base_method + how)
                        )
                else:
                    mode = "random"
                    fallback = (
                        f"{len(groups)} distinct Li sites > max_distinct="
                        f"{vc.max_distinct}, sampled instead; "
                    )
            if mode == "random":
                for s in vc.seeds:
                    rng = np.random.default_rng(s)
                    sites = sorted(int(i) for i in rng.choice(li, size=vc.count, replace=False))
                    how = f"seeded random Li vacancies default_rng({s})"
                    md_cells.append(
                        (f"vac{vc.count}/seed{s}", sites, s, base_method + fallback + how)
                    )
        for suffix, sites, seed, cell_method in md_cells:
            st = sc.copy()
            st.remove_sites(sites)
            out.append(
                make(
                    cid=f"{prefix}/{suffix}",
                    purpose="md",
                    structure=st,
                    matrix=m,
                    vac_sites=sites,
                    seed=seed,
                    method=cell_method,
                )
            )
    return out


def _setting(
    name: str,
    preset: tuple[Any, str],
    phase: tuple[PhaseSpec, str],
    system: tuple[Any, str] | None,
    campaign: Campaign,
) -> tuple[Any, str]:
    """(value, field) of setting ``name`` by precedence preset > phase > system > campaign.

    The preset and phase layers are (object, field prefix); the system layer is (value, field) or
    None for a reference. The field says where a bad value came from.
    """
    layers = [
        (getattr(preset[0], name), f"{preset[1]}.{name}"),
        (getattr(phase[0], name), f"{phase[1]}.{name}"),
        system,
        (getattr(campaign, name), name),
    ]
    return next(layer for layer in layers if layer is not None and layer[0] is not None)


def generate_candidates(campaign: Campaign, preset: str | None = None) -> list[Candidate]:
    """All candidates of a campaign under a preset (default: the campaign's default preset)."""
    p = campaign.preset(preset)
    library = load_phase_library()
    if campaign.phase_library is not None:
        path = campaign.base_dir / campaign.phase_library
        if not path.is_file():
            raise InputError(
                f"phase library {str(path)!r} does not exist",
                file=campaign.source or "<campaign>",
                field="phase_library",
            )
        library.update(load_phase_library(path))

    jobs: list[tuple[str, list[str], PhaseSpec, str, Any, Any]] = []
    for r, ref in enumerate(campaign.references):
        jobs.append((ref.element, [ref.element], ref.phase, f"references[{r}].phase", None, None))
    for i, system in enumerate(campaign.systems):
        for j, spec in enumerate(system.phases):
            jobs.append(
                (
                    system.name,
                    system.elements,
                    spec,
                    f"systems[{i}].phases[{j}]",
                    (system.supercell, f"systems[{i}].supercell"),
                    (system.vacancies, f"systems[{i}].vacancies"),
                )
            )

    candidates: list[Candidate] = []
    seen: dict[str, str] = {}
    for system, elements, spec, field, sys_sc, sys_vac in jobs:
        where = _Where(campaign, field)
        preset_layer = (p, f"presets.{preset or campaign.default_preset}")
        policy = _setting("supercell", preset_layer, (spec, field), sys_sc, campaign)
        vacancies = _setting("vacancies", preset_layer, (spec, field), sys_vac, campaign)
        for cand in _phase_candidates(
            campaign, system, elements, spec, library, where, policy, vacancies
        ):
            if cand.id in seen:
                raise InputError(
                    f"duplicate candidate id {cand.id!r} (also from {seen[cand.id]})",
                    file=where.file,
                    field=f"{field}.name",
                )
            seen[cand.id] = field
            candidates.append(cand)
    logger.info("generated %d candidates", len(candidates))
    return candidates


# ----------------------------------------------------------------------------- output


def candidates_to_json(candidates: list[Candidate], *, with_structures: bool = True) -> str:
    """Stable JSON list (sorted keys) of the candidates."""
    exclude = None if with_structures else {"structure"}
    rows = [c.model_dump(mode="json", exclude=exclude) for c in candidates]
    return json.dumps(rows, sort_keys=True, indent=1)


def write_candidates(candidates: list[Candidate], directory: str | Path) -> Path:
    """Write POSCAR, CIF and extxyz per candidate under ``directory/<id>/``, atomically.

    Everything goes to a temporary sibling directory that is renamed into place at the end, so an
    error never leaves a half-written tree. ``directory`` must not exist or be empty.
    """
    from ase.io import write as ase_write
    from pymatgen.io.ase import AseAtomsAdaptor

    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError("output directory exists and is not empty", file=target, field="--write")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        for c in candidates:
            sub = id_path(tmp, c.id)
            sub.mkdir(parents=True, exist_ok=False)
            c.structure.to(filename=str(sub / "POSCAR"), fmt="poscar")
            c.structure.to(filename=str(sub / "structure.cif"), fmt="cif")
            atoms = AseAtomsAdaptor.get_atoms(c.structure)
            ase_write(sub / "structure.extxyz", atoms, format="extxyz")
            (sub / "candidate.json").write_text(
                json.dumps(
                    c.model_dump(mode="json", exclude={"structure"}), indent=1, sort_keys=True
                )
            )
        (tmp / "candidates.json").write_text(candidates_to_json(candidates, with_structures=False))
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


__all__ = [
    "Candidate",
    "candidates_to_json",
    "generate_candidates",
    "order_randomly",
    "perpendicular_widths",
    "supercell_matrix",
    "write_candidates",
]
