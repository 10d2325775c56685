"""Diffusion analysis of a trajectory file (extxyz, ASE, HDF5, VASP XDATCAR/vasprun) and the
``START_PS:END_PS`` window syntax of the command line.
"""

from __future__ import annotations

from pathlib import Path

from screening.diffusion import analyze_diffusion
from screening.diffusion_result import DiffusionResult, Method
from screening.errors import InputError
from screening.trajectory_files import detect_format, load_trajectory_file
from screening.units import PS_TO_FS


def analyze_file(
    path: str | Path,
    *,
    species: str = "Li",
    temperature_K: float | None = None,
    timestep_fs: float | None = None,
    stride: int | None = None,
    window: tuple[float, float] | None = None,
    n_blocks: int = 5,
    hop_distance_A: float = 2.0,
    method: Method = "msd",
    **kwargs: object,
) -> DiffusionResult:
    """:func:`analyze_diffusion` on a trajectory file; ``temperature_K`` overrides the file's."""
    fmt, _ = detect_format(path)
    if temperature_K is None and fmt == "xdatcar":  # never records T: refuse before a long parse
        raise InputError(
            "an XDATCAR does not record the temperature: give --temperature (K)",
            file=path,
            field="temperature",
        )
    traj = load_trajectory_file(path, timestep_fs=timestep_fs, stride=stride)
    temperature = temperature_K if temperature_K is not None else traj.temperature_K
    if temperature is None:
        raise InputError(
            f"this {fmt} file does not record the temperature: give --temperature (K)",
            file=path,
            field="temperature",
        )
    return analyze_diffusion(
        traj.positions,
        traj.time_fs,
        traj.numbers,
        traj.cell,
        temperature,
        species=species,
        window=window,
        n_blocks=n_blocks,
        hop_distance_A=hop_distance_A,
        method=method,
        source=traj.source,
        **kwargs,  # type: ignore[arg-type]
    )


def parse_window_ps(text: str) -> tuple[float, float]:
    """'START_PS:END_PS' → (start_fs, end_fs)."""
    try:
        a, b = text.split(":")
        return float(a) * PS_TO_FS, float(b) * PS_TO_FS
    except ValueError:
        raise InputError(
            f"window '{text}' is not START_PS:END_PS", field="window", allowed="e.g. 2:12"
        ) from None
