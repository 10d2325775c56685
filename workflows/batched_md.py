"""Batched NVT MD with torch-sim: many (system, temperature) pairs in one model call per step.

Same results contract as :func:`workflows.md.run_nvt`: one ``ilscreen-traj/1`` file per
(system, T) pair, production frames only, the same stability guards, checkpoint/exact resume and
an :class:`~workflows.md.MDResult` per pair.

Engine details (torch-sim 0.3.0):

* Thermostats, both with per-system temperatures in one batch:
  ``"nose-hoover"`` (default, like the ASE path): ASE's Nosé–Hoover chain algorithm
  (``ase.md.nose_hoover_chain``: chain of 3, 4th-order Suzuki–Yoshida, tdamp =
  ``thermostat_timescale_fs``) vectorised over systems in :class:`BatchedNHChain`, around
  torch-sim's ``velocity_verlet``. torch-sim 0.3.0's own ``nvt_nose_hoover`` is not used: its
  chain is a single chain over the summed degrees of freedom of the whole batch, which would
  couple the systems' temperatures. ``"langevin"``: torch-sim's ``nvt_langevin`` (BAOAB) with a
  per-system ``kT`` tensor.
* Initial velocities: batch entry ``i`` gets exactly the Maxwell–Boltzmann momenta that
  ``run_nvt(..., seed=seed + i)`` would draw, so a Nosé–Hoover batch reproduces the ASE path to
  round-off (tested) — the strongest check of every unit conversion at this boundary.
* Units: torch-sim integrates in its metal unit system (Å, eV, amu); time enters as
  ``dt_ps * MetalUnits.time`` (:func:`fs_to_torchsim_time`), which is numerically ASE's time
  unit; ``kT = T * MetalUnits.temperature`` (eV). ``conserved_eV`` is the chain's extended
  energy (Nosé–Hoover) or the total energy (Langevin).
* torch-sim wraps positions into the cell every step; unwrapped positions are kept with integer
  image counters updated every step (an atom cannot cross half a cell in one step).
* Randomness: the Langevin noise comes
  from torch's global generator, which is seeded inside ``torch.random.fork_rng`` (the caller's
  RNG is untouched) and checkpointed (``torch.get_rng_state`` / ``torch.cuda.get_rng_state``).
  On CPU a resumed run is bit-for-bit the uninterrupted one (tested); on GPU the model's
  reductions may be non-deterministic, so expect agreement to round-off only.
* A system that violates a guard is dropped from the batch (its file stays consistent and is
  marked unstable); the others continue.
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
from screening.units import FS_TO_PS, KB_EV
from workflows.md import (
    CHECKPOINT_EVERY_S,
    CheckpointClock,
    MDResult,
    StepProgress,
    finished_result,
    load_checkpoint,
    md_protocol,
    save_checkpoint,
    summarize,
)
from workflows.md_guards import (
    GuardState,
    StabilityGuards,
    check_periodic,
    check_step,
    closest_contact,
)

logger = logging.getLogger(__name__)


def fs_to_torchsim_time(t_fs: float) -> float:
    """Femtoseconds → torch-sim metal-unit time (``ps * MetalUnits.time``)."""
    from torch_sim.units import MetalUnits

    return t_fs * FS_TO_PS * float(MetalUnits.time)


def kelvin_to_torchsim_kT(temperature_K: float) -> float:
    """Kelvin → torch-sim kT in eV (``T * MetalUnits.temperature``)."""
    from torch_sim.units import MetalUnits

    return temperature_K * float(MetalUnits.temperature)


# ASE's 4th-order Suzuki–Yoshida weights for the chain propagator (ase.md.nose_hoover_chain)
_SY4 = (
    1 / (2 - 2 ** (1 / 3)),
    -(2 ** (1 / 3)) / (2 - 2 ** (1 / 3)),
    1 / (2 - 2 ** (1 / 3)),
)


class BatchedNHChain:
    """ASE's Nosé–Hoover chain thermostat, one independent chain per system of a batch.

    Tensors: ``eta``, ``p_eta`` and ``Q`` are (n_systems, tchain); ``kT`` and ``n_atoms`` are
    (n_systems,). The update order and formulas follow ``NoseHooverChainThermostat`` in ASE
    3.29 line by line, so a batch of one reproduces ASE's ``NoseHooverChainNVT``.
    """

    def __init__(self, kT: Any, n_atoms: Any, tdamp: float, tchain: int = 3) -> None:
        import torch

        self.kT, self.n_atoms, self.tchain = kT, n_atoms.to(kT.dtype), tchain
        n_sys = kT.shape[0]
        self.Q = (kT * tdamp**2).unsqueeze(1).repeat(1, tchain)
        self.Q[:, 0] *= 3 * self.n_atoms
        self.eta = torch.zeros((n_sys, tchain), dtype=kT.dtype, device=kT.device)
        self.p_eta = torch.zeros_like(self.eta)

    def select(self, keep: list[int]) -> None:
        """Keep only the chains of the systems at positions ``keep`` (dropping flagged ones)."""
        for name in ("kT", "n_atoms", "Q", "eta", "p_eta"):
            setattr(self, name, getattr(self, name)[keep])

    def energy(self) -> Any:
        """Thermostat contribution to the conserved energy, per system (eV)."""
        return (
            3 * self.n_atoms * self.kT * self.eta[:, 0]
            + self.kT * self.eta[:, 1:].sum(dim=1)
            + (0.5 * self.p_eta**2 / self.Q).sum(dim=1)
        )

    def _p_eta_j(self, two_ke: Any, j: int, delta2: float, delta4: float) -> None:
        last = self.tchain - 1
        if j < last:
            self.p_eta[:, j] *= (-delta4 * self.p_eta[:, j + 1] / self.Q[:, j + 1]).exp()
        if j == 0:
            g = two_ke - 3 * self.n_atoms * self.kT
        else:
            g = self.p_eta[:, j - 1] ** 2 / self.Q[:, j - 1] - self.kT
        self.p_eta[:, j] += delta2 * g
        if j < last:
            self.p_eta[:, j] *= (-delta4 * self.p_eta[:, j + 1] / self.Q[:, j + 1]).exp()

    def integrate(self, momenta: Any, masses: Any, system_idx: Any, delta: float) -> Any:
        """Propagate the chains by ``delta`` and return the rescaled momenta."""
        for coeff in _SY4:
            d = coeff * delta
            d2, d4 = d / 2, d / 4
            two_ke = _per_system_sum((momenta**2).sum(dim=1) / masses, system_idx, len(self.kT))
            for j in range(self.tchain):
                self._p_eta_j(two_ke, self.tchain - j - 1, d2, d4)
            self.eta += d * self.p_eta / self.Q
            scale = (-d * self.p_eta[:, 0] / self.Q[:, 0]).exp()
            momenta = momenta * scale[system_idx].unsqueeze(1)
            two_ke = _per_system_sum((momenta**2).sum(dim=1) / masses, system_idx, len(self.kT))
            for j in range(self.tchain):
                self._p_eta_j(two_ke, j, d2, d4)
        return momenta


def _per_system_sum(values: Any, system_idx: Any, n_sys: int) -> Any:
    import torch

    out = torch.zeros(n_sys, dtype=values.dtype, device=values.device)
    return out.index_add(0, system_idx, values)


def maxwell_boltzmann_momenta(atoms: Any, temperature_K: float, seed: int) -> np.ndarray:
    """Momenta exactly as :func:`workflows.md.run_nvt` draws them for ``seed`` (amu·Å/ASE-time)."""
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    atoms = atoms.copy()
    MaxwellBoltzmannDistribution(
        atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed)
    )
    Stationary(atoms)
    return atoms.get_momenta()


def run_nvt_batched(
    systems: Sequence[Any],
    temperatures_K: Sequence[float],
    model: Any,
    *,
    timestep_fs: float,
    equilibration_steps: int,
    production_steps: int,
    stride: int,
    trajectory_paths: Sequence[str | Path],
    thermostat: str = "nose-hoover",
    thermostat_timescale_fs: float = 100.0,
    seed: int = 0,
    checkpoint_path: str | Path | None = None,
    checkpoint_every_steps: int = 1000,
    checkpoint_every_s: float = CHECKPOINT_EVERY_S,
    guards: StabilityGuards | None = None,
    progress: bool = False,
    candidate_ids: Sequence[str] | None = None,
    potential: str = "",
    overwrite: bool = False,
    _step_hook: Callable[[int], None] | None = None,
) -> list[MDResult]:
    """Run NVT for ``systems[i]`` at ``temperatures_K[i]`` (one batch) and write one file each.

    ``model`` is a torch-sim ``ModelInterface`` (its device and dtype are used). Same re-run
    semantics as :func:`workflows.md.run_nvt`: finished runs are returned, a checkpoint with the
    same settings is resumed, different settings raise InputError unless ``overwrite``.
    """
    import torch
    import torch_sim as ts
    from torch_sim.integrators import nvt_langevin
    from torch_sim.integrators.md import MDState, velocity_verlet
    from torch_sim.quantities import calc_kinetic_energy

    n_sys = len(systems)
    if n_sys == 0:
        raise InputError("no systems to simulate", field="systems")
    if len(temperatures_K) != n_sys or len(trajectory_paths) != n_sys:
        raise InputError(
            f"need one temperature and one trajectory path per system (got {n_sys} systems, "
            f"{len(temperatures_K)} temperatures, {len(trajectory_paths)} paths)",
            field="temperatures_K",
        )
    guards, protocol = md_protocol(
        temperatures_K=temperatures_K,
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
    candidate_ids = list(candidate_ids) if candidate_ids is not None else [""] * n_sys
    paths = [Path(p) for p in trajectory_paths]
    if len(set(paths)) != n_sys:
        raise InputError("trajectory paths must be distinct", field="trajectory_paths")
    device, dtype = model.device, model.dtype
    systems = [a.copy() for a in systems]
    for atoms in systems:
        atoms.pbc = True

    batch_settings = {
        "engine": "torch-sim",
        "systems": [
            {
                "numbers": a.numbers.tolist(),
                "positions_sha": hashlib.sha256(a.positions.tobytes()).hexdigest(),
                "cell": a.cell.array.tolist(),
                "temperature_K": float(t),
                "candidate_id": cid,
            }
            for a, t, cid in zip(systems, temperatures_K, candidate_ids, strict=True)
        ],
        "dtype": str(dtype),
        **protocol,
    }
    batch_digest = settings_hash(batch_settings)
    # Each file's hash ties it to its batch: the noise (and so the trajectory) depends on it.
    digests = [settings_hash({"batch": batch_digest, "index": i}) for i in range(n_sys)]
    ckpt_path = (
        Path(checkpoint_path)
        if checkpoint_path
        else paths[0].with_name(paths[0].stem + ".batch.ckpt.npz")
    )
    if overwrite:
        for p in [*paths, ckpt_path]:
            p.unlink(missing_ok=True)
    else:
        done = [finished_result(p, d, "torch-sim") for p, d in zip(paths, digests, strict=True)]
        if all(r is not None for r in done):
            logger.info("batched MD: all %d runs already finished, not re-running", n_sys)
            return done  # type: ignore[return-value]

    dt = torch.tensor(fs_to_torchsim_time(timestep_fs), device=device, dtype=dtype)
    gamma = 1.0 / torch.tensor(
        fs_to_torchsim_time(thermostat_timescale_fs), device=device, dtype=dtype
    )
    kT_all = torch.tensor(
        [kelvin_to_torchsim_kT(t) for t in temperatures_K], device=device, dtype=dtype
    )
    _, langevin_update = nvt_langevin(model=model, dt=dt, kT=kT_all, gamma=gamma, seed=seed)
    tdamp = fs_to_torchsim_time(thermostat_timescale_fs)
    nhc: BatchedNHChain | None = None
    if thermostat == "nose-hoover":
        counts = torch.tensor([len(a) for a in systems], device=device)
        nhc = BatchedNHChain(kT_all, counts, tdamp)
    total_steps = equilibration_steps + production_steps
    n_atoms = [len(a) for a in systems]
    gstates = [GuardState() for _ in range(n_sys)]
    reasons: list[str | None] = [None] * n_sys
    resumed_from: int | None = None
    stopped_at: list[int | None] = [None] * n_sys

    base = ts.io.atoms_to_state(systems, device=device, dtype=dtype)
    rng_devices = [device] if device.type == "cuda" else []

    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(seed)
        if ckpt_path.exists():
            arrays, meta = load_checkpoint(ckpt_path)
            if meta["settings_hash"] != batch_digest:
                raise InputError(
                    "checkpoint was written with different batched-MD settings; refusing to "
                    "resume (use overwrite)",
                    file=ckpt_path,
                    field="settings_hash",
                )
            step = int(meta["step"])
            active = list(meta["active"])
            reasons = list(meta["reasons"])
            stopped_at = list(meta["stopped_at"])
            gstates = [GuardState.from_dict(g) for g in meta["guard_states"]]
            sub = base[active] if len(active) < n_sys else base
            sim = ts.SimState(
                positions=torch.as_tensor(arrays["positions"], device=device, dtype=dtype),
                masses=sub.masses,
                cell=torch.as_tensor(arrays["cell"], device=device, dtype=dtype),
                pbc=True,
                atomic_numbers=sub.atomic_numbers,
                system_idx=sub.system_idx,
            )
            momenta = torch.as_tensor(arrays["momenta"], device=device, dtype=dtype)
            if nhc is not None:
                nhc.select(active)
                nhc.eta = torch.as_tensor(arrays["eta"], device=device, dtype=dtype)
                nhc.p_eta = torch.as_tensor(arrays["p_eta"], device=device, dtype=dtype)
            images = torch.as_tensor(arrays["images"], device=device, dtype=dtype)
            torch.set_rng_state(torch.as_tensor(arrays["rng_cpu"], dtype=torch.uint8))
            if rng_devices and "rng_cuda" in arrays:
                torch.cuda.set_rng_state(
                    torch.as_tensor(arrays["rng_cuda"], dtype=torch.uint8), device=device
                )
            resumed_from = step
            logger.info("batched MD: resuming from checkpoint at step %d", step)
        else:
            for p, d in zip(paths, digests, strict=True):
                if p.exists() and read_trajectory(p).attrs.get("settings_hash") != d:
                    raise InputError(
                        "trajectory exists from a run with different settings and no "
                        "checkpoint; refusing to overwrite (use overwrite)",
                        file=p,
                        field="settings_hash",
                    )
            step = 0
            active = list(range(n_sys))
            sim = base
            momenta = torch.as_tensor(
                np.concatenate(
                    [
                        maxwell_boltzmann_momenta(a, t, seed + i)
                        for i, (a, t) in enumerate(zip(systems, temperatures_K, strict=True))
                    ]
                ),
                device=device,
                dtype=dtype,
            )
            images = torch.zeros_like(sim.positions)
        out = model(sim)
        state = MDState(
            positions=sim.positions,
            momenta=momenta,
            energy=out["energy"],
            forces=out["forces"],
            masses=sim.masses,
            cell=sim.cell,
            pbc=True,
            system_idx=sim.system_idx,
            atomic_numbers=sim.atomic_numbers,
        )

        writers: dict[int, TrajectoryWriter] = {}
        for i in range(n_sys):
            attrs = {
                "timestep_fs": float(timestep_fs),
                "stride": int(stride),
                "target_temperature_K": float(temperatures_K[i]),
                "thermostat": thermostat,
                "thermostat_timescale_fs": float(thermostat_timescale_fs),
                "seed": int(seed),
                "potential": potential,
                "candidate_id": candidate_ids[i],
                "engine": "torch-sim",
                "batch_index": i,
                "batch_size": n_sys,
                "equilibration_steps": int(equilibration_steps),
                "production_steps": int(production_steps),
                "settings_hash": digests[i],
            }
            if i in active:
                attrs["status"] = "running"
                writers[i] = TrajectoryWriter(
                    paths[i], systems[i].numbers, attrs, resume_step=resumed_from
                )
                if resumed_from is not None:
                    gstates[i].truncate(writers[i].n_frames)

        def per_system(x: torch.Tensor, reduce: str) -> torch.Tensor:
            n = len(active)
            outv = torch.full(
                (n,), -torch.inf if reduce == "amax" else 0.0, dtype=x.dtype, device=x.device
            )
            return outv.scatter_reduce(0, state.system_idx, x, reduce=reduce).detach()

        def unwrapped() -> torch.Tensor:
            cell_rows = state.row_vector_cell[state.system_idx]  # (n_atoms, 3, 3)
            return state.positions + torch.einsum("ni,nij->nj", images, cell_rows)

        def frac(pos: torch.Tensor) -> torch.Tensor:
            inv = torch.linalg.inv(state.row_vector_cell)[state.system_idx]
            return torch.einsum("ni,nij->nj", pos, inv)

        def temperatures() -> tuple[np.ndarray, np.ndarray]:
            ke = calc_kinetic_energy(
                masses=state.masses, momenta=state.momenta, system_idx=state.system_idx
            )
            ke_np = ke.detach().cpu().numpy()
            counts = np.array([n_atoms[i] for i in active])
            return ke_np, 2.0 * ke_np / (3.0 * counts * KB_EV)

        def record() -> None:
            ke, temps = temperatures()
            pos = unwrapped().detach().cpu().numpy()
            cells = state.row_vector_cell.detach().cpu().numpy()
            epot = state.energy.detach().cpu().numpy()
            starts = np.cumsum([0] + [n_atoms[i] for i in active])
            e_nhc = nhc.energy().detach().cpu().numpy() if nhc is not None else None
            for k, i in enumerate(active):
                etot = float(epot[k] + ke[k])
                e_cons = etot + float(e_nhc[k]) if e_nhc is not None else etot
                writers[i].append(
                    positions=pos[starts[k] : starts[k + 1]],
                    cell=cells[k],
                    step=step,
                    time_fs=step * timestep_fs,
                    temperature_K=float(temps[k]),
                    potential_energy_eV=float(epot[k]),
                    kinetic_energy_eV=float(ke[k]),
                    conserved_eV=e_cons,
                )
                gstates[i].time_ps.append(step * timestep_fs * 1e-3)
                gstates[i].temperature_K.append(float(temps[k]))
                gstates[i].conserved_eV.append(e_cons)

        def checkpoint() -> None:
            for w in writers.values():
                w.flush()
            arrays = {
                "positions": state.positions.detach().cpu().numpy(),
                "momenta": state.momenta.detach().cpu().numpy(),
                "cell": state.cell.detach().cpu().numpy(),
                "images": images.detach().cpu().numpy(),
                "rng_cpu": torch.get_rng_state().numpy(),
            }
            if nhc is not None:
                arrays["eta"] = nhc.eta.detach().cpu().numpy()
                arrays["p_eta"] = nhc.p_eta.detach().cpu().numpy()
            if rng_devices:
                arrays["rng_cuda"] = torch.cuda.get_rng_state(device).numpy()
            meta = {
                "settings_hash": batch_digest,
                "step": step,
                "active": active,
                "reasons": reasons,
                "stopped_at": stopped_at,
                "guard_states": [g.to_dict() for g in gstates],
            }
            save_checkpoint(ckpt_path, arrays, meta)

        def is_frame(s: int) -> bool:
            return s >= equilibration_steps and (s - equilibration_steps) % stride == 0

        def drop(flagged: dict[int, str]) -> None:
            """Record why systems went unstable (original index → guard reason) and remove them
            from the batch."""
            nonlocal state, images, kT
            keep = [k for k, i in enumerate(active) if i not in flagged]
            atom_keep = torch.isin(
                state.system_idx, torch.tensor(keep, device=state.system_idx.device)
            )
            for i, reason in flagged.items():
                reasons[i] = reason
                logger.warning("batch system %d unstable at %d: %s", i, step, reason)
                active.remove(i)
                stopped_at[i] = step
                # mark the file now: a crash later must not leave it looking "running"
                writers[i].set_attrs(
                    status="unstable", stable=False, unstable_reason=reasons[i], steps_done=step
                )
                writers[i].flush()
            if not keep:
                return
            state = state[keep]
            images = images[atom_keep]
            kT = kT_all[active]
            if nhc is not None:
                nhc.select(keep)

        kT = kT_all[active]
        atom_steps = 0
        half_dt = float(dt) / 2

        def step_fn(st: Any) -> Any:
            if nhc is None:
                return langevin_update(st, dt=dt, kT=kT, gamma=gamma)
            # ASE's NoseHooverChainNVT.step: chain half step, velocity Verlet, chain half step
            st.momenta = nhc.integrate(st.momenta, st.masses, st.system_idx, half_dt)
            st = velocity_verlet(st, dt, model)
            st.momenta = nhc.integrate(st.momenta, st.masses, st.system_idx, half_dt)
            return st

        t0 = time.perf_counter()
        clock = CheckpointClock(checkpoint_every_steps, checkpoint_every_s)
        try:
            if resumed_from is None and is_frame(step):
                record()
            label = f"batched NVT ({n_sys} runs, {sum(n_atoms)} atoms)"
            with StepProgress(progress, label, total_steps, step) as bar:
                while step < total_steps and active:
                    frac_old = frac(state.positions)
                    prev_unwrapped = unwrapped()
                    state = step_fn(state)
                    step += 1
                    atom_steps += int(state.positions.shape[0])
                    # a wrap shows up as a jump of ~±1 in fractional coordinates
                    images = images - torch.round(frac(state.positions) - frac_old)
                    disp = (unwrapped() - prev_unwrapped).abs().amax(dim=1)
                    fmax = state.forces.abs().amax(dim=1)
                    finite = torch.isfinite(state.positions).all(dim=1).to(state.dtype)
                    ke = calc_kinetic_energy(
                        masses=state.masses, momenta=state.momenta, system_idx=state.system_idx
                    )
                    # one device→host transfer per step for all per-system guard inputs
                    max_disp, max_f, finite, epot, ke = (
                        torch.stack(
                            [
                                per_system(disp, "amax"),
                                per_system(fmax, "amax"),
                                per_system(finite, "sum"),
                                state.energy.detach(),
                                ke.detach(),
                            ]
                        )
                        .cpu()
                        .numpy()
                    )
                    temps = 2.0 * ke / (3.0 * np.array([n_atoms[i] for i in active]) * KB_EV)
                    flagged: dict[int, str] = {}
                    for k, i in enumerate(active):
                        r = check_step(
                            guards,
                            target_K=temperatures_K[i],
                            temperature_K=float(temps[k]),
                            energy_eV=float(epot[k]),
                            max_force=float(max_f[k]),
                            max_displacement=float(max_disp[k]),
                            positions_finite=bool(finite[k] == n_atoms[i]),
                        )
                        if r is not None:
                            flagged[i] = r
                    if flagged:
                        drop(flagged)
                        if not active:
                            break
                    if is_frame(step):
                        record()
                    if step % guards.check_every_steps == 0:
                        flagged = {}
                        atoms_list = state.to_atoms()
                        for k, i in enumerate(active):
                            r = check_periodic(
                                guards,
                                gstates[i],
                                target_K=temperatures_K[i],
                                n_atoms=n_atoms[i],
                                contact=closest_contact(atoms_list[k], guards),
                                has_conserved=nhc is not None,
                            )
                            if r is not None:
                                flagged[i] = r
                        if flagged:
                            drop(flagged)
                    if active and clock.due(step, total_steps):
                        checkpoint()
                    if _step_hook is not None:
                        _step_hook(step)
                    bar.update(step)
            wall = time.perf_counter() - t0
            for i, w in writers.items():
                md = gstates[i].min_distance_A
                w.set_attrs(
                    status="completed" if reasons[i] is None else "unstable",
                    stable=reasons[i] is None,
                    unstable_reason=reasons[i] or "",
                    steps_done=stopped_at[i] if stopped_at[i] is not None else step,
                    wall_time_s=wall,
                    atom_steps=atom_steps,
                    min_distance_seen_A=-1.0 if np.isinf(md) else md,
                )
        finally:
            for w in writers.values():
                w.close()
    ckpt_path.unlink(missing_ok=True)
    results = []
    for i in range(n_sys):
        md = gstates[i].min_distance_A
        results.append(
            summarize(
                paths[i],
                engine="torch-sim",
                steps_done=stopped_at[i] if stopped_at[i] is not None else step,
                wall_time_s=wall,
                atom_steps=atom_steps,
                stable=reasons[i] is None,
                reason=reasons[i],
                min_distance=None if np.isinf(md) else md,
                settings_digest=digests[i],
                resumed_from=resumed_from,
            )
        )
    return results
