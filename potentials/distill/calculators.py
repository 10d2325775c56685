"""ASE calculators for the teacher and the student, both through :mod:`potentials.registry`."""

from __future__ import annotations

from pathlib import Path

from ase.calculators.calculator import Calculator


def load_teacher(spec: str, device: str = "cpu") -> Calculator:
    """ASE calculator for the teacher ``spec`` (float32, never cached: labelling runs once).

    ``emt`` (ASE's effective-medium theory; Cu, Ag, Au, Ni, Pd, Pt, Al) is accepted as a cheap,
    offline teacher for tests.
    """
    if spec == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    from potentials.torch_compat import allow_e3nn_constants

    allow_e3nn_constants()  # before anything imports e3nn
    from potentials.registry import load_calculator

    return load_calculator(spec, device=device, dtype="float32", cache=False)


def load_student(path: Path, dtype: str = "float32") -> Calculator:
    """ASE calculator for a student model file (never cached: the file changes between rounds)."""
    from potentials.torch_compat import allow_e3nn_constants

    allow_e3nn_constants()  # before anything imports e3nn
    from potentials.registry import load_calculator

    return load_calculator(f"mace:{Path(path).resolve()}", device="cpu", dtype=dtype, cache=False)
