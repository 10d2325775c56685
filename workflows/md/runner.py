"""The MD runner: one loop, any back end (:mod:`workflows.md.backend`).

The runner owns what every run has: the settings hash, re-use of finished runs, resume from a
checkpoint (or refusal when the settings differ), one ``ilscreen-traj/1`` file per system with its
attributes, frame recording, the stability guards (a flagged system is dropped, the others go on),
checkpoints by steps and by wall time, progress and the :class:`MDResult` summaries. A back end only
integrates.

Settings hash: a single-system back end (ASE) hashes the system and the protocol, and that is the
file's hash; a batched one (torch-sim) hashes the whole batch (the Langevin noise of each system
depends on it) and each file gets ``hash({"batch": <batch hash>, "index": i})``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from screening.errors import InputError
from screening.hashing import settings_hash
from screening.trajectory import TrajectoryWriter, read_trajectory
from workflows.md.backend import BackendState, MDBackend
from workflows.md.contract import (
    CheckpointClock,
    MDResult,
    NVTProtocol,
    batch_checkpoint_path,
    default_checkpoint_path,
    finished_result,
    load_checkpoint,
    save_checkpoint,
    summarize,
)
from workflows.md.guards import GuardState, check_periodic, check_step, closest_contact
from workflows.md.progress import StepProgress

logger = logging.getLogger(__name__)


def settings_digests(
    backend: MDBackend,
    systems: Sequence[Any],
    temperatures_K: Sequence[float],
    candidate_ids: Sequence[str],
    protocol: NVTProtocol,
) -> tuple[str, list[str]]:
    """(hash of the run, hash of each trajectory file); see the module docstring."""
    entries = [
        {
            "numbers": a.numbers.tolist(),
            "positions_sha": hashlib.sha256(a.positions.tobytes()).hexdigest(),
            "cell": a.cell.array.tolist(),
            "temperature_K": float(t),
            "candidate_id": cid,
        }
        for a, t, cid in zip(systems, temperatures_K, candidate_ids, strict=True)
    ]
    common = {"engine": backend.engine, **backend.hash_settings(), **protocol.hash_entries()}
    if not backend.batched:
        digest = settings_hash({**entries[0], **common})
        return digest, [digest]
    digest = settings_hash({"systems": entries, **common})
    return digest, [settings_hash({"batch": digest, "index": i}) for i in range(len(systems))]


def _checkpoint_to_resume(
    path: Path, digest: str, batched: bool, trajectories: Sequence[Path], digests: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The checkpoint to resume from (None: start fresh); refuses different settings."""
    if not path.exists():
        for p, d in zip(trajectories, digests, strict=True):
            if p.exists() and read_trajectory(p).attrs.get("settings_hash") != d:
                raise InputError(
                    "trajectory exists from a run with different settings and no checkpoint; "
                    "refusing to overwrite (use overwrite=True / --overwrite)",
                    file=p,
                    field="settings_hash",
                )
        return None
    arrays, meta = load_checkpoint(path)
    if meta["settings_hash"] != digest:
        raise InputError(
            f"checkpoint was written with different {'batched-' if batched else ''}MD settings; "
            "refusing to resume (use overwrite=True / --overwrite to start again)",
            file=path,
            field="settings_hash",
        )
    if "guard_states" not in meta:  # a single-system checkpoint of the same format
        meta = {
            **meta,
            "active": [0],
            "reasons": [None],
            "stopped_at": [None],
            "guard_states": [meta["guard_state"]],
            "backend": {k: meta[k] for k in ("rng_state",) if k in meta},
        }
    return arrays, meta


