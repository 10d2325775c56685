"""Relaxations of every phase with a machine-learned potential, through atomate2's own Maker.

atomate2's :class:`ForceFieldRelaxMaker` accepts any ASE-calculator factory as a monty-style
``{"@module", "@callable"}`` dict; pointing it at :func:`potentials.registry.load_calculator`
makes every ilscreen potential spec (shipped MACE, SevenNet, CHGNet, ``mace:<path>``) relax through
the same code path, task document and provenance as atomate2's built-in force fields.
"""

from __future__ import annotations

import warnings

from atomate2.forcefields.jobs import ForceFieldRelaxMaker

# ASE's FrechetCellFilter takes scipy's matrix log of the cell deformation at every step; scipy
# warns "logm result may be inaccurate" at errors of ~1e-12, which is harmless and floods the log.
# Process-wide on purpose: the relax runs inside atomate2's job, and nothing else in a screen
# calls logm.
warnings.filterwarnings("ignore", message="logm result may be inaccurate", category=RuntimeWarning)

#: the factory atomate2 calls to build the calculator, with ``calculator_kwargs``
CALCULATOR_FACTORY = {"@module": "potentials.registry", "@callable": "load_calculator"}


def mlip_relax_maker(
    potential: str,
    *,
    device: str = "cpu",
    dtype: str = "float64",
    fmax: float = 0.02,
    steps: int = 300,
) -> ForceFieldRelaxMaker:
    """Cell + positions relaxation (FIRE on a Fréchet cell filter) with an ilscreen potential spec.

    ``fmax`` (eV/Å) is the force criterion; atomate2 records the final forces and stress in its
    task document, which the thermo step checks before using the energy.
    """
    return ForceFieldRelaxMaker(
        name=f"relax ({potential})",
        force_field_name=dict(CALCULATOR_FACTORY),
        calculator_kwargs={"spec": potential, "device": device, "dtype": dtype},
        relax_cell=True,
        steps=steps,
        relax_kwargs={"fmax": fmax},
    )
