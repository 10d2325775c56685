"""The back-end protocol is all a new engine needs: a toy batched back end written against
:class:`workflows.md.backend.MDBackend` alone gets trajectory files, guards, per-system
temperatures and bit-for-bit resume from the runner.

The toy (a stand-in, not a production engine) is an Einstein crystal — every atom on its own
spring — integrated with BAOAB Langevin in numpy. Known answers: BAOAB samples the harmonic
oscillator's configurations exactly, so ⟨|u|²⟩ = 3 kB T / k per atom and ⟨E_pot⟩ = 3/2 N kB T.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from ase.build import bulk

from screening.trajectory import read_trajectory
from screening.units import KB_EV, fs_to_ase_time
from workflows.md import MDInterrupted, run_with_backend
from workflows.md.backend import BackendState, Frame, StepObservation, maxwell_boltzmann_momenta

SPRING_EV_A2 = 1.0


class EinsteinLangevinBackend:
    """Batched BAOAB Langevin of independent harmonic wells (numpy; units Å, eV, amu)."""

    engine = "toy-einstein"
    batched = True
    thermostats = ("langevin",)

    def hash_settings(self) -> dict[str, Any]:
        return {"spring_eV_A2": SPRING_EV_A2}

    def start(
        self, systems, temperatures_K, *, thermostat, timestep_fs, thermostat_timescale_fs, seed
    ) -> None:
        self.numbers = [a.numbers for a in systems]
        self.cells = [a.cell.array.copy() for a in systems]
        self.x0 = [a.positions.copy() for a in systems]
        self.x = [a.positions.copy() for a in systems]
        self.m = [a.get_masses()[:, None] for a in systems]
        self.p = [
            maxwell_boltzmann_momenta(a, t, seed + i)
            for i, (a, t) in enumerate(zip(systems, temperatures_K, strict=True))
        ]
        self.kT = [KB_EV * t for t in temperatures_K]
        self.dt = fs_to_ase_time(timestep_fs)
        self.c1 = np.exp(-self.dt / fs_to_ase_time(thermostat_timescale_fs))
        self.rng = np.random.default_rng(seed)
        self.previous = [x.copy() for x in self.x]

    def load_state_dict(self, state: BackendState, active: Sequence[int]) -> None:
        for name in ("numbers", "cells", "x0", "m", "kT"):
            setattr(self, name, [getattr(self, name)[i] for i in active])
        self.x = [state.arrays[f"x{k}"] for k in range(len(active))]
        self.p = [state.arrays[f"p{k}"] for k in range(len(active))]
        self.rng.bit_generator.state = state.meta["rng_state"]

    def state_dict(self) -> BackendState:
        arrays = {f"x{k}": x.copy() for k, x in enumerate(self.x)}
        arrays |= {f"p{k}": p.copy() for k, p in enumerate(self.p)}
        return BackendState(arrays, {"rng_state": self.rng.bit_generator.state})

    def _force(self, k: int) -> np.ndarray:
        return -SPRING_EV_A2 * (self.x[k] - self.x0[k])

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.previous = [x.copy() for x in self.x]
            for k in range(len(self.x)):
                m, h = self.m[k], self.dt / 2
                self.p[k] = self.p[k] + h * self._force(k)  # B
                self.x[k] = self.x[k] + h * self.p[k] / m  # A
                noise = self.rng.standard_normal(self.p[k].shape)
                self.p[k] = self.c1 * self.p[k] + np.sqrt((1 - self.c1**2) * self.kT[k] * m) * noise
                self.x[k] = self.x[k] + h * self.p[k] / m  # A
                self.p[k] = self.p[k] + h * self._force(k)  # B

    def _energies(self, k: int) -> tuple[float, float]:
        u = self.x[k] - self.x0[k]
        return 0.5 * SPRING_EV_A2 * float((u**2).sum()), 0.5 * float(
            (self.p[k] ** 2 / self.m[k]).sum()
        )

    def _temperature(self, k: int, ekin: float) -> float:
        return 2.0 * ekin / (3.0 * len(self.x[k]) * KB_EV)

    def observe(self) -> StepObservation:
        e = [self._energies(k) for k in range(len(self.x))]
        return StepObservation(
            temperature_K=np.array([self._temperature(k, ek) for k, (_, ek) in enumerate(e)]),
            potential_energy_eV=np.array([ep for ep, _ in e]),
            max_force_eV_per_A=np.array([np.abs(self._force(k)).max() for k in range(len(self.x))]),
            max_displacement_A=np.array(
                [np.abs(x - prev).max() for x, prev in zip(self.x, self.previous, strict=True)]
            ),
            positions_finite=np.array([np.isfinite(x).all() for x in self.x]),
        )

    def frames(self) -> list[Frame]:
        out = []
        for k in range(len(self.x)):
            epot, ekin = self._energies(k)
            out.append(
                Frame(self.x[k], self.cells[k], self._temperature(k, ekin), epot, ekin, epot + ekin)
            )
        return out

    def structures(self) -> list[Any]:
        from ase import Atoms

        return [
            Atoms(numbers=z, positions=x, cell=c, pbc=True)
            for z, x, c in zip(self.numbers, self.x, self.cells, strict=True)
        ]

    def drop(self, keep: Sequence[int]) -> None:
        for name in ("numbers", "cells", "x0", "x", "m", "p", "kT", "previous"):
            setattr(self, name, [getattr(self, name)[k] for k in keep])

    def close(self) -> None:
        """Nothing to release."""


def _run(tmp_path, tag: str, **kw):
    settings = dict(
        timestep_fs=2.0,
        equilibration_steps=200,
        production_steps=1600,
        stride=4,
        thermostat="langevin",
        thermostat_timescale_fs=100.0,
        seed=3,
        checkpoint_every_steps=100,
    )
    settings.update(kw)
    systems = [bulk("Li", "bcc", a=3.5, cubic=True).repeat(2) for _ in range(2)]
    paths = [tmp_path / f"{tag}{i}.h5" for i in range(2)]
    return run_with_backend(
        EinsteinLangevinBackend(), systems, [300.0, 900.0], trajectory_paths=paths, **settings
    )


def test_a_protocol_only_backend_samples_its_known_answer(tmp_path):
    results = _run(tmp_path, "run")
    for res, temp in zip(results, (300.0, 900.0), strict=True):
        assert res.stable and res.engine == "toy-einstein"
        traj = read_trajectory(res.trajectory_path)
        assert traj.attrs["batch_size"] == 2 and traj.n_frames == 401
        u2 = ((traj.positions - _x0()) ** 2).sum(axis=2).mean()
        assert u2 == pytest.approx(3 * KB_EV * temp / SPRING_EV_A2, rel=0.1)
        assert traj.temperature_K.mean() == pytest.approx(temp, rel=0.1)


def _x0() -> np.ndarray:
    return bulk("Li", "bcc", a=3.5, cubic=True).repeat(2).positions


def test_a_protocol_only_backend_resumes_bit_for_bit(tmp_path):
    kw = dict(equilibration_steps=0, production_steps=120, checkpoint_every_steps=40)
    ref = _run(tmp_path, "ref", **kw)

    def crash(step: int) -> None:
        if step == 97:
            raise MDInterrupted

    with pytest.raises(MDInterrupted):
        _run(tmp_path, "res", _step_hook=crash, **kw)
    resumed = _run(tmp_path, "res", **kw)
    for a, b in zip(ref, resumed, strict=True):
        assert b.resumed_from_step == 80
        pa, pb = (read_trajectory(r.trajectory_path).positions for r in (a, b))
        assert np.array_equal(pa, pb)
