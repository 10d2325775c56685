"""jobflow Maker for NVT MD with a machine-learned potential (ASE one by one, or a torch-sim batch).

Settings are dataclass fields (atomate2 style); ``make()`` returns a Job whose output is a list of
:class:`workflows.md.MDResult`, and, like atomate2's ``run_ase`` under ``make()``, the work is a
plain method (:meth:`MDMaker.run`) that the CLI and the HPC tasks call directly. Trajectories are
files under ``out_dir`` whose paths depend only on the candidate, the temperature and the settings,
so a re-run (or a resubmission after a crash) finds finished runs and checkpoints and continues
instead of starting again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobflow import Maker, job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from screening.campaign import MDSettings
from screening.paths import id_path
from workflows.md.api import run_md
from workflows.md.contract import CHECKPOINT_EVERY_S, MDResult


def trajectory_path(out_dir: str | Path, candidate_id: str, temperature_K: float) -> Path:
    """``<out_dir>/<candidate id>/T0548K.h5``: one file per candidate and temperature, inside
    ``out_dir`` (an id that would leave it is refused)."""
    return id_path(out_dir, candidate_id, f"T{temperature_K:04.0f}K.h5", field="CANDIDATE_ID")


def md_steps(md: MDSettings) -> dict[str, int]:
    """Step counts of a preset: equilibration, production and the sampling stride."""
    stride = max(1, round(md.sample_interval_fs / md.timestep_fs))
    production = max(stride, round(md.production_ps * 1000.0 / md.timestep_fs))
    return {
        "equilibration_steps": round(md.equilibration_ps * 1000.0 / md.timestep_fs),
        "production_steps": production - production % stride,
        "stride": stride,
    }


@dataclass
class MDMaker(Maker):
    """NVT MD of several (structure, temperature) pairs with one potential.

    ``batched=True`` runs every pair in one torch-sim batch (one model call per step for all of
    them: the fast path on GPUs and, for small cells, on CPUs too); ``False`` runs them one at a
    time through the ASE calculator, as atomate2's ``ForceFieldMDMaker`` does.
    """

    name: str = "mlip nvt md"
    potential: str = "mace:ilscreen-li-alloys"
    device: str = "cpu"
    dtype: str = "float64"
    md: MDSettings = field(default_factory=MDSettings)
    seed: int = 0
    out_dir: str = "md"
    batched: bool = False
    progress: bool = True
    #: checkpoint intervals; not part of the MD settings hash, so any value resumes any run
    checkpoint_every_steps: int = 1000
    checkpoint_every_s: float = CHECKPOINT_EVERY_S

    @job
    def make(
        self, structures: list[Structure], candidate_ids: list[str], temperatures_K: list[float]
    ) -> list[MDResult]:
        """Run (or resume) every (structure, T) pair; returns one MDResult per pair."""
        return self.run(structures, candidate_ids, temperatures_K)

    def run(
        self,
        structures: list[Structure],
        candidate_ids: list[str],
        temperatures_K: list[float],
        *,
        overwrite: bool = False,
    ) -> list[MDResult]:
        """The work of :meth:`make` without jobflow (``overwrite`` discards earlier runs)."""
        if not (len(structures) == len(candidate_ids) == len(temperatures_K)):
            raise ValueError("structures, candidate_ids and temperatures_K differ in length")
        return run_md(
            [AseAtomsAdaptor.get_atoms(s) for s in structures],
            list(temperatures_K),
            potential=self.potential,
            device=self.device,
            dtype=self.dtype,
            batched=self.batched,
            trajectory_paths=[
                trajectory_path(self.out_dir, c, t)
                for c, t in zip(candidate_ids, temperatures_K, strict=True)
            ],
            candidate_ids=list(candidate_ids),
            timestep_fs=self.md.timestep_fs,
            thermostat=self.md.thermostat,
            thermostat_timescale_fs=self.md.thermostat_timescale_fs,
            seed=self.seed,
            checkpoint_every_steps=self.checkpoint_every_steps,
            checkpoint_every_s=self.checkpoint_every_s,
            progress=self.progress,
            overwrite=overwrite,
            **md_steps(self.md),
        )