class _Batch:
    """Per-system bookkeeping of one run: files, guard state, stop reasons, the step counter."""

    def __init__(
        self,
        backend: MDBackend,
        protocol: NVTProtocol,
        temperatures_K: Sequence[float],
        paths: Sequence[Path],
        n_atoms: Sequence[int],
        digest: str,
        checkpoint_path: Path,
    ) -> None:
        self.backend, self.protocol = backend, protocol
        self.temperatures_K, self.paths, self.n_atoms = list(temperatures_K), paths, n_atoms
        self.digest, self.checkpoint_path = digest, checkpoint_path
        n = len(paths)
        self.active = list(range(n))
        self.reasons: list[str | None] = [None] * n
        self.stopped_at: list[int | None] = [None] * n
        self.gstates = [GuardState() for _ in range(n)]
        self.writers: dict[int, TrajectoryWriter] = {}
        self.step = 0
        self.atom_steps = 0
        self.resumed_from: int | None = None

    def resume(self, meta: dict[str, Any]) -> None:
        self.step = self.resumed_from = int(meta["step"])
        self.active = list(meta["active"])
        self.reasons = list(meta["reasons"])
        self.stopped_at = list(meta["stopped_at"])
        self.gstates = [GuardState.from_dict(g) for g in meta["guard_states"]]

    def open_writers(
        self, numbers: Sequence[np.ndarray], candidate_ids: Sequence[str], digests: Sequence[str]
    ) -> None:
        p, batched = self.protocol, self.backend.batched
        for i in self.active:
            attrs: dict[str, Any] = {
                "timestep_fs": p.timestep_fs,
                "stride": p.stride,
                "target_temperature_K": float(self.temperatures_K[i]),
                "thermostat": p.thermostat,
                "thermostat_timescale_fs": p.thermostat_timescale_fs,
                "seed": p.seed,
                "potential": p.potential,
                "candidate_id": candidate_ids[i],
                "engine": self.backend.engine,
                **({"batch_index": i, "batch_size": len(self.paths)} if batched else {}),
                "equilibration_steps": p.equilibration_steps,
                "production_steps": p.production_steps,
                "settings_hash": digests[i],
                "status": "running",
            }
            self.writers[i] = TrajectoryWriter(
                self.paths[i], numbers[i], attrs, resume_step=self.resumed_from
            )
            if self.resumed_from is not None:
                self.gstates[i].truncate(self.writers[i].n_frames)

    def record(self) -> None:
        """Append the current frame of every active system to its file."""
        t_ps = self.step * self.protocol.timestep_fs * 1e-3
        for i, frame in zip(self.active, self.backend.frames(), strict=True):
            self.writers[i].append(
                positions=frame.positions,
                cell=frame.cell,
                step=self.step,
                time_fs=self.step * self.protocol.timestep_fs,
                temperature_K=frame.temperature_K,
                potential_energy_eV=frame.potential_energy_eV,
                kinetic_energy_eV=frame.kinetic_energy_eV,
                conserved_eV=frame.conserved_eV,
            )
            self.gstates[i].time_ps.append(t_ps)
            self.gstates[i].temperature_K.append(frame.temperature_K)
            self.gstates[i].conserved_eV.append(frame.conserved_eV)

    def checkpoint(self) -> None:
        for w in self.writers.values():
            w.flush()  # frames first: the checkpoint never points past what is on disk
        state = self.backend.state_dict()
        meta = {
            "settings_hash": self.digest,
            "step": self.step,
            "active": self.active,
            "reasons": self.reasons,
            "stopped_at": self.stopped_at,
            "guard_states": [g.to_dict() for g in self.gstates],
            "backend": state.meta,
        }
        save_checkpoint(self.checkpoint_path, state.arrays, meta)

    def drop(self, flagged: dict[int, str]) -> None:
        """Record why systems went unstable (original index → reason); remove them."""
        keep = [k for k, i in enumerate(self.active) if i not in flagged]
        for i, reason in flagged.items():
            self.reasons[i] = reason
            logger.warning("%s: unstable at step %d: %s", self.paths[i], self.step, reason)
            self.active.remove(i)
            self.stopped_at[i] = self.step
            # mark the file now: a crash later must not leave it looking "running"
            self.writers[i].set_attrs(
                status="unstable", stable=False, unstable_reason=reason, steps_done=self.step
            )
            self.writers[i].flush()
        self.backend.drop(keep)

    def check_step(self) -> dict[int, str]:
        """Cheap per-step guards on every active system."""
        obs = self.backend.observe()
        flagged = {}
        for k, i in enumerate(self.active):
            reason = check_step(
                self.protocol.guards,
                target_K=self.temperatures_K[i],
                temperature_K=float(obs.temperature_K[k]),
                energy_eV=float(obs.potential_energy_eV[k]),
                max_force=float(obs.max_force_eV_per_A[k]),
                max_displacement=float(obs.max_displacement_A[k]),
                positions_finite=bool(obs.positions_finite[k]),
            )
            if reason is not None:
                flagged[i] = reason
        return flagged

    def check_periodic(self) -> dict[int, str]:
        """Contacts and running statistics, every ``check_every_steps``."""
        flagged = {}
        for i, atoms in zip(self.active, self.backend.structures(), strict=True):
            reason = check_periodic(
                self.protocol.guards,
                self.gstates[i],
                target_K=self.temperatures_K[i],
                n_atoms=self.n_atoms[i],
                contact=closest_contact(atoms, self.protocol.guards),
                has_conserved=self.protocol.thermostat == "nose-hoover",
            )
            if reason is not None:
                flagged[i] = reason
        return flagged

    def finish(self, wall: float) -> None:
        for i, w in self.writers.items():
            md = self.gstates[i].min_distance_A
            w.set_attrs(
                status="completed" if self.reasons[i] is None else "unstable",
                stable=self.reasons[i] is None,
                unstable_reason=self.reasons[i] or "",
                steps_done=self._steps_done(i),
                wall_time_s=wall,
                atom_steps=self.atom_steps,
                min_distance_seen_A=-1.0 if np.isinf(md) else md,
            )

    def _steps_done(self, i: int) -> int:
        stopped = self.stopped_at[i]
        return stopped if stopped is not None else self.step

    def results(self, wall: float, digests: Sequence[str]) -> list[MDResult]:
        out = []
        for i, path in enumerate(self.paths):
            md = self.gstates[i].min_distance_A
            out.append(
                summarize(
                    path,
                    engine=self.backend.engine,
                    steps_done=self._steps_done(i),
                    wall_time_s=wall,
                    atom_steps=self.atom_steps,
                    stable=self.reasons[i] is None,
                    reason=self.reasons[i],
                    min_distance=None if np.isinf(md) else md,
                    settings_digest=digests[i],
                    resumed_from=self.resumed_from,
                )
            )
        return out


