"""Ionic and electronic conductivity at the operating temperature, and the conduction class.

Criterion 3 sorts an interlayer by the balance of its two conductivities (the 2024 Nature Energy
interlayer study, see SCIENCE.md): an *ionic* conductor (σ_e ≪ σ_ion) lets dendrites grow, an
*electronic* conductor (σ_e ≫ σ_ion) lets Li plate inside the layer, a *mixed* conductor works.
This module computes both σ at T_op and the class; the ranking only applies the bounds.

* σ_ion(T_op) — Nernst–Einstein on the Arrhenius-extrapolated tracer D(T_op) and the Li density of
  the MD cell (Haven ratio 1: the collective D of a short MD run is too noisy to extrapolate;
  DiffusionResult reports H at each MD temperature). 1σ is propagated linearly from σ(D).
* σ_e(T_op) — in this order of evidence:

  1. a cited measured conductivity (``sigma_e_S_cm`` in ``screening/data/electronic.yaml``),
     source ``literature: <citation>``;
  2. metal: free-electron Drude σ = n e² τ / m_e, n = outer s+p electrons per volume of the
     relaxed cell, τ = ``tau_s`` (1e-14 s: room-temperature τ of simple metals are 0.8–4e-14 s,
     Ashcroft & Mermin, *Solid State Physics*, Table 1.3). Checked against measured Li, Mg and
     Ag within a factor 3 (tests). An alloy's disorder scattering lowers τ, so this is an upper
     estimate;
  3. gapped phase: intrinsic carriers n_i = √(N_c N_v)·exp(−E_g/2k_BT),
     N_c,v = 2(2π m*_{e,h} k_BT/h²)^{3/2}, σ = n_i e (μ_e + μ_h), with stated effective masses and
     mobilities and a PBE gap correction (a scissor, ``gap_shift_eV``, applied only to gaps from a
     PBE calculation). Default 0.5 eV: PBE gives Si 0.61 eV against 1.17 eV measured (0 K), and
     the same shift brings Si's computed σ_i to its textbook value (tests). Defects and Li
     off-stoichiometry add carriers, so the intrinsic σ_e is a lower estimate.

  Order of magnitude is the honest precision of every σ_e estimate: each comes with a range
  (``range_S_cm``): ×/÷ ``spread_decades`` for Drude; for the intrinsic estimate from
  (corrected gap, mobility ÷ 10^spread) to (uncorrected gap, mobility × 10^spread).
"""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from screening.diffusion import nernst_einstein_S_cm
from screening.electronic import ElectronicAssessment, ElectronicClass
from screening.units import E_CHARGE_C, KB_EV, KB_J

#: Planck constant (J s) and electron mass (kg), CODATA 2018 exact / recommended values
H_J_S = 6.62607015e-34
M_E_KG = 9.1093837139e-31

#: upper bound on σ_ion of any solid Li conductor (S/cm). The best known reach ~2.5e-2 S/cm at
#: 298 K (Li9.54Si1.74P1.44S11.7Cl0.3, Kato et al., Nat. Energy 1, 16030 (2016)); 1 S/cm leaves a
#: 40x margin. With it a metal is an electronic conductor even when its D(T_op) is not converged.
SIGMA_ION_CEILING_S_CM = 1.0

#: decades outside the mixed band at which the class score reaches 0
CLASS_SCORE_DECADES = 3.0


class ConductionClass(StrEnum):
    """Balance of electronic and ionic conduction (criterion 3)."""

    IONIC = "ionic conductor"
    MIXED = "mixed conductor"
    ELECTRONIC = "electronic conductor"
    UNKNOWN = "?"


class SigmaEModel(BaseModel):
    """Stated parameters of the σ_e estimates; the ``ranking.sigma_e`` section of a campaign."""

    model_config = ConfigDict(extra="forbid")

    gap_shift_eV: float = Field(
        default=0.5,
        ge=0,
        description="scissor added to PBE gaps (PBE Si 0.61 eV vs 1.17 eV measured)",
    )
    m_e_eff: float = Field(default=1.0, gt=0, description="electron DOS effective mass / m_e")
    m_h_eff: float = Field(default=1.0, gt=0, description="hole DOS effective mass / m_e")
    mobility_e_cm2_Vs: float = Field(
        default=10.0,
        gt=0,
        description="electron mobility; assumption (no measured value for Li–M phases here), "
        "σ_e scales with it",
    )
    mobility_h_cm2_Vs: float = Field(default=10.0, gt=0, description="hole mobility; assumption")
    tau_s: float = Field(
        default=1e-14,
        gt=0,
        description="Drude relaxation time (Ashcroft & Mermin Table 1.3: 0.8–4e-14 s at 273 K)",
    )
    spread_decades: float = Field(
        default=1.0, ge=0, description="order-of-magnitude uncertainty of mobility / τ"
    )


