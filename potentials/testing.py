"""A tiny, randomly initialised MACE model for fast offline tests of code that needs *a* potential.

It is a real ``mace.modules.ScaleShiftMACE`` (same class as the foundation and distilled models), so
everything that loads, wraps or runs MACE models is exercised; its energies are physically
meaningless but smooth, so forces are the exact negative gradient of the energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from potentials.trust import trust_model
from screening.atomic import atomic_path


def write_tiny_mace(
    path: str | Path,
    atomic_numbers: Sequence[int] = (3, 51),
    *,
    r_max: float = 4.5,
    seed: int = 0,
    scale: float = 5.0,
) -> Path:
    """Build a tiny ScaleShiftMACE (no ZBL pair repulsion) and ``torch.save`` the whole module.

    ``scale`` enlarges the interaction energy so forces are well above float round-off.
    """
    import numpy as np

    from potentials.torch_compat import import_mace

    import_mace()
    import torch
    from e3nn import o3
    from mace import modules

    torch.manual_seed(seed)
    z = sorted(int(n) for n in atomic_numbers)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.ScaleShiftMACE(
        r_max=r_max,
        num_bessel=4,
        num_polynomial_cutoff=5,
        max_ell=1,
        interaction_cls=block,
        interaction_cls_first=block,
        num_interactions=1,
        num_elements=len(z),
        hidden_irreps=o3.Irreps("8x0e+8x1o"),
        MLP_irreps=o3.Irreps("8x0e"),
        # isolated-atom energies: any plausible negative numbers (eV)
        atomic_energies=np.linspace(-2.0, -4.0, len(z)),
        avg_num_neighbors=10.0,
        atomic_numbers=z,
        correlation=2,
        gate=torch.nn.functional.silu,
        pair_repulsion=False,
        atomic_inter_scale=scale,
        atomic_inter_shift=0.0,
    )
    model = model.to(torch.float64)
    path = Path(path)
    with atomic_path(path) as tmp:  # never leave a half-written model file
        torch.save(model, tmp)
    trust_model(path)  # this process wrote it
    return path
