"""torch-sim back end: many systems (each at its own temperature) in one model call per step.

Engine details (torch-sim 0.3.0):

* Thermostats, both with per-system temperatures in one batch: ``"nose-hoover"`` (default, like
  the ASE back end) is ASE's Nosé–Hoover chain algorithm vectorised over systems
  (:class:`workflows.md.nhchain.BatchedNHChain`) around torch-sim's ``velocity_verlet``;
  ``"langevin"`` is torch-sim's ``nvt_langevin`` (BAOAB) with a per-system ``kT`` tensor.
* Initial velocities: batch entry ``i`` gets exactly the Maxwell–Boltzmann momenta that the ASE
  back end draws for ``seed + i``, so a Nosé–Hoover batch reproduces the ASE path to round-off
  (tested) — the strongest check of every unit conversion at this boundary.
* Units: torch-sim integrates in its metal unit system (Å, eV, amu); time enters as
  ``dt_ps * MetalUnits.time`` (:func:`fs_to_torchsim_time`), numerically ASE's time unit;
  ``kT = T * MetalUnits.temperature`` (eV). ``conserved_eV`` is the chain's extended energy
  (Nosé–Hoover) or the total energy (Langevin).
* torch-sim wraps positions into the cell every step; unwrapped positions are kept with integer
  image counters updated every step (an atom cannot cross half a cell in one step).
* Randomness: the Langevin noise comes from torch's global generator, seeded inside
  ``torch.random.fork_rng`` (the caller's RNG is untouched) and checkpointed. On CPU a resumed run
  is bit-for-bit the uninterrupted one (tested); on GPU the model's reductions may be
  non-deterministic, so expect agreement to round-off only.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np

from screening.units import FS_TO_PS, KB_EV
from workflows.md.backend import (
    BackendState,
    Frame,
    StepObservation,
    maxwell_boltzmann_momenta,
)
from workflows.md.nhchain import BatchedNHChain


def fs_to_torchsim_time(t_fs: float) -> float:
    """Femtoseconds → torch-sim metal-unit time (``ps * MetalUnits.time``)."""
    from torch_sim.units import MetalUnits

    return t_fs * FS_TO_PS * float(MetalUnits.time)


def kelvin_to_torchsim_kT(temperature_K: float) -> float:
    """Kelvin → torch-sim kT in eV (``T * MetalUnits.temperature``)."""
    from torch_sim.units import MetalUnits

    return temperature_K * float(MetalUnits.temperature)


class TorchSimBackend:
    """Batched NVT with a torch-sim ``ModelInterface`` (its device and dtype are used)."""

    engine = "torch-sim"
    batched = True
    thermostats = ("nose-hoover", "langevin")

    def __init__(self, model: Any) -> None:
        self.model = model
        self._stack = ExitStack()

    def hash_settings(self) -> dict[str, Any]:
        return {"dtype": str(self.model.dtype)}

    def start(
        self,
        systems: Sequence[Any],
        temperatures_K: Sequence[float],
        *,
        thermostat: str,
        timestep_fs: float,
        thermostat_timescale_fs: float,
        seed: int,
    ) -> None:
        import torch
        import torch_sim as ts
        from torch_sim.integrators import nvt_langevin

        device, dtype = self.model.device, self.model.dtype
        self.dt = torch.tensor(fs_to_torchsim_time(timestep_fs), device=device, dtype=dtype)
        self.gamma = 1.0 / torch.tensor(
            fs_to_torchsim_time(thermostat_timescale_fs), device=device, dtype=dtype
        )
        self.kT_all = torch.tensor(
            [kelvin_to_torchsim_kT(t) for t in temperatures_K], device=device, dtype=dtype
        )
        _, self._langevin_update = nvt_langevin(
            model=self.model, dt=self.dt, kT=self.kT_all, gamma=self.gamma, seed=seed
        )
        self.nhc: BatchedNHChain | None = None
        if thermostat == "nose-hoover":
            counts = torch.tensor([len(a) for a in systems], device=device)
            self.nhc = BatchedNHChain(
                self.kT_all, counts, fs_to_torchsim_time(thermostat_timescale_fs)
            )
        self.n_atoms = [len(a) for a in systems]
        self.base = ts.io.atoms_to_state(list(systems), device=device, dtype=dtype)
        self._rng_devices = [device] if device.type == "cuda" else []
        self._stack.enter_context(torch.random.fork_rng(devices=self._rng_devices))
        torch.manual_seed(seed)
        momenta = np.concatenate(
            [
                maxwell_boltzmann_momenta(a, t, seed + i)
                for i, (a, t) in enumerate(zip(systems, temperatures_K, strict=True))
            ]
        )
        self._active = list(range(len(systems)))
        self.images = torch.zeros_like(self.base.positions)
        self._set_state(self.base, torch.as_tensor(momenta, device=device, dtype=dtype))

    def _set_state(self, sim: Any, momenta: Any) -> None:
        from torch_sim.integrators.md import MDState

        out = self.model(sim)
        self.state = MDState(
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
        self.kT = self.kT_all[self._active]

    def load_state_dict(self, state: BackendState, active: Sequence[int]) -> None:
        import torch
        import torch_sim as ts

        arrays = state.arrays
        device, dtype = self.model.device, self.model.dtype
        self._active = list(active)
        sub = self.base[self._active] if len(self._active) < len(self.n_atoms) else self.base
        sim = ts.SimState(
            positions=torch.as_tensor(arrays["positions"], device=device, dtype=dtype),
            masses=sub.masses,
            cell=torch.as_tensor(arrays["cell"], device=device, dtype=dtype),
            pbc=True,
            atomic_numbers=sub.atomic_numbers,
            system_idx=sub.system_idx,
        )
        if self.nhc is not None:
            self.nhc.select(self._active)
            self.nhc.eta = torch.as_tensor(arrays["eta"], device=device, dtype=dtype)
            self.nhc.p_eta = torch.as_tensor(arrays["p_eta"], device=device, dtype=dtype)
        self.images = torch.as_tensor(arrays["images"], device=device, dtype=dtype)
        torch.set_rng_state(torch.as_tensor(arrays["rng_cpu"], dtype=torch.uint8))
        if self._rng_devices and "rng_cuda" in arrays:
            torch.cuda.set_rng_state(
                torch.as_tensor(arrays["rng_cuda"], dtype=torch.uint8), device=device
            )
        self._set_state(sim, torch.as_tensor(arrays["momenta"], device=device, dtype=dtype))

    def state_dict(self) -> BackendState:
        import torch

        st = self.state
        arrays = {
            "positions": st.positions.detach().cpu().numpy(),
            "momenta": st.momenta.detach().cpu().numpy(),
            "cell": st.cell.detach().cpu().numpy(),
            "images": self.images.detach().cpu().numpy(),
            "rng_cpu": torch.get_rng_state().numpy(),
        }
        if self.nhc is not None:
            arrays["eta"] = self.nhc.eta.detach().cpu().numpy()
            arrays["p_eta"] = self.nhc.p_eta.detach().cpu().numpy()
        if self._rng_devices:
            arrays["rng_cuda"] = torch.cuda.get_rng_state(self.model.device).numpy()
        return BackendState(arrays, {})

    def _unwrapped(self) -> Any:
        import torch

        cell_rows = self.state.row_vector_cell[self.state.system_idx]  # (n_atoms, 3, 3)
        return self.state.positions + torch.einsum("ni,nij->nj", self.images, cell_rows)

    def _frac(self, pos: Any) -> Any:
        import torch

        inv = torch.linalg.inv(self.state.row_vector_cell)[self.state.system_idx]
        return torch.einsum("ni,nij->nj", pos, inv)

    def _integrate(self, st: Any) -> Any:
        from torch_sim.integrators.md import velocity_verlet

        if self.nhc is None:
            return self._langevin_update(st, dt=self.dt, kT=self.kT, gamma=self.gamma)
        # ASE's NoseHooverChainNVT.step: chain half step, velocity Verlet, chain half step
        half_dt = float(self.dt) / 2
        st.momenta = self.nhc.integrate(st.momenta, st.masses, st.system_idx, half_dt)
        st = velocity_verlet(st, self.dt, self.model)
        st.momenta = self.nhc.integrate(st.momenta, st.masses, st.system_idx, half_dt)
        return st

    def step(self, n: int = 1) -> None:
        import torch

        for _ in range(n):
            frac_old = self._frac(self.state.positions)
            prev_unwrapped = self._unwrapped()
            self.state = self._integrate(self.state)
            # a wrap shows up as a jump of ~±1 in fractional coordinates
            self.images = self.images - torch.round(self._frac(self.state.positions) - frac_old)
            self._displacement = (self._unwrapped() - prev_unwrapped).abs().amax(dim=1)

    def _per_system(self, x: Any, reduce: str) -> Any:
        import torch

        out = torch.full(
            (len(self._active),),
            -torch.inf if reduce == "amax" else 0.0,
            dtype=x.dtype,
            device=x.device,
        )
        return out.scatter_reduce(0, self.state.system_idx, x, reduce=reduce).detach()

    def _counts(self) -> np.ndarray:
        return np.array([self.n_atoms[i] for i in self._active])

    def observe(self) -> StepObservation:
        import torch
        from torch_sim.quantities import calc_kinetic_energy

        st = self.state
        fmax = st.forces.abs().amax(dim=1)
        finite = torch.isfinite(st.positions).all(dim=1).to(st.dtype)
        ke = calc_kinetic_energy(masses=st.masses, momenta=st.momenta, system_idx=st.system_idx)
        # one device→host transfer per step for all per-system guard inputs
        max_disp, max_f, n_finite, epot, ke = (
            torch.stack(
                [
                    self._per_system(self._displacement, "amax"),
                    self._per_system(fmax, "amax"),
                    self._per_system(finite, "sum"),
                    st.energy.detach(),
                    ke.detach(),
                ]
            )
            .cpu()
            .numpy()
        )
        counts = self._counts()
        return StepObservation(
            temperature_K=2.0 * ke / (3.0 * counts * KB_EV),
            potential_energy_eV=epot,
            max_force_eV_per_A=max_f,
            max_displacement_A=max_disp,
            positions_finite=n_finite == counts,
        )

    def frames(self) -> list[Frame]:
        from torch_sim.quantities import calc_kinetic_energy

        st = self.state
        ke_t = calc_kinetic_energy(masses=st.masses, momenta=st.momenta, system_idx=st.system_idx)
        ke = ke_t.detach().cpu().numpy()
        counts = self._counts()
        temps = 2.0 * ke / (3.0 * counts * KB_EV)
        pos = self._unwrapped().detach().cpu().numpy()
        cells = st.row_vector_cell.detach().cpu().numpy()
        epot = st.energy.detach().cpu().numpy()
        starts = np.cumsum([0, *counts.tolist()])
        e_nhc = self.nhc.energy().detach().cpu().numpy() if self.nhc is not None else None
        out = []
        for k in range(len(self._active)):
            etot = float(epot[k] + ke[k])
            out.append(
                Frame(
                    positions=pos[starts[k] : starts[k + 1]],
                    cell=cells[k],
                    temperature_K=float(temps[k]),
                    potential_energy_eV=float(epot[k]),
                    kinetic_energy_eV=float(ke[k]),
                    conserved_eV=etot + float(e_nhc[k]) if e_nhc is not None else etot,
                )
            )
        return out

    def structures(self) -> list[Any]:
        return self.state.to_atoms()

    def drop(self, keep: Sequence[int]) -> None:
        import torch

        keep = list(keep)
        atom_keep = torch.isin(
            self.state.system_idx, torch.tensor(keep, device=self.state.system_idx.device)
        )
        self._active = [self._active[k] for k in keep]
        if not keep:
            return
        self.state = self.state[keep]
        self.images = self.images[atom_keep]
        self.kT = self.kT_all[self._active]
        if self.nhc is not None:
            self.nhc.select(keep)

    def close(self) -> None:
        self._stack.close()
