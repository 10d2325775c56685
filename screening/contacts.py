"""When two atoms are too close: the collapse limit of a pair, shared by every MD stability check.

A flat limit (1.5 Å) suits metals but flags graphite's own C–C bond (1.42 Å, thermally compressed
to ~1.27 Å at 1100 K) as a collapse. The limit of a pair is therefore the smaller of the flat value
and a fraction of the pair's covalent bond length (C–C: 0.75 × 1.52 Å = 1.14 Å).
"""

from __future__ import annotations

import numpy as np
from ase.data import covalent_radii

#: defaults of the MD guards (workflows.md.guards.StabilityGuards) and the distillation checks
MIN_DISTANCE_A = 1.5
MIN_BOND_FRACTION = 0.75


def pair_collapse_limits(
    z_i: np.ndarray,
    z_j: np.ndarray,
    min_distance_A: float = MIN_DISTANCE_A,
    min_bond_fraction: float = MIN_BOND_FRACTION,
) -> np.ndarray:
    """Distance (Å) below which each pair (atomic numbers ``z_i``, ``z_j``) counts as collapsed."""
    bond = covalent_radii[np.asarray(z_i)] + covalent_radii[np.asarray(z_j)]
    return np.minimum(min_distance_A, min_bond_fraction * bond)
