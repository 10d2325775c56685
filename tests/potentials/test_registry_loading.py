"""Every offline potential loads, gives finite energies, and forces equal −dE/dx.

Forces are checked against central finite differences of the energy on a rattled 4-atom Li3Sb cell
(projections on random directions; every component for the tiny MACE), so a wrong sign, a unit or
a model/calculator mismatch fails the test. The torch-sim models used for
batched MD must agree with the ASE calculators of the same spec.
"""

from __future__ import annotations

import numpy as np
import pytest

from potentials import registry
from potentials.checks import li3sb
from potentials.testing import write_tiny_mace

SHIPPED = registry.MODELS_DIR / "ilscreen-li-alloys.model"


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_tiny_mace(tmp_path_factory.mktemp("tiny") / "tiny-lisb.model", (3, 51))
    return f"mace:{path}"


def _cell():
    atoms = li3sb(primitive=True)
    atoms.rattle(stdev=0.08, seed=3)
    return atoms


def _directional_fd(atoms, calc, direction: np.ndarray, h: float) -> float:
    """−dE/dh along a unit 3N direction by central differences (2 energy calls)."""
    energies = []
    for sign in (1, -1):
        displaced = atoms.copy()
        displaced.positions += sign * h * direction
        displaced.calc = calc
        energies.append(displaced.get_potential_energy())
    return -(energies[0] - energies[1]) / (2 * h)


# (spec id, dtype, FD step Å, absolute tolerance eV/Å). float32 models (SevenNet, CHGNet) carry
# ~1e-6 relative round-off in E, so they get a larger step and tolerance.
CASES = [
    pytest.param("tiny", "float64", 1e-4, 1e-6, id="mace-tiny-float64"),
    pytest.param("sevennet:7net-0", "float32", 2e-3, 5e-3, id="sevennet-0"),
    pytest.param("chgnet", "float32", 2e-3, 5e-3, id="chgnet"),
    pytest.param(
        "mace:ilscreen-li-alloys",
        "float64",
        1e-4,
        1e-5,
        id="shipped-mace",
        marks=pytest.mark.skipif(not SHIPPED.is_file(), reason="shipped model not built yet"),
    ),
]


@pytest.mark.parametrize(("spec", "dtype", "h", "atol"), CASES)
def test_forces_are_minus_energy_gradient(spec, dtype, h, atol, tiny_spec) -> None:
    spec = tiny_spec if spec == "tiny" else spec
    calc = registry.load_calculator(spec, dtype=dtype)
    atoms = _cell()
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    assert np.isfinite(energy) and np.all(np.isfinite(forces))
    assert forces.shape == (4, 3)
    # The rattled cell is off equilibrium: forces must be non-trivial for the check to mean much.
    assert np.abs(forces).max() > 20 * atol
    # Projections on random directions test every component at 2 energy calls each (SevenNet is
    # slow on CPU); the tiny MACE also gets the component-by-component check below.
    rng = np.random.default_rng(7)
    for _ in range(2):
        direction = rng.normal(size=forces.shape)
        direction /= np.linalg.norm(direction)
        projected = float(np.sum(forces * direction))
        assert _directional_fd(atoms, calc, direction, h) == pytest.approx(projected, abs=atol)


def test_tiny_mace_forces_componentwise(tiny_spec) -> None:
    calc = registry.load_calculator(tiny_spec, dtype="float64")
    atoms = _cell()
    atoms.calc = calc
    forces = atoms.get_forces()
    h = 1e-4
    for i in range(len(atoms)):
        for k in range(3):
            unit = np.zeros_like(forces)
            unit[i, k] = 1.0
            assert _directional_fd(atoms, calc, unit, h) == pytest.approx(forces[i, k], abs=1e-6)


def test_universal_potentials_bind_li3sb() -> None:
    """Physics sanity: trained universal potentials bind Li3Sb (about −3 eV/atom)."""
    for spec in ("sevennet:7net-0", "chgnet"):
        atoms = li3sb(primitive=True)
        atoms.calc = registry.load_calculator(spec)
        e_per_atom = atoms.get_potential_energy() / len(atoms)
        assert -4.0 < e_per_atom < -2.0, (spec, e_per_atom)
        # the ideal Fm-3m cell is a symmetric structure: forces vanish by symmetry
        assert np.abs(atoms.get_forces()).max() < 1e-3


@pytest.mark.parametrize("spec", ["tiny", "sevennet:7net-0"])
def test_torchsim_model_matches_ase_calculator(spec, tiny_spec) -> None:
    import torch
    import torch_sim as ts

    spec = tiny_spec if spec == "tiny" else spec
    dtype = "float64" if spec == tiny_spec else "float32"
    model = registry.load_torchsim_model(spec, dtype=dtype)
    atoms = _cell()
    state = ts.io.atoms_to_state([atoms], device=torch.device("cpu"), dtype=getattr(torch, dtype))
    out = model(state)
    atoms.calc = registry.load_calculator(spec, dtype=dtype)
    tol = 1e-8 if dtype == "float64" else 2e-4
    assert float(out["energy"][0]) == pytest.approx(atoms.get_potential_energy(), abs=tol * 100)
    np.testing.assert_allclose(out["forces"].detach().numpy(), atoms.get_forces(), atol=tol)


def test_loading_mace_keeps_torch_weights_only_default(tiny_spec, tmp_path) -> None:
    """mace-torch sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 on import; the registry must undo it so
    that a pickle smuggled in as a tensor file is still refused by torch.load's default."""
    import os
    import pickle

    import torch

    registry.load_calculator(tiny_spec, cache=False)
    registry.load_torchsim_model(tiny_spec)
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    bad = tmp_path / "not-weights.pt"
    torch.save({"payload": pickle.dumps}, bad)  # a function: only a full unpickle restores it
    with pytest.raises(pickle.UnpicklingError):
        torch.load(bad)