def _check_inputs(
    n_sys: int, temperatures_K: Sequence[float], trajectory_paths: Sequence[str | Path]
) -> None:
    if n_sys == 0:
        raise InputError("no systems to simulate", field="systems")
    if len(temperatures_K) != n_sys or len(trajectory_paths) != n_sys:
        raise InputError(
            f"need one temperature and one trajectory path per system (got {n_sys} systems, "
            f"{len(temperatures_K)} temperatures, {len(trajectory_paths)} paths)",
            field="temperatures_K",
        )
    if len({Path(p) for p in trajectory_paths}) != n_sys:
        raise InputError("trajectory paths must be distinct", field="trajectory_paths")


def _integrate(
    batch: _Batch, label: str, progress: bool, step_hook: Callable[[int], None] | None
) -> None:
    """The MD loop: step, guard, record, check, checkpoint — until done or nothing is left."""
    p, backend = batch.protocol, batch.backend
    clock = CheckpointClock(p.checkpoint_every_steps, p.checkpoint_every_s)
    if batch.resumed_from is None and p.is_frame(batch.step):
        batch.record()
    with StepProgress(progress, label, p.total_steps, batch.step) as bar:
        while batch.step < p.total_steps and batch.active:
            backend.step(1)
            batch.step += 1
            batch.atom_steps += sum(batch.n_atoms[i] for i in batch.active)
            if flagged := batch.check_step():
                batch.drop(flagged)
                if not batch.active:
                    break
            if p.is_frame(batch.step):
                batch.record()
            if batch.step % p.guards.check_every_steps == 0 and (flagged := batch.check_periodic()):
                batch.drop(flagged)
                if not batch.active:
                    break
            if clock.due(batch.step, p.total_steps):
                batch.checkpoint()
            if step_hook is not None:
                step_hook(batch.step)
            bar.update(batch.step)


