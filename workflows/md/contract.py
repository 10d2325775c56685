"""What every MD back end shares: the result, the protocol checks, checkpoint files, the summary.

Protocol: Maxwell–Boltzmann velocities at the target temperature (seeded), zero net momentum,
``equilibration_steps`` of NVT that are *not* written, then ``production_steps`` whose frames
(every ``stride`` steps, first frame = end of equilibration) go to an ``ilscreen-traj/1`` HDF5 file
(:mod:`screening.trajectory`). The step counter is continuous across both phases.

Checkpoints (``.npz``, written atomically: temp file + ``os.replace``) hold the back end's state
(positions, momenta, cell, thermostat and RNG state), the guard bookkeeping and a settings hash; a
run killed at any point restarts from the last one, and on CPU the resumed trajectory is
bit-for-bit the uninterrupted one (tested for both back ends).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from screening.atomic import atomic_path
from screening.errors import InputError
from screening.hashing import file_sha256
from screening.limits import MAX_TEMPERATURE_K, MAX_TIMESTEP_FS
from screening.trajectory import read_trajectory
from workflows.md.guards import StabilityGuards, drift_per_atom_per_ps

Thermostat = Literal["nose-hoover", "langevin", "bussi"]
CHECKPOINT_FORMAT = "ilscreen-md-checkpoint/1"
#: wall-time checkpoint interval: a slow run (big cell, busy CPU) loses at most this much work
CHECKPOINT_EVERY_S = 600.0


class MDResult(BaseModel):
    """Summary of one NVT run; the trajectory itself stays in the file (path + sha256)."""

    trajectory_path: str
    sha256: str
    candidate_id: str = ""
    potential: str = ""
    engine: str = "ase"
    thermostat: str
    seed: int
    target_temperature_K: float
    timestep_fs: float
    stride: int
    n_atoms: int
    n_frames: int
    steps_done: int
    mean_temperature_K: float | None
    std_temperature_K: float | None
    stable: bool
    unstable_reason: str | None = None
    conserved_drift_eV_per_atom_per_ps: float | None = None
    min_distance_A: float | None = None
    wall_time_s: float
    atom_steps_per_s: float
    settings_hash: str
    resumed_from_step: int | None = None


class MDInterrupted(RuntimeError):
    """Raised by test hooks to simulate a crash (the checkpoint on disk stays valid)."""


@dataclass(frozen=True)
class NVTProtocol:
    """Validated MD settings of one run (all systems of a batch share them)."""

    timestep_fs: float
    equilibration_steps: int
    production_steps: int
    stride: int
    thermostat: str
    thermostat_timescale_fs: float
    seed: int
    potential: str
    guards: StabilityGuards
    checkpoint_every_steps: int
    checkpoint_every_s: float

    @property
    def total_steps(self) -> int:
        return self.equilibration_steps + self.production_steps

    def is_frame(self, step: int) -> bool:
        """Production frames: every ``stride`` steps from the end of equilibration."""
        return step >= self.equilibration_steps and (
            (step - self.equilibration_steps) % self.stride == 0
        )

    def hash_entries(self) -> dict[str, Any]:
        """The protocol part of the settings hash (checkpoint intervals are not in it: any
        interval resumes any run)."""
        return {
            "timestep_fs": float(self.timestep_fs),
            "equilibration_steps": int(self.equilibration_steps),
            "production_steps": int(self.production_steps),
            "stride": int(self.stride),
            "thermostat": self.thermostat,
            "thermostat_timescale_fs": float(self.thermostat_timescale_fs),
            "seed": int(self.seed),
            "potential": self.potential,
            "guards": self.guards.model_dump(),
        }


def md_protocol(
    *,
    temperatures_K: Sequence[float],
    thermostats: Sequence[str],
    timestep_fs: float,
    equilibration_steps: int,
    production_steps: int,
    stride: int,
    thermostat: str,
    thermostat_timescale_fs: float,
    checkpoint_every_steps: int,
    checkpoint_every_s: float,
    seed: int,
    potential: str,
    guards: StabilityGuards | None,
) -> NVTProtocol:
    """Validate the MD settings (one InputError naming the field) for a back end offering
    ``thermostats``: every back end refuses the same impossible settings."""
    checks = [
        (len(temperatures_K) > 0, "temperature_K", "at least one temperature is needed"),
        (
            all(0 < t <= MAX_TEMPERATURE_K for t in temperatures_K),
            "temperature_K",
            f"must be in (0, {MAX_TEMPERATURE_K:g}] K",
        ),
        (
            0 < timestep_fs <= MAX_TIMESTEP_FS,
            "timestep_fs",
            f"must be in (0, {MAX_TIMESTEP_FS:g}] fs",
        ),
        (equilibration_steps >= 0, "equilibration_steps", "must be >= 0"),
        (production_steps >= 1, "production_steps", "must be >= 1"),
        (stride >= 1, "stride", "must be >= 1"),
        (thermostat_timescale_fs > 0, "thermostat_timescale_fs", "must be > 0 fs"),
        (checkpoint_every_steps >= 1, "checkpoint_every_steps", "must be >= 1"),
        (checkpoint_every_s > 0, "checkpoint_every_s", "must be > 0 s"),
    ]
    for ok, name, why in checks:
        if not ok:
            raise InputError(why, field=name)
    if thermostat not in thermostats:
        raise InputError(
            f"unknown thermostat {thermostat!r}", field="thermostat", allowed=tuple(thermostats)
        )
    return NVTProtocol(
        timestep_fs=float(timestep_fs),
        equilibration_steps=int(equilibration_steps),
        production_steps=int(production_steps),
        stride=int(stride),
        thermostat=thermostat,
        thermostat_timescale_fs=float(thermostat_timescale_fs),
        seed=int(seed),
        potential=potential,
        guards=guards or StabilityGuards(),
        checkpoint_every_steps=int(checkpoint_every_steps),
        checkpoint_every_s=float(checkpoint_every_s),
    )


def default_checkpoint_path(trajectory_path: str | Path) -> Path:
    """``<stem>.ckpt.npz`` next to a single run's trajectory."""
    path = Path(trajectory_path)
    return path.with_name(path.stem + ".ckpt.npz")


