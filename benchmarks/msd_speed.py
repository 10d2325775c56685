"""MSD / D speed and agreement: screening.diffusion vs pymatgen-analysis-diffusion (and kinisi).

Synthetic trajectory: a Gaussian random walk of N_Li Li atoms with known D in a vibrating, uniformly
drifting Sb host, n_frames frames. Every analysis gets the same unwrapped positions.

    OMP_NUM_THREADS=1 python benchmarks/msd_speed.py [--frames 10000] [--li 96] [--host 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from screening.diffusion import analyze_diffusion
from screening.units import A2_PER_FS_TO_CM2_PER_S


def synthetic(n_frames: int, n_li: int, n_host: int, d_cm2_s: float, dt_fs: float, seed: int = 0):
    """Unwrapped positions (n_frames, n_li + n_host, 3), numbers, cell (Å)."""
    rng = np.random.default_rng(seed)
    box = 14.0
    d_a2fs = d_cm2_s / A2_PER_FS_TO_CM2_PER_S
    steps = rng.normal(scale=np.sqrt(2 * d_a2fs * dt_fs), size=(n_frames, n_li, 3))
    steps[0] = 0.0
    li = rng.uniform(0, box, (1, n_li, 3)) + np.cumsum(steps, axis=0)
    host = rng.uniform(0, box, (1, n_host, 3)) + rng.normal(scale=0.1, size=(n_frames, n_host, 3))
    drift = np.arange(n_frames)[:, None, None] * np.array([1e-3, 0.0, -5e-4])  # whole-cell drift
    pos = np.concatenate([li, host], axis=1) + drift
    numbers = np.array([3] * n_li + [51] * n_host)
    return pos, numbers, np.eye(3) * box


def _timed(fn, repeat: int = 3):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--li", type=int, default=96)
    ap.add_argument("--host", type=int, default=32)
    ap.add_argument("--dt", type=float, default=10.0, help="fs between frames")
    ap.add_argument("--D", type=float, default=1e-5, help="true D, cm²/s")
    ap.add_argument("--kinisi", action="store_true", help="also time kinisi (Bayesian, slower)")
    args = ap.parse_args()

    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import Lattice, Structure

    pos, numbers, cell = synthetic(args.frames, args.li, args.host, args.D, args.dt)
    temperature = 600.0
    print(f"trajectory: {args.frames} frames × {args.li} Li + {args.host} Sb, dt {args.dt} fs, ")
    print(f"true D = {args.D:.3e} cm²/s")

    t_ours, ours = _timed(
        lambda: analyze_diffusion(pos, np.arange(args.frames) * args.dt, numbers, cell, temperature)
    )
    # pymatgen's window: 1 ps .. end of run (min_obs=30 with 96 Li) weighted by 1/dt
    duration = (args.frames - 1) * args.dt
    _, ours_pmgwin = _timed(
        lambda: analyze_diffusion(
            pos,
            np.arange(args.frames) * args.dt,
            numbers,
            cell,
            temperature,
            window=(1000.0, duration),
        ),
        repeat=1,
    )

    lattice = Lattice(cell)
    structure = Structure(
        lattice, ["Li"] * args.li + ["Sb"] * args.host, pos[0], coords_are_cartesian=True
    )
    disp = np.ascontiguousarray((pos - pos[0]).transpose(1, 0, 2))  # (n_sites, n_steps, 3), Å

    def pmg_arrays():
        return DiffusionAnalyzer(structure, disp, "Li", temperature, args.dt, 1, smoothed="max")

    t_pmg, pmg = _timed(pmg_arrays)

    # the usual pymatgen route: a list of Structures (as from Xdatcar/Vasprun), wrapped coordinates
    frac = (pos @ np.linalg.inv(cell)) % 1.0
    species = ["Li"] * args.li + ["Sb"] * args.host
    structures = [Structure(lattice, species, f) for f in frac]

    def pmg_structures():
        return DiffusionAnalyzer.from_structures(
            structures, "Li", temperature, args.dt, 1, smoothed="max"
        )

    t_pmg_s, pmg_s = _timed(pmg_structures, repeat=1)

    print()
    print(f"{'method':44s} {'time (s)':>9s} {'D (cm²/s)':>22s} {'window (ps)':>12s}")
    print(
        f"{'screening.diffusion (blocks, default win)':44s} {t_ours:9.3f} "
        f"{ours.D_cm2_s:10.3e} ± {ours.D_sigma_cm2_s:9.2e} "
        f"{ours.t_start_fs / 1e3:5.1f}-{ours.t_end_fs / 1e3:5.1f}"
    )
    print(
        f"{'screening.diffusion (pymatgen window)':44s} {'':9s} "
        f"{ours_pmgwin.D_cm2_s:10.3e} ± {ours_pmgwin.D_sigma_cm2_s:9.2e} "
        f"{ours_pmgwin.t_start_fs / 1e3:5.1f}-{ours_pmgwin.t_end_fs / 1e3:5.1f}"
    )
    print(
        f"{'pymatgen DiffusionAnalyzer (displacements)':44s} {t_pmg:9.3f} "
        f"{pmg.diffusivity:10.3e} ± {pmg.diffusivity_std_dev:9.2e} "
        f"{pmg.dt[0] / 1e3:5.1f}-{pmg.dt[-1] / 1e3:5.1f}"
    )
    print(
        f"{'pymatgen DiffusionAnalyzer.from_structures':44s} {t_pmg_s:9.3f} "
        f"{pmg_s.diffusivity:10.3e} ± {pmg_s.diffusivity_std_dev:9.2e}"
    )
    if args.kinisi:
        t_kin, kin = _timed(
            lambda: analyze_diffusion(
                pos, np.arange(args.frames) * args.dt, numbers, cell, temperature, method="kinisi"
            ),
            repeat=1,
        )
        print(
            f"{'screening.diffusion method=kinisi':44s} {t_kin:9.3f} "
            f"{kin.D_cm2_s:10.3e} ± {kin.D_sigma_cm2_s:9.2e} "
            f"95% CI {kin.D_ci95_cm2_s[0]:.3e}-{kin.D_ci95_cm2_s[1]:.3e}"
        )
    print()
    print(f"speed-up vs pymatgen (displacement arrays): {t_pmg / t_ours:6.1f}×")
    print(f"speed-up vs pymatgen (from_structures):     {t_pmg_s / t_ours:6.1f}×")
    dev = abs(ours.D_cm2_s - pmg.diffusivity) / ours.D_sigma_cm2_s
    print(f"D(ours)/D(pymatgen) = {ours.D_cm2_s / pmg.diffusivity:.4f}; |ΔD| = {dev:.2f} σ(ours)")
    dev_true = abs(ours.D_cm2_s - args.D) / ours.D_sigma_cm2_s
    print(f"D(ours)/D(true)     = {ours.D_cm2_s / args.D:.4f}; |ΔD| = {dev_true:.2f} σ(ours)")
    print(
        "same window as pymatgen: D(ours)/D(pymatgen) = "
        f"{ours_pmgwin.D_cm2_s / pmg.diffusivity:.4f}"
    )


if __name__ == "__main__":
    main()
