"""One batched forward pass per NEB step: every image of a band evaluated together.

ASE's NEB asks each image for its forces in turn. For a small MLIP on a CPU most of each call is
per-call overhead (the shipped model runs ~4× faster batched, BENCHMARKS "MD throughput"), so the
images share one :class:`BandEvaluator`: the first image asked after the optimiser moved the band
evaluates all of them in one torch-sim call, and the others read their slice. Potentials without
a torch-sim model keep one ASE calculator per image (:func:`attach` with ``model=None``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes


class BandEvaluator:
    """Energies and forces of a fixed list of images from one batched model call."""

    def __init__(self, model: Any, images: list[Atoms]) -> None:
        import torch_sim as ts

        self.model = model
        self.images = images
        self.state = ts.io.atoms_to_state(images, device=model.device, dtype=model.dtype)
        self._positions: np.ndarray | None = None
        self.energies = np.zeros(len(images))
        self.forces: list[np.ndarray] = []
        self.calls = 0

    def evaluate(self) -> None:
        """Recompute all images if any of them moved since the last call."""
        import torch

        pos = np.concatenate([a.get_positions() for a in self.images])
        if self._positions is not None and np.array_equal(pos, self._positions):
            return
        model = self.model
        self.state.positions = torch.as_tensor(pos, device=model.device, dtype=model.dtype)
        out = model(self.state)
        self.energies = out["energy"].detach().cpu().double().numpy()
        forces = out["forces"].detach().cpu().double().numpy()
        bounds = np.cumsum([0] + [len(a) for a in self.images])
        self.forces = [forces[i:j] for i, j in itertools.pairwise(bounds)]
        self._positions = pos
        self.calls += 1


class _ImageCalculator(Calculator):
    """ASE view of one image of a :class:`BandEvaluator`."""

    implemented_properties = ("energy", "free_energy", "forces")

    def __init__(self, evaluator: BandEvaluator, index: int) -> None:
        super().__init__()
        self.evaluator = evaluator
        self.index = index

    def calculate(
        self, atoms: Atoms | None = None, properties: Any = None, system_changes: Any = all_changes
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        ev = self.evaluator
        ev.evaluate()
        energy = float(ev.energies[self.index])
        self.results = {"energy": energy, "free_energy": energy, "forces": ev.forces[self.index]}


def attach(images: list[Atoms], model: Any | None, calculator: Any) -> BandEvaluator | None:
    """Give ``images`` one shared batched evaluator (``model``), else the ASE ``calculator``."""
    if model is None:
        for atoms in images:
            atoms.calc = calculator
        return None
    evaluator = BandEvaluator(model, images)
    for i, atoms in enumerate(images):
        atoms.calc = _ImageCalculator(evaluator, i)
    return evaluator
