"""Stability guards of the MD runner, and the one rule for "this run is physical".

A guard violation stops the run, keeps the trajectory file consistent (only complete frames) and
marks the result ``stable=False`` with a reason; nothing downstream may silently analyse it.

Checks (per system):

* every MD step (cheap): non-finite energy / forces / positions, max |F|, max displacement in one
  step, instantaneous temperature above ``max_temperature_factor`` × target;
* every ``check_every_steps``: closest contact (ASE neighbour list) against a per-pair collapse
  limit — ``min_distance_A`` (1.5 Å, the rule for Li-alloy contacts) or, for pairs whose covalent
  bond is that short (C–C in graphite is 1.42 Å), ``min_bond_fraction`` × the sum of their covalent
  radii, whichever is smaller — and in
  production the running mean temperature (outside ±``mean_temperature_tolerance`` once
  ``min_frames_for_mean`` frames spanning ``min_production_fs_for_mean`` exist) and the
  conserved-quantity drift (linear fit, eV/atom/ps; only for thermostats with a conserved
  extended energy, i.e. Nosé–Hoover chain).

:func:`run_is_physical` is the temperature-and-collapse verdict shared by these guards, the model
card's MD checks and the distillation's stability runs; only its tolerance differs by purpose
(an in-run abort is wider than the verdict on a finished run, see :data:`ABORT_T_TOLERANCE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from screening.contacts import MIN_BOND_FRACTION, MIN_DISTANCE_A, pair_collapse_limits

#: verdict on a finished run (model card, distillation): mean T within 5 % of the target
VERDICT_T_TOLERANCE = 0.05
#: abort rule while a run is going (the guards' default): a running mean over a short window of a
#: small cell fluctuates more than the final mean, and a false abort throws the run away
ABORT_T_TOLERANCE = 0.10


def unphysical_reason(
    mean_temperature_K: float,
    target_temperature_K: float,
    *,
    tolerance: float = VERDICT_T_TOLERANCE,
    n_atoms: int | None = None,
    collapsed: bool = False,
    label: str = "mean T",
) -> str | None:
    """Why a run is not physical (collapsed, or mean temperature off target), else None.

    ``tolerance`` is the allowed relative deviation of the mean temperature; with ``n_atoms`` it
    is widened to ``2·sqrt(2/3N)``, the relative spread of an N-atom cell's instantaneous T, so a
    small cell is not failed for its own fluctuations. ``label`` names the mean in the message.
    """
    if collapsed:
        return "atoms closer than their collapse limit"
    tol = tolerance
    if n_atoms is not None:
        tol = max(tolerance, 2.0 * np.sqrt(2.0 / (3.0 * n_atoms)))
    if not np.isfinite(mean_temperature_K):
        return f"no finite {label} recorded"
    if abs(mean_temperature_K - target_temperature_K) > tol * target_temperature_K:
        deviation = 100.0 * (mean_temperature_K - target_temperature_K) / target_temperature_K
        return (
            f"{label} {mean_temperature_K:.1f} K {deviation:+.1f} % off target "
            f"{target_temperature_K:.1f} K (allowed ±{100 * tol:.0f} %)"
        )
    return None


def run_is_physical(
    mean_temperature_K: float,
    target_temperature_K: float,
    *,
    tolerance: float = VERDICT_T_TOLERANCE,
    n_atoms: int | None = None,
    collapsed: bool = False,
) -> bool:
    """True when no pair collapsed and the mean temperature is on target (see
    :func:`unphysical_reason` for the parameters)."""
    return (
        unphysical_reason(
            mean_temperature_K,
            target_temperature_K,
            tolerance=tolerance,
            n_atoms=n_atoms,
            collapsed=collapsed,
        )
        is None
    )


class StabilityGuards(BaseModel):
    """Thresholds for flagging an unstable MD run (defaults suit 1–2 fs Li-alloy MLIP MD)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_temperature_factor: float = Field(3.0, gt=1.0, description="instantaneous T / target")
    mean_temperature_tolerance: float = Field(
        ABORT_T_TOLERANCE,
        gt=0.0,
        description="running mean T in production: allowed relative deviation (widened to "
        "2·sqrt(2/3N) for small cells, whose instantaneous T fluctuates that much)",
    )
    min_frames_for_mean: int = Field(20, ge=2)
    min_production_fs_for_mean: float = Field(
        2000.0, ge=0.0, description="production time before the running mean is judged"
    )
    max_conserved_drift_eV_per_atom_per_ps: float = Field(0.01, gt=0.0)
    min_frames_for_drift: int = Field(20, ge=3)
    min_distance_A: float = Field(
        MIN_DISTANCE_A, ge=0.0, description="0 disables the distance check"
    )
    min_bond_fraction: float = Field(
        MIN_BOND_FRACTION,
        gt=0.0,
        le=1.0,
        description="per-pair limit: this fraction of the covalent bond length, when below "
        "min_distance_A",
    )
    max_force_eV_per_A: float = Field(50.0, gt=0.0)
    max_displacement_per_step_A: float = Field(0.5, gt=0.0)
    check_every_steps: int = Field(10, ge=1)


