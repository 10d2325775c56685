"""Result documents stored in the results store: one per candidate, one per system.

Documents hold numbers, references and provenance — never trajectory arrays: a trajectory is a
file referenced by path + sha256 (MongoDB documents are limited to 16 MB).

Building a candidate document (what the workflow passes in)::

    prov = Provenance.collect(engine="mlip", potential="mace:/path/model.model",
                              model_sha256=..., settings={...}, seeds=[0])
    doc = CandidateResult(candidate_id="Li-Sb/Li3Sb/2x2x2/vac1/seed0", system="Li-Sb",
                          phase="Li3Sb", formula="Li3Sb", thermo=ThermoSummary.from_phase(...),
                          transport=[TransportPoint(...), ...], arrhenius=ArrheniusSummary(...),
                          electronic=assess_electronic("Li3Sb", ...), provenance=prov)
    ranked = apply_ranking([doc, ...], thresholds, T_op_K=298.15)   # fills criteria/score/rank
    store.put(ranked[0])
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, Literal

from pydantic import BaseModel, Field

from screening.ab_initio import ValidationResult
from screening.barriers import NEBTransport
from screening.conduction import Conductivity, electronic_conductivity, ionic_record
from screening.dissolution import SolutionEnergy
from screening.electronic import ElectronicAssessment, ElectronicClass
from screening.hashing import settings_hash
from screening.ranking import CriterionResult, RankingInput, RankingThresholds, rank
from screening.thermo import SystemThermo, ThermoSummary

#: packages whose versions go into every provenance record
TRACKED_PACKAGES = (
    "ilscreen",
    "pymatgen",
    "ase",
    "numpy",
    "torch",
    "mace-torch",
    "sevenn",
    "chgnet",
    "torch-sim-atomistic",
    "jobflow",
    "atomate2",
    "maggma",
    "kinisi",
    "pymatgen-analysis-diffusion",
)


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (missing ones are left out)."""
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    return out


class Provenance(BaseModel):
    """Where a number came from: engine, model, settings, code versions, seeds, time."""

    engine: str
    potential: str | None = None
    model_sha256: str | None = None
    settings_hash: str
    settings: dict[str, Any] = Field(default_factory=dict)
    code_version: str | None = None
    package_versions: dict[str, str] = Field(default_factory=dict)
    python: str = Field(default_factory=platform.python_version)
    host: str | None = None
    seeds: list[int] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    @classmethod
    def collect(
        cls,
        *,
        engine: str,
        settings: Mapping[str, Any],
        potential: str | None = None,
        model_sha256: str | None = None,
        seeds: Sequence[int] = (),
        **extra: Any,
    ) -> Provenance:
        """Provenance for ``settings`` with package versions of this interpreter."""
        versions = package_versions()
        return cls(
            engine=engine,
            potential=potential,
            model_sha256=model_sha256,
            settings_hash=settings_hash(settings),
            settings=dict(settings),
            code_version=versions.get("ilscreen"),
            package_versions=versions,
            host=platform.node() or None,
            seeds=list(seeds),
            **extra,
        )

    def short(self) -> str:
        """One-line summary for tables."""
        pot = f" {self.potential}" if self.potential else ""
        return f"{self.engine}{pot} #{self.settings_hash[:8]}"


class TransportPoint(BaseModel):
    """D and σ at one MD temperature; the trajectory is a file, referenced by path + sha256."""

    temperature_K: float
    D_cm2_s: float | None = None
    D_sigma_cm2_s: float | None = None
    D_source: str | None = Field(
        default=None, description="msd | kinisi | hops (screening.diffusion_result.DiffusionResult)"
    )
    fit_window_ps: tuple[float, float] | None = None
    sigma_S_cm: float | None = None
    sigma_sigma_S_cm: float | None = None
    converged: bool | None = None
    n_hops: int | None = None
    duration_ps: float | None = None
    trajectory_path: str | None = None
    trajectory_sha256: str | None = None
    msd_plot_path: str | None = None
    note: str | None = None


class OperatingPoint(BaseModel):
    """Arrhenius-extrapolated transport at an operating temperature."""

    temperature_K: float
    D_cm2_s: float
    D_sigma_cm2_s: float | None = None
    sigma_S_cm: float | None = None
    sigma_sigma_S_cm: float | None = None