class Conductivity(BaseModel):
    """One conductivity at one temperature, with its uncertainty and where it came from."""

    S_cm: float | None = Field(description="S/cm; None when it cannot be computed (see note)")
    sigma_S_cm: float | None = Field(default=None, description="1σ (σ_ion: from σ of D)")
    range_S_cm: tuple[float, float] | None = Field(
        default=None, description="order-of-magnitude band of an estimate (low, high)"
    )
    temperature_K: float | None = None
    source: str = Field(
        description="'computed (...)' | 'estimate (...)' | 'literature: <citation>' | 'none'"
    )
    method: str = Field(default="", description="formula and the parameters used")
    note: str | None = Field(default=None, description="why it is missing, or caveats")


# ------------------------------------------------------------------------------------- ionic


def ionic_conductivity(
    D_cm2_s: float,
    D_sigma_cm2_s: float | None,
    *,
    n_li: int,
    volume_A3: float,
    temperature_K: float,
) -> tuple[float, float | None]:
    """σ_ion(T) ± 1σ from D(T) ± 1σ of Li in a cell with ``n_li`` Li atoms in ``volume_A3``."""
    value = nernst_einstein_S_cm(D_cm2_s, n_li, volume_A3, temperature_K)
    sigma = None
    if D_sigma_cm2_s is not None:
        sigma = nernst_einstein_S_cm(D_sigma_cm2_s, n_li, volume_A3, temperature_K)
    return value, sigma


IONIC_METHOD = "Nernst–Einstein σ = n e² D(T_op)/(k_B T_op), Arrhenius D(T_op), Haven ratio 1"


def ionic_record(
    S_cm: float | None,
    sigma_S_cm: float | None,
    temperature_K: float | None,
    why: str,
    origin: str = "MD",
) -> Conductivity:
    """The σ_ion(T_op) record of a candidate; ``why`` says what is missing when S_cm is None,
    ``origin`` which transport D(T_op) came from (MD or NEB-TST)."""
    if S_cm is None:
        return Conductivity(
            S_cm=None, temperature_K=temperature_K, source="none", method=IONIC_METHOD, note=why
        )
    return Conductivity(
        S_cm=S_cm,
        sigma_S_cm=sigma_S_cm,
        temperature_K=temperature_K,
        source=f"computed ({origin})",
        method=IONIC_METHOD,
    )


# ---------------------------------------------------------------------------------- electronic


def effective_dos_cm3(m_eff: float, temperature_K: float) -> float:
    """Effective density of states N = 2 (2π m* k_B T / h²)^{3/2} in cm⁻³."""
    return 2.0 * (2 * math.pi * m_eff * M_E_KG * KB_J * temperature_K / H_J_S**2) ** 1.5 * 1e-6


def intrinsic_carrier_density_cm3(
    gap_eV: float, temperature_K: float, *, m_e_eff: float = 1.0, m_h_eff: float = 1.0
) -> float:
    """n_i = √(N_c N_v)·exp(−E_g / 2k_BT) in cm⁻³."""
    nc = effective_dos_cm3(m_e_eff, temperature_K)
    nv = effective_dos_cm3(m_h_eff, temperature_K)
    return math.sqrt(nc * nv) * math.exp(-gap_eV / (2 * KB_EV * temperature_K))


def intrinsic_conductivity_S_cm(
    gap_eV: float,
    temperature_K: float,
    *,
    m_e_eff: float,
    m_h_eff: float,
    mobility_e_cm2_Vs: float,
    mobility_h_cm2_Vs: float,
) -> float:
    """σ_i = n_i e (μ_e + μ_h) in S/cm."""
    n_i = intrinsic_carrier_density_cm3(gap_eV, temperature_K, m_e_eff=m_e_eff, m_h_eff=m_h_eff)
    return n_i * E_CHARGE_C * (mobility_e_cm2_Vs + mobility_h_cm2_Vs)