@dataclass
class GuardState:
    """Running guard bookkeeping for one system (checkpointed so resume gives the same verdict)."""

    min_distance_A: float = float("inf")
    # production frames seen so far: time (ps), temperature, conserved energy
    time_ps: list[float] = field(default_factory=list)
    temperature_K: list[float] = field(default_factory=list)
    conserved_eV: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_distance_A": None if np.isinf(self.min_distance_A) else self.min_distance_A,
            "time_ps": self.time_ps,
            "temperature_K": self.temperature_K,
            "conserved_eV": self.conserved_eV,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuardState:
        md = data.get("min_distance_A")
        return cls(
            min_distance_A=float("inf") if md is None else float(md),
            time_ps=list(data["time_ps"]),
            temperature_K=list(data["temperature_K"]),
            conserved_eV=list(data["conserved_eV"]),
        )

    def truncate(self, n_frames: int) -> None:
        """Keep only the first ``n_frames`` production frames (used when resuming)."""
        del self.time_ps[n_frames:], self.temperature_K[n_frames:], self.conserved_eV[n_frames:]


def drift_per_atom_per_ps(time_ps: np.ndarray, conserved_eV: np.ndarray, n_atoms: int) -> float:
    """Slope of a least-squares line through conserved energy vs time, per atom (eV/atom/ps)."""
    time_ps = np.asarray(time_ps, dtype=float)
    if len(time_ps) < 2 or np.ptp(time_ps) == 0:
        return 0.0
    slope = np.polyfit(time_ps, np.asarray(conserved_eV, dtype=float), 1)[0]
    return float(slope / n_atoms)


def check_step(
    guards: StabilityGuards,
    *,
    target_K: float,
    temperature_K: float,
    energy_eV: float,
    max_force: float,
    max_displacement: float,
    positions_finite: bool,
) -> str | None:
    """Per-step cheap checks; returns a reason string on violation, else None."""
    if not (np.isfinite(energy_eV) and np.isfinite(max_force) and positions_finite):
        return "non-finite energy, forces or positions"
    if max_force > guards.max_force_eV_per_A:
        return f"max |F| {max_force:.3g} eV/Å > {guards.max_force_eV_per_A} eV/Å"
    if max_displacement > guards.max_displacement_per_step_A:
        return (
            f"an atom moved {max_displacement:.3g} Å in one step "
            f"(> {guards.max_displacement_per_step_A} Å): exploding"
        )
    if temperature_K > guards.max_temperature_factor * target_K:
        return (
            f"instantaneous T {temperature_K:.1f} K > "
            f"{guards.max_temperature_factor} × target {target_K:.1f} K"
        )
    return None


def check_periodic(
    guards: StabilityGuards,
    state: GuardState,
    *,
    target_K: float,
    n_atoms: int,
    contact: Contact | None,
    has_conserved: bool,
) -> str | None:
    """Every-``check_every_steps`` checks on the running production statistics."""
    if contact is not None:
        state.min_distance_A = min(state.min_distance_A, contact.min_distance_A)
        if contact.worst_A < contact.limit_A:
            return (
                f"{contact.pair} distance {contact.worst_A:.3f} Å < {contact.limit_A:.3f} Å "
                "(collapse limit)"
            )
    n = len(state.temperature_K)
    elapsed_fs = 1e3 * (state.time_ps[-1] - state.time_ps[0]) if n else 0.0
    if n >= guards.min_frames_for_mean and elapsed_fs >= guards.min_production_fs_for_mean:
        reason = unphysical_reason(
            float(np.mean(state.temperature_K)),
            target_K,
            tolerance=guards.mean_temperature_tolerance,
            n_atoms=n_atoms,
            label="running mean T",
        )
        if reason is not None:
            return reason
    if has_conserved and n >= guards.min_frames_for_drift:
        drift = drift_per_atom_per_ps(state.time_ps, state.conserved_eV, n_atoms)
        if abs(drift) > guards.max_conserved_drift_eV_per_atom_per_ps:
            return (
                f"conserved-energy drift {drift:.3g} eV/atom/ps beyond "
                f"±{guards.max_conserved_drift_eV_per_atom_per_ps}"
            )
    return None


@dataclass(frozen=True)
class Contact:
    """Closest approach in a frame: overall minimum, and the pair nearest to its collapse limit."""

    min_distance_A: float
    worst_A: float
    limit_A: float
    pair: str


def closest_contact(atoms: Any, guards: StabilityGuards) -> Contact | None:
    """Closest contacts within a probe radius, or None when no pair is that close (or disabled).

    The probe (max(3 Å, 1.2 × threshold)) is wider than the threshold so the result also reports
    the closest approach seen in a healthy run.
    """
    from ase.neighborlist import neighbor_list

    if guards.min_distance_A <= 0:
        return None
    i, j, d = neighbor_list("ijd", atoms, max(3.0, 1.2 * guards.min_distance_A))
    if not len(d):
        return None
    z = atoms.numbers
    limits = pair_collapse_limits(z[i], z[j], guards.min_distance_A, guards.min_bond_fraction)
    k = int(np.argmin(d / limits))
    symbols = atoms.get_chemical_symbols()
    return Contact(
        min_distance_A=float(d.min()),
        worst_A=float(d[k]),
        limit_A=float(limits[k]),
        pair=f"{symbols[i[k]]}–{symbols[j[k]]}",
    )
