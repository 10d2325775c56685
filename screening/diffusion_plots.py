"""Diffusion plots: MSD(t) with the fit window, and the Arrhenius plot (PNG, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from screening.arrhenius import ArrheniusResult
from screening.atomic import atomic_path
from screening.diffusion_result import DIMENSIONS, DiffusionResult
from screening.units import A2_PER_FS_TO_CM2_PER_S, FS_TO_PS


def _figure():  # Agg explicitly: plots are written on headless machines
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: object, path: Path) -> Path:
    """Write the PNG atomically (never a half-written file)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")  # type: ignore[attr-defined]
    return path


def plot_msd(results: Sequence[DiffusionResult], path: str | Path) -> Path:
    """MSD vs t for each result (one per temperature), fit line and fit window shaded."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    colors = plt.cm.plasma(np.linspace(0.0, 0.85, max(len(results), 1)))
    for res, color in zip(sorted(results, key=lambda r: r.temperature_K), colors, strict=False):
        t_ps = np.asarray(res.msd_t_fs) * FS_TO_PS
        label = f"{res.temperature_K:g} K" + ("" if res.converged else " (not converged)")
        ax.plot(t_ps, res.msd_A2, color=color, lw=1.2, label=label)
        # the tracer-MSD fit is the one drawn on the MSD (a hop-counting D has no line)
        slope = res.D_msd_cm2_s / A2_PER_FS_TO_CM2_PER_S * 2 * DIMENSIONS
        tw = np.array([res.t_start_fs, res.t_end_fs])
        # black and on top: a good fit lies exactly on the curve and would vanish in its colour
        fit = res.fit_intercept_A2 + slope * tw
        ax.plot(tw * FS_TO_PS, fit, color="k", ls="--", lw=1, zorder=3)
        ax.axvspan(res.t_start_fs * FS_TO_PS, res.t_end_fs * FS_TO_PS, color=color, alpha=0.08)
    ax.set_xlabel("t (ps)")
    ax.set_ylabel(f"MSD {results[0].species if results else ''} (Å²)")
    ax.set_title("tracer MSD; shaded: fit window, dashed: fit")
    ax.legend(fontsize=8)
    path = _save(fig, Path(path))
    plt.close(fig)
    return path


def plot_arrhenius(
    arrhenius: ArrheniusResult, path: str | Path, *, show_extrapolation: bool = True
) -> Path:
    """ln(D or σT) vs 1000/T with 1σ error bars, the fit, its 1σ band and the operating points."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    used = [p for p in arrhenius.points if p.used]
    unused = [p for p in arrhenius.points if not p.used]
    for pts, style, lab in ((used, "o", "used"), (unused, "x", "excluded")):
        if not pts:
            continue
        x = np.array([1000.0 / p.temperature_K for p in pts])
        y = np.log([p.value for p in pts])
        err = np.array([(p.sigma or 0.0) / p.value for p in pts])
        ax.errorbar(x, y, yerr=err, fmt=style, color="k" if lab == "used" else "grey", label=lab)
    temps = [p.temperature_K for p in arrhenius.points]
    if show_extrapolation:
        temps += [e.temperature_K for e in arrhenius.extrapolations]
    grid = np.linspace(1000.0 / max(temps), 1000.0 / min(temps), 100)
    preds = [arrhenius.predict(1000.0 / g) for g in grid]
    # predict() returns σ for a σT fit: plot ln(σT) consistently with the points
    scale = 1000.0 / grid if arrhenius.quantity == "sigmaT" else np.ones_like(grid)
    ln_fit = np.log([p.value for p in preds]) + np.log(scale)
    ln_sig = np.array([p.ln_sigma for p in preds])
    ax.plot(
        grid, ln_fit, "C0-", label=f"Ea = {arrhenius.Ea_eV:.3f} ± {arrhenius.Ea_sigma_eV:.3f} eV"
    )
    ax.fill_between(grid, ln_fit - ln_sig, ln_fit + ln_sig, color="C0", alpha=0.2)
    if show_extrapolation:
        for i, e in enumerate(arrhenius.extrapolations):
            s = e.temperature_K if arrhenius.quantity == "sigmaT" else 1.0
            ax.errorbar(
                1000.0 / e.temperature_K,
                np.log(e.value * s),
                yerr=e.ln_sigma,
                fmt="s",
                color="C3",
                label="fit at operating T" if i == 0 else None,
            )
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("ln D (cm²/s)" if arrhenius.quantity == "D" else "ln σT (S·K/cm)")
    ax.legend(fontsize=8)
    path = _save(fig, Path(path))
    plt.close(fig)
    return path


def make_diffusion_plots(
    results: Sequence[DiffusionResult],
    out_dir: str | Path,
    arrhenius: ArrheniusResult | None = None,
    *,
    stem: str = "diffusion",
) -> list[Path]:
    """Write ``<stem>_msd.png`` and (with a fit) ``<stem>_arrhenius.png`` into ``out_dir``."""
    out = Path(out_dir)
    paths = [plot_msd(results, out / f"{stem}_msd.png")]
    if arrhenius is not None:
        paths.append(plot_arrhenius(arrhenius, out / f"{stem}_arrhenius.png"))
    return paths


__all__ = ["make_diffusion_plots", "plot_arrhenius", "plot_msd"]
