"""Arrhenius fits with uncertainties: D = D0·exp(−Ea/kBT) or σT = A·exp(−Ea/kBT).

Weighted least squares in ln space (σ_ln = σ(D)/D). Ea and ln(prefactor) come with their covariance,
which is what makes the extrapolation to operating temperatures honest: var(ln D) = var(ln D0)
+ x²·var(Ea) − 2x·cov(ln D0, Ea) with x = 1/kBT. Unconverged points are excluded by default.

σ(Ea) comes from the D uncertainties alone (not rescaled by the residuals: with three points one
residual cannot measure the scatter, and rescaling hides a bad point instead of naming it). How
well the line fits is a number beside it (χ²_red and its p-value), and with ≥ 3 points each point is
tested against the line through the others: a point more than ``OUTLIER_SIGMA`` off (a phase change,
melting, an unconverged D) is flagged by temperature.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import chi2 as chi2_dist

from screening.errors import InputError
from screening.units import KB_EV

log = logging.getLogger(__name__)

#: default operating temperatures (room temperature and 75 °C)
DEFAULT_OPERATING_K: tuple[float, ...] = (298.0, 348.0)
#: a point this many σ off the line through the other points is flagged
OUTLIER_SIGMA = 3.0

Quantity = Literal["D", "sigmaT"]
_UNITS = {"D": "cm^2/s", "sigmaT": "S K/cm"}


class ArrheniusPoint(BaseModel):
    """One input point and whether the fit used it."""

    model_config = ConfigDict(frozen=True)

    temperature_K: float
    value: float
    sigma: float | None
    converged: bool
    used: bool
    note: str = ""


class Extrapolation(BaseModel):
    """Fitted quantity at one temperature (D in cm²/s, or σ in S/cm for a σT fit)."""

    model_config = ConfigDict(frozen=True)

    temperature_K: float
    value: float
    sigma: float = Field(description="1σ, linearised: value·σ(ln value)")
    ln_sigma: float = Field(description="1σ of ln(value); the interval is value·exp(±ln_sigma)")
    lower_1sigma: float
    upper_1sigma: float
    unit: str
    extrapolated: bool = Field(description="outside the fitted temperature range")


class ArrheniusResult(BaseModel):
    """Ea ± σ, prefactor ± σ, their covariance, and extrapolations."""

    model_config = ConfigDict(frozen=True)

    quantity: Quantity
    unit: str
    Ea_eV: float
    Ea_sigma_eV: float
    prefactor: float = Field(description="D0 (cm²/s) or A (S·K/cm)")
    prefactor_sigma: float
    ln_prefactor: float
    ln_prefactor_sigma: float
    cov_ln_prefactor_Ea: float
    n_points: int
    dof: int
    chi2_reduced: float | None
    p_value: float | None = Field(description="P(χ² ≥ observed) for dof degrees of freedom")
    outliers_K: list[float] = Field(
        default_factory=list,
        description="temperatures > OUTLIER_SIGMA off the line through the other points",
    )
    weighted: bool
    temperatures_used_K: list[float]
    points: list[ArrheniusPoint]
    extrapolations: list[Extrapolation]
    note: str = ""

    def predict(self, temperature_K: float) -> Extrapolation:
        """Value (and σ) of the fitted quantity at ``temperature_K``."""
        return _extrapolate(
            self.quantity,
            self.ln_prefactor,
            self.Ea_eV,
            np.array(
                [
                    [self.ln_prefactor_sigma**2, self.cov_ln_prefactor_Ea],
                    [self.cov_ln_prefactor_Ea, self.Ea_sigma_eV**2],
                ]
            ),
            temperature_K,
            (min(self.temperatures_used_K), max(self.temperatures_used_K)),
        )


def _extrapolate(
    quantity: Quantity,
    ln_a: float,
    ea: float,
    cov: np.ndarray,
    temperature_K: float,
    t_range: tuple[float, float],
) -> Extrapolation:
    x = 1.0 / (KB_EV * temperature_K)
    ln_v = ln_a - ea * x
    grad = np.array([1.0, -x])
    var = float(grad @ cov @ grad)
    ln_s = float(np.sqrt(max(var, 0.0)))
    if quantity == "sigmaT":  # report σ itself: σ = (σT)/T, same relative error
        ln_v -= np.log(temperature_K)
    value = float(np.exp(ln_v))
    return Extrapolation(
        temperature_K=temperature_K,
        value=value,
        sigma=value * ln_s,
        ln_sigma=ln_s,
        lower_1sigma=float(np.exp(ln_v - ln_s)),
        upper_1sigma=float(np.exp(ln_v + ln_s)),
        unit="cm^2/s" if quantity == "D" else "S/cm",
        extrapolated=not (t_range[0] - 1e-9 <= temperature_K <= t_range[1] + 1e-9),
    )


def _outliers(design: np.ndarray, y: np.ndarray, w: np.ndarray, temps: np.ndarray) -> list[float]:
    """Temperatures > OUTLIER_SIGMA from the weighted line through the other points.

    The worst point is named first and left out before the next is tested (a single bad point
    would otherwise drag the line and make every good point look off it); ≥ 3 points must remain.
    """
    keep = np.ones(len(y), dtype=bool)
    out: list[float] = []
    while keep.sum() >= 3:
        z = np.zeros(len(y))
        for i in np.flatnonzero(keep):
            rest = keep.copy()
            rest[i] = False
            a = design[rest]
            cov = np.linalg.inv(a.T @ (w[rest, None] * a))
            params = cov @ (a.T @ (w[rest] * y[rest]))
            pred_var = float(design[i] @ cov @ design[i])
            z[i] = (y[i] - design[i] @ params) / np.sqrt(1.0 / w[i] + pred_var)
        worst = int(np.argmax(np.abs(z)))
        if abs(z[worst]) <= OUTLIER_SIGMA:
            break
        out.append(float(temps[worst]))
        keep[worst] = False
    return sorted(out)


def fit_arrhenius(
    temperatures_K: Sequence[float],
    values: Sequence[float],
    sigmas: Sequence[float | None] | None = None,
    *,
    converged: Sequence[bool] | None = None,
    include_unconverged: bool = False,
    quantity: Quantity = "D",
    operating_K: Sequence[float] = DEFAULT_OPERATING_K,
) -> ArrheniusResult:
    """Fit ln(value) = ln(prefactor) − Ea/(kB·T).

    ``values`` are D (cm²/s) for quantity "D" or σ·T (S·K/cm) for "sigmaT"; ``sigmas`` their 1σ.
    With σ for every point the fit is weighted (w = (value/σ)²) and the covariance uses those σ
    only (module doc). Without σ: unweighted, covariance from the residuals (needs ≥ 3 points).
    Two points give an exact line (0 dof) with σ propagated from the two σ.
    Points flagged unconverged are excluded unless ``include_unconverged``.
    """
    temps = np.asarray(temperatures_K, dtype=np.float64)
    vals = np.asarray(values, dtype=np.float64)
    n = len(temps)
    if vals.shape != (n,):
        raise InputError("temperatures and values differ in length", field="values")
    sig_list = [None] * n if sigmas is None else list(sigmas)
    if len(sig_list) != n:
        raise InputError("temperatures and sigmas differ in length", field="sigmas")
    conv = [True] * n if converged is None else [bool(c) for c in converged]

    points: list[ArrheniusPoint] = []
    use = np.zeros(n, dtype=bool)
    for i in range(n):
        note = ""
        ok = True
        if not (temps[i] > 0 and vals[i] > 0 and np.isfinite(vals[i])):
            ok, note = False, "non-positive value or temperature"
        elif not conv[i] and not include_unconverged:
            ok, note = False, "not converged"
        elif not conv[i]:
            note = "not converged (included on request)"
        use[i] = ok
        points.append(
            ArrheniusPoint(
                temperature_K=float(temps[i]),
                value=float(vals[i]),
                sigma=None if sig_list[i] is None else float(sig_list[i]),
                converged=conv[i],
                used=ok,
                note=note,
            )
        )
    if len(np.unique(temps[use])) < 2:
        raise InputError(
            f"an Arrhenius fit needs ≥ 2 usable temperatures, have {int(use.sum())} "
            f"(excluded: {[p.temperature_K for p in points if not p.used]})",
            field="temperatures",
        )

    t_u, v_u = temps[use], vals[use]
    s_u = [sig_list[i] for i in np.flatnonzero(use)]
    weighted = all(s is not None and s > 0 for s in s_u)
    x = 1.0 / (KB_EV * t_u)
    y = np.log(v_u)
    design = np.column_stack([np.ones_like(x), -x])  # params: ln A, Ea
    m = len(x)
    dof = m - 2
    if weighted:
        s_ln = np.asarray(s_u, dtype=np.float64) / v_u
        w = 1.0 / s_ln**2
    else:
        if m < 3:
            raise InputError(
                "an unweighted Arrhenius fit needs ≥ 3 points (give σ for each point)",
                field="sigmas",
            )
        w = np.ones(m)
    normal = design.T @ (w[:, None] * design)
    cov = np.linalg.inv(normal)
    params = cov @ (design.T @ (w * y))
    resid = y - design @ params
    chi2 = float(np.sum(w * resid**2))
    chi2_red = chi2 / dof if dof > 0 else None
    p_value = float(chi2_dist.sf(chi2, dof)) if weighted and dof > 0 else None
    if not weighted:
        cov = cov * chi2_red  # type: ignore[operator]
    outliers = _outliers(design, y, w, t_u) if weighted and m >= 3 else []
    ln_a, ea = float(params[0]), float(params[1])
    ln_a_sigma, ea_sigma = float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1]))
    note = "exact line through 2 points: 0 degrees of freedom, σ propagated" if dof == 0 else ""
    if outliers:
        note = (
            f"off the Arrhenius line (> {OUTLIER_SIGMA:g}σ from the fit through the other points): "
            + ", ".join(f"{t:g} K" for t in outliers)
            + " — a phase change, melting or an unconverged D?"
        )
    elif p_value is not None and p_value < 0.01:
        note = f"poor fit: χ²_red = {chi2_red:.2f} (p = {p_value:.2g})"
    t_range = (float(t_u.min()), float(t_u.max()))
    extrap = [_extrapolate(quantity, ln_a, ea, cov, float(t), t_range) for t in operating_K]
    return ArrheniusResult(
        quantity=quantity,
        unit=_UNITS[quantity],
        Ea_eV=ea,
        Ea_sigma_eV=ea_sigma,
        prefactor=float(np.exp(ln_a)),
        prefactor_sigma=float(np.exp(ln_a) * ln_a_sigma),
        ln_prefactor=ln_a,
        ln_prefactor_sigma=ln_a_sigma,
        cov_ln_prefactor_Ea=float(cov[0, 1]),
        n_points=m,
        dof=dof,
        chi2_reduced=chi2_red,
        p_value=p_value,
        outliers_K=outliers,
        weighted=weighted,
        temperatures_used_K=[float(t) for t in t_u],
        points=points,
        extrapolations=extrap,
        note=note,
    )


def arrhenius_from_results(
    results: Sequence[object],
    *,
    quantity: Quantity = "D",
    include_unconverged: bool = False,
    operating_K: Sequence[float] = DEFAULT_OPERATING_K,
) -> ArrheniusResult:
    """Arrhenius fit over several :class:`screening.diffusion.DiffusionResult` (one per T)."""
    temps = [r.temperature_K for r in results]  # type: ignore[attr-defined]
    if quantity == "D":
        vals = [r.D_cm2_s for r in results]  # type: ignore[attr-defined]
        sig = [r.D_sigma_cm2_s for r in results]  # type: ignore[attr-defined]
    else:
        vals = [r.sigma_S_cm * r.temperature_K for r in results]  # type: ignore[attr-defined]
        sig = [
            None if r.sigma_sigma_S_cm is None else r.sigma_sigma_S_cm * r.temperature_K  # type: ignore[attr-defined]
            for r in results
        ]
    return fit_arrhenius(
        temps,
        vals,
        sig,
        converged=[r.converged for r in results],  # type: ignore[attr-defined]
        include_unconverged=include_unconverged,
        quantity=quantity,
        operating_K=operating_K,
    )


__all__ = [
    "DEFAULT_OPERATING_K",
    "ArrheniusPoint",
    "ArrheniusResult",
    "Extrapolation",
    "arrhenius_from_results",
    "fit_arrhenius",
]
