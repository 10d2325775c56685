"""Thermodynamics of a Li–M system: hull, formation energies, voltage plateaus, volume change.

Input is one :class:`PhaseEnergy` per relaxed bulk phase (elemental references included), all
from the same engine and potential. Output is a :class:`SystemThermo` document.

Conventions
-----------
* ``x`` is the number of Li per host atom M (LixM); the host element is x = 0.
* Voltage of the step between neighbouring hull phases LiyM → LixM (x > y), per Li, vs Li+/Li::

      V = -(E[LixM] - E[LiyM] - (x - y)·E[Li]) / (x - y)

  with E per formula unit of one M and E[Li] the energy per atom of the lowest-energy Li reference.
  This is the same number as pymatgen's ``InsertionElectrode`` (checked in the tests).
* Volume change of a step is relative, per M atom: (v_x - v_y) / v_y with v = cell volume / n_M.
* Energies are raw engine energies unless the engine is VASP with PBE, in which case pymatgen's
  ``MaterialsProject2020Compatibility`` is applied to every entry (anion corrections, e.g.
  −0.192 eV/Sb in Li–Sb compounds), so that the numbers compare with Materials Project. The result
  says which was used (``corrections``). Energies of different engines/potentials are never mixed.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, field_validator

from screening.atomic import atomic_path
from screening.errors import InputError

if TYPE_CHECKING:  # pymatgen is imported where used: result documents load without it (fast CLI)
    from pymatgen.core import Composition

log = logging.getLogger(__name__)

#: a phase is "on the hull" when its energy above hull is below this (numerical noise only)
ON_HULL_TOL_EV_ATOM = 1e-6

#: engines whose energies are VASP/PBE-compatible with Materials Project corrections
_MP_ENGINES = {"vasp"}
_MP_FUNCTIONALS = {"pbe", "gga"}


class PhaseEnergy(BaseModel):
    """Total energy of one relaxed bulk phase, as produced by a relaxation job."""

    system: str = Field(description="Li–M system, e.g. 'Li-Sb'")
    phase: str = Field(description="phase label, unique in the system, e.g. 'Li3Sb'")
    formula: str = Field(description="cell or reduced formula; scaled to n_atoms if reduced")
    energy_eV: float = Field(description="total energy of the cell (eV)")
    n_atoms: int = Field(gt=0)
    volume_A3: float = Field(gt=0, description="cell volume (Å³)")
    engine: str = Field(description="'mlip', 'vasp', 'dft', ...")
    potential: str | None = Field(default=None, description="potential spec, e.g. 'mace:small'")
    functional: str | None = Field(default=None, description="XC functional for DFT engines")
    relaxed: bool = True
    max_force_eV_A: float | None = None
    source_id: str | None = Field(default=None, description="job / candidate id it came from")

    @field_validator("engine")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()

    def cell_composition(self) -> Composition:
        """Composition of the whole cell (a reduced formula is scaled up to ``n_atoms``)."""
        from pymatgen.core import Composition

        comp = Composition(self.formula)
        n = comp.num_atoms
        if abs(n - self.n_atoms) < 1e-6:
            return comp
        factor = self.n_atoms / n
        if abs(factor - round(factor)) > 1e-6:
            raise InputError(
                f"phase {self.phase!r}: formula {self.formula} does not fit n_atoms={self.n_atoms}",
                field="formula",
            )
        return comp * round(factor)


class PhaseThermo(BaseModel):
    """Thermodynamic numbers of one phase in its Li–M system."""

    phase: str
    formula: str = Field(description="reduced formula")
    x_li_per_m: float | None = Field(description="Li per host atom; None for elemental Li")
    li_fraction: float = Field(description="atomic fraction of Li")
    energy_per_atom_eV: float = Field(description="(corrected) energy per atom used in the hull")
    correction_eV_atom: float = 0.0
    formation_energy_eV_atom: float
    e_above_hull_eV_atom: float
    on_hull: bool
    volume_per_atom_A3: float
    volume_per_m_A3: float | None
    formation_voltage_V: float | None = Field(
        default=None,
        description="voltage of forming this phase from its delithiated hull neighbour "
        "(= the plateau voltage for a hull phase)",
    )
    delithiated_neighbour: str | None = None
    neighbour_e_above_hull_eV_atom: float | None = None
    volume_change_step: float | None = Field(
        default=None, description="relative volume change per M from the delithiated neighbour"
    )
    volume_change_from_host: float | None = None
    relaxed: bool = True
    max_force_eV_A: float | None = None
    source_id: str | None = None


class VoltagePlateau(BaseModel):
    """Two-phase plateau between neighbouring hull phases (x_from < x_to)."""

    x_from: float
    x_to: float
    phase_from: str
    phase_to: str
    voltage_V: float
    volume_change: float = Field(description="relative volume change per M over the step")


class SystemThermo(BaseModel):
    """Hull, formation energies and voltage profile of one Li–M system for one engine."""

    system: str
    host: str = Field(description="host element M")
    engine: str
    potential: str | None
    corrections: str = Field(description="'MP2020 ...' or 'uncorrected ...'")
    li_reference: str
    host_reference: str
    phases: list[PhaseThermo]
    plateaus: list[VoltagePlateau]
    average_voltage_V: float | None
    full_lithiation_phase: str | None
    full_lithiation_volume_change: float | None

    def phase(self, name: str) -> PhaseThermo:
        """The phase called ``name``."""
        for p in self.phases:
            if p.phase == name:
                return p
        raise KeyError(name)


class ThermoSummary(BaseModel):
    """Thermodynamic numbers of one candidate's phase (from :class:`SystemThermo`).

    Stored as ``thermo`` in a candidate's result document and read by the ranking as is, so the
    numbers are declared once for both.
    """

    formation_energy_eV_atom: float | None = None
    e_above_hull_eV_atom: float | None = None
    on_hull: bool | None = None
    voltage_V: float | None = Field(None, description="potential of the step forming the phase")
    delithiated_neighbour: str | None = None
    neighbour_e_above_hull_eV_atom: float | None = None
    volume_change_step: float | None = None
    volume_change_from_host: float | None = None
    x_li_per_m: float | None = None
    volume_per_atom_A3: float | None = Field(None, description="relaxed (σ_e free-electron n)")
    corrections: str | None = None

    @classmethod
    def from_phase(cls, thermo: SystemThermo, phase: str) -> ThermoSummary:
        """Pick ``phase`` out of a system's thermo document.

        Fields named as in :class:`PhaseThermo` are the same numbers and are copied by name; only
        the voltage (``formation_voltage_V`` there) and the system-wide corrections differ.
        """
        p = thermo.phase(phase)
        same_name = p.model_dump(include=set(cls.model_fields))
        return cls(**same_name, voltage_V=p.formation_voltage_V, corrections=thermo.corrections)


def _system_elements(system: str) -> tuple[str, str]:
    from pymatgen.core import Element

    parts = [p.strip() for p in system.split("-")]
    if len(parts) != 2 or "Li" not in parts:
        raise InputError(f"system {system!r} is not a Li–M pair", field="system", allowed="Li-M")
    host = parts[1] if parts[0] == "Li" else parts[0]
    try:
        Element(host)
    except ValueError as exc:
        raise InputError(f"unknown host element {host!r}", field="system") from exc
    return "Li", host


def _check_same_engine(phases: Sequence[PhaseEnergy]) -> tuple[str, str | None]:
    first = phases[0]
    for p in phases[1:]:
        if p.engine != first.engine or p.potential != first.potential:
            raise InputError(
                "cannot mix energies of different engines/potentials in one hull: "
                f"{first.phase!r} from engine={first.engine!r} potential={first.potential!r}, "
                f"{p.phase!r} from engine={p.engine!r} potential={p.potential!r}",
                field="engine",
            )
    return first.engine, first.potential


def _use_mp2020(phases: Sequence[PhaseEnergy]) -> bool:
    p = phases[0]
    return p.engine in _MP_ENGINES and (p.functional or "PBE").lower() in _MP_FUNCTIONALS


def build_system_thermo(
    phases: Sequence[PhaseEnergy], *, mp2020: bool | None = None
) -> SystemThermo:
    """Hull, formation energies, plateaus and volume changes of one Li–M system.

    ``mp2020``: force (True) or suppress (False) MP2020 corrections; default applies them only to
    VASP/PBE energies. Raises :class:`InputError` on mixed engines, foreign elements, a missing
    elemental reference, or duplicate phase labels.
    """
    from pymatgen.analysis.phase_diagram import PhaseDiagram
    from pymatgen.core import Element
    from pymatgen.entries.computed_entries import ComputedEntry

    if not phases:
        raise InputError("no phases given", field="phases")
    system = phases[0].system
    if any(p.system != system for p in phases):
        raise InputError(
            f"phases of different systems in one hull: {sorted({p.system for p in phases})}",
            field="system",
        )
    li, host = _system_elements(system)
    engine, potential = _check_same_engine(phases)
    names = [p.phase for p in phases]
    if len(set(names)) != len(names):
        raise InputError(f"duplicate phase labels in {system}: {names}", field="phase")

    apply_mp = _use_mp2020(phases) if mp2020 is None else mp2020
    entries: list[ComputedEntry] = []
    for p in phases:
        comp = p.cell_composition()
        extra = {e.symbol for e in comp.elements} - {li, host}
        if extra:
            raise InputError(
                f"phase {p.phase!r} ({p.formula}) contains {sorted(extra)} outside {system}",
                field="formula",
            )
        params = {"run_type": "GGA", "hubbards": {}, "is_hubbard": False}
        entries.append(ComputedEntry(comp, p.energy_eV, parameters=params, entry_id=p.phase))

    if apply_mp:
        from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

        compat = MaterialsProject2020Compatibility(check_potcar=False)
        processed = compat.process_entries(entries, inplace=False, verbose=False)
        if len(processed) != len(entries):
            kept = {e.entry_id for e in processed}
            raise InputError(
                f"MP2020 compatibility rejected {sorted(set(names) - kept)}", field="energy_eV"
            )
        entries = processed
        corrections = (
            "MP2020: pymatgen MaterialsProject2020Compatibility applied to all VASP/PBE entries"
        )
    else:
        corrections = f"uncorrected: raw {engine} energies ({potential or 'no potential spec'})"

    by_name = {e.entry_id: e for e in entries}
    by_phase = {p.phase: p for p in phases}
    for el in (li, host):
        if not any(e.composition.is_element and e.composition.elements[0].symbol == el
                   for e in entries):  # fmt: skip
            raise InputError(
                f"{system}: elemental reference for {el} is missing", field="phases", allowed=el
            )

    pd = PhaseDiagram(entries)
    li_ref = pd.el_refs[Element(li)]
    host_ref = pd.el_refs[Element(host)]
    mu_li = li_ref.energy_per_atom

    rows: dict[str, dict] = {}
    for name, e in by_name.items():
        comp = e.composition
        n_m = comp[host]
        pe = by_phase[name]
        e_hull = max(0.0, float(pd.get_e_above_hull(e, allow_negative=True)))
        rows[name] = {
            "phase": name,
            "formula": comp.reduced_formula,
            "x_li_per_m": (comp[li] / n_m) if n_m > 0 else None,
            "li_fraction": comp.get_atomic_fraction(Element(li)),
            "energy_per_atom_eV": e.energy_per_atom,
            "correction_eV_atom": e.correction / comp.num_atoms,
            "formation_energy_eV_atom": float(pd.get_form_energy_per_atom(e)),
            "e_above_hull_eV_atom": e_hull,
            "on_hull": e_hull < ON_HULL_TOL_EV_ATOM,
            "volume_per_atom_A3": pe.volume_A3 / comp.num_atoms,
            "volume_per_m_A3": (pe.volume_A3 / n_m) if n_m > 0 else None,
            "relaxed": pe.relaxed,
            "max_force_eV_A": pe.max_force_eV_A,
            "source_id": pe.source_id,
            "_e_per_m": (e.energy / n_m) if n_m > 0 else None,
        }

    # hull phases along the tie line, host first; Li metal (x = ∞) is the counter electrode
    hull = sorted(
        (r for r in rows.values() if r["on_hull"] and r["x_li_per_m"] is not None),
        key=lambda r: r["x_li_per_m"],
    )
    # the host reference itself is on the hull by construction (lowest elemental M entry)
    plateaus: list[VoltagePlateau] = []
    for a, b in itertools.pairwise(hull):
        dx = b["x_li_per_m"] - a["x_li_per_m"]
        v = -(b["_e_per_m"] - a["_e_per_m"] - dx * mu_li) / dx
        dv = (b["volume_per_m_A3"] - a["volume_per_m_A3"]) / a["volume_per_m_A3"]
        plateaus.append(
            VoltagePlateau(
                x_from=a["x_li_per_m"],
                x_to=b["x_li_per_m"],
                phase_from=a["phase"],
                phase_to=b["phase"],
                voltage_V=v,
                volume_change=dv,
            )
        )

    host_row = hull[0]
    for r in rows.values():
        x = r["x_li_per_m"]
        if x is None or x <= 0:
            continue
        below = [h for h in hull if h["x_li_per_m"] < x - 1e-9]
        nb = below[-1]
        dx = x - nb["x_li_per_m"]
        r["formation_voltage_V"] = -(r["_e_per_m"] - nb["_e_per_m"] - dx * mu_li) / dx
        r["delithiated_neighbour"] = nb["phase"]
        r["neighbour_e_above_hull_eV_atom"] = nb["e_above_hull_eV_atom"]
        r["volume_change_step"] = (r["volume_per_m_A3"] - nb["volume_per_m_A3"]) / nb[
            "volume_per_m_A3"
        ]
        r["volume_change_from_host"] = (
            r["volume_per_m_A3"] - host_row["volume_per_m_A3"]
        ) / host_row["volume_per_m_A3"]

    if plateaus:
        span = plateaus[-1].x_to - plateaus[0].x_from
        avg = sum(p.voltage_V * (p.x_to - p.x_from) for p in plateaus) / span
        full = hull[-1]
        full_dv = full["volume_change_from_host"]
        full_name = full["phase"]
    else:
        avg, full_dv, full_name = None, None, None

    phase_docs = [
        PhaseThermo(**{k: v for k, v in r.items() if not k.startswith("_")})
        for r in sorted(rows.values(), key=lambda r: (r["li_fraction"], r["phase"]))
    ]
    log.info("%s: %d phases, %d on hull, %d plateaus", system, len(rows), len(hull), len(plateaus))
    return SystemThermo(
        system=system,
        host=host,
        engine=engine,
        potential=potential,
        corrections=corrections,
        li_reference=li_ref.entry_id,
        host_reference=host_ref.entry_id,
        phases=phase_docs,
        plateaus=plateaus,
        average_voltage_V=avg,
        full_lithiation_phase=full_name,
        full_lithiation_volume_change=full_dv,
    )


# ---------------------------------------------------------------------------------------- plots


def plot_convex_hull(thermo: SystemThermo, path: str | Path) -> Path:
    """Formation energy vs Li fraction with the hull line; writes a PNG and returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=110)
    on = sorted((p for p in thermo.phases if p.on_hull), key=lambda p: p.li_fraction)
    off = [p for p in thermo.phases if not p.on_hull]
    ax.plot(
        [p.li_fraction for p in on], [p.formation_energy_eV_atom for p in on], "-o", color="C0",
        label="on hull",
    )  # fmt: skip
    if off:
        ax.plot(
            [p.li_fraction for p in off], [p.formation_energy_eV_atom for p in off], "x",
            color="C3", label="above hull",
        )  # fmt: skip
    for p in thermo.phases:
        ax.annotate(p.formula, (p.li_fraction, p.formation_energy_eV_atom), fontsize=7,
                    xytext=(2, 4), textcoords="offset points")  # fmt: skip
    ax.set_xlabel(f"Li fraction in {thermo.system}")
    ax.set_ylabel("formation energy (eV/atom)")
    ax.set_title(f"{thermo.system} hull ({thermo.engine})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _atomic_savefig(fig, path)
    plt.close(fig)
    return path


def plot_voltage_profile(thermo: SystemThermo, path: str | Path) -> Path:
    """Step voltage profile V(x) vs Li+/Li from the hull plateaus; writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=110)
    xs: list[float] = []
    vs: list[float] = []
    for p in thermo.plateaus:
        xs += [p.x_from, p.x_to]
        vs += [p.voltage_V, p.voltage_V]
        ax.annotate(f"{p.phase_from}→{p.phase_to}\n{p.voltage_V:.3f} V",
                    ((p.x_from + p.x_to) / 2, p.voltage_V), fontsize=7, ha="center",
                    xytext=(0, 4), textcoords="offset points")  # fmt: skip
    if xs:
        ax.plot(xs, vs, "-", color="C0")
    ax.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel(f"x in Li$_x${thermo.host}")
    ax.set_ylabel("V vs Li$^+$/Li")
    top = max([*vs, 0.1])
    ax.set_ylim(min([*vs, 0.0]) - 0.05, top * 1.25 + 0.05)
    ax.set_title(f"{thermo.system} voltage profile ({thermo.engine})", fontsize=9)
    fig.tight_layout()
    _atomic_savefig(fig, path)
    plt.close(fig)
    return path


def _atomic_savefig(fig, path: Path) -> None:
    """Write the PNG atomically, so a reader never sees half of it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def voltage_per_li(e_lithiated: float, e_delithiated: float, dx: float, mu_li: float) -> float:
    """Plateau voltage per Li for energies per M: -(E[LixM] - E[LiyM] - dx·μLi)/dx."""
    if dx <= 0 or not math.isfinite(dx):
        raise ValueError("dx must be positive")
    return -(e_lithiated - e_delithiated - dx * mu_li) / dx
