"""Electronic class of a phase: metal | small-gap | insulator | unknown.

Order of evidence: a computed band gap or DOS at the Fermi level (source ``"computed (<engine>)"``);
otherwise the entry in ``screening/data/electronic.yaml``: cited literature (source
``"literature: <citation> (doi:…)"``) or a value precomputed by this project's own DFT engine and
shipped with it, so that a machine without that engine still has it (source
``"precomputed (<engine>): <how>"``, reproducible with the command it names); otherwise
``unknown`` — never a guessed value.

Classes (``max_small_gap_eV`` defaults to 0.5 eV, the ranking's "small gap" conductor threshold):

* metal: gap ≤ ``METAL_GAP_TOL_EV`` (numerically zero) or DOS at E_F > ``METAL_DOS_TOL``;
* small-gap: 0 < gap ≤ ``max_small_gap_eV`` — enough thermally/defect-activated electrons for
  an interlayer, and semi-local DFT underestimates gaps, so this is a screening flag, not a verdict;
* insulator: gap > ``max_small_gap_eV``.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, model_validator

from screening.errors import InputError

log = logging.getLogger(__name__)

METAL_GAP_TOL_EV = 1e-3
#: states / eV / atom at E_F above which a phase counts as metallic whatever its reported gap
METAL_DOS_TOL = 1e-3
DEFAULT_MAX_SMALL_GAP_EV = 0.5


class ElectronicClass(StrEnum):
    """Electronic character used by criterion 3 (MIEC)."""

    METAL = "metal"
    SMALL_GAP = "small-gap"
    INSULATOR = "insulator"
    UNKNOWN = "unknown"


class EntryKind(StrEnum):
    """Where an ``electronic.yaml`` value comes from."""

    LITERATURE = "literature"
    PRECOMPUTED = "precomputed"


class LiteratureElectronic(BaseModel):
    """One entry of ``electronic.yaml``: cited literature or a shipped precomputed value."""

    kind: EntryKind = EntryKind.LITERATURE
    electronic_class: ElectronicClass = Field(alias="class")
    band_gap_eV: float | None = None
    sigma_e_S_cm: float | None = Field(default=None, gt=0, description="measured σ_e (S/cm)")
    sigma_e_T_K: float | None = Field(default=None, gt=0, description="temperature of σ_e")
    citation: str
    doi: str | None = Field(default=None, pattern=r"^10\.\d{4,9}/\S+$", description="bare DOI")
    engine: str | None = Field(default=None, description="precomputed: engine and functional")
    basis: str | None = None
    note: str | None = None

    model_config = {"populate_by_name": True, "extra": "forbid"}

    @model_validator(mode="after")
    def _provenance(self) -> LiteratureElectronic:
        if self.kind is EntryKind.PRECOMPUTED and not self.engine:
            raise ValueError("a precomputed entry names its engine (e.g. 'GPAW, PBE')")
        return self

    @property
    def source(self) -> str:
        """The ``source`` string outputs carry for this entry."""
        if self.kind is EntryKind.PRECOMPUTED:
            return f"precomputed ({self.engine}): {self.citation}"
        doi = f" (doi:{self.doi})" if self.doi else ""
        return f"literature: {self.citation}{doi}"


class ElectronicAssessment(BaseModel):
    """Electronic class of one phase and where it came from."""

    phase: str
    electronic_class: ElectronicClass
    band_gap_eV: float | None = None
    dos_at_fermi: float | None = Field(default=None, description="states/eV/atom at E_F")
    sigma_e_S_cm: float | None = Field(default=None, description="cited measured σ_e (S/cm)")
    sigma_e_T_K: float | None = None
    source: str = Field(
        description="'computed (<engine>)', 'literature: <citation>', "
        "'precomputed (<engine>): <how>' or 'none'"
    )
    note: str | None = None

    @property
    def is_conductor(self) -> bool | None:
        """True for metal/small-gap, False for insulator, None when unknown."""
        if self.electronic_class is ElectronicClass.UNKNOWN:
            return None
        return self.electronic_class is not ElectronicClass.INSULATOR


def classify_gap(
    band_gap_eV: float | None,
    *,
    dos_at_fermi: float | None = None,
    max_small_gap_eV: float = DEFAULT_MAX_SMALL_GAP_EV,
) -> ElectronicClass:
    """Class from a computed gap and/or DOS at E_F; UNKNOWN when both are missing."""
    if dos_at_fermi is not None and dos_at_fermi > METAL_DOS_TOL:
        return ElectronicClass.METAL
    if band_gap_eV is None:
        return ElectronicClass.UNKNOWN
    if band_gap_eV < 0:
        raise InputError(f"band gap {band_gap_eV} eV is negative", field="band_gap_eV")
    if band_gap_eV <= METAL_GAP_TOL_EV:
        return ElectronicClass.METAL
    if band_gap_eV <= max_small_gap_eV:
        return ElectronicClass.SMALL_GAP
    return ElectronicClass.INSULATOR


def load_literature(path: str | Path | None = None) -> dict[str, LiteratureElectronic]:
    """Cited literature entries keyed by phase label (default: the packaged electronic.yaml)."""
    if path is None:
        return dict(_packaged_literature())
    return _read_literature(Path(path))


@lru_cache(maxsize=1)
def _packaged_literature() -> dict[str, LiteratureElectronic]:
    ref = resources.files("screening") / "data" / "electronic.yaml"
    with resources.as_file(ref) as p:
        return _read_literature(Path(p))


def _read_literature(path: Path) -> dict[str, LiteratureElectronic]:
    data = yaml.safe_load(path.read_text()) or {}
    out: dict[str, LiteratureElectronic] = {}
    for name, entry in (data.get("phases") or {}).items():
        try:
            out[str(name)] = LiteratureElectronic.model_validate(entry)
        except Exception as exc:
            raise InputError(
                f"bad entry for {name}: {exc}", file=path, field=f"phases.{name}",
                allowed=[c.value for c in ElectronicClass if c is not ElectronicClass.UNKNOWN],
            ) from exc  # fmt: skip
    return out


def assess_electronic(
    phase: str,
    *,
    band_gap_eV: float | None = None,
    dos_at_fermi: float | None = None,
    engine: str | None = None,
    formula: str | None = None,
    max_small_gap_eV: float = DEFAULT_MAX_SMALL_GAP_EV,
    literature: dict[str, LiteratureElectronic] | None = None,
    note: str | None = None,
) -> ElectronicAssessment:
    """Electronic class of ``phase``: computed values win, then cited literature, else unknown.

    ``formula`` (reduced) is tried after ``phase`` when looking up the literature table.
    ``note`` says how the value was computed, or why none was (e.g. the cell was too large for
    the DFT engine); it comes before the literature entry's own note.
    """
    if band_gap_eV is not None or dos_at_fermi is not None:
        cls = classify_gap(
            band_gap_eV, dos_at_fermi=dos_at_fermi, max_small_gap_eV=max_small_gap_eV
        )
        return ElectronicAssessment(
            phase=phase,
            electronic_class=cls,
            band_gap_eV=band_gap_eV,
            dos_at_fermi=dos_at_fermi,
            source=f"computed ({engine or 'unknown engine'})",
            note=note,
        )
    table = load_literature() if literature is None else literature
    entry = table.get(phase) or (table.get(formula) if formula else None)
    if entry is not None:
        cls = entry.electronic_class
        if entry.band_gap_eV is not None:
            # a cited number is re-classified with the campaign's threshold, consistently
            cls = classify_gap(entry.band_gap_eV, max_small_gap_eV=max_small_gap_eV)
        return ElectronicAssessment(
            phase=phase,
            electronic_class=cls,
            band_gap_eV=entry.band_gap_eV,
            sigma_e_S_cm=entry.sigma_e_S_cm,
            sigma_e_T_K=entry.sigma_e_T_K,
            source=entry.source,
            note=_join(note, entry.note),
        )
    return ElectronicAssessment(
        phase=phase,
        electronic_class=ElectronicClass.UNKNOWN,
        source="none",
        note=_join(note, "no computed band gap/DOS and no cited literature value"),
    )


def _join(*notes: str | None) -> str | None:
    return "; ".join(n for n in notes if n) or None
