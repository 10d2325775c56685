"""Plots of the NEB results: energy along each hop, and MD D(T) beside the TST line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from screening.barriers import NEBTransport
from screening.diffusion_plots import _figure, _save
from screening.diffusion_result import DiffusionResult


def _finish(plt: Any, fig: Any, ax: Any, xlabel: str, ylabel: str, path: Path) -> Path:
    """Label, legend, write atomically, close."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    out = _save(fig, path)
    plt.close(fig)
    return out


def plot_hop_energies(neb: NEBTransport, path: Path) -> Path:
    """Energy (relative to the lower endpoint) along the band of every distinct hop."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for hop in neb.neb.hops:
        e0 = min(hop.e_start_eV, hop.e_end_eV)
        e = np.array(hop.image_energies_eV) - e0
        style = "o-" if hop.converged else "x--"
        label = f"hop {hop.label} ({hop.length_A:.2f} Å, ×{hop.multiplicity})"
        ax.plot(hop.image_path_A, e, style, label=label)
    return _finish(plt, fig, ax, "path length (Å)", "E − E(lower end) (eV)", path)


def plot_md_vs_tst(neb: NEBTransport, md: Sequence[DiffusionResult], path: Path) -> Path:
    """ln D vs 1000/T: MD points (converged filled, others open) and the TST line with 1σ band."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    pts = [p for p in neb.points if p.D_cm2_s]
    if pts:
        x = np.array([1000.0 / p.temperature_K for p in pts])
        y = np.log([p.D_cm2_s for p in pts])
        s = np.array([(p.D_sigma_cm2_s or 0.0) / p.D_cm2_s for p in pts])
        order = np.argsort(x)
        label = f"NEB-TST, Ea = {neb.Ea_eV or float('nan'):.3f} eV"
        ax.plot(x[order], y[order], "C0-", label=label)
        ax.fill_between(x[order], (y - s)[order], (y + s)[order], color="C0", alpha=0.2)
    for r in md:
        if not r.D_cm2_s or r.D_cm2_s <= 0:
            continue
        err = (r.D_sigma_cm2_s or 0.0) / r.D_cm2_s
        fill = "k" if r.converged else "none"
        x_md, y_md = 1000.0 / r.temperature_K, np.log(r.D_cm2_s)
        ax.errorbar(x_md, y_md, yerr=err, fmt="o", mfc=fill, color="k")
    ax.plot([], [], "ko", label="MD (open: not converged)")
    return _finish(plt, fig, ax, "1000 / T (1/K)", "ln D (cm²/s)", path)


def plot_neb(neb: NEBTransport, md: Sequence[DiffusionResult], out_dir: Path) -> list[Path]:
    """Both NEB plots of a candidate into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    if neb.neb.hops:
        paths.append(plot_hop_energies(neb, out_dir / "neb_hops.png"))
    if neb.points:
        paths.append(plot_md_vs_tst(neb, md, out_dir / "arrhenius_md_vs_tst.png"))
    return paths
