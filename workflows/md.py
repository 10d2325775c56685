"""NVT molecular dynamics of one system with an ASE calculator (checkpointed, exactly resumable).

Protocol: Maxwell–Boltzmann velocities at the target temperature (seeded numpy Generator), zero net
momentum, ``equilibration_steps`` of NVT that are *not* written, then ``production_steps`` whose
frames (every ``stride`` steps, first frame = end of equilibration) go to an ``ilscreen-traj/1``
HDF5 file (:mod:`screening.trajectory`). The step counter is continuous across both phases.

Thermostats: Nosé–Hoover chain (``ase.md.nose_hoover_chain.NoseHooverChainNVT``, default; tdamp =
``thermostat_timescale_fs``; its extended energy is written as ``conserved_eV``) or Langevin
(``ase.md.langevin.Langevin``, friction = 1/``thermostat_timescale_fs``; ``conserved_eV`` is the
plain total energy, so the drift guard does not apply).

Exact resume: a checkpoint (``.npz``, written atomically: temp file + ``os.replace``) holds step,
positions, momenta, cell, the thermostat state (NH chain ``eta``/``p_eta`` or the Langevin
Generator's ``bit_generator.state``), guard bookkeeping and a settings hash. A run killed at any
point restarts from the last checkpoint; the trajectory is truncated to frames with
``step <= checkpoint step`` before appending, and on CPU the resumed trajectory is bit-for-bit the
uninterrupted one (tested). ASE integrators never wrap positions, so ``atoms.positions`` *are*
the unwrapped positions; no image bookkeeping is needed on this path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from screening.atomic import atomic_path
from screening.errors import InputError
from screening.hashing import file_sha256, settings_hash
from screening.limits import MAX_TEMPERATURE_K, MAX_TIMESTEP_FS
from screening.trajectory import TrajectoryWriter, read_trajectory
from screening.units import KB_EV, fs_to_ase_time
from workflows.md_guards import (
    GuardState,
    StabilityGuards,
    check_periodic,
    check_step,
    closest_contact,
    drift_per_atom_per_ps,
)

logger = logging.getLogger(__name__)

Thermostat = Literal["nose-hoover", "langevin"]
THERMOSTATS = ("nose-hoover", "langevin")
CHECKPOINT_FORMAT = "ilscreen-md-checkpoint/1"


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


def default_checkpoint_path(trajectory_path: str | Path) -> Path:
    path = Path(trajectory_path)
    return path.with_name(path.stem + ".ckpt.npz")


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


#: wall-time checkpoint interval: a slow run (big cell, busy CPU) loses at most this much work
CHECKPOINT_EVERY_S = 600.0


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


def md_protocol(
    *,
    temperatures_K: Sequence[float],
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
) -> tuple[StabilityGuards, dict[str, Any]]:
    """Validate the MD settings; return the guards in force and the protocol part of the
    settings hash.

    Shared by the ASE and torch-sim engines so that both refuse the same impossible settings
    (InputError) and hash the same protocol keys: what makes two runs "the same" for re-use and
    resume must not drift between them.
    """
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
    if thermostat not in THERMOSTATS:
        raise InputError(
            f"unknown thermostat {thermostat!r}", field="thermostat", allowed=THERMOSTATS
        )
    guards = guards or StabilityGuards()
    return guards, {
        "timestep_fs": float(timestep_fs),
        "equilibration_steps": int(equilibration_steps),
        "production_steps": int(production_steps),
        "stride": int(stride),
        "thermostat": thermostat,
        "thermostat_timescale_fs": float(thermostat_timescale_fs),
        "seed": int(seed),
        "potential": potential,
        "guards": guards.model_dump(),
    }


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


def _fresh_forces_energy(atoms: Any) -> tuple[np.ndarray, float]:
    """Forces and energy at the current positions, read from the calculator results the
    integrator step just produced (ASE's per-call ``check_state`` comparison costs more than a
    cheap force field); falls back to the normal getters when a property is missing."""
    results = getattr(atoms.calc, "results", {})
    forces, energy = results.get("forces"), results.get("energy")
    if forces is None or energy is None:
        return atoms.get_forces(), float(atoms.get_potential_energy())
    return forces, float(energy)


class StepProgress:
    """MD progress: a rich bar on a terminal, else a log line every 10 % (batch jobs, pipes).

    Use as a context manager; ``update(step)`` is cheap enough to call every MD step.
    """

    def __init__(self, enabled: bool, label: str, total: int, start: int = 0) -> None:
        self.enabled, self.label, self.total, self.start = enabled, label, max(total, 1), start
        self._bar: Any = None
        self._task: Any = None
        self._advance_report(start)
        self._t0 = time.perf_counter()

    def __enter__(self) -> StepProgress:
        import sys

        if self.enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} steps"),
                TimeRemainingColumn(),
                transient=True,
            ).__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, completed=self.start)
        return self

    def _advance_report(self, step: int) -> None:
        tenth = max(self.total // 10, 1)
        self._next_report = (step // tenth + 1) * tenth

    def update(self, step: int) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=step)
        elif step >= self._next_report:
            rate = (step - self.start) / max(time.perf_counter() - self._t0, 1e-9)
            eta = (self.total - step) / rate if rate > 0 else float("inf")
            done = 100 * step / self.total
            logger.info(
                "%s: step %d/%d (%.0f%%), %.1f steps/s, ~%.0f s left",
                *(self.label, step, self.total, done, rate, eta),
            )
            self._advance_report(step)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def run_nvt(
    atoms: Any,
    calculator: Any,
    *,
    temperature_K: float,
    timestep_fs: float,
    equilibration_steps: int,
    production_steps: int,
    stride: int,
    trajectory_path: str | Path,
    thermostat: Thermostat = "nose-hoover",
    thermostat_timescale_fs: float = 100.0,
    seed: int = 0,
    checkpoint_path: str | Path | None = None,
    checkpoint_every_steps: int = 1000,
    checkpoint_every_s: float = CHECKPOINT_EVERY_S,
    guards: StabilityGuards | None = None,
    progress: bool = False,
    candidate_id: str = "",
    potential: str = "",
    overwrite: bool = False,
    _step_hook: Callable[[int], None] | None = None,
) -> MDResult:
    """Run (or resume, or return the finished result of) one NVT MD simulation with ASE.

    ``atoms`` is not modified (a copy is simulated). If ``trajectory_path`` holds a finished run
    with the same settings, its result is returned without simulating; if a checkpoint with the
    same settings exists, the run resumes from it; a checkpoint or trajectory from different
    settings raises InputError unless ``overwrite=True``. ``_step_hook(step)`` is called after
    every step (tests use it to simulate crashes).
    """
    guards, protocol = md_protocol(
        temperatures_K=[temperature_K],
        timestep_fs=timestep_fs,
        equilibration_steps=equilibration_steps,
        production_steps=production_steps,
        stride=stride,
        thermostat=thermostat,
        thermostat_timescale_fs=thermostat_timescale_fs,
        checkpoint_every_steps=checkpoint_every_steps,
        checkpoint_every_s=checkpoint_every_s,
        seed=seed,
        potential=potential,
        guards=guards,
    )
    traj_path = Path(trajectory_path)
    ckpt_path = (
        Path(checkpoint_path) if checkpoint_path else default_checkpoint_path(trajectory_path)
    )
    atoms = atoms.copy()
    atoms.pbc = True
    n_atoms = len(atoms)
    settings = {
        "engine": "ase",
        "numbers": atoms.numbers.tolist(),
        "positions_sha": hashlib.sha256(atoms.positions.tobytes()).hexdigest(),
        "cell": atoms.cell.array.tolist(),
        "temperature_K": float(temperature_K),
        "candidate_id": candidate_id,
        **protocol,
    }
    digest = settings_hash(settings)
    if overwrite:
        for p in (traj_path, ckpt_path):
            p.unlink(missing_ok=True)
    elif (done := finished_result(traj_path, digest, "ase")) is not None:
        logger.info("%s: finished run with identical settings found, not re-running", traj_path)
        return done

    atoms.calc = calculator
    rng = np.random.default_rng(seed)
    dt = fs_to_ase_time(timestep_fs)
    total_steps = equilibration_steps + production_steps
    gstate = GuardState()
    resumed_from: int | None = None
    eta = p_eta = None

    if ckpt_path.exists():
        arrays, meta = load_checkpoint(ckpt_path)
        if meta["settings_hash"] != digest:
            raise InputError(
                "checkpoint was written with different MD settings; refusing to resume "
                "(use overwrite=True / --overwrite to start again)",
                file=ckpt_path,
                field="settings_hash",
            )
        step = int(meta["step"])
        atoms.positions = arrays["positions"]
        atoms.cell = arrays["cell"]
        atoms.set_momenta(arrays["momenta"], apply_constraint=False)
        if thermostat == "langevin":
            rng.bit_generator.state = meta["rng_state"]
        else:
            eta, p_eta = arrays["eta"], arrays["p_eta"]
        gstate = GuardState.from_dict(meta["guard_state"])
        resumed_from = step
        logger.info("%s: resuming from checkpoint at step %d", traj_path, step)
    else:
        if traj_path.exists():
            old = read_trajectory(traj_path).attrs
            if old.get("settings_hash") != digest:
                raise InputError(
                    "trajectory exists from a run with different settings and no checkpoint; "
                    "refusing to overwrite (use overwrite=True / --overwrite)",
                    file=traj_path,
                    field="settings_hash",
                )
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

        step = 0
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
        Stationary(atoms)  # zero net momentum; no ZeroRotation: the cell is periodic

    if thermostat == "nose-hoover":
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        dyn = NoseHooverChainNVT(
            atoms,
            timestep=dt,
            temperature_K=temperature_K,
            tdamp=fs_to_ase_time(thermostat_timescale_fs),
        )
        if eta is not None:
            # The chain's state lives in private attributes in ASE 3.29; restore it exactly.
            dyn._thermostat._eta[:] = eta
            dyn._thermostat._p_eta[:] = p_eta
    else:
        from ase.md.langevin import Langevin

        # fixcm=False: ASE deprecates fixcm=True (it does not sample NVT exactly); the centre-of-
        # mass random walk this allows is removed by the diffusion analysis (drift correction).
        dyn = Langevin(
            atoms,
            timestep=dt,
            temperature_K=temperature_K,
            friction=1.0 / fs_to_ase_time(thermostat_timescale_fs),
            fixcm=False,
            rng=rng,
        )

    attrs = {
        "timestep_fs": float(timestep_fs),
        "stride": int(stride),
        "target_temperature_K": float(temperature_K),
        "thermostat": thermostat,
        "thermostat_timescale_fs": float(thermostat_timescale_fs),
        "seed": int(seed),
        "potential": potential,
        "candidate_id": candidate_id,
        "engine": "ase",
        "equilibration_steps": int(equilibration_steps),
        "production_steps": int(production_steps),
        "settings_hash": digest,
        "status": "running",
    }
    writer = TrajectoryWriter(traj_path, atoms.numbers, attrs, resume_step=resumed_from)
    if resumed_from is not None:
        gstate.truncate(writer.n_frames)

    def conserved() -> float:
        if thermostat == "nose-hoover":
            return float(dyn.get_conserved_energy())
        return float(atoms.get_potential_energy() + atoms.get_kinetic_energy())

    def record() -> None:
        epot = float(atoms.get_potential_energy())
        ekin = float(atoms.get_kinetic_energy())
        temp = 2.0 * ekin / (3.0 * n_atoms * KB_EV)
        e_cons = conserved()
        writer.append(
            positions=atoms.positions,
            cell=atoms.cell.array,
            step=step,
            time_fs=step * timestep_fs,
            temperature_K=temp,
            potential_energy_eV=epot,
            kinetic_energy_eV=ekin,
            conserved_eV=e_cons,
        )
        gstate.time_ps.append(step * timestep_fs * 1e-3)
        gstate.temperature_K.append(temp)
        gstate.conserved_eV.append(e_cons)

    def checkpoint() -> None:
        writer.flush()  # frames first: the checkpoint never points past what is on disk
        arrays = {
            "positions": atoms.positions.copy(),
            "momenta": atoms.get_momenta(),
            "cell": atoms.cell.array.copy(),
        }
        meta: dict[str, Any] = {
            "settings_hash": digest,
            "step": step,
            "n_frames": writer.n_frames,
            "guard_state": gstate.to_dict(),
        }
        if thermostat == "nose-hoover":
            arrays["eta"] = dyn._thermostat._eta.copy()
            arrays["p_eta"] = dyn._thermostat._p_eta.copy()
        else:
            meta["rng_state"] = rng.bit_generator.state
        save_checkpoint(ckpt_path, arrays, meta)

    def is_frame(s: int) -> bool:
        return s >= equilibration_steps and (s - equilibration_steps) % stride == 0

    reason: str | None = None
    start_step = step
    t0 = time.perf_counter()
    clock = CheckpointClock(checkpoint_every_steps, checkpoint_every_s)
    try:
        if resumed_from is None and is_frame(step):
            record()
        label = f"NVT {candidate_id or traj_path.stem} {temperature_K:g} K"
        with StepProgress(progress, label, total_steps, step) as bar:
            while step < total_steps:
                prev = atoms.positions.copy()
                dyn.step()
                step += 1
                forces, epot = _fresh_forces_energy(atoms)
                temp = 2.0 * float(atoms.get_kinetic_energy()) / (3.0 * n_atoms * KB_EV)
                reason = check_step(
                    guards,
                    target_K=temperature_K,
                    temperature_K=temp,
                    energy_eV=epot,
                    max_force=float(np.abs(forces).max()),
                    max_displacement=float(np.abs(atoms.positions - prev).max()),
                    positions_finite=bool(np.isfinite(atoms.positions).all()),
                )
                if reason is None and is_frame(step):
                    record()
                if reason is None and step % guards.check_every_steps == 0:
                    reason = check_periodic(
                        guards,
                        gstate,
                        target_K=temperature_K,
                        n_atoms=n_atoms,
                        contact=closest_contact(atoms, guards),
                        has_conserved=thermostat == "nose-hoover",
                    )
                if reason is not None:
                    logger.warning("%s: unstable at step %d: %s", traj_path, step, reason)
                    break
                if clock.due(step, total_steps):
                    checkpoint()
                if _step_hook is not None:
                    _step_hook(step)
                bar.update(step)
        wall = time.perf_counter() - t0
        md = gstate.min_distance_A
        writer.set_attrs(
            status="completed" if reason is None else "unstable",
            stable=reason is None,
            unstable_reason=reason or "",
            steps_done=step,
            wall_time_s=wall,
            atom_steps=(step - start_step) * n_atoms,
            min_distance_seen_A=-1.0 if np.isinf(md) else md,
        )
    finally:
        writer.close()
    # Finished (completed or flagged unstable): the trajectory file is the record.
    ckpt_path.unlink(missing_ok=True)
    return summarize(
        traj_path,
        engine="ase",
        steps_done=step,
        wall_time_s=wall,
        atom_steps=(step - start_step) * n_atoms,
        stable=reason is None,
        reason=reason,
        min_distance=None if np.isinf(gstate.min_distance_A) else gstate.min_distance_A,
        settings_digest=digest,
        resumed_from=resumed_from,
    )