def run_batch(
    backend: MDBackend,
    systems: Sequence[Any],
    temperatures_K: Sequence[float],
    protocol: NVTProtocol,
    *,
    trajectory_paths: Sequence[str | Path],
    candidate_ids: Sequence[str] | None = None,
    checkpoint_path: str | Path | None = None,
    progress: bool = False,
    overwrite: bool = False,
    _step_hook: Callable[[int], None] | None = None,
) -> list[MDResult]:
    """Run (or resume, or return the finished results of) NVT of ``systems[i]`` at
    ``temperatures_K[i]`` with ``backend``; one trajectory file per system.

    ``systems`` are not modified (copies are simulated). Finished runs with the same settings are
    returned without simulating; a checkpoint with the same settings is resumed; a checkpoint or
    trajectory from different settings raises InputError unless ``overwrite``.
    ``_step_hook(step)`` is called after every step (tests use it to simulate crashes).
    """
    n_sys = len(systems)
    _check_inputs(n_sys, temperatures_K, trajectory_paths)
    if not backend.batched and n_sys != 1:
        raise InputError(
            f"the {backend.engine} back end integrates one system per run (got {n_sys})",
            field="systems",
        )
    cids = list(candidate_ids) if candidate_ids is not None else [""] * n_sys
    paths = [Path(p) for p in trajectory_paths]
    systems = [a.copy() for a in systems]
    for atoms in systems:
        atoms.pbc = True
    digest, digests = settings_digests(backend, systems, temperatures_K, cids, protocol)
    if checkpoint_path:
        ckpt = Path(checkpoint_path)
    elif backend.batched:
        ckpt = batch_checkpoint_path(paths[0])
    else:
        ckpt = default_checkpoint_path(paths[0])
    if overwrite:
        for p in [*paths, ckpt]:
            p.unlink(missing_ok=True)
    else:
        done = [finished_result(p, d, backend.engine) for p, d in zip(paths, digests, strict=True)]
        if all(r is not None for r in done):
            logger.info("%s: finished run(s) with identical settings, not re-running", paths[0])
            return done  # type: ignore[return-value]
    resume = _checkpoint_to_resume(ckpt, digest, backend.batched, paths, digests)
    n_atoms = [len(a) for a in systems]
    batch = _Batch(backend, protocol, temperatures_K, paths, n_atoms, digest, ckpt)
    try:
        backend.start(
            systems,
            temperatures_K,
            thermostat=protocol.thermostat,
            timestep_fs=protocol.timestep_fs,
            thermostat_timescale_fs=protocol.thermostat_timescale_fs,
            seed=protocol.seed,
        )
        if resume is not None:
            arrays, meta = resume
            batch.resume(meta)
            backend.load_state_dict(BackendState(arrays, meta.get("backend", {})), batch.active)
            logger.info("%s: resuming from checkpoint at step %d", ckpt, batch.step)
        if backend.batched:
            label = f"batched NVT ({n_sys} runs, {sum(batch.n_atoms)} atoms)"
        else:
            label = f"NVT {cids[0] or paths[0].stem} {float(temperatures_K[0]):g} K"
        try:
            batch.open_writers([a.numbers for a in systems], cids, digests)
            t0 = time.perf_counter()
            _integrate(batch, label, progress, _step_hook)
            wall = time.perf_counter() - t0
            batch.finish(wall)
        finally:
            for w in batch.writers.values():
                w.close()
    finally:
        backend.close()
    # Finished (completed or flagged unstable): the trajectory files are the record.
    ckpt.unlink(missing_ok=True)
    return batch.results(wall, digests)