def free_electron_valence(symbol: str) -> int | None:
    """Electrons in the outermost s and p shells (Li 1, Mg 2, Ag 1, Sb 5); None for an element
    with an open d or f shell, for which a free-electron count means nothing."""
    from pymatgen.core import Element

    shells = Element(symbol).full_electronic_structure
    if any((sub == "d" and occ < 10) or (sub == "f" and occ < 14) for _, sub, occ in shells):
        return None
    n_max = max(n for n, _, _ in shells)
    return sum(occ for n, sub, occ in shells if n == n_max and sub in "sp")


def free_electron_density_cm3(formula: str, volume_per_atom_A3: float) -> float | None:
    """Valence electrons per cm³ of a phase (None when an element has an open d/f shell)."""
    from pymatgen.core import Composition

    comp = Composition(formula)
    total = 0.0
    for el, amount in comp.items():
        z = free_electron_valence(el.symbol)
        if z is None:
            return None
        total += z * amount
    return total / comp.num_atoms / (volume_per_atom_A3 * 1e-24)


def drude_conductivity_S_cm(n_cm3: float, tau_s: float, m_eff: float = 1.0) -> float:
    """Drude σ = n e² τ / m in S/cm (n in cm⁻³)."""
    return n_cm3 * 1e6 * E_CHARGE_C**2 * tau_s / (m_eff * M_E_KG) / 100.0


def _missing(T: float | None, why: str) -> Conductivity:
    return Conductivity(S_cm=None, temperature_K=T, source="none", note=why)


def electronic_conductivity(
    electronic: ElectronicAssessment | None,
    *,
    formula: str,
    volume_per_atom_A3: float | None,
    temperature_K: float | None,
    model: SigmaEModel | None = None,
) -> Conductivity:
    """σ_e(T_op) of a phase from its electronic assessment (see the module docstring)."""
    m = model or SigmaEModel()
    T = temperature_K
    if electronic is None:
        return _missing(T, "no electronic assessment")
    if electronic.sigma_e_S_cm is not None:
        at = f" at {electronic.sigma_e_T_K:g} K" if electronic.sigma_e_T_K else ""
        return Conductivity(
            S_cm=electronic.sigma_e_S_cm,
            temperature_K=electronic.sigma_e_T_K or T,
            source=electronic.source,
            method=f"measured σ_e{at}",
            note=electronic.note,
        )
    if T is None:
        return _missing(T, "no operating temperature")
    spread = 10.0**m.spread_decades
    cls = electronic.electronic_class
    if cls is ElectronicClass.METAL:
        if volume_per_atom_A3 is None:
            return _missing(T, "metal, but no relaxed volume for the free-electron density")
        n = free_electron_density_cm3(formula, volume_per_atom_A3)
        if n is None:
            return _missing(T, f"metal, but {formula} has an open d/f shell (no free-electron n)")
        s = drude_conductivity_S_cm(n, m.tau_s)
        return Conductivity(
            S_cm=s,
            range_S_cm=(s / spread, s * spread),
            temperature_K=T,
            source=f"estimate (Drude; class from {electronic.source})",
            method=f"σ = n e² τ/m_e, n = {n:.2e} cm⁻³ (outer s+p electrons), τ = {m.tau_s:.1e} s",
        )
    gap = electronic.band_gap_eV
    if gap is None:
        return _missing(T, f"{cls.value} without a band gap value")
    pbe = "pbe" in electronic.source.lower()
    corrected = gap + (m.gap_shift_eV if pbe else 0.0)

    def sigma(g: float, mu_factor: float) -> float:
        return intrinsic_conductivity_S_cm(
            g, T, m_e_eff=m.m_e_eff, m_h_eff=m.m_h_eff,
            mobility_e_cm2_Vs=m.mobility_e_cm2_Vs * mu_factor,
            mobility_h_cm2_Vs=m.mobility_h_cm2_Vs * mu_factor,
        )  # fmt: skip

    shift = f"PBE {gap:.2f} + {m.gap_shift_eV:.2f} eV" if pbe else f"{gap:.2f} eV (as cited)"
    return Conductivity(
        S_cm=sigma(corrected, 1.0),
        range_S_cm=(sigma(corrected, 1.0 / spread), sigma(gap, spread)),
        temperature_K=T,
        source=f"estimate (intrinsic; gap from {electronic.source})",
        method=f"σ = n_i e (μ_e+μ_h), E_g = {shift}, m*_e = {m.m_e_eff:g}, m*_h = "
        f"{m.m_h_eff:g}, μ_e = {m.mobility_e_cm2_Vs:g}, μ_h = {m.mobility_h_cm2_Vs:g} cm²/Vs",
        note="lower estimate: defect and off-stoichiometry carriers are not included",
    )