def batch_checkpoint_path(first_trajectory_path: str | Path) -> Path:
    """``<stem of the first file>.batch.ckpt.npz``: one checkpoint for a whole batch."""
    path = Path(first_trajectory_path)
    return path.with_name(path.stem + ".batch.ckpt.npz")


def save_checkpoint(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Atomically write a checkpoint: arrays + JSON metadata in one ``.npz``."""
    meta = {"format": CHECKPOINT_FORMAT, **meta}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, _meta=np.array(json.dumps(meta)), **arrays)
        handle.flush()
        os.fsync(handle.fileno())


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != "_meta"}
        meta = json.loads(str(data["_meta"]))
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise InputError("not an ilscreen MD checkpoint", file=path, allowed=[CHECKPOINT_FORMAT])
    return arrays, meta


class CheckpointClock:
    """Checkpoint every ``every_steps`` steps or ``every_s`` s of wall time, whichever is first."""

    def __init__(self, every_steps: int, every_s: float) -> None:
        self.every_steps = every_steps
        self.every_s = every_s
        self.last = time.perf_counter()

    def due(self, step: int, total_steps: int) -> bool:
        """True when a checkpoint is due after ``step`` (then the wall clock restarts)."""
        now = time.perf_counter()
        if step % self.every_steps == 0 or step == total_steps or now - self.last >= self.every_s:
            self.last = now
            return True
        return False


def summarize(
    path: Path,
    *,
    engine: str,
    steps_done: int,
    wall_time_s: float,
    atom_steps: int,
    stable: bool,
    reason: str | None,
    min_distance: float | None,
    settings_digest: str,
    resumed_from: int | None,
) -> MDResult:
    """Build the MDResult from what is in the trajectory file."""
    traj = read_trajectory(path)
    a = traj.attrs
    has_frames = traj.n_frames > 0
    drift = None
    if a["thermostat"] == "nose-hoover" and traj.n_frames >= 2:
        drift = drift_per_atom_per_ps(traj.time_fs * 1e-3, traj.conserved_eV, traj.n_atoms)
    return MDResult(
        trajectory_path=str(path),
        sha256=file_sha256(path),
        candidate_id=str(a["candidate_id"]),
        potential=str(a["potential"]),
        engine=engine,
        thermostat=str(a["thermostat"]),
        seed=int(a["seed"]),
        target_temperature_K=float(a["target_temperature_K"]),
        timestep_fs=float(a["timestep_fs"]),
        stride=int(a["stride"]),
        n_atoms=traj.n_atoms,
        n_frames=traj.n_frames,
        steps_done=steps_done,
        mean_temperature_K=float(traj.temperature_K.mean()) if has_frames else None,
        std_temperature_K=float(traj.temperature_K.std()) if has_frames else None,
        stable=stable,
        unstable_reason=reason,
        conserved_drift_eV_per_atom_per_ps=drift,
        min_distance_A=min_distance,
        wall_time_s=wall_time_s,
        atom_steps_per_s=atom_steps / wall_time_s if wall_time_s > 0 else 0.0,
        settings_hash=settings_digest,
        resumed_from_step=resumed_from,
    )


def finished_result(path: Path, digest: str, engine: str) -> MDResult | None:
    """Result of an already finished run with the same settings (idempotent re-runs), else None."""
    if not path.exists():
        return None
    try:
        traj = read_trajectory(path)
    except InputError:
        return None
    a = traj.attrs
    if a.get("status") not in ("completed", "unstable") or a.get("settings_hash") != digest:
        return None
    md = a.get("min_distance_seen_A")
    return summarize(
        path,
        engine=engine,
        steps_done=int(a.get("steps_done", 0)),
        wall_time_s=float(a.get("wall_time_s", 0.0)),
        atom_steps=int(a.get("atom_steps", 0)),
        stable=a["status"] == "completed",
        reason=a.get("unstable_reason") or None,
        min_distance=None if md is None or md < 0 else float(md),
        settings_digest=digest,
        resumed_from=None,
    )
