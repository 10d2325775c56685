"""Rank lithiated interlayer candidates by the three IL criteria plus formation energy.

Inputs are plain numbers (:class:`RankingInput`), so this module does not depend on how they were
computed. Each criterion gives a :class:`CriterionResult` with ``passed`` (True/False/None), a score
in [0, 1], the numbers behind it and a note.

Criteria (thresholds in :class:`RankingThresholds`):

1. ``potential`` — the lithiation potential of the step forming the lithiated phase lies in
   ``voltage_window_V`` and is > 0 V (≤ 0 V would plate Li instead of alloying).
   score = clip(1 − (V − V_min)/(V_max − V_min), 0, 1): 1 at 0 V, 0 at the top of the window.
2. ``reversibility`` — (a) the lithiated phase and its delithiated neighbour both have
   E_above_hull ≤ ``max_e_above_hull_eV_atom``; (b) |volume change of the step| ≤
   ``max_volume_change_per_step``; (c) D at the operating temperature ≥ ``min_D_op_cm2_s``.
   score = mean of the three sub-scores: 1 − E_hull/threshold, 1 − |ΔV|/threshold, D score.
3. ``mixed_conduction`` (MIEC) — the conduction class by σ_e/σ_ion at T_op
   (:mod:`screening.conduction`): ionic conductor below ``conduction_class_bounds[0]``,
   electronic conductor above ``[1]``, mixed conductor between (bounds included). Passes when the
   class is mixed and the ionic check holds (D(T_op) ≥ ``min_D_op_cm2_s``, and σ_ion(T_op) ≥
   ``min_sigma_op_S_cm`` when set). score = mean(D score, class score); class score 1 inside the
   mixed band, falling linearly to 0 three decades outside it, 0 when the class is unknown.
4. ``formation_energy`` — (a) E_f < 0 (stable against the elements) and (b) M stays in the
   interlayer instead of dissolving into the Li metal: its dilute equilibrium solubility in Li at
   T_op, exp(−E_sol/k_B T_op) from the M-in-Li solution energy (:mod:`screening.dissolution`), is
   ≤ ``max_m_solubility_in_li`` (E_sol < 0 always fails). score = mean of
   clip(−E_f / ``formation_energy_scale_eV_atom``, 0, 1) and
   clip(E_sol / ``solution_energy_scale_eV``, 0, 1). The study the project follows explains
   Li3Sb's stability by its low E_f *keeping Sb out of the Li metal*; E_sol measures that second
   half directly, so it belongs to this criterion rather than to a fifth one.

D score = clip((log10 D − log10 ``min_D_op_cm2_s``) / (log10 ``good_D_op_cm2_s`` −
log10 ``min_D_op_cm2_s``), 0, 1).

Missing data: a check whose input is missing (σ_e or σ_ion unknown, no D, D not converged, no E_sol)
gives ``passed=None`` and sub-score 0. A criterion is False if any of its checks fails, else None if
any is missing, else True. A candidate is *passing* only when every criterion is True; ``None``
does not pass and is listed in ``flags`` so it is visible, not hidden.

Composite score = Σ wᵢ·scoreᵢ / Σ wᵢ (weights in ``RankingThresholds.weights``, default equal).
Rank: status ok before failed, then score descending, ties broken by formation energy (lower
first). Failed candidates (unstable MD, failed relaxation) keep their row, status and reason,
and get no score or rank. Pareto set: non-dominated ok candidates over (−V, log10 D(T_op), −E_f),
all maximised; candidates missing any of the three are not in it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from screening.conduction import (
    ConductionClass,
    Conductivity,
    SigmaEModel,
    conduction_class,
)
from screening.electronic import ElectronicClass
from screening.thermo import ThermoSummary
from screening.units import KB_EV

CRITERIA = ("potential", "reversibility", "mixed_conduction", "formation_energy")


class RankingThresholds(BaseModel):
    """Thresholds of the ranking; defaults are explained in each field's description.

    This is also the ``ranking:`` section of a campaign file, so unknown (misspelled) keys are
    refused rather than silently ignored.
    """

    model_config = ConfigDict(extra="forbid")

    voltage_window_V: tuple[float, float] = Field(
        default=(0.0, 1.0),
        description="lithiation potential window vs Li+/Li; Li–Sb plateaus (0.90/0.85 V) sit "
        "inside, oxide-like conversion potentials (>1 V) outside",
    )
    max_e_above_hull_eV_atom: float = Field(
        default=0.05,
        description="'near hull' for the lithiated phase and its delithiated neighbour; ~kT at "
        "RT×2 plus typical MLIP/DFT error, the usual metastability cut-off",
    )
    max_volume_change_per_step: float = Field(
        default=1.0,
        description="relative volume change of one lithiation step (1.0 = 100 %); full Sb→Li3Sb "
        "is ~135 % over two steps, Si→Li15Si4 ~280 %",
    )
    min_D_op_cm2_s: float = Field(
        default=1e-12,
        description="minimum Li diffusion coefficient at the operating temperature: 1e-12 cm²/s "
        "moves Li ~10 nm (a thin IL) in ~1 s",
    )
    good_D_op_cm2_s: float = Field(
        default=1e-8, description="D at which the D score saturates at 1 (liquid-like ~1e-5)"
    )
    min_sigma_op_S_cm: float | None = Field(
        default=None, description="optional extra ionic criterion on σ_ion(T_op) (S/cm)"
    )
    max_band_gap_eV: float = Field(
        default=0.5,
        description="label only: a gap ≤ this is called 'small-gap' (criterion 3 uses σ_e/σ_ion)",
    )
    conduction_class_bounds: tuple[float, float] = Field(
        default=(1e-2, 10.0),
        description="σ_e/σ_ion bounds of the mixed conductor: the geometric midpoints between the "
        "Nature Energy study's ionic (2.2e-4), mixed (0.097) and electronic (2.1e3) layers, "
        "4.7e-3 and 14, rounded to the nearest decade",
    )
    sigma_e: SigmaEModel = Field(
        default_factory=SigmaEModel, description="stated parameters of the σ_e estimates"
    )
    formation_energy_scale_eV_atom: float = Field(
        default=0.5,
        description="E_f giving formation score 1 (Li3Sb ≈ −0.7 eV/atom exp.; Li–Mg near 0)",
    )
    max_m_solubility_in_li: float = Field(
        default=1e-2,
        gt=0,
        lt=1,
        description="largest dilute M site fraction in Li at T_op, exp(−E_sol/k_B T_op), for M "
        "to count as staying in the interlayer: 1 at.% (E_sol ≥ 0.12 eV at 298 K)",
    )
    solution_energy_scale_eV: float = Field(
        default=0.5,
        gt=0,
        description="E_sol giving a retention score of 1 (dilute solubility exp(−0.5 eV/k_BT) "
        "≈ 4e-9 at 298 K)",
    )
    weights: dict[str, float] = Field(
        default_factory=lambda: dict.fromkeys(CRITERIA, 1.0),
        description="weights of the composite score per criterion",
    )

    @field_validator("conduction_class_bounds")
    @classmethod
    def _bounds(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] < v[1]:
            raise ValueError("conduction_class_bounds must be [low, high] with 0 < low < high")
        return v

    @field_validator("voltage_window_V")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[1] <= v[0]:
            raise ValueError("voltage_window_V must be [low, high] with low < high")
        return v

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, v: dict[str, float]) -> dict[str, float]:
        if unknown := set(v) - set(CRITERIA):
            raise ValueError(f"unknown weight keys {sorted(unknown)}; allowed {CRITERIA}")
        return v

    @model_validator(mode="after")
    def _check(self) -> RankingThresholds:
        if self.min_D_op_cm2_s <= 0 or self.good_D_op_cm2_s <= self.min_D_op_cm2_s:
            raise ValueError("need 0 < min_D_op_cm2_s < good_D_op_cm2_s")
        return self


class RankingInput(BaseModel):
    """The numbers the ranking needs for one lithiated candidate.

    ``thermo`` is the candidate's stored :class:`ThermoSummary` itself (voltage, hull distances,
    volume step, formation energy), so those numbers are declared in one place.
    """

    candidate_id: str
    system: str | None = None
    phase: str | None = None
    status: Literal["ok", "failed"] = "ok"
    reason: str | None = None
    thermo: ThermoSummary = Field(default_factory=ThermoSummary)
    T_op_K: float | None = None
    D_op_cm2_s: float | None = None
    D_op_sigma_cm2_s: float | None = None
    sigma_ion: Conductivity | None = Field(default=None, description="σ_ion(T_op)")
    sigma_e: Conductivity | None = Field(default=None, description="σ_e(T_op)")
    transport_converged: bool | None = None
    electronic_class: ElectronicClass = ElectronicClass.UNKNOWN
    band_gap_eV: float | None = None
    electronic_source: str | None = None
    solution_energy_eV: float | None = Field(
        default=None, description="one M atom in bcc Li vs Li + the Li-richest hull phase"
    )
    solution_energy_note: str | None = None


class CriterionResult(BaseModel):
    """Outcome of one criterion for one candidate."""

    name: str
    passed: bool | None
    score: float = Field(ge=0.0, le=1.0)
    values: dict[str, float | str | bool | None] = Field(default_factory=dict)
    note: str = ""


class RankedCandidate(BaseModel):
    """Ranking outcome of one candidate."""

    candidate_id: str
    status: Literal["ok", "failed"]
    reason: str | None = None
    criteria: list[CriterionResult] = Field(default_factory=list)
    score: float | None = None
    rank: int | None = None
    pareto: bool = False
    passing: bool = False
    flags: list[str] = Field(default_factory=list)
    formation_energy_eV_atom: float | None = None


def _clip(v: float) -> float:
    return min(1.0, max(0.0, v))


def _combine(checks: Sequence[bool | None]) -> bool | None:
    if any(c is False for c in checks):
        return False
    if any(c is None for c in checks):
        return None
    return True


def _d_score(d: float | None, th: RankingThresholds) -> float:
    if d is None or d <= 0:
        return 0.0
    lo, hi = math.log10(th.min_D_op_cm2_s), math.log10(th.good_D_op_cm2_s)
    return _clip((math.log10(d) - lo) / (hi - lo))


def _ionic_check(c: RankingInput, th: RankingThresholds) -> tuple[bool | None, str]:
    if c.D_op_cm2_s is None:
        return None, "no D(T_op)"
    if c.transport_converged is False:
        return None, "D not converged"
    ok = c.D_op_cm2_s >= th.min_D_op_cm2_s
    if th.min_sigma_op_S_cm is not None:
        sigma = c.sigma_ion.S_cm if c.sigma_ion else None
        if sigma is None:
            return (False if not ok else None), "no σ_ion(T_op)"
        ok = ok and sigma >= th.min_sigma_op_S_cm
    return ok, ""


def criterion_potential(c: RankingInput, th: RankingThresholds) -> CriterionResult:
    """Criterion 1: lithiation potential near (and above) 0 V vs Li+/Li."""
    lo, hi = th.voltage_window_V
    vals = {"voltage_V": c.thermo.voltage_V, "window_min_V": lo, "window_max_V": hi}
    if c.thermo.voltage_V is None:
        return CriterionResult(
            name="potential", passed=None, score=0.0, values=vals, note="no voltage"
        )
    v = c.thermo.voltage_V
    passed = v > 0.0 and lo <= v <= hi
    score = _clip(1.0 - (v - lo) / (hi - lo)) if v > max(lo, 0.0) else 0.0
    note = "" if passed else ("≤ 0 V: Li plating wins" if v <= 0 else "outside voltage window")
    return CriterionResult(name="potential", passed=passed, score=score, values=vals, note=note)


def criterion_reversibility(c: RankingInput, th: RankingThresholds) -> CriterionResult:
    """Criterion 2: near-hull phase and neighbour, tolerable volume step, fast enough Li."""
    notes: list[str] = []
    t = c.thermo
    if t.e_above_hull_eV_atom is None or t.neighbour_e_above_hull_eV_atom is None:
        hull_ok, hull_s = None, 0.0
        notes.append("no hull data")
    else:
        worst = max(t.e_above_hull_eV_atom, t.neighbour_e_above_hull_eV_atom)
        hull_ok = worst <= th.max_e_above_hull_eV_atom
        hull_s = _clip(1.0 - worst / th.max_e_above_hull_eV_atom)
        if not hull_ok:
            notes.append("above hull")
    if t.volume_change_step is None:
        vol_ok, vol_s = None, 0.0
        notes.append("no volume change")
    else:
        dv = abs(t.volume_change_step)
        vol_ok = dv <= th.max_volume_change_per_step
        vol_s = _clip(1.0 - dv / th.max_volume_change_per_step)
        if not vol_ok:
            notes.append("volume change too large")
    kin_ok, why = _ionic_check(c, th)
    if why:
        notes.append(why)
    elif kin_ok is False:
        notes.append("Li too slow")
    score = (hull_s + vol_s + (_d_score(c.D_op_cm2_s, th) if kin_ok is not None else 0.0)) / 3
    vals = {
        "e_above_hull_eV_atom": t.e_above_hull_eV_atom,
        "neighbour_e_above_hull_eV_atom": t.neighbour_e_above_hull_eV_atom,
        "volume_change_step": t.volume_change_step,
        "D_op_cm2_s": c.D_op_cm2_s,
        "max_e_above_hull_eV_atom": th.max_e_above_hull_eV_atom,
        "max_volume_change_per_step": th.max_volume_change_per_step,
        "min_D_op_cm2_s": th.min_D_op_cm2_s,
        "hull_ok": hull_ok,
        "volume_ok": vol_ok,
        "kinetics_ok": kin_ok,
    }
    return CriterionResult(
        name="reversibility",
        passed=_combine([hull_ok, vol_ok, kin_ok]),
        score=score,
        values=vals,
        note="; ".join(notes),
    )


def criterion_mixed_conduction(c: RankingInput, th: RankingThresholds) -> CriterionResult:
    """Criterion 3: mixed conductor by σ_e/σ_ion at T_op, with enough ionic conduction."""
    notes: list[str] = []
    ion_ok, why = _ionic_check(c, th)
    if why:
        notes.append(why)
    elif ion_ok is False:
        notes.append("ionic conduction too low")
    verdict = conduction_class(c.sigma_e, c.sigma_ion, th.conduction_class_bounds)
    cls = verdict.conduction_class
    class_ok = None if cls is ConductionClass.UNKNOWN else cls is ConductionClass.MIXED
    if class_ok is None:
        notes.append(verdict.rule)
    elif not class_ok:
        notes.append(f"{cls.value}, not mixed")
    ion_s = _d_score(c.D_op_cm2_s, th) if ion_ok is not None else 0.0
    se, si = c.sigma_e, c.sigma_ion
    vals = {
        "D_op_cm2_s": c.D_op_cm2_s,
        "D_op_sigma_cm2_s": c.D_op_sigma_cm2_s,
        "T_op_K": c.T_op_K,
        "min_D_op_cm2_s": th.min_D_op_cm2_s,
        "transport_converged": c.transport_converged,
        "sigma_ion_S_cm": si.S_cm if si else None,
        "sigma_ion_sigma_S_cm": si.sigma_S_cm if si else None,
        "sigma_ion_source": si.source if si else "none",
        "sigma_e_S_cm": se.S_cm if se else None,
        "sigma_e_low_S_cm": se.range_S_cm[0] if se and se.range_S_cm else None,
        "sigma_e_high_S_cm": se.range_S_cm[1] if se and se.range_S_cm else None,
        "sigma_e_source": se.source if se else "none",
        "sigma_e_method": se.method if se else None,
        "sigma_e_ratio": verdict.ratio,
        "conduction_class": cls.value,
        "class_rule": verdict.rule,
        "class_robust": verdict.robust,
        "class_bound_low": th.conduction_class_bounds[0],
        "class_bound_high": th.conduction_class_bounds[1],
        "electronic_class": c.electronic_class.value,
        "band_gap_eV": c.band_gap_eV,
        "electronic_source": c.electronic_source,
        "ionic_ok": ion_ok,
        "class_ok": class_ok,
    }
    return CriterionResult(
        name="mixed_conduction",
        passed=_combine([ion_ok, class_ok]),
        score=(ion_s + verdict.score) / 2,
        values=vals,
        note="; ".join(notes),
    )


def criterion_formation_energy(c: RankingInput, th: RankingThresholds) -> CriterionResult:
    """Formation energy: E_f < 0 and M not dissolving into Li; lower E_f, higher E_sol score."""
    ef, es, T = c.thermo.formation_energy_eV_atom, c.solution_energy_eV, c.T_op_K
    x_m = None if es is None or T is None else min(1.0, math.exp(-es / (KB_EV * T)))
    vals = {
        "formation_energy_eV_atom": ef,
        "scale_eV_atom": th.formation_energy_scale_eV_atom,
        "solution_energy_eV": es,
        "m_solubility_in_li": x_m,
        "max_m_solubility_in_li": th.max_m_solubility_in_li,
        "T_op_K": T,
    }
    notes = []
    if ef is None:
        ef_ok, ef_s = None, 0.0
        notes.append("no E_f")
    else:
        ef_ok, ef_s = ef < 0.0, _clip(-ef / th.formation_energy_scale_eV_atom)
        if not ef_ok:
            notes.append("not stable against the elements")
    if es is None or x_m is None:
        es_ok, es_s = None, 0.0
        why = c.solution_energy_note or "not computed"
        notes.append(f"no M-in-Li solution energy ({why})" if es is None else "no T_op")
    else:
        es_ok, es_s = x_m <= th.max_m_solubility_in_li, _clip(es / th.solution_energy_scale_eV)
        if not es_ok:
            notes.append("M dissolves into the Li metal")
    return CriterionResult(
        name="formation_energy",
        passed=_combine([ef_ok, es_ok]),
        score=(ef_s + es_s) / 2,
        values=vals,
        note="; ".join(notes),
    )


def evaluate(c: RankingInput, th: RankingThresholds) -> RankedCandidate:
    """All criteria and the composite score of one candidate (rank/pareto filled by ``rank``)."""
    if c.status == "failed":
        return RankedCandidate(
            candidate_id=c.candidate_id,
            status="failed",
            reason=c.reason or "failed (no reason recorded)",
            flags=["failed"],
            formation_energy_eV_atom=c.thermo.formation_energy_eV_atom,
        )
    crits = [
        criterion_potential(c, th),
        criterion_reversibility(c, th),
        criterion_mixed_conduction(c, th),
        criterion_formation_energy(c, th),
    ]
    wsum = sum(th.weights.get(cr.name, 0.0) for cr in crits)
    score = sum(th.weights.get(cr.name, 0.0) * cr.score for cr in crits) / wsum if wsum else 0.0
    flags = [f"{cr.name}: missing data ({cr.note})" for cr in crits if cr.passed is None]
    if c.transport_converged is False:
        flags.append("transport not converged")
    return RankedCandidate(
        candidate_id=c.candidate_id,
        status="ok",
        criteria=crits,
        score=score,
        passing=all(cr.passed is True for cr in crits),
        flags=flags,
        formation_energy_eV_atom=c.thermo.formation_energy_eV_atom,
    )


def _objectives(c: RankingInput) -> tuple[float, float, float] | None:
    v, d, ef = c.thermo.voltage_V, c.D_op_cm2_s, c.thermo.formation_energy_eV_atom
    if v is None or d is None or ef is None or d <= 0:
        return None
    return (-v, math.log10(d), -ef)


def pareto_front(points: dict[str, tuple[float, ...]]) -> set[str]:
    """Ids of the non-dominated points (all objectives maximised)."""
    front = set()
    for i, p in points.items():
        dominated = any(
            all(a >= b for a, b in zip(q, p, strict=True))
            and any(a > b for a, b in zip(q, p, strict=True))
            for j, q in points.items()
            if j != i
        )
        if not dominated:
            front.add(i)
    return front


def rank(
    candidates: Sequence[RankingInput], thresholds: RankingThresholds | None = None
) -> list[RankedCandidate]:
    """Evaluate, score, rank and mark the Pareto set; returns results in rank order.

    Every input appears once in the output; failed candidates come last with their reason.
    """
    th = thresholds or RankingThresholds()
    ids = [c.candidate_id for c in candidates]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate candidate ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    results = {c.candidate_id: evaluate(c, th) for c in candidates}
    objs = {
        c.candidate_id: o
        for c in candidates
        if c.status == "ok" and (o := _objectives(c)) is not None
    }
    for cid in pareto_front(objs):
        results[cid].pareto = True

    def key(r: RankedCandidate) -> tuple:
        ef = r.formation_energy_eV_atom
        return (r.status != "ok", -(r.score or 0.0), ef if ef is not None else math.inf,
                r.candidate_id)  # fmt: skip

    ordered = sorted(results.values(), key=key)
    for i, r in enumerate(ordered, start=1):
        r.rank = i if r.status == "ok" else None
    return ordered