# ------------------------------------------------------------------------------------- class


def classify_ratio(ratio: float, bounds: tuple[float, float]) -> ConductionClass:
    """Class of σ_e/σ_ion: ionic below ``bounds[0]``, electronic above ``bounds[1]``, else mixed
    (both bounds belong to the mixed class)."""
    lo, hi = bounds
    if ratio < lo:
        return ConductionClass.IONIC
    if ratio > hi:
        return ConductionClass.ELECTRONIC
    return ConductionClass.MIXED


def class_score(ratio: float, bounds: tuple[float, float]) -> float:
    """1 inside the mixed band, falling linearly to 0 at ``CLASS_SCORE_DECADES`` outside it."""
    lo, hi = bounds
    if lo <= ratio <= hi:
        return 1.0
    decades = math.log10(lo / ratio) if ratio < lo else math.log10(ratio / hi)
    return max(0.0, 1.0 - decades / CLASS_SCORE_DECADES)


class ConductionVerdict(BaseModel):
    """Conduction class of one candidate, the ratio behind it and the rule that decided it."""

    conduction_class: ConductionClass
    ratio: float | None = Field(description="σ_e/σ_ion (a lower bound when σ_ion is unknown)")
    score: float = Field(ge=0.0, le=1.0)
    rule: str
    robust: bool | None = Field(
        default=None, description="the ends of the σ_e range give the same class"
    )


def conduction_class(
    sigma_e: Conductivity | None, sigma_ion: Conductivity | None, bounds: tuple[float, float]
) -> ConductionVerdict:
    """Class from σ_e/σ_ion; '?' with the reason when an input is missing.

    A σ_e so high that even σ_ion = ``SIGMA_ION_CEILING_S_CM`` leaves the ratio above the upper
    bound decides 'electronic' without σ_ion (a metal needs no converged D for that).
    """
    lo, hi = bounds
    band = f"mixed if {lo:g} ≤ σ_e/σ_ion ≤ {hi:g}"
    se = sigma_e.S_cm if sigma_e else None
    si = sigma_ion.S_cm if sigma_ion else None
    if se is None:
        why = (sigma_e.note if sigma_e else None) or "no σ_e"
        return ConductionVerdict(conduction_class=ConductionClass.UNKNOWN, ratio=None, score=0.0,
                                 rule=f"σ_e unknown: {why}")  # fmt: skip
    if si is None or si <= 0:
        low = sigma_e.range_S_cm[0] if sigma_e and sigma_e.range_S_cm else se
        bound = low / SIGMA_ION_CEILING_S_CM
        if bound > hi:
            return ConductionVerdict(
                conduction_class=ConductionClass.ELECTRONIC,
                ratio=bound,
                score=class_score(bound, bounds),
                rule=f"σ_ion unknown, but σ_e ≥ {low:.1e} S/cm exceeds {hi:g} × "
                f"{SIGMA_ION_CEILING_S_CM:g} S/cm (above any solid Li conductor)",
                robust=True,
            )
        why = (sigma_ion.note if sigma_ion else None) or "no σ_ion"
        return ConductionVerdict(conduction_class=ConductionClass.UNKNOWN, ratio=None, score=0.0,
                                 rule=f"σ_ion unknown: {why}")  # fmt: skip
    ratio = se / si
    cls = classify_ratio(ratio, bounds)
    robust = None
    rule = f"σ_e/σ_ion = {ratio:.1e}; {band}"
    if sigma_e and sigma_e.range_S_cm:
        ends = {classify_ratio(s / si, bounds) for s in sigma_e.range_S_cm}
        robust = ends == {cls}
        if not robust:
            rule += "; σ_e range spans " + " / ".join(sorted(c.value for c in ends | {cls}))
    return ConductionVerdict(
        conduction_class=cls, ratio=ratio, score=class_score(ratio, bounds), rule=rule,
        robust=robust,
    )  # fmt: skip
