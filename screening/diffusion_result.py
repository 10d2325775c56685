"""The result of a diffusion analysis: D ± σ, σ_ion, and the window and checks behind them.

Made by :func:`screening.diffusion.analyze_diffusion`; read by the screen, the Arrhenius fit, the
plots and the model cards.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from screening.hops import HopAnalysis
from screening.trajectory_files import TrajectorySource

#: dimensionality of the MSD (3-D diffusion: D = slope / 6)
DIMENSIONS = 3

Method = Literal["msd", "kinisi"]
METHODS = ("msd", "kinisi")


class DiffusionResult(BaseModel):
    """D(T) ± σ, ionic conductivity and the choices and checks behind them."""

    model_config = ConfigDict(frozen=True)

    species: str
    temperature_K: float
    D_cm2_s: float = Field(description="tracer (self) diffusion coefficient, from D_source")
    D_sigma_cm2_s: float | None = Field(description="1σ of D_cm2_s")
    D_source: Literal["msd", "kinisi", "hops"] = Field(
        description="msd: covariance-aware fit of the tracer MSD over the window; kinisi: its "
        "Bayesian regression over the same window; hops: hop counting (tracer MSD still caged)"
    )
    D_ci95_cm2_s: tuple[float, float] | None = Field(
        default=None, description="95 % credible interval (kinisi only)"
    )
    D_msd_cm2_s: float = Field(description="tracer-MSD fit over the window (always computed)")
    D_msd_sigma_cm2_s: float
    D_early_cm2_s: float | None = Field(description="same fit over the window's first half")
    D_early_sigma_cm2_s: float | None
    D_late_cm2_s: float | None = Field(description="same fit over the window's second half")
    D_late_sigma_cm2_s: float | None
    alpha_window: float = Field(
        description="d log(MSD − msd_plateau_A2)/d log t across the window (1: diffusive)"
    )
    alpha_min: float | None = Field(
        description="local exponent d log MSD/d log t at the cage (its first dip below 1 − tol)"
    )
    t_cage_fs: float | None = Field(description="lag of that dip (None: no cage)")
    D_segments_cm2_s: list[float] = Field(
        default_factory=list, description="cross-check: independent segments, same window"
    )
    segment_ps: float | None = None
    D_segments_mean_cm2_s: float | None = None
    D_segments_sigma_cm2_s: float | None = Field(default=None, description="std / sqrt(M)")
    segments_note: str = ""
    hops: HopAnalysis | None = None
    D_collective_cm2_s: float | None = Field(
        description="from the MSD of the species' centre of mass × N (charge diffusivity)"
    )
    D_collective_sigma_cm2_s: float | None
    haven_ratio: float | None = Field(
        description="D_msd / D_collective, both from the same estimator and window"
    )
    sigma_S_cm: float = Field(description="Nernst–Einstein from tracer D, Haven ratio assumed 1")
    sigma_sigma_S_cm: float | None
    sigma_collective_S_cm: float | None
    sigma_collective_sigma_S_cm: float | None
    nernst_einstein: str = "sigma = n q^2 D / (kB T), n = N/V, q = e, tracer D (Haven ratio = 1)"
    t_start_fs: float
    t_end_fs: float
    window_source: Literal["default", "user"]
    method: Method
    n_hops: int = Field(description="species atoms that moved > hop_distance_A from their start")
    hop_distance_A: float
    min_hops: int
    msd_plateau_A2: float = Field(
        description="MSD of the vibrational cage (at t_cage_fs; 0 when there is no cage)"
    )
    msd_end_A2: float = Field(description="MSD at t_end")
    converged: bool
    reason: str
    n_frames: int
    frame_interval_fs: float
    duration_ps: float
    n_species_atoms: int
    n_framework_atoms: int
    drift_reference: Literal["framework", "system"]
    volume_A3: float
    fit_intercept_A2: float
    msd_t_fs: list[float] = Field(default_factory=list, description="down-sampled MSD curve")
    msd_A2: list[float] = Field(default_factory=list)
    source: TrajectorySource | None = None