class ArrheniusSummary(BaseModel):
    """Arrhenius D = D0·exp(−Ea/kBT): fitted to converged MD, or from the NEB-TST hop network."""

    source: Literal["MD", "NEB-TST"] = "MD"
    Ea_eV: float
    Ea_sigma_eV: float | None = None
    D0_cm2_s: float | None = None
    D0_sigma_cm2_s: float | None = None
    temperatures_K: list[float] = Field(default_factory=list)
    operating: list[OperatingPoint] = Field(default_factory=list)
    plot_path: str | None = None

    def at(self, T_K: float | None, tol_K: float = 0.5) -> OperatingPoint | None:
        """The operating point at ``T_K`` (±``tol_K``; the first one when ``T_K`` is None).

        No silent substitution of another temperature: None when ``T_K`` was not extrapolated.
        """
        if not self.operating:
            return None
        if T_K is None:
            return self.operating[0]
        return next((o for o in self.operating if abs(o.temperature_K - T_K) <= tol_K), None)


class CandidateResult(BaseModel):
    """Everything known about one candidate; the unit stored, queried and reported."""

    kind: Literal["candidate"] = "candidate"
    candidate_id: str
    system: str
    phase: str
    formula: str
    status: Literal["ok", "failed"] = "ok"
    reason: str | None = None
    thermo: ThermoSummary = Field(default_factory=ThermoSummary)
    transport: list[TransportPoint] = Field(default_factory=list)
    arrhenius: ArrheniusSummary | None = None
    neb: NEBTransport | None = Field(None, description="NEB barriers and TST transport")
    T_op_K: float | None = Field(None, description="operating T used by the ranking")
    electronic: ElectronicAssessment | None = None
    sigma_ion: Conductivity | None = Field(None, description="σ_ion(T_op), set by the ranking")
    sigma_e: Conductivity | None = Field(None, description="σ_e(T_op), set by the ranking")
    dissolution: SolutionEnergy | None = Field(None, description="M-in-Li solution energy")
    dissolution_note: str | None = Field(None, description="why there is no solution energy")
    criteria: list[CriterionResult] = Field(default_factory=list)
    score: float | None = None
    rank: int | None = None
    pareto: bool = False
    passing: bool = False
    flags: list[str] = Field(default_factory=list)
    provenance: Provenance
    validation: ValidationResult | None = Field(
        None,
        description="MLIP-vs-DFT check of this candidate's potential; attached when read from the "
        "store (it is stored as its own document, never inside this one)",
    )

    @property
    def key(self) -> str:
        """Store key."""
        return self.candidate_id

    def matching_validation(
        self, validations: Iterable[ValidationResult]
    ) -> ValidationResult | None:
        """The validation to show for this candidate, or None.

        Only a validation of this candidate with the same potential spec and model sha256 counts:
        errors of another model say nothing about this one. Of several (MD temperatures, DFT
        engines), the flagged one with the largest force MAE, so a failing check is never hidden.
        """
        prov = self.provenance
        mine = [
            v
            for v in validations
            if v.candidate_id == self.candidate_id
            and v.potential == prov.potential
            and v.model_sha256 == prov.model_sha256
        ]
        return max(mine, key=lambda v: (v.flagged, v.force_mae_eV_A), default=None)

    @property
    def settings_hash(self) -> str:
        """Settings hash of the provenance (second half of the store key)."""
        return self.provenance.settings_hash

    def operating_point(self) -> OperatingPoint | None:
        """D(T_op) ± σ from the Arrhenius fit, if any."""
        return self.arrhenius.at(self.T_op_K) if self.arrhenius else None

    def criterion(self, name: str) -> CriterionResult | None:
        """The criterion called ``name``."""
        return next((c for c in self.criteria if c.name == name), None)

    def transport_converged(self) -> bool | None:
        """Whether the transport the row reads converged (None when there is none).

        MD rows: every MD temperature converged. NEB-TST rows: every KMC temperature converged.
        """
        if self.arrhenius is not None and self.arrhenius.source == "NEB-TST" and self.neb:
            return all(p.converged for p in self.neb.points)
        flags = [t.converged for t in self.transport if t.converged is not None]
        return all(flags) if flags else None

    def conductivities(self, thresholds: RankingThresholds) -> tuple[Conductivity, Conductivity]:
        """(σ_ion, σ_e) at the operating temperature, with sources (screening.conduction)."""
        op = self.operating_point()
        T = op.temperature_K if op else self.T_op_K
        if op is None:
            why = next((f for f in self.flags if f.startswith("Arrhenius")), None)
            why = f"no D(T_op): {why or 'no Arrhenius extrapolation to this temperature'}"
            ion = ionic_record(None, None, T, why)
        else:
            why = "no Li density recorded with D(T_op) for Nernst–Einstein"
            origin = self.arrhenius.source if self.arrhenius else "MD"
            ion = ionic_record(op.sigma_S_cm, op.sigma_sigma_S_cm, T, why, origin)
        el = electronic_conductivity(
            self.electronic,
            formula=self.formula,
            volume_per_atom_A3=self.thermo.volume_per_atom_A3,
            temperature_K=T,
            model=thresholds.sigma_e,
        )
        return ion, el

    def to_ranking_input(self) -> RankingInput:
        """The plain numbers the ranking needs (σ_ion, σ_e as stored on the document)."""
        op = self.operating_point()
        el = self.electronic
        sol = self.dissolution
        return RankingInput(
            candidate_id=self.candidate_id,
            system=self.system,
            phase=self.phase,
            status=self.status,
            reason=self.reason,
            thermo=self.thermo,
            T_op_K=op.temperature_K if op else self.T_op_K,
            D_op_cm2_s=op.D_cm2_s if op else None,
            D_op_sigma_cm2_s=op.D_sigma_cm2_s if op else None,
            sigma_ion=self.sigma_ion,
            sigma_e=self.sigma_e,
            transport_converged=self.transport_converged(),
            electronic_class=el.electronic_class if el else ElectronicClass.UNKNOWN,
            band_gap_eV=el.band_gap_eV if el else None,
            electronic_source=el.source if el else None,
            solution_energy_eV=sol.solution_energy_eV if sol else None,
            solution_energy_note=self.dissolution_note,
        )


