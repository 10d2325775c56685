"""D on real trajectories, side by side: ilscreen's default vs pymatgen-analysis-diffusion, kinisi
and the previous ilscreen default (mean of 5 short-block fits, each over 15–60 % of its block).

Every method reads the same file through :func:`screening.trajectory_files.load_trajectory_file`
(unwrapped positions). pymatgen: ``DiffusionAnalyzer`` with its defaults (``smoothed="max"``, its
own fit window, its own drift removal). kinisi: ``DiffusionAnalyzer.from_ase`` on 150 lags evenly
spaced over the whole run (its default, every lag, makes the likelihood O(n_frames²) per sample),
its Bayesian regression started at ilscreen's window start (kinisi needs the start of the
diffusive regime from the user), tracer D = posterior mean ± std.

    OMP_NUM_THREADS=1 python benchmarks/diffusion_reference.py RUN.h5 [XDATCAR --timestep 2
        --stride 50 --temperature 500] [--format markdown]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from screening.diffusion import analyze_diffusion
from screening.msd import drift_corrected_displacements, msd_sums
from screening.trajectory_files import load_trajectory_file
from screening.units import A2_PER_FS_TO_CM2_PER_S


def previous_default(pos: np.ndarray, numbers: np.ndarray, dt_fs: float) -> tuple[float, float]:
    """The estimator this project used before: mean ± sem of 5 block fits over 15–60 % of each
    block (the whole run's 1 ps floor scaled into the block), kept here as the baseline."""
    from ase.data import atomic_masses

    mask = numbers == 3
    disp, _ = drift_corrected_displacements(pos, mask, atomic_masses[numbers])
    sig = disp.transpose(1, 2, 0)
    n_sp, _, n = sig.shape
    duration = (n - 1) * dt_fs
    t0 = max(1000.0, 0.15 * duration)
    t1 = 0.6 * duration
    if t0 >= 0.5 * t1:
        t0 = 0.15 * duration
    m = 5
    bl = n // m
    f0, f1 = t0 / duration, t1 / duration
    bt0, bt1 = f0 * (bl - 1) * dt_fs, f1 * (bl - 1) * dt_fs
    blocks = sig.reshape(n_sp * 3, n)[:, : bl * m].reshape(n_sp * 3, m, bl)
    sq = np.einsum("sbt,sbt->bt", blocks, blocks)
    msd = msd_sums(blocks.transpose(1, 0, 2), sq, bl) / n_sp
    lag = np.arange(bl) * dt_fs
    sel = (lag >= bt0 - 1e-9) & (lag <= bt1 + 1e-9)
    d = np.polyfit(lag[sel], msd[:, sel].T, 1)[0] / 6 * A2_PER_FS_TO_CM2_PER_S
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(m))


def pymatgen_D(pos, numbers, cell, dt_fs, temperature) -> tuple[float, float]:
    from ase.data import chemical_symbols
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import Lattice, Structure

    species = [chemical_symbols[z] for z in numbers]
    structure = Structure(Lattice(cell), species, pos[0], coords_are_cartesian=True)
    disp = (pos - pos[0]).transpose(1, 0, 2)
    da = DiffusionAnalyzer(structure, disp, "Li", temperature, dt_fs, 1, smoothed="max")
    return float(da.diffusivity), float(da.diffusivity_std_dev)


def kinisi_D(pos, numbers, cell, dt_fs, start_fs) -> tuple[float, float]:
    import scipp as sc
    from ase import Atoms
    from kinisi.analyze import DiffusionAnalyzer

    images = [Atoms(numbers=numbers, positions=p, cell=cell, pbc=True) for p in pos]
    lags = np.unique(np.linspace(1, len(pos) - 1, 150).round().astype(int))
    da = DiffusionAnalyzer.from_ase(
        images,
        specie="Li",
        time_step=sc.scalar(dt_fs, unit="fs"),
        step_skip=sc.scalar(1, unit=sc.units.dimensionless),
        dt=sc.array(dims=["time interval"], values=lags * dt_fs, unit="fs"),
        progress=False,
    )
    da.diffusion(
        sc.scalar(start_fs, unit="fs"), progress=False, random_state=np.random.RandomState(0)
    )
    samples = np.asarray(sc.to_unit(da.D, "cm^2/s").values)
    return float(samples.mean()), float(samples.std(ddof=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--timestep", type=float, help="fs, for XDATCARs")
    ap.add_argument("--stride", type=int, help="steps per frame, for XDATCARs")
    ap.add_argument("--temperature", type=float, help="K, for XDATCARs (σ only; D needs no T)")
    ap.add_argument("--no-kinisi", action="store_true")
    args = ap.parse_args()
    print(
        "| trajectory | frames × Δt | ilscreen (new default) | window (ps) | from | pymatgen "
        "| kinisi | previous default | new/pmg | new/kinisi | prev/pmg | t ilscreen (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in args.files:
        traj = load_trajectory_file(path, timestep_fs=args.timestep, stride=args.stride)
        temperature = traj.temperature_K or args.temperature
        dt = float(traj.time_fs[1] - traj.time_fs[0])
        cell = traj.cell.mean(axis=0)
        t = time.process_time()
        res = analyze_diffusion(traj.positions, traj.time_fs, traj.numbers, traj.cell, temperature)
        t_new = time.process_time() - t
        pm = pymatgen_D(traj.positions, traj.numbers, cell, dt, temperature)
        ki = (np.nan, np.nan)
        if not args.no_kinisi:
            ki = kinisi_D(traj.positions, traj.numbers, cell, dt, res.t_start_fs)
        old = previous_default(traj.positions, traj.numbers, dt)
        name = path.split("/")[-1]
        print(
            f"| {name} ({temperature:g} K) | {len(traj.time_fs)} × {dt:g} fs "
            f"| {res.D_cm2_s:.3g} ± {res.D_sigma_cm2_s:.2g}"
            + ("" if res.converged else " (not converged)")
            + f" | {res.t_start_fs / 1e3:.2f}–{res.t_end_fs / 1e3:.2f} | {res.D_source} "
            f"| {pm[0]:.3g} ± {pm[1]:.2g} | {ki[0]:.3g} ± {ki[1]:.2g} "
            f"| {old[0]:.3g} ± {old[1]:.2g} "
            f"| {res.D_cm2_s / pm[0]:.2f} | {res.D_cm2_s / ki[0]:.2f} | {old[0] / pm[0]:.2f} "
            f"| {t_new:.2f} |"
        )
        h = res.hops
        extra = f"  tracer MSD {res.D_msd_cm2_s:.3g} ± {res.D_msd_sigma_cm2_s:.2g}"
        if h is not None and h.D_tracer_cm2_s is not None:
            extra += (
                f"; hops {h.n_hops} on {h.n_sites} sites ({h.n_vacancies} vacant), "
                f"f = {h.correlation_factor:.2f} ± {h.correlation_factor_sigma:.2f}, "
                f"D_hops {h.D_tracer_cm2_s:.3g} ± {h.D_tracer_sigma_cm2_s:.2g}"
            )
        elif h is not None:
            extra += f"; hops: {h.reason}"
        print(extra + f"; {res.reason}")


if __name__ == "__main__":
    main()
