"""ASE's Nosé–Hoover chain thermostat vectorised over the systems of a torch-sim batch.

torch-sim 0.3.0's own ``nvt_nose_hoover`` is not used: its chain is a single chain over the summed
degrees of freedom of the whole batch, which would couple the systems' temperatures. This one is
``ase.md.nose_hoover_chain`` (chain of 3, 4th-order Suzuki–Yoshida, tdamp = the thermostat
timescale) with one independent chain per system.
"""

from __future__ import annotations

from typing import Any

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