class SystemResult(BaseModel):
    """Thermodynamics of one Li–M system (hull, plateaus) with its plots and provenance."""

    kind: Literal["system"] = "system"
    system: str
    thermo: SystemThermo
    hull_plot_path: str | None = None
    voltage_plot_path: str | None = None
    provenance: Provenance

    @property
    def key(self) -> str:
        """Store key: the system plus the engine, since hulls of different engines coexist."""
        return f"{self.system}/{self.thermo.engine}"

    @property
    def settings_hash(self) -> str:
        """Settings hash of the provenance."""
        return self.provenance.settings_hash


def apply_ranking(
    docs: Sequence[CandidateResult],
    thresholds: RankingThresholds | None = None,
    *,
    T_op_K: float | None = None,
) -> list[CandidateResult]:
    """Rank ``docs`` together and return copies with criteria, score, rank, pareto, flags set.

    ``T_op_K`` selects the Arrhenius operating point (must be one of ``arrhenius.operating``,
    else D(T_op) counts as missing); it is recorded per doc. Default: each doc's own ``T_op_K``, or
    its first operating point. σ_ion and σ_e at that temperature are (re)computed here.
    """
    th = thresholds or RankingThresholds()
    docs = [d.model_copy(update={"T_op_K": T_op_K}) if T_op_K is not None else d for d in docs]
    docs = [
        d.model_copy(update=dict(zip(("sigma_ion", "sigma_e"), d.conductivities(th), strict=True)))
        for d in docs
    ]
    by_id = {d.candidate_id: d for d in docs}
    ranked = rank([d.to_ranking_input() for d in docs], th)
    out = []
    for r in ranked:
        d = by_id[r.candidate_id]
        out.append(
            d.model_copy(
                update={
                    "criteria": r.criteria,
                    "score": r.score,
                    "rank": r.rank,
                    "pareto": r.pareto,
                    "passing": r.passing,
                    "flags": r.flags,
                    "reason": r.reason if r.status == "failed" else d.reason,
                }
            )
        )
    return out
