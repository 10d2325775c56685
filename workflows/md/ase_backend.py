"""ASE back end: one system with an ASE calculator (a batch of one).

Thermostats:

* ``"nose-hoover"`` (default): ``ase.md.nose_hoover_chain.NoseHooverChainNVT``, tdamp =
  ``thermostat_timescale_fs``; ``conserved_eV`` is its extended energy.
* ``"langevin"``: ``ase.md.langevin.Langevin``, friction = 1/``thermostat_timescale_fs``,
  ``fixcm=False``; ``conserved_eV`` is the plain total energy (no drift guard).
* ``"bussi"``: ``ase.md.bussi.Bussi`` stochastic velocity rescaling, taut =
  ``thermostat_timescale_fs``; ``conserved_eV`` is the total energy minus the energy the
  thermostat exchanged (Bussi's effective energy). ASE only (torch-sim 0.3 has no Bussi).

One ``numpy.random.default_rng(seed)`` draws the initial velocities and then drives the stochastic
thermostats; its ``bit_generator.state`` is checkpointed, so a resumed run is bit-for-bit the
uninterrupted one. ASE integrators never wrap positions: ``atoms.positions`` *are* the unwrapped
positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from screening.units import KB_EV, fs_to_ase_time
from workflows.md.backend import BackendState, Frame, StepObservation


def _fresh_forces_energy(atoms: Any) -> tuple[np.ndarray, float]:
    """Forces and energy at the current positions, read from the calculator results the
    integrator step just produced (ASE's per-call ``check_state`` comparison costs more than a
    cheap force field); falls back to the normal getters when a property is missing."""
    results = getattr(atoms.calc, "results", {})
    forces, energy = results.get("forces"), results.get("energy")
    if forces is None or energy is None:
        return atoms.get_forces(), float(atoms.get_potential_energy())
    return forces, float(energy)


class AseBackend:
    """NVT of one system through an ASE calculator (see the module docstring)."""

    engine = "ase"
    batched = False
    thermostats = ("nose-hoover", "langevin", "bussi")

    def __init__(self, calculator: Any) -> None:
        self.calculator = calculator
        self.atoms: Any = None
        self.dyn: Any = None

    def hash_settings(self) -> dict[str, Any]:
        return {}

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
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

        self.atoms = systems[0]
        self.atoms.calc = self.calculator
        self.temperature_K = float(temperatures_K[0])
        self.thermostat = thermostat
        self.timestep_fs, self.timescale_fs = timestep_fs, thermostat_timescale_fs
        self.rng = np.random.default_rng(seed)
        MaxwellBoltzmannDistribution(self.atoms, temperature_K=self.temperature_K, rng=self.rng)
        Stationary(self.atoms)  # zero net momentum; no ZeroRotation: the cell is periodic
        self._build()

    def _build(self) -> None:
        """The ASE integrator for the current atoms (it caches positions and momenta)."""
        dt = fs_to_ase_time(self.timestep_fs)
        tau = fs_to_ase_time(self.timescale_fs)
        if self.thermostat == "nose-hoover":
            from ase.md.nose_hoover_chain import NoseHooverChainNVT

            self.dyn = NoseHooverChainNVT(
                self.atoms, timestep=dt, temperature_K=self.temperature_K, tdamp=tau
            )
        elif self.thermostat == "langevin":
            from ase.md.langevin import Langevin

            # fixcm=False: ASE deprecates fixcm=True (it does not sample NVT exactly); the
            # centre-of-mass random walk this allows is removed by the diffusion analysis.
            self.dyn = Langevin(
                self.atoms,
                timestep=dt,
                temperature_K=self.temperature_K,
                friction=1.0 / tau,
                fixcm=False,
                rng=self.rng,
            )
        else:
            from ase.md.bussi import Bussi

            self.dyn = Bussi(
                self.atoms, dt, temperature_K=self.temperature_K, taut=tau, rng=self.rng
            )

    def load_state_dict(self, state: BackendState, active: Sequence[int]) -> None:
        arrays, meta = state.arrays, state.meta
        self.atoms.positions = arrays["positions"]
        self.atoms.cell = arrays["cell"]
        self.atoms.set_momenta(arrays["momenta"], apply_constraint=False)
        if self.thermostat != "nose-hoover":
            self.rng.bit_generator.state = meta["rng_state"]
        self._build()
        if self.thermostat == "nose-hoover":
            # The chain's state lives in private attributes in ASE 3.29; restore it exactly.
            self.dyn._thermostat._eta[:] = arrays["eta"]
            self.dyn._thermostat._p_eta[:] = arrays["p_eta"]
        elif self.thermostat == "bussi":
            self.dyn.transferred_energy = float(meta["transferred_energy"])

    def state_dict(self) -> BackendState:
        arrays = {
            "positions": self.atoms.positions.copy(),
            "momenta": self.atoms.get_momenta(),
            "cell": self.atoms.cell.array.copy(),
        }
        meta: dict[str, Any] = {}
        if self.thermostat == "nose-hoover":
            arrays["eta"] = self.dyn._thermostat._eta.copy()
            arrays["p_eta"] = self.dyn._thermostat._p_eta.copy()
        else:
            meta["rng_state"] = self.rng.bit_generator.state
        if self.thermostat == "bussi":
            meta["transferred_energy"] = float(self.dyn.transferred_energy)
        return BackendState(arrays, meta)

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self._previous = self.atoms.positions.copy()
            self.dyn.step()

    def _temperature(self, ekin: float) -> float:
        return 2.0 * ekin / (3.0 * len(self.atoms) * KB_EV)

    def observe(self) -> StepObservation:
        forces, epot = _fresh_forces_energy(self.atoms)
        positions = self.atoms.positions
        return StepObservation(
            temperature_K=np.array([self._temperature(float(self.atoms.get_kinetic_energy()))]),
            potential_energy_eV=np.array([epot]),
            max_force_eV_per_A=np.array([float(np.abs(forces).max())]),
            max_displacement_A=np.array([float(np.abs(positions - self._previous).max())]),
            positions_finite=np.array([bool(np.isfinite(positions).all())]),
        )

    def frames(self) -> list[Frame]:
        epot = float(self.atoms.get_potential_energy())
        ekin = float(self.atoms.get_kinetic_energy())
        if self.thermostat == "nose-hoover":
            conserved = float(self.dyn.get_conserved_energy())
        else:
            conserved = float(self.atoms.get_potential_energy() + self.atoms.get_kinetic_energy())
            if self.thermostat == "bussi":
                conserved -= float(self.dyn.transferred_energy)
        return [
            Frame(
                positions=self.atoms.positions,
                cell=self.atoms.cell.array,
                temperature_K=self._temperature(ekin),
                potential_energy_eV=epot,
                kinetic_energy_eV=ekin,
                conserved_eV=conserved,
            )
        ]

    def structures(self) -> list[Any]:
        return [self.atoms]

    def drop(self, keep: Sequence[int]) -> None:
        """A batch of one has nothing left to integrate once its system is dropped."""

    def close(self) -> None:
        """Nothing to release."""
