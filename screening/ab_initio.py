"""Engine-free result models of the ab initio path (band gaps, MLIP-vs-DFT validation).

The DFT engines live in :mod:`workflows` (GPAW here, VASP through atomate2 on HPC); they return
these pydantic models so the science side (electronic criterion, validation flags) never imports
an engine. Error metrics are computed here from plain arrays so they are testable on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from screening.electronic import ElectronicAssessment, assess_electronic
from screening.errors import InputError
from screening.hashing import settings_hash

#: default force-MAE threshold (eV/Å) above which a candidate's MLIP MD is flagged as unvalidated
DEFAULT_FORCE_MAE_THRESHOLD = 0.10


class BandGapResult(BaseModel):
    """Kohn–Sham band gap and DOS at the Fermi level of one phase from one DFT calculation."""

    phase: str
    formula: str
    n_atoms: int
    engine: str = Field(description="e.g. 'GPAW, PBE' or 'VASP, PBE'")
    band_gap_eV: float = Field(ge=0, description="fundamental KS gap on the k mesh (0 = metal)")
    direct_gap_eV: float | None = Field(default=None, description="smallest direct gap")
    is_direct: bool | None = None
    vbm_kpoint: list[float] | None = Field(default=None, description="fractional, reciprocal")
    cbm_kpoint: list[float] | None = None
    fermi_level_eV: float | None = None
    dos_at_fermi: float = Field(
        ge=0,
        description="states/eV/atom at E_F (mid-gap for gapped systems), Gaussian-broadened",
    )
    dos_width_eV: float = Field(gt=0, description="Gaussian broadening of the DOS")
    total_energy_eV: float | None = None
    kpts: list[int] = Field(description="Monkhorst–Pack / Gamma-centred mesh")
    settings: dict = Field(default_factory=dict, description="engine settings (cutoff, smearing)")
    wall_s: float | None = None

    def assessment(self, *, max_small_gap_eV: float | None = None) -> ElectronicAssessment:
        """The electronic-criterion record, marked ``computed (<engine>)``."""
        kwargs = {} if max_small_gap_eV is None else {"max_small_gap_eV": max_small_gap_eV}
        return assess_electronic(
            self.phase,
            band_gap_eV=self.band_gap_eV,
            dos_at_fermi=self.dos_at_fermi,
            engine=self.engine,
            formula=self.formula,
            **kwargs,
        )


class SnapshotError(BaseModel):
    """MLIP minus DFT for one MD snapshot."""

    frame: int
    time_fs: float | None = None
    n_atoms: int
    dft_energy_eV: float
    mlip_energy_eV: float
    force_mae_eV_A: float
    force_rmse_eV_A: float
    max_force_error_eV_A: float


class ValidationResult(BaseModel):
    """Per-candidate energy/force errors of the MLIP used for MD against DFT on MD snapshots.

    Stored as its own document (kind "validation") next to the candidate documents: validation is
    an optional step run after a screen, so it never rewrites the screen's results.
    """

    kind: Literal["validation"] = "validation"
    candidate_id: str
    potential: str = Field(description="canonical spec of the potential compared with DFT")
    model_sha256: str | None = Field(
        default=None,
        description="sha256 of the model file compared: with the spec, what ties this result to "
        "a candidate's provenance (a retrained file under the same spec is another model)",
    )
    dft_engine: str
    trajectory: str | None = None
    temperature_K: float | None = None
    n_snapshots: int
    n_atoms: int
    force_mae_eV_A: float
    force_rmse_eV_A: float
    max_force_error_eV_A: float
    energy_mae_eV_atom: float = Field(
        description="per-atom energy MAE after removing the mean MLIP−DFT offset: the two "
        "engines' absolute energies (pseudopotentials, references) are not comparable"
    )
    energy_offset_eV_atom: float = Field(description="mean (MLIP − DFT) per atom")
    card_force_mae_eV_A: float | None = Field(
        default=None, description="model card's held-out force MAE (vs its training labels)"
    )
    card_energy_mae_eV_atom: float | None = None
    card_source: str | None = Field(default=None, description="which card entry was used")
    threshold_force_mae_eV_A: float
    flagged: bool = Field(description="force MAE exceeds the threshold")
    snapshots: list[SnapshotError] = Field(default_factory=list)
    dft_settings: dict = Field(default_factory=dict)
    note: str | None = None

    @property
    def key(self) -> str:
        """Store key: the candidate and the exact model validated."""
        return f"validation:{self.candidate_id}:{self.potential}:{self.model_sha256}"

    @property
    def settings_hash(self) -> str:
        """What makes two validations of one model different results (reference level, MD
        temperature, sample size); the threshold is left out, so re-flagging replaces the doc."""
        return settings_hash(
            {
                "dft_engine": self.dft_engine,
                "dft_settings": self.dft_settings,
                "temperature_K": self.temperature_K,
                "n_snapshots": self.n_snapshots,
            }
        )


def snapshot_error(
    frame: int,
    dft_energy_eV: float,
    dft_forces: np.ndarray,
    mlip_energy_eV: float,
    mlip_forces: np.ndarray,
    *,
    time_fs: float | None = None,
) -> SnapshotError:
    """Force errors of one snapshot (component-wise MAE/RMSE, largest per-atom |ΔF|)."""
    f_ref = np.asarray(dft_forces, dtype=float)
    f_pred = np.asarray(mlip_forces, dtype=float)
    if f_ref.shape != f_pred.shape or f_ref.ndim != 2 or f_ref.shape[1] != 3:
        raise InputError(
            f"force arrays differ in shape: DFT {f_ref.shape}, MLIP {f_pred.shape}",
            field="forces",
        )
    diff = f_pred - f_ref
    return SnapshotError(
        frame=frame,
        time_fs=time_fs,
        n_atoms=int(f_ref.shape[0]),
        dft_energy_eV=float(dft_energy_eV),
        mlip_energy_eV=float(mlip_energy_eV),
        force_mae_eV_A=float(np.mean(np.abs(diff))),
        force_rmse_eV_A=float(np.sqrt(np.mean(diff**2))),
        max_force_error_eV_A=float(np.max(np.linalg.norm(diff, axis=1))),
    )


def summarize_validation(
    snapshots: Sequence[SnapshotError],
    *,
    candidate_id: str,
    potential: str,
    dft_engine: str,
    threshold_force_mae_eV_A: float = DEFAULT_FORCE_MAE_THRESHOLD,
    card_force_mae_eV_A: float | None = None,
    card_energy_mae_eV_atom: float | None = None,
    card_source: str | None = None,
    **extra: object,
) -> ValidationResult:
    """Pool snapshot errors (all force components weigh equally) and apply the threshold."""
    if not snapshots:
        raise InputError("no snapshots to validate", field="n_snapshots", allowed=">= 1")
    n = [s.n_atoms for s in snapshots]
    # pooled over components: MAE weighted by atom count, RMSE from pooled squared errors
    w = np.asarray(n, dtype=float) / sum(n)
    mae = float(np.sum(w * [s.force_mae_eV_A for s in snapshots]))
    rmse = float(np.sqrt(np.sum(w * np.square([s.force_rmse_eV_A for s in snapshots]))))
    de = np.array([(s.mlip_energy_eV - s.dft_energy_eV) / s.n_atoms for s in snapshots])
    offset = float(de.mean())
    return ValidationResult(
        candidate_id=candidate_id,
        potential=potential,
        dft_engine=dft_engine,
        n_snapshots=len(snapshots),
        n_atoms=max(n),
        force_mae_eV_A=mae,
        force_rmse_eV_A=rmse,
        max_force_error_eV_A=max(s.max_force_error_eV_A for s in snapshots),
        energy_mae_eV_atom=float(np.mean(np.abs(de - offset))),
        energy_offset_eV_atom=offset,
        card_force_mae_eV_A=card_force_mae_eV_A,
        card_energy_mae_eV_atom=card_energy_mae_eV_atom,
        card_source=card_source,
        threshold_force_mae_eV_A=threshold_force_mae_eV_A,
        flagged=mae > threshold_force_mae_eV_A,
        snapshots=list(snapshots),
        **extra,  # type: ignore[arg-type]
    )


__all__ = [
    "DEFAULT_FORCE_MAE_THRESHOLD",
    "BandGapResult",
    "SnapshotError",
    "ValidationResult",
    "snapshot_error",
    "summarize_validation",
]
