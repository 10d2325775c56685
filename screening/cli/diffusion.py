"""``ilscreen diffusion``: D ± σ, σ_ion and (several temperatures) Ea ± σ from MD trajectories."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from screening.cli.app import app, console
from screening.errors import InputError


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class FitMethod(StrEnum):
    msd = "msd"
    kinisi = "kinisi"


def _fmt(value: float | None, sigma: float | None = None, spec: str = ".2e") -> str:
    if value is None:
        return "-"
    return f"{value:{spec}}" + ("" if sigma is None else f" ± {sigma:{spec}}")


@app.command("diffusion")
def diffusion_command(
    trajectories: Annotated[
        list[Path],
        typer.Argument(
            help="trajectory files: ilscreen HDF5, XDATCAR or vasprun.xml (any name, gzip ok)"
        ),
    ],
    timestep: Annotated[
        float | None, typer.Option("--timestep", help="MD time step in fs (POTIM; VASP files)")
    ] = None,
    stride: Annotated[
        int | None, typer.Option("--stride", help="MD steps between frames (NBLOCK; XDATCAR)")
    ] = None,
    species: Annotated[str, typer.Option("--species", help="diffusing element")] = "Li",
    temperature: Annotated[
        list[float] | None,
        typer.Option(
            "--temperature",
            help="K; once for all files or once per file, in order (required for XDATCAR)",
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            help="fit window START_PS:END_PS (default: from the cage exit to a third of the run)",
        ),
    ] = None,
    blocks: Annotated[
        int,
        typer.Option(
            "--blocks", help="at most this many segments for the cross-check (not used for D, σ)"
        ),
    ] = 5,
    hop_distance: Annotated[
        float, typer.Option("--hop-distance", help="Å; an atom farther than this has hopped")
    ] = 2.0,
    method: Annotated[
        FitMethod,
        typer.Option(
            "--method", help="msd: covariance-aware MSD fit (+ hop counting); kinisi: Bayesian"
        ),
    ] = FitMethod.msd,
    operating: Annotated[
        list[float] | None,
        typer.Option("--operating-temperature", help="K, for D extrapolation (default 298, 348)"),
    ] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="directory for MSD / Arrhenius PNGs")
    ] = None,
) -> None:
    """Li diffusion coefficient, ionic conductivity and activation energy from MD trajectories."""
    from screening.arrhenius import DEFAULT_OPERATING_K, arrhenius_from_results
    from screening.diffusion_files import analyze_file, parse_window_ps
    from screening.limits import MAX_TEMPERATURE_K

    temps = list(temperature or [])
    if len(temps) not in (0, 1, len(trajectories)):
        raise InputError(
            f"{len(temps)} temperatures for {len(trajectories)} trajectories",
            field="--temperature",
            allowed="one value, or one per trajectory",
        )
    win = parse_window_ps(window) if window else None
    if any(not 0 < t <= MAX_TEMPERATURE_K for t in operating or []):
        raise InputError(
            f"operating temperatures must be in (0, {MAX_TEMPERATURE_K:g}] K, got {operating}",
            field="--operating-temperature",
        )
    if plot is not None and plot.exists() and not plot.is_dir():
        raise InputError("is a file, not a directory", file=plot, field="--plot")
    results = []
    for i, path in enumerate(trajectories):
        t_k = temps[i] if len(temps) == len(trajectories) else (temps[0] if temps else None)
        results.append(
            analyze_file(
                path,
                species=species,
                temperature_K=t_k,
                timestep_fs=timestep,
                stride=stride,
                window=win,
                n_blocks=blocks,
                hop_distance_A=hop_distance,
                method=method.value,
            )
        )

    arr = None
    arr_error = None
    if len({r.temperature_K for r in results}) >= 2:
        try:
            arr = arrhenius_from_results(
                results, operating_K=tuple(operating) if operating else DEFAULT_OPERATING_K
            )
        except InputError as exc:  # e.g. too few converged temperatures: report, do not fail
            arr_error = exc.reason

    if plot is not None:
        from screening.diffusion_plots import make_diffusion_plots

        paths = make_diffusion_plots(results, plot, arr)
    else:
        paths = []

    if output_format is OutputFormat.json:
        payload = {
            "results": [r.model_dump(mode="json", exclude={"msd_t_fs", "msd_A2"}) for r in results],
            "arrhenius": None if arr is None else arr.model_dump(mode="json"),
            "arrhenius_error": arr_error,
            "plots": [str(p) for p in paths],
        }
        typer.echo(json.dumps(payload, indent=2))
        return

    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{species} diffusion")
    cols = ("file", "T (K)", "D (cm²/s)", "from", "σ_ion (S/cm)", "window (ps)", "α", "moved")
    for col in (*cols, "converged"):
        table.add_column(col)
    for path, r in zip(trajectories, results, strict=True):
        table.add_row(
            escape(path.name),
            f"{r.temperature_K:g}",
            _fmt(r.D_cm2_s, r.D_sigma_cm2_s),
            r.D_source,
            _fmt(r.sigma_S_cm, r.sigma_sigma_S_cm),
            f"{r.t_start_fs / 1000:.1f}–{r.t_end_fs / 1000:.1f} ({r.window_source})",
            f"{r.alpha_window:.2f}",
            f"{r.n_hops}/{r.n_species_atoms}",
            "yes" if r.converged else "[red]no[/]",
        )
    console.print(table)
    for path, r in zip(trajectories, results, strict=True):
        name = escape(path.name)
        if not r.converged:
            console.print(f"[yellow]{name}[/]: not converged: {escape(r.reason)}", highlight=False)
        elif r.D_source == "hops":
            console.print(f"{name}: {escape(r.reason)}", highlight=False)
        h = r.hops
        if h is not None and h.D_tracer_cm2_s is not None:
            console.print(
                f"{name}: hops {h.n_hops} on {h.n_sites} sites ({h.n_vacancies} vacant), "
                f"f = {h.correlation_factor:.2f} ± {h.correlation_factor_sigma:.2f}, "
                f"D_hops = {_fmt(h.D_tracer_cm2_s, h.D_tracer_sigma_cm2_s)} cm²/s "
                f"(tracer MSD {_fmt(r.D_msd_cm2_s, r.D_msd_sigma_cm2_s)})",
                highlight=False,
            )
    console.print("σ_ion: Nernst–Einstein from tracer D, Haven ratio assumed 1.")
    if arr is not None:
        console.print(
            f"Ea = {arr.Ea_eV:.3f} ± {arr.Ea_sigma_eV:.3f} eV, "
            f"D0 = {_fmt(arr.prefactor, arr.prefactor_sigma)}"
            f" cm²/s ({arr.n_points} points, {arr.dof} dof"
            + ("" if arr.chi2_reduced is None else f", χ²_red {arr.chi2_reduced:.2f}")
            + f") {arr.note}",
            highlight=False,
        )
        for e in arr.extrapolations:
            console.print(
                f"D({e.temperature_K:g} K) = {_fmt(e.value)} cm²/s "
                f"(1σ range {_fmt(e.lower_1sigma)}–{_fmt(e.upper_1sigma)})"
                + (" extrapolated" if e.extrapolated else ""),
                highlight=False,
            )
    elif arr_error:
        console.print(f"[yellow]no Arrhenius fit:[/] {escape(arr_error)}", highlight=False)
    for p in paths:
        console.print(f"plot: {escape(str(p))}", highlight=False)
