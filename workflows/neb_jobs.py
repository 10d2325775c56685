"""jobflow Maker for the climbing-image NEB of a candidate's Li vacancy hops, and its TST job.

Like :class:`workflows.md.maker.MDMaker`, settings are dataclass fields and ``make()`` returns
one Job, so the same NEB runs in the local screen, on SLURM and under jobflow-remote. The TST job
is separate: it is cheap, and it is where MD temperatures meet the barriers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure

from screening.barriers import NEBResult, NEBTransport, neb_transport
from screening.campaign import NEBSettings


@dataclass
class NEBMaker(Maker):
    """CI-NEB of every distinct Li vacancy hop of a relaxed phase in a candidate's supercell."""

    name: str = "ci-neb"
    potential: str = "mace:ilscreen-li-alloys"
    device: str = "cpu"
    dtype: str = "float64"
    settings: NEBSettings = field(default_factory=NEBSettings)

    @job
    def make(
        self,
        cell: Structure,
        supercell_matrix: list[list[int]],
        candidate_id: str,
        n_vacancies: int = 1,
    ) -> NEBResult:
        """Barriers of every distinct hop (endpoints relaxed in the fixed relaxed cell)."""
        from potentials.registry import describe, load_calculator, load_torchsim_model
        from workflows.neb import candidate_barriers

        calc = load_calculator(self.potential, device=self.device, dtype=self.dtype)
        model = (
            load_torchsim_model(self.potential, device=self.device, dtype=self.dtype)
            if describe(self.potential).batched_md
            else None
        )
        return candidate_barriers(
            cell,
            np.array(supercell_matrix, dtype=int),
            calc,
            self.settings,
            candidate_id=candidate_id,
            potential=self.potential,
            n_vacancies=n_vacancies,
            model=model,
        )


@job
def tst_transport(
    neb: NEBResult,
    cell: Structure,
    *,
    supercell_matrix: list[list[int]],
    temperatures_K: Sequence[float],
    settings: NEBSettings,
    seed: int = 0,
) -> NEBTransport:
    """D_TST(T), Ea and the percolation barrier from the NEB barriers."""
    matrix = np.array(supercell_matrix, dtype=int)
    return neb_transport(cell, matrix, neb, temperatures_K, settings, seed=seed)
